//! Reading one setting through the [`Builder`]: its value or default and where it came from,
//! parsed to its type, with a failure recorded once (so rules that depend on it stay silent).
//! Also the effective configuration, every key as the build saw it, for `check-config` and the
//! admin endpoint.

use std::path::PathBuf;
use std::time::Duration;

use super::super::error::{ConfigError, Origin};
use super::super::settings;
use super::super::value::{self, redact_userinfo, ValueError};
use super::{Builder, MEMBERS};

impl Builder {
    /// The value for `key` (None when unset) and where it came from; None overall when it already failed.
    pub(super) fn raw(&mut self, key: &str) -> Option<(Option<String>, Origin)> {
        self.read.insert(key.to_string());
        if self.failed.contains(key) {
            return None;
        }
        if let Some(e) = self.values.get(key) {
            return Some((Some(e.value.clone()), e.at.clone()));
        }
        let known = settings::lookup(key).ok()?;
        Some((
            known.setting.default_for(known.scope).map(str::to_string),
            Origin::Default,
        ))
    }

    pub(super) fn origin(&self, key: &str) -> Origin {
        self.values
            .get(key)
            .map_or(Origin::Default, |e| e.at.clone())
    }

    pub(super) fn invalid(&mut self, key: &str, at: Origin, e: ValueError) {
        self.failed.insert(key.to_string());
        self.errors.push(ConfigError::Invalid {
            at,
            key: key.to_string(),
            problem: e.problem,
            hint: e.hint,
        });
    }

    /// Parses an optional setting: Some(None) when unset (or empty), None when it failed.
    pub(super) fn optional<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<Option<T>> {
        let (value, at) = self.raw(key)?;
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Some(None);
        };
        match parse(&value) {
            Ok(v) => Some(Some(v)),
            Err(e) => {
                self.invalid(key, at, e);
                None
            }
        }
    }

    /// Parses a setting that always has a value (its default when unset).
    pub(super) fn get<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        let (value, at) = self.raw(key)?;
        match parse(value.as_deref().unwrap_or("")) {
            Ok(v) => Some(v),
            Err(e) => {
                self.invalid(key, at, e);
                None
            }
        }
    }

    pub(super) fn bool(&mut self, key: &str) -> Option<bool> {
        self.get(key, value::parse_bool)
    }

    /// `boltgate.<side>.tcp_keepalive` and `boltgate.<side>.tcp_user_timeout`.
    pub(super) fn tcp_tuning(&mut self, side: &str) -> Option<crate::net::tcp::TcpTuning> {
        let keepalive = self.get(&format!("boltgate.{side}.tcp_keepalive"), |s| {
            crate::config::socket::parse_keepalive(s).map_err(ValueError::new)
        });
        let user_timeout = self.get(&format!("boltgate.{side}.tcp_user_timeout"), |s| {
            match value::parse_duration(s)? {
                d if d.is_zero() => Ok(None),
                // The kernel counts in milliseconds, in a 32-bit int.
                d if d > Duration::from_millis(i32::MAX as u64) => {
                    Err(ValueError::new("must be at most 24 days"))
                }
                d => Ok(Some(d)),
            }
        });
        Some(crate::net::tcp::TcpTuning {
            keepalive: keepalive?,
            user_timeout: user_timeout?,
        })
    }

    pub(super) fn duration(&mut self, key: &str, zero_allowed: bool) -> Option<Duration> {
        self.get(key, |s| match value::parse_duration(s)? {
            d if d.is_zero() && !zero_allowed => Err(ValueError::new("must be more than 0")),
            d => Ok(d),
        })
    }

    pub(super) fn path(&mut self, key: &str) -> Option<PathBuf> {
        self.get(key, |s| {
            if s.is_empty() {
                Err(ValueError::new("a path is required"))
            } else {
                Ok(PathBuf::from(s))
            }
        })
    }

    /// Every concrete key with its value and origin, sorted, secrets redacted.
    pub(super) fn effective(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = settings::all_keys()
            .into_iter()
            .map(|(key, known)| {
                let (value, at) = match self.values.get(&key) {
                    Some(e) => (Some(e.value.clone()), e.at.clone()),
                    None => (
                        known.setting.default_for(known.scope).map(str::to_string),
                        Origin::Default,
                    ),
                };
                let value = match value {
                    Some(v) if known.setting.is_secret() && !v.is_empty() => {
                        super::super::ssl_policy::REDACTED.to_string()
                    }
                    Some(v)
                        if matches!(
                            known.setting.kind,
                            settings::Kind::Uri | settings::Kind::HttpUrl
                        ) || key == MEMBERS =>
                    {
                        redact_userinfo(&v)
                    }
                    v => v.unwrap_or_default(),
                };
                (key, value, at.to_string())
            })
            .collect();
        out.sort();
        out
    }
}
