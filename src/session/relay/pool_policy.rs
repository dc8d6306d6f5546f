//! What the sessions of a pooling boltgate share ([`PoolPolicy`]): a pool per upstream member
//! ([`crate::pool::Members`]; the single upstream, or each cluster member with routing), the
//! [`Key`] that says which connections a unit of work may use, and what boltgate learnt from
//! the server (the version for each set of client proposals, the HELLO metadata).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use boltgate_proto::handshake::ClientHello;
use boltgate_proto::message::{RawMessage, Request};
use boltgate_proto::packstream::{encode_to_vec, Map, Value};
use boltgate_proto::Version;
use bytes::Bytes;

use super::backend::Backend;
use super::pool_conn::close_evicted;
use crate::pool::{Grant, Limits, Members, Pool, PoolError, Stats, Ticket};

/// What may not be mixed on one server connection: the Bolt version, the HELLO-level state
/// (notification filters, patches; not the user agent or routing context) and the credentials.
/// Pools are per member, so the member is not part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub(super) version: Version,
    pub(super) hello: Bytes,
    pub(super) auth: Bytes,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key holds credentials: never printed.
        write!(f, "Key({}, <redacted>)", self.version)
    }
}

impl Key {
    /// A place for a connection that only asks the server something and is closed after: never
    /// released, so never matched by a unit of work.
    fn probe() -> Key {
        Key {
            version: Version::V3,
            hello: Bytes::from_static(b"probe"),
            auth: Bytes::new(),
        }
    }
}

/// The pools every member has, as the sessions use them.
pub type MemberPools = Members<Key, Box<Backend>>;

/// What the sessions of a pooling boltgate share.
pub struct PoolPolicy {
    members: Arc<MemberPools>,
    /// The single upstream's address (its pool's name) when not routing.
    upstream: String,
    /// That upstream's pool, once asked for ([`PoolPolicy::upstream_pool`]).
    upstream_pool: std::sync::OnceLock<Arc<Pool<Key, Box<Backend>>>>,
    /// The version the upstream agreed for each set of client proposals, so a client's
    /// handshake needs no dial once one like it has been seen.
    versions: Mutex<HashMap<[u8; 16], Version>>,
    /// The server's HELLO SUCCESS metadata, for HELLOs boltgate answers itself.
    server_info: Mutex<Option<Map>>,
    next_connection: AtomicU64,
}

impl PoolPolicy {
    /// `upstream`: the address of the upstream URI (the pool's member when not routing).
    pub fn new(
        settings: &crate::config::Pool,
        metrics: crate::metrics::PoolFamilies,
        upstream: String,
    ) -> PoolPolicy {
        let limits = Limits {
            max_size: settings.max_size,
            min_idle: settings.min_idle,
            idle_timeout: settings.idle_timeout,
            max_lifetime: settings.max_lifetime,
        };
        PoolPolicy {
            members: Arc::new(Members::new(limits, settings.acquire_timeout, metrics)),
            upstream,
            upstream_pool: std::sync::OnceLock::new(),
            versions: Mutex::new(HashMap::new()),
            server_info: Mutex::new(None),
            next_connection: AtomicU64::new(1),
        }
    }

    /// Each member's counts.
    pub fn stats(&self) -> Vec<(String, Stats)> {
        self.members.stats()
    }

    /// `member`'s pool.
    pub(super) fn pool(&self, member: &str) -> Arc<Pool<Key, Box<Backend>>> {
        self.members.pool(member)
    }

    /// The single upstream's pool, without the lookup [`PoolPolicy::pool`] does. Not for
    /// routing: there [`Members`] may drop an unused member's pool, and a pool kept here would
    /// then be a second one for the same member.
    pub(super) fn upstream_pool(&self) -> Arc<Pool<Key, Box<Backend>>> {
        self.upstream_pool
            .get_or_init(|| self.members.pool(&self.upstream))
            .clone()
    }

    /// The pools, for what outlives a session's borrow (a routing table fetch).
    pub(super) fn members(&self) -> Arc<MemberPools> {
        self.members.clone()
    }

    /// The single upstream's address.
    pub(super) fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Closes the idle connections (a draining boltgate).
    pub async fn close_idle(&self) {
        self.members.close_idle().await;
    }

    /// A place in `member`'s pool for a connection that only asks the server something (its
    /// version for a client's proposals, its HELLO metadata, a routing table) and is closed
    /// after: counted like any other, so the member never sees more than `max_size`.
    pub async fn probe_place(&self, member: &str) -> Result<ProbePlace, PoolError> {
        probe_place(&self.members, member).await
    }

    pub fn version_for(&self, hello: &ClientHello) -> Option<Version> {
        let versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        versions.get(&proposals(hello)).copied()
    }

