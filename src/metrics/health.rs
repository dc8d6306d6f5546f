//! Upstream health, as `/ready` and `boltgate_upstream_up` see it.
//!
//! Two sources feed it, both through [`UpstreamHealth::report`]:
//! - **probes**: every `boltgate.upstream.probe_interval`, a TCP connect to each tracked member,
//!   closed at once (nothing is sent: a Bolt handshake per probe would cost the server a session
//!   setup, and FalkorDB serves no connection after a poisoned one, see tests/common/falkordb.rs);
//! - **sessions**: every upstream connect a client session makes (a failed TLS or Bolt handshake
//!   marks the member down although its port is open; the next success marks it up again).
//!
//! A member is usable when its last report was a success. `/ready` needs one usable member.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

/// What is known about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberState {
    /// None until the first probe or connect.
    pub up: Option<bool>,
    /// When `up` last changed.
    pub since: SystemTime,
    /// The last failure, for `/ready`'s body and `boltgate status`.
    pub last_error: Option<String>,
}

/// Members by address. Cheap to share (one mutex, touched once per connect or probe).
#[derive(Debug, Default)]
pub struct UpstreamHealth {
    members: Mutex<BTreeMap<String, MemberState>>,
}

impl UpstreamHealth {
    fn members(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, MemberState>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start tracking `member` (state unknown until its first report). Idempotent.
    pub fn track(&self, member: &str) {
        self.members()
            .entry(member.to_string())
            .or_insert_with(|| MemberState {
                up: None,
                since: SystemTime::now(),
                last_error: None,
            });
    }

    /// The outcome of a probe or a connect to `member` (tracked from now on if it was not).
    pub fn report(&self, member: &str, result: Result<(), String>) {
        let mut members = self.members();
        // Looked up before inserting: every connect reports, and the key is only new once.
        if !members.contains_key(member) {
            members.insert(
                member.to_string(),
                MemberState {
                    up: None,
                    since: SystemTime::now(),
                    last_error: None,
                },
            );
        }
        let Some(state) = members.get_mut(member) else {
            return;
        };
        let up = result.is_ok();
        if state.up != Some(up) {
            match &result {
                Ok(()) if state.up.is_some() => {
                    tracing::info!(upstream = member, "upstream reachable again")
                }
                Ok(()) => tracing::debug!(upstream = member, "upstream reachable"),
                Err(e) => tracing::warn!(upstream = member, error = %e, "upstream unreachable"),
            }
            state.up = Some(up);
            state.since = SystemTime::now();
        }
        if let Err(e) = result {
            state.last_error = Some(e);
        }
    }

    /// Every member and its state, by address.
    pub fn snapshot(&self) -> Vec<(String, MemberState)> {
        self.members()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Members with a known state, as (address, up).
    pub fn snapshot_up(&self) -> Vec<(String, bool)> {
        self.members()
            .iter()
            .filter_map(|(k, v)| v.up.map(|up| (k.clone(), up)))
            .collect()
    }

    /// Whether one member is usable; `unknown_is_usable` when nothing probes (then a member with
    /// no report yet counts, and only a failed connect takes it away).
    pub fn any_usable(&self, unknown_is_usable: bool) -> bool {
        self.members()
            .values()
            .any(|m| m.up.unwrap_or(unknown_is_usable))
    }

    /// Whether every tracked member has been reported on at least once.
    pub fn all_known(&self) -> bool {
        self.members().values().all(|m| m.up.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_follows_the_last_report() {
        let h = UpstreamHealth::default();
        h.track("a:1");
        assert!(!h.any_usable(false));
        assert!(h.any_usable(true));
        assert!(!h.all_known());
        h.report("a:1", Err("refused".into()));
        assert!(!h.any_usable(true));
        h.report("b:2", Ok(()));
        assert!(h.any_usable(false));
        h.report("b:2", Err("gone".into()));
        assert!(!h.any_usable(false));
        let snap = h.snapshot();
        assert_eq!(snap[0].1.last_error.as_deref(), Some("refused"));
        assert_eq!(
            h.snapshot_up(),
            vec![("a:1".into(), false), ("b:2".into(), false)]
        );
    }
}
