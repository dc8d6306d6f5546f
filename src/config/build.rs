//! From entries to a [`Config`]: key resolution, command expansion, typed parsing and the rules
//! between settings, collecting every problem on the way.
//!
//! A value that failed once (unknown, failed expansion, bad syntax) is remembered, so a rule that
//! depends on it stays silent instead of adding a second, misleading error.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, ConfigErrors, Origin};
use super::file::{self, Entry};
use super::neo4j;
use super::settings::{self, Unknown};
use super::ssl_policy::{RawPolicy, Scope, Secret, SslPolicies, TLS_VERSIONS};
use super::value::{self, ValueError};
use super::{
    Admin, BoltConnector, Client, ClientAuth, Config, Hardening, HttpConnector, IgnoredSetting,
    LoadOptions, Log, LogFormat, Ocsp, ProxyProtocol, Routing, TlsLevel, Upstream, WebSocket,
};
use crate::config::uri::Target;

/// Smallest accepted `boltgate.limits.max_message_size`: anything below is surely a unit missing
/// (`16` meant as MiB), and a HELLO with credentials needs a few hundred bytes.
const MIN_MESSAGE_SIZE: u64 = 1 << 10;
/// Largest accepted: beyond 2GiB one message could exhaust the proxy's memory.
const MAX_MESSAGE_SIZE: u64 = 2 << 30;

const TLS_LEVEL: &str = "server.bolt.tls_level";
const UPSTREAM_URI: &str = "boltgate.upstream.uri";
const MEMBERS: &str = "boltgate.routing.members";
const WATCH: &str = "boltgate.tls_reload.watch_interval";

/// The address clients are told to use when none is configured: the listen address, with
/// `localhost` for a wildcard host (as Neo4j's `server.default_advertised_address`).
fn default_advertised(listen: &value::ListenAddress) -> String {
    let host = match listen.host.as_str() {
        "" | "0.0.0.0" | "::" => "localhost",
        h => h,
    };
    crate::config::members::normalise_address(&format!(
        "{}:{}",
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        },
        listen.port
    ))
    .unwrap_or_else(|_| format!("localhost:{}", listen.port))
}

/// The entries being turned into a Config, and the problems found so far.
struct Builder {
    values: HashMap<String, Entry>,
    /// Keys whose value already produced an error.
    failed: HashSet<String>,
    /// Keys the build asked for; a test checks it is every key in the table.
    read: HashSet<String>,
    errors: Vec<ConfigError>,
    ignored: Vec<IgnoredSetting>,
}

pub(super) fn build(
    text: &str,
    label: &str,
    file_writable_by_others: bool,
    overrides: &[String],
    opts: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    let mut b = Builder::new(text, label, file_writable_by_others, overrides, opts);
    let config = b.config(label);
    let mut errors = b.errors;
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            errors.sort_by_key(origin_order);
            Err(ConfigErrors(errors))
        }
    }
}

impl Builder {
    /// Reads the text and overrides, resolves keys and expands commands; values are parsed later.
    fn new(
        text: &str,
        label: &str,
        file_writable_by_others: bool,
        overrides: &[String],
        opts: &LoadOptions,
    ) -> Builder {
        let (file_entries, mut errors) = file::parse(text, label);
        let (set_entries, set_errors) = file::parse_overrides(overrides);
        errors.extend(set_errors);

        if opts.expand_commands
            && file_writable_by_others
            && file_entries
                .iter()
                .any(|e| file::command_of(&e.value).is_some())
        {
            errors.push(ConfigError::UnsafeFile {
                path: label.to_string(),
            });
        }

        let mut b = Builder {
            values: HashMap::new(),
            failed: HashSet::new(),
            read: HashSet::new(),
            errors,
            ignored: Vec::new(),
        };
        for mut entry in file::merge(file_entries, set_entries) {
            if let Err(unknown) = settings::lookup(&entry.key) {
                if neo4j::is_neo4j_setting(&entry.key) {
                    b.neo4j_setting(entry, opts.strict);
                } else {
                    b.errors.push(unknown_error(entry, unknown));
                }
                continue;
            }
            if let Err(e) = file::expand(&mut entry, opts.expand_commands) {
                b.failed.insert(entry.key.clone());
                b.errors.push(e);
            }
            b.values.insert(entry.key.clone(), entry);
        }

        b
    }
}

