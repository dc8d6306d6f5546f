//! Messages that help an operator (issue 16, item 3), each as an operator meets it in boltgate's
//! output: no file-descriptor warning for the default configuration on an ordinary machine, a
//! warning when a configured limit cannot be met; no warning about TLS 1.2 suites nobody set under
//! `tls_versions=TLSv1.3`; log fields in the configuration's and IANA's spellings. (The upstream
//! TLS hints are in tests/upstream_tls.rs, `status --client-cert` and `POST /reload` 422 in
//! tests/admin.rs.)

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_addr, read_log, wait_for_port, Boltgate, ChildGuard, FalkorDb, TestPki};
use serde_json::json;

/// Starts boltgate under `prlimit --nofile=soft:hard` with `settings` (each `--set`), waits for
/// the listener, stops it, and returns everything it printed.
fn output_under_fd_limit(soft: u32, hard: u32, settings: &[String]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("boltgate.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let addr = free_addr();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={soft}:{hard}"))
        .arg(common::boltgate::boltgate_bin())
        .arg("--set")
        .arg(format!("server.bolt.listen_address={addr}"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    for s in settings {
        cmd.arg("--set").arg(s);
    }
    let mut child = ChildGuard::spawn("boltgate", &mut cmd).expect("spawn prlimit boltgate");
    let listening = wait_for_port(addr, Duration::from_secs(20));
    child.signal("TERM");
    child.wait_timeout(Duration::from_secs(10));
    let out = common::boltgate::strip_ansi(&read_log(&log_path));
    assert!(listening, "boltgate did not listen:\n{out}");
    out
}

#[test]
fn the_default_configuration_starts_without_a_file_descriptor_warning() {
    // 1024 soft / 4096 hard: a login shell's limits on many distributions, and the default
    // max_connections (10000) needs about 20064.
    let out = output_under_fd_limit(1024, 4096, &[]);
    assert!(!out.contains("WARN"), "{out}");
    assert!(
        out.contains("its default 10000 is lowered to 2016"),
        "the lowering is said at info:\n{out}"
    );

    // A limit the operator wrote and the machine cannot meet is still a warning.
    let out = output_under_fd_limit(
        1024,
        4096,
        &["boltgate.client.max_connections=10000".to_string()],
    );
    assert!(
        out.contains("WARN")
            && out
                .contains("boltgate.client.max_connections=10000 needs about two file descriptors"),
        "{out}"
    );
}

fn tls13_gate(pki: &TestPki, home: &Path, upstream: &str) -> Boltgate {
    let base = pki.write_policy_dir(&home.join("certificates/bolt"), &pki.server);
    // As the manual asks (0400/0600): a readable key is rightly warned about.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        base.join("private.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    Boltgate::start_with_config_text(&format!(
        "server.directories.neo4j_home={}\n\
         server.bolt.tls_level=REQUIRED\n\
         dbms.ssl.policy.bolt.enabled=true\n\
         dbms.ssl.policy.bolt.client_auth=NONE\n\
         dbms.ssl.policy.bolt.tls_versions=TLSv1.3\n\
         boltgate.log.level=boltgate=debug,info\n\
         boltgate.upstream.uri={upstream}\n",
        home.display()
    ))
}

#[test]
fn tls13_only_logs_no_cipher_warning_and_names_things_as_the_configuration_does() {
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let home = tempfile::tempdir().unwrap();
    let gate = tls13_gate(&pki, home.path(), &db.bolt_uri());
    let out = common::run_py(
        "query.py",
        &[
            &gate.bolt_uri(),
            &json!(["RETURN 1 AS x"]).to_string(),
            "--ca",
            pki.ca_path.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out["results"][0]["records"], json!([[1]]));
    assert!(
        gate.wait_for_log("TLS established", Duration::from_secs(5)),
        "{}",
        gate.log()
    );
    let log = gate.log();
    // No warning about suites of a version nobody enabled, with ciphers never set.
    assert!(!log.contains("WARN"), "{log}");
    assert!(!log.contains("never used"), "{log}");
    // The listening line and the connection's span say what the configuration says.
    assert!(log.contains("tls_level=REQUIRED"), "{log}");
    assert!(log.contains("tls.version=TLSv1.3"), "{log}");
    assert!(
        log.contains("tls.cipher=TLS_AES_256_GCM_SHA384")
            || log.contains("tls.cipher=TLS_AES_128_GCM_SHA256")
            || log.contains("tls.cipher=TLS_CHACHA20_POLY1305_SHA256"),
        "{log}"
    );
    for rust_spelling in ["Required", "TLSv1_3", "TLS13_"] {
        assert!(!log.contains(rust_spelling), "`{rust_spelling}` in:\n{log}");
    }
}
