//! An operator's own neo4j.conf (issue 16, item 2): Neo4j settings boltgate does not use are
//! accepted and listed once at start-up as ignored, with boltgate's equivalent where it has
//! one; `--strict` refuses them; a name that is neither Neo4j's nor boltgate's stays an error
//! with "did you mean"; `server.bolt.enabled=false` is refused with its reason.

mod common;

use std::path::Path;
use std::time::Duration;

use common::boltgate::run_boltgate;
use common::{Boltgate, FalkorDb, TestPki};
use serde_json::json;

const EXIT_CONFIG: i32 = 64;

/// The SSL framework manual's Bolt steps, with the manual's space-separated versions and its
/// cipher list (less TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, which rustls lacks: that one is
/// refused, see tests/check_config.rs), amid the settings a Neo4j 5 neo4j.conf typically has.
fn realistic_neo4j_conf(home: &Path, upstream: &str) -> String {
    format!(
        "#*****************************************************************
# Neo4j configuration
#*****************************************************************
server.directories.neo4j_home={home}
server.directories.data=/var/lib/neo4j/data
server.directories.plugins=/var/lib/neo4j/plugins
server.directories.logs=/var/log/neo4j
server.directories.lib=/usr/share/neo4j/lib
server.directories.run=/var/lib/neo4j/run
server.directories.import=/var/lib/neo4j/import
dbms.security.auth_enabled=true
initial.dbms.default_database=neo4j

# Memory
server.memory.heap.initial_size=512m
server.memory.heap.max_size=1G
server.memory.pagecache.size=512m
db.memory.transaction.total.max=0
db.tx_log.rotation.retention_policy=2 days 2G

# Network connectors
server.default_listen_address=0.0.0.0
server.default_advertised_address=db.example.com
server.bolt.enabled=true
server.http.enabled=false
server.https.enabled=false
server.bolt.thread_pool_max_size=400
dbms.netty.ssl.provider=JDK

# SSL (the manual's Bolt steps)
dbms.ssl.policy.bolt.enabled=true
dbms.ssl.policy.bolt.base_directory=certificates/bolt
dbms.ssl.policy.bolt.private_key=private.key
dbms.ssl.policy.bolt.public_certificate=public.crt
dbms.ssl.policy.bolt.client_auth=NONE
dbms.ssl.policy.bolt.tls_versions=TLSv1.2 TLSv1.3
dbms.ssl.policy.bolt.ciphers=TLS_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
server.bolt.tls_level=REQUIRED

# Logging
server.logs.config=conf/server-logs.xml
server.logs.user.config=conf/user-logs.xml
db.logs.query.enabled=INFO
db.logs.query.threshold=2s

# JVM
server.jvm.additional=-XX:+UseG1GC
server.jvm.additional=-XX:-OmitStackTraceInFastThrow
server.jvm.additional=-Djavax.net.debug=ssl:handshake
dbms.usage_report.enabled=false
db.transaction.timeout=60s

# boltgate
boltgate.upstream.uri={upstream}
",
        home = home.display()
    )
}

#[test]
fn a_realistic_neo4j_conf_starts_and_a_driver_query_works() {
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let home = tempfile::tempdir().unwrap();
    pki.write_policy_dir(&home.path().join("certificates/bolt"), &pki.server);
    let text = realistic_neo4j_conf(home.path(), &db.bolt_uri());

    let gate = Boltgate::start_with_config_text(&text);
    let out = common::run_py(
        "query.py",
        &[
            &gate.bolt_uri(),
            &json!(["RETURN 7 AS x"]).to_string(),
            "--ca",
            pki.ca_path.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out["results"][0]["records"], json!([[7]]), "{out}");

    let log = gate.log();
    let listed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Neo4j settings boltgate does not use, ignored"))
        .collect();
    assert_eq!(listed.len(), 1, "listed once:\n{log}");
    let line = listed[0];
    for expected in [
        "server.memory.heap.max_size",
        "dbms.netty.ssl.provider (boltgate: boltgate's TLS is rustls",
        "server.jvm.additional (boltgate: boltgate.log.tls_handshake_debug=true",
        "server.default_listen_address (boltgate: boltgate does not derive addresses from it",
        "server.bolt.enabled (boltgate: boltgate always serves Bolt",
    ] {
        assert!(line.contains(expected), "no `{expected}` in:\n{line}");
    }
    // boltgate's own settings are not in the list.
    assert!(!line.contains("server.bolt.tls_level"), "{line}");
}

fn conf(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("neo4j.conf");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string())
}

fn check(path: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["check-config", "--config", path];
    args.extend_from_slice(extra);
    let (status, out) = run_boltgate(&args, Duration::from_secs(20));
    (status.code(), out)
}

#[test]
fn check_config_lists_ignored_settings_and_strict_refuses_them() {
    let (_d, path) = conf(
        "server.memory.heap.max_size=1G\n\
         server.jvm.additional=-XX:+UseG1GC\n\
         server.jvm.additional=-Djavax.net.debug=ssl:handshake\n\
         dbms.ssl.policy.bolt.tls_versions=TLSv1.2 TLSv1.3\n",
    );
    let (code, out) = check(&path, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
        "ignored (a Neo4j setting boltgate does not use): {path}:1: server.memory.heap.max_size"
    )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{path}:3: server.jvm.additional (boltgate: boltgate.log.tls_handshake_debug=true"
        )),
        "{out}"
    );

    let (code, out) = check(&path, &["--strict"]);
    assert_eq!(code, Some(EXIT_CONFIG), "{out}");
    for line in 1..=3 {
        assert!(
            out.contains(&format!("{path}:{line}: ")) && out.contains("refused with --strict"),
            "line {line}:\n{out}"
        );
    }
    assert!(out.contains("3 configuration problems"), "{out}");
}

#[test]
fn names_neither_neo4j_nor_boltgate_know_stay_errors_with_did_you_mean() {
    let (_d, path) = conf(
        "server.memory.heap.max_sise=1G\n\
         server.bolt.tls_levle=REQUIRED\n\
         server.bolt.frobnicate=true\n",
    );
    let (code, out) = check(&path, &[]);
    assert_eq!(code, Some(EXIT_CONFIG), "{out}");
    for expected in [
        format!("{path}:1: server.memory.heap.max_sise: unknown setting; did you mean `server.memory.heap.max_size`?"),
        format!("{path}:2: server.bolt.tls_levle: unknown setting; did you mean `server.bolt.tls_level`?"),
        format!("{path}:3: server.bolt.frobnicate: unknown setting"),
    ] {
        assert!(out.contains(&expected), "no `{expected}` in:\n{out}");
    }
}

#[test]
fn bolt_disabled_is_refused_with_its_reason() {
    let (_d, path) = conf("server.bolt.enabled=false\n");
    for args in [
        vec!["check-config", "--config", &path],
        vec!["--config", &path],
    ] {
        let (status, out) = run_boltgate(&args, Duration::from_secs(20));
        assert_eq!(status.code(), Some(EXIT_CONFIG), "{out}");
        assert!(out.contains(&format!(
            "{path}:1: server.bolt.enabled: boltgate is a Bolt proxy and cannot run with its Bolt connector off"
        )), "{out}");
    }
}