impl Builder {
    /// A Neo4j setting boltgate does not use: ignored (listed at start-up), or an error with
    /// `--strict`. `server.bolt.enabled=false` asks for something boltgate cannot do.
    fn neo4j_setting(&mut self, entry: Entry, strict: bool) {
        let Entry { key, value, at } = entry;
        if matches!(
            key.as_str(),
            "server.bolt.enabled" | "dbms.connector.bolt.enabled"
        ) && value::parse_bool(&value) == Ok(false)
        {
            self.errors.push(ConfigError::Invalid {
                at,
                key,
                problem: "boltgate is a Bolt proxy and cannot run with its Bolt connector off"
                    .to_string(),
                hint: Some(
                    "remove the line; to keep clients out, stop boltgate or point \
                     server.bolt.listen_address at 127.0.0.1"
                        .to_string(),
                ),
            });
            return;
        }
        let equivalent = neo4j::equivalent(&key, &value);
        if strict {
            self.errors.push(ConfigError::Invalid {
                at,
                key,
                problem: "a Neo4j setting boltgate does not use (refused with --strict)".into(),
                hint: Some(match equivalent {
                    Some(e) => format!("remove it; boltgate: {e}"),
                    None => "remove it".to_string(),
                }),
            });
            return;
        }
        self.ignored.push(IgnoredSetting {
            key,
            at,
            equivalent,
        });
    }
}

fn unknown_error(entry: Entry, unknown: Unknown) -> ConfigError {
    let Entry { key, at, .. } = entry;
    match unknown {
        Unknown::Scope(scope) => ConfigError::UnknownScope { at, key, scope },
        Unknown::Renamed(new) => ConfigError::Renamed { at, key, new },
        Unknown::Key { suggestion } => {
            // A typo of a Neo4j name is told its Neo4j name, not a far-off boltgate one.
            let suggestion = neo4j::suggest(&key).map(str::to_string).or(suggestion);
            ConfigError::UnknownSetting {
                at,
                key,
                suggestion,
            }
        }
    }
}

/// File lines first (in order), then `--set` (in order), then defaults; a stable sort keeps the
/// order of problems on the same line.
fn origin_order(e: &ConfigError) -> (u8, usize) {
    let at = match e {
        ConfigError::Read { .. } | ConfigError::UnsafeFile { .. } => return (0, 0),
        ConfigError::Syntax { at, .. }
        | ConfigError::BadOverride { at, .. }
        | ConfigError::Duplicate { at, .. }
        | ConfigError::UnknownSetting { at, .. }
        | ConfigError::Renamed { at, .. }
        | ConfigError::UnknownScope { at, .. }
        | ConfigError::Invalid { at, .. }
        | ConfigError::Uri { at, .. }
        | ConfigError::ExpansionDisabled { at, .. }
        | ConfigError::CommandFailed { at, .. }
        | ConfigError::Conflict { at, .. } => at,
    };
    match at {
        Origin::File { line, .. } => (1, *line),
        Origin::Set { index } => (2, *index),
        Origin::Default => (3, 0),
    }
}