    pub fn remember_version(&self, hello: &ClientHello, version: Version) {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: four proposals from a handful of driver releases; a client sending random
        // proposals cannot grow it past this.
        if versions.len() < 1024 {
            versions.insert(proposals(hello), version);
        }
    }

    pub(super) fn server_info(&self) -> Option<Map> {
        self.server_info
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn learn(&self, meta: &Map) {
        *self.server_info.lock().unwrap_or_else(|e| e.into_inner()) = Some(meta.clone());
    }

    /// boltgate's own connection id for a HELLO it answers.
    pub(super) fn connection_id(&self) -> String {
        let n = self.next_connection.fetch_add(1, Ordering::Relaxed);
        format!("boltgate-pool-{n}")
    }
}

/// See [`PoolPolicy::probe_place`].
pub(super) async fn probe_place(
    members: &MemberPools,
    member: &str,
) -> Result<ProbePlace, PoolError> {
    // A probe key is never released, so the grant is always a place to dial.
    let lent = members.pool(member).acquire(&Key::probe()).await?;
    if let Grant::Dial { evicted } = lent.grant {
        // Closed before the probe dials, so the server never sees both.
        close_evicted(evicted).await;
    }
    Ok(ProbePlace(lent.ticket))
}

/// A place held while probing ([`PoolPolicy::probe_place`]); dropped, it is freed.
pub struct ProbePlace(#[allow(dead_code)] Ticket<Key, Box<Backend>>);

fn proposals(hello: &ClientHello) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, p) in hello.proposals.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&p.to_bytes());
    }
    out
}

/// A HELLO's connection-level state: every field but the ones that only describe the client
/// (user agent, bolt agent) or are boltgate's to set (routing).
pub(super) fn hello_state(version: Version, hello: &Bytes) -> Bytes {
    let Ok(raw) = RawMessage::new(hello.clone()) else {
        return hello.clone();
    };
    match Request::decode(version, &raw) {
        Ok(Request::Hello(h)) => {
            let kept: Map = h
                .extra
                .iter()
                .filter(|(k, _)| !matches!(*k, "user_agent" | "bolt_agent" | "routing"))
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            encode_to_vec(&Value::Map(kept))
                .map(Bytes::from)
                .unwrap_or_else(|_| hello.clone())
        }
        _ => hello.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(entries: Vec<(&str, Value)>) -> Bytes {
        Request::Hello(boltgate_proto::message::Hello {
            extra: entries.into_iter().collect(),
        })
        .to_raw()
        .unwrap()
        .into_bytes()
    }

    /// Clients that differ only in who they say they are share connections; HELLO-level state
    /// the server keeps per connection (notification filters) does not mix.
    #[test]
    fn the_key_ignores_the_user_agent_and_routing_but_not_notification_filters() {
        let v = Version::V5_4;
        let a = hello(vec![("user_agent", "a/1".into()), ("routing", Value::Null)]);
        let b = hello(vec![("user_agent", "b/2".into())]);
        assert_eq!(hello_state(v, &a), hello_state(v, &b));
        let warn = hello(vec![
            ("user_agent", "a/1".into()),
            ("notifications_minimum_severity", "WARNING".into()),
        ]);
        let off = hello(vec![
            ("user_agent", "a/1".into()),
            ("notifications_minimum_severity", "OFF".into()),
        ]);
        assert_ne!(hello_state(v, &warn), hello_state(v, &a));
        assert_ne!(hello_state(v, &warn), hello_state(v, &off));
        // Pre-5.1 credentials travel in HELLO: different users, different keys.
        let alice = hello(vec![
            ("scheme", "basic".into()),
            ("principal", "alice".into()),
        ]);
        let bob = hello(vec![
            ("scheme", "basic".into()),
            ("principal", "bob".into()),
        ]);
        assert_ne!(
            hello_state(Version::V4_4, &alice),
            hello_state(Version::V4_4, &bob)
        );
    }

    /// A probe's place counts against the member's `max_size` and is freed when dropped.
    #[tokio::test]
    async fn a_probe_holds_a_place_in_its_members_pool_only() {
        let settings = crate::config::Pool {
            mode: crate::config::PoolMode::Transaction,
            max_size: 1,
            min_idle: 0,
            acquire_timeout: std::time::Duration::from_millis(20),
            idle_timeout: None,
            max_lifetime: None,
        };
        let policy = PoolPolicy::new(&settings, Default::default(), "up:1".into());
        let place = policy.probe_place("a:1").await.expect("a place");
        assert!(policy.probe_place("a:1").await.is_err(), "a:1 is full");
        let other = policy.probe_place("b:1").await.expect("b:1 has its own");
        drop(place);
        policy.probe_place("a:1").await.expect("freed");
        drop(other);
    }
}
