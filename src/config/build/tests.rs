//! The build as a whole: settings that only show through a loaded Config, and the check that
//! every setting in the table is read.

use super::super::value::redact_userinfo;
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

/// Transaction pooling works with routing (a pool per member): a `neo4j://` upstream or a
/// static topology with `boltgate.pool.mode=transaction` loads.
#[test]
fn transaction_pooling_loads_with_routing() {
    let c = |over: &[&str]| {
        let over: Vec<String> = over.iter().map(|s| s.to_string()).collect();
        super::super::Config::from_text("", "t", &over, LoadOptions::default())
    };
    let routed = c(&[
        "boltgate.upstream.uri=neo4j://db.example.com:7687",
        "boltgate.pool.mode=transaction",
        "boltgate.pool.max_size=4",
    ])
    .expect("neo4j:// with transaction pooling loads");
    assert_eq!(routed.pool.mode, crate::config::PoolMode::Transaction);
    assert_eq!(routed.pool.max_size, 4);
    c(&[
        "boltgate.upstream.uri=bolt://127.0.0.1:7687",
        "boltgate.routing.members=writer=127.0.0.1:7687,reader=127.0.0.1:7688",
        "boltgate.pool.mode=transaction",
    ])
    .expect("a static topology with transaction pooling loads");
}