impl Builder {
    /// The value for `key` (None when unset) and where it came from; None overall when it already failed.
    fn raw(&mut self, key: &str) -> Option<(Option<String>, Origin)> {
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

    fn origin(&self, key: &str) -> Origin {
        self.values
            .get(key)
            .map_or(Origin::Default, |e| e.at.clone())
    }

    fn invalid(&mut self, key: &str, at: Origin, e: ValueError) {
        self.failed.insert(key.to_string());
        self.errors.push(ConfigError::Invalid {
            at,
            key: key.to_string(),
            problem: e.problem,
            hint: e.hint,
        });
    }

    /// Parses an optional setting: Some(None) when unset (or empty), None when it failed.
    fn optional<T>(
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
    fn get<T>(
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

    fn bool(&mut self, key: &str) -> Option<bool> {
        self.get(key, value::parse_bool)
    }

    /// `boltgate.<side>.tcp_keepalive` and `boltgate.<side>.tcp_user_timeout`.
    fn tcp_tuning(&mut self, side: &str) -> Option<crate::net::tcp::TcpTuning> {
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

    fn duration(&mut self, key: &str, zero_allowed: bool) -> Option<Duration> {
        self.get(key, |s| match value::parse_duration(s)? {
            d if d.is_zero() && !zero_allowed => Err(ValueError::new("must be more than 0")),
            d => Ok(d),
        })
    }

    fn path(&mut self, key: &str) -> Option<PathBuf> {
        self.get(key, |s| {
            if s.is_empty() {
                Err(ValueError::new("a path is required"))
            } else {
                Ok(PathBuf::from(s))
            }
        })
    }

    fn policy(&mut self, scope: Scope) -> Option<RawPolicy> {
        let key = |suffix: &str| format!("dbms.ssl.policy.{scope}.{suffix}");
        let enabled = self.bool(&key("enabled"));
        let base_directory = self.path(&key("base_directory"));
        let private_key = self.path(&key("private_key"));
        let private_key_password =
            self.optional(&key("private_key_password"), |s| Ok(Secret::new(s)));
        let public_certificate = self.path(&key("public_certificate"));
        let trusted_dir = self.path(&key("trusted_dir"));
        let revoked_dir = self.path(&key("revoked_dir"));
        let verify_hostname = self.bool(&key("verify_hostname"));
        let ciphers = self.optional(&key("ciphers"), value::parse_words);
        let tls_versions = self.get(&key("tls_versions"), parse_tls_versions);
        let client_auth = self.get(&key("client_auth"), |s| {
            value::parse_enum(s, ClientAuth::VARIANTS)
        });
        let trust_all = self.bool(&key("trust_all"));
        Some(RawPolicy {
            enabled: enabled?,
            base_directory: base_directory?,
            private_key: private_key?,
            private_key_password: private_key_password?,
            public_certificate: public_certificate?,
            trusted_dir: trusted_dir?,
            revoked_dir: revoked_dir?,
            verify_hostname: verify_hostname?,
            ciphers: ciphers?,
            tls_versions: tls_versions?,
            client_auth: client_auth?,
            trust_all: trust_all?,
        })
    }

    fn upstream_uri(&mut self) -> Option<Target> {
        let (value, at) = self.raw(UPSTREAM_URI)?;
        let uri = value.unwrap_or_default();
        let target = match Target::parse(&uri) {
            Ok(target) => target,
            Err(source) => {
                self.failed.insert(UPSTREAM_URI.to_string());
                self.errors.push(ConfigError::Uri {
                    at,
                    key: UPSTREAM_URI.to_string(),
                    uri: redact_userinfo(&uri),
                    source,
                });
                return None;
            }
        };
        Some(target)
    }

    /// Parses every setting, then checks the rules between them. None if anything failed.
    fn config(&mut self, label: &str) -> Option<Config> {
        let listen_address = self.get("server.bolt.listen_address", value::parse_listen_address);
        let tls_level = self.get(TLS_LEVEL, |s| value::parse_enum(s, TlsLevel::VARIANTS));
        let ocsp_stapling_enabled = self.bool("server.bolt.ocsp_stapling_enabled");
        let tls_reload_enabled = self.bool("dbms.security.tls_reload_enabled");
        let watch = self.duration(WATCH, true);
        if let (Some(false), Some(w)) = (tls_reload_enabled, watch) {
            if !w.is_zero() {
                self.errors.push(ConfigError::Conflict {
                    at: self.origin(WATCH),
                    key: WATCH.to_string(),
                    other: "dbms.security.tls_reload_enabled=true".to_string(),
                    problem: "watching the files is a way to trigger a reload, but reloads are off"
                        .into(),
                });
            }
        }
        let ocsp_required = self.bool("boltgate.upstream.ocsp_required");
        let forward_goodbye = self.bool("boltgate.upstream.forward_goodbye");
        let responder_url = self.optional("boltgate.ocsp.responder_url", value::parse_http_url);
        let refresh_margin = self.duration("boltgate.ocsp.refresh_margin", false);
        let neo4j_home = self.path("server.directories.neo4j_home").map(absolute);
        let policies = Scope::ALL.map(|scope| self.policy(scope));
        let uri = self.upstream_uri();
        let connect_timeout = self.duration("boltgate.upstream.connect_timeout", false);
        let upstream_tcp = self.tcp_tuning("upstream");
        let client_tcp = self.tcp_tuning("client");
        let members = self.get(MEMBERS, |s| match value::parse_list(s)? {
            items if items.is_empty() => Ok(Vec::new()),
            items => crate::config::members::parse_members(&items),
        });
        let advertised = self.get("boltgate.routing.advertised_addresses", |s| {
            value::parse_list(s)?
                .iter()
                .map(|a| {
                    crate::config::members::normalise_address(a).map_err(|p| {
                        ValueError::with_hint(
                            p,
                            "e.g. proxy1.example.com:7687,proxy2.example.com:7687",
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        });
        let routing_ttl = self.duration("boltgate.routing.ttl", false);
        let ban_time = self.duration("boltgate.routing.ban_time", true);
        let handshake_timeout = self.duration("boltgate.client.handshake_timeout", false);
        let idle_timeout = self.duration("boltgate.client.idle_timeout", true);
        let max_connections = self.get("boltgate.client.max_connections", parse_max_connections);
        let max_message_size = self.get("boltgate.limits.max_message_size", parse_max_message_size);
        let allowed_origins = self.get("boltgate.websocket.allowed_origins", parse_origins);
        let max_frame_size = self.get("boltgate.websocket.max_frame_size", parse_max_frame_size);
        let proxy_enabled = self.bool("boltgate.proxy_protocol.enabled");
        let trusted_networks = self.get("boltgate.proxy_protocol.trusted_networks", |s| {
            value::parse_list(s)?
                .iter()
                .map(|item| {
                    crate::config::socket::parse_network(item).map_err(|p| {
                        ValueError::with_hint(p, "e.g. 10.0.0.0/8,192.168.1.10/32,::1/128")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        });
        let grace_period = self.duration("boltgate.shutdown.grace_period", true);
        let log_format = self.get("boltgate.log.format", |s| {
            value::parse_enum(s, LogFormat::VARIANTS)
        });
        let log_level = self.get("boltgate.log.level", |s| {
            settings::Kind::LogFilter.check(s).map(|()| s.to_string())
        });
        let tls_handshake_debug = self.bool("boltgate.log.tls_handshake_debug");
        let admin = self.admin();
        let hardening = self.hardening();

        // Rules between settings.
        // Checked on `enabled` alone, so a bad value elsewhere in the bolt policy does not hide it.
        let bolt_enabled = self
            .raw("dbms.ssl.policy.bolt.enabled")
            .and_then(|(v, _)| value::parse_bool(v.as_deref().unwrap_or("")).ok());
        if let (Some(level), Some(enabled)) = (tls_level, bolt_enabled) {
            if level != TlsLevel::Disabled && !enabled {
                self.errors.push(ConfigError::Conflict {
                    at: self.origin(TLS_LEVEL),
                    key: TLS_LEVEL.to_string(),
                    other: "dbms.ssl.policy.bolt.enabled=true".to_string(),
                    problem: format!("{level} needs the bolt SSL policy, but dbms.ssl.policy.bolt.enabled is false"),
                });
            }
        }

        if let (Some(target), Some(members)) = (&uri, &members) {
            if target.routing && !members.is_empty() {
                self.errors.push(ConfigError::Conflict {
                    at: self.origin(MEMBERS),
                    key: MEMBERS.to_string(),
                    other: format!("{UPSTREAM_URI}={target}"),
                    problem: "a static member list and a neo4j:// URI both describe the topology; \
                              keep one (the URI's scheme only sets TLS for static members: use \
                              bolt://, bolt+s:// or bolt+ssc://)"
                        .to_string(),
                });
            }
        }
        let advertised_addresses = match (advertised?, &listen_address) {
            (list, _) if !list.is_empty() => list,
            (_, Some(listen)) => vec![default_advertised(listen)],
            (_, None) => return None,
        };

        let neo4j_home = neo4j_home?;
        let [bolt, cluster, https] = policies;
        let ssl = SslPolicies {
            bolt: bolt?.resolve(Scope::Bolt, &neo4j_home),
            cluster: cluster?.resolve(Scope::Cluster, &neo4j_home),
            https: https?.resolve(Scope::Https, &neo4j_home),
        };
        Some(Config {
            source: label.to_string(),
            bolt: BoltConnector {
                listen_address: listen_address?,
                tls_level: tls_level?,
                ocsp_stapling_enabled: ocsp_stapling_enabled?,
            },
            tls_reload_enabled: tls_reload_enabled?,
            tls_reload_watch: Some(watch?).filter(|d| !d.is_zero()),
            ocsp: Ocsp {
                responder_url: responder_url?,
                refresh_margin: refresh_margin?,
            },
            neo4j_home,
            ssl,
            upstream: Upstream {
                uri: uri?,
                connect_timeout: connect_timeout?,
                ocsp_required: ocsp_required?,
                forward_goodbye: forward_goodbye?,
                tcp: upstream_tcp?,
            },
            routing: Routing {
                members: members?,
                advertised_addresses,
                ttl: routing_ttl?,
                ban_time: ban_time?,
            },
            client: Client {
                handshake_timeout: handshake_timeout?,
                idle_timeout: Some(idle_timeout?).filter(|d| !d.is_zero()),
                max_connections: max_connections?,
                tcp: client_tcp?,
            },
            websocket: WebSocket {
                allowed_origins: allowed_origins?,
                max_frame_size: max_frame_size?,
            },
            proxy_protocol: ProxyProtocol {
                enabled: proxy_enabled?,
                trusted_networks: trusted_networks?,
            },
            max_message_size: max_message_size?,
            shutdown_grace_period: grace_period?,
            log: Log {
                format: log_format?,
                level: log_level?,
                tls_handshake_debug: tls_handshake_debug?,
            },
            admin: admin?,
            ignored: self.ignored.clone(),
            hardening: hardening?,
            effective: self.effective(),
        })
    }

    /// `boltgate.client.max_nesting_depth`, `boltgate.routing.max_databases`,
    /// `boltgate.procedures.*`, `boltgate.admin.*`, `boltgate.log.repeat_*`.
    fn hardening(&mut self) -> Option<Hardening> {
        let at_least_one = |s: &str| match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ValueError::with_hint(
                format!("`{s}` is not a whole number of at least 1"),
                "e.g. 200",
            )),
        };
        let max_nesting_depth = self.get("boltgate.client.max_nesting_depth", at_least_one);
        let max_databases = self.get("boltgate.routing.max_databases", at_least_one);
        let users = self.get(
            "boltgate.procedures.reload_tls_allowed_users",
            value::parse_list,
        );
        let token_file = self.optional("boltgate.admin.token_file", |s| Ok(PathBuf::from(s)));
        let hosts = self.get("boltgate.admin.allowed_hosts", |s| {
            Ok(value::parse_list(s)?
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect())
        });
        let interval = self.duration("boltgate.log.repeat_interval", false);
        let burst = self.get("boltgate.log.repeat_burst", |s| {
            s.parse::<usize>().map_err(|_| {
                ValueError::with_hint(format!("`{s}` is not a whole number"), "e.g. 5")
            })
        });
        Some(Hardening {
            max_nesting_depth: max_nesting_depth?,
            max_databases: max_databases?,
            reload_tls_allowed_users: users?,
            admin_token_file: token_file?,
            admin_allowed_hosts: hosts?,
            log_repeat_interval: interval?,
            log_repeat_burst: burst?,
        })
    }

    /// `server.http.*`, `server.https.*` and the probe interval; https needs its SSL policy.
    fn admin(&mut self) -> Option<Admin> {
        let http_enabled = self.bool("server.http.enabled");
        let http_address = self.get("server.http.listen_address", value::parse_listen_address);
        let https_enabled = self.bool("server.https.enabled");
        let https_address = self.get("server.https.listen_address", value::parse_listen_address);
        let probe_interval = self.duration("boltgate.upstream.probe_interval", true);
        let policy_enabled = self
            .raw("dbms.ssl.policy.https.enabled")
            .and_then(|(v, _)| value::parse_bool(v.as_deref().unwrap_or("")).ok());
        if https_enabled == Some(true) && policy_enabled == Some(false) {
            self.errors.push(ConfigError::Conflict {
                at: self.origin("server.https.enabled"),
                key: "server.https.enabled".to_string(),
                other: "dbms.ssl.policy.https.enabled=true".to_string(),
                problem: "the HTTPS endpoint needs the https SSL policy, but \
                          dbms.ssl.policy.https.enabled is false"
                    .to_string(),
            });
            return None;
        }
        Some(Admin {
            http: HttpConnector {
                enabled: http_enabled?,
                listen_address: http_address?,
            },
            https: HttpConnector {
                enabled: https_enabled?,
                listen_address: https_address?,
            },
            probe_interval: Some(probe_interval?).filter(|d| !d.is_zero()),
        })
    }

    /// Every concrete key with its value and origin, sorted, secrets redacted.
    fn effective(&self) -> Vec<(String, String, String)> {
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
                        super::ssl_policy::REDACTED.to_string()
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

use value::redact_userinfo;

/// Relative to the working directory, as the process sees it at load time.
fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        return path;
    }
    match std::env::current_dir() {
        Ok(cwd) if path == std::path::Path::new(".") => cwd,
        Ok(cwd) => cwd.join(path),
        Err(_) => path,
    }
}

/// `TLSv1.2`, `TLSv1.3`, case-insensitive, normalised to those spellings; at least one.
fn parse_tls_versions(s: &str) -> Result<Vec<String>, ValueError> {
    let items = value::parse_words(s)?;
    if items.is_empty() {
        return Err(ValueError::with_hint(
            "no TLS version allowed",
            "e.g. TLSv1.2,TLSv1.3",
        ));
    }
    items
        .iter()
        .map(|item| {
            TLS_VERSIONS
                .iter()
                .find(|v| v.eq_ignore_ascii_case(item))
                .map(|v| v.to_string())
                .ok_or_else(|| {
                    ValueError::with_hint(
                        format!("`{item}` is not a supported TLS version"),
                        format!(
                            "use {}; older versions are insecure and not implemented",
                            TLS_VERSIONS.join(" or ")
                        ),
                    )
                })
        })
        .collect()
}

fn parse_max_connections(s: &str) -> Result<usize, ValueError> {
    match s.parse::<usize>() {
        Ok(0) => Err(ValueError::new("must be at least 1")),
        Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ValueError::with_hint(
            format!("`{s}` is not a whole number"),
            "e.g. 10000",
        )),
    }
}

fn parse_max_message_size(s: &str) -> Result<usize, ValueError> {
    let n = value::parse_size(s)?;
    if !(MIN_MESSAGE_SIZE..=MAX_MESSAGE_SIZE).contains(&n) {
        return Err(ValueError::with_hint(
            format!("`{s}` is out of range"),
            "use 1KiB to 2GiB; a number without a unit is bytes",
        ));
    }
    usize::try_from(n)
        .map_err(|_| ValueError::new(format!("`{s}` does not fit this platform's memory")))
}

/// `*` alone: any origin (None). Else each item an http(s) origin, normalised as browsers send it.
fn parse_origins(s: &str) -> Result<Option<Vec<String>>, ValueError> {
    let items = value::parse_list(s)?;
    if items.iter().any(|i| i == "*") {
        if items.len() > 1 {
            return Err(ValueError::with_hint(
                "`*` (any origin) cannot be combined with other origins",
                "use * alone, or list the origins",
            ));
        }
        return Ok(None);
    }
    items
        .iter()
        .map(|item| {
            crate::net::websocket::normalise_origin(item).ok_or_else(|| {
                ValueError::with_hint(
                    format!("`{item}` is not an origin"),
                    "write scheme://host[:port] with no path, e.g. https://browser.example.com",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Below 1KiB even a HELLO may not fit one frame; above 64MiB one frame could exhaust memory.
fn parse_max_frame_size(s: &str) -> Result<usize, ValueError> {
    let n = value::parse_size(s)?;
    if !(1 << 10..=64 << 20).contains(&n) {
        return Err(ValueError::with_hint(
            format!("`{s}` is out of range"),
            "use 1KiB to 64MiB; a number without a unit is bytes",
        ));
    }
    usize::try_from(n)
        .map_err(|_| ValueError::new(format!("`{s}` does not fit this platform's memory")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_and_proxy_protocol_settings() {
        let c = |over: &[&str]| {
            let over: Vec<String> = over.iter().map(|s| s.to_string()).collect();
            super::super::Config::from_text("", "t", &over, LoadOptions::default())
        };
        let d = c(&[]).unwrap();
        assert_eq!(d.websocket.allowed_origins, None);
        assert_eq!(d.websocket.max_frame_size, 64 * 1024);
        assert!(!d.proxy_protocol.enabled);
        assert_eq!(d.proxy_protocol.trusted_networks.len(), 2);
        let s = c(&[
            "boltgate.websocket.allowed_origins=https://App.example.com:443, http://127.0.0.1:8080",
            "boltgate.proxy_protocol.trusted_networks=10.0.0.0/8,192.0.2.1",
        ])
        .unwrap();
        assert_eq!(
            s.websocket.allowed_origins,
            Some(vec![
                "https://app.example.com".to_string(),
                "http://127.0.0.1:8080".to_string()
            ])
        );
        assert_eq!(
            s.proxy_protocol.trusted_networks[1].to_string(),
            "192.0.2.1/32"
        );
        let errors = c(&[
            "boltgate.websocket.allowed_origins=*,https://a.example",
            "boltgate.websocket.max_frame_size=10",
            "boltgate.proxy_protocol.trusted_networks=10.0.0.0/40",
        ])
        .unwrap_err()
        .to_string();
        for key in ["allowed_origins", "max_frame_size", "trusted_networks"] {
            assert!(errors.contains(key), "{key}: {errors}");
        }
        assert!(c(&["boltgate.websocket.allowed_origins=https://a.example/path"]).is_err());
    }

    #[test]
    fn the_build_reads_every_setting_in_the_table() {
        let mut b = Builder::new(
            super::super::DEFAULT_CONF,
            "t",
            false,
            &[],
            &LoadOptions::default(),
        );
        assert!(b.config("t").is_some());
        for (key, _) in settings::all_keys() {
            assert!(
                b.read.contains(&key),
                "{key} is in the table but never read"
            );
        }
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_userinfo("bolt://neo4j:secret@db:7687/x"),
            "bolt://<redacted>@db:7687/x"
        );
        // An `@` anywhere may end a password holding `?`: everything before it is hidden.
        assert_eq!(redact_userinfo("bolt://db?a=b@c"), "bolt://<redacted>@c");
        assert_eq!(redact_userinfo("no scheme"), "no scheme");
    }
}
