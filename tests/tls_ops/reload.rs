//! Certificate rotation without a restart.

use std::path::PathBuf;
use std::time::Duration;

use boltgate_testkit::client::{Auth, Client, Outcome};
use serde_json::json;

use crate::common::{self, Boltgate, FalkorDb};
use crate::settings;
use crate::support::{install, presented, tls12_handshake, tls_connect, Ca, Leaf, Resuming};

const WAIT: Duration = Duration::from_secs(15);
const PY_TIMEOUT: Duration = Duration::from_secs(60);

fn rows(outcome: Outcome) -> u64 {
    match outcome {
        Outcome::Rows { records, .. } => records,
        other => panic!("query failed: {other:?}"),
    }
}

/// boltgate in front of FalkorDB over TLS, with certificate "old" in service from the bolt policy
/// at `base`, and `dbms.security.tls_reload_enabled` as given.
struct Rotation {
    _db: FalkorDb,
    ca: Ca,
    base: PathBuf,
    old: Leaf,
    bg: Boltgate,
}

impl Rotation {
    fn start(reload_enabled: bool) -> Rotation {
        Rotation::start_with(reload_enabled, &[])
    }

    fn start_with(reload_enabled: bool, extra: &[(&str, &str)]) -> Rotation {
        let db = FalkorDb::start();
        let ca = Ca::new();
        let base = ca.dir.path().join("bolt");
        let old = ca.leaf("old", None);
        ca.policy_dir(&base, &old);
        let reload = if reload_enabled { "true" } else { "false" };
        let uri = db.bolt_uri();
        let mut extra = extra.to_vec();
        extra.push(("dbms.security.tls_reload_enabled", reload));
        extra.push(("boltgate.procedures.reload_tls_allowed_users", "alice"));
        let bg = Boltgate::start(&settings(&base, &uri, &extra));
        Rotation {
            _db: db,
            ca,
            base,
            old,
            bg,
        }
    }
}

#[test]
fn sighup_rotates_the_certificate_for_new_clients_and_open_connections_keep_working() {
    let Rotation {
        _db,
        ca,
        base,
        old,
        bg,
    } = Rotation::start(true);
    let new = ca.leaf("new", None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A client connected (over TLS) before the rotation.
    let (mut before, shown) = rt.block_on(async {
        let (tls, shown) = tls_connect(bg.addr).await;
        let client = tokio::time::timeout(WAIT, Client::handshake(tls, &Auth::None))
            .await
            .unwrap()
            .unwrap();
        (client, shown)
    });
    assert_eq!(shown.leaf, old.der);
    assert_eq!(rt.block_on(before.run("RETURN 1")).map(rows).unwrap(), 1);
    // A client's TLS session resumes until the reload, and not after it (a new ticket key).
    let resuming = Resuming::new();
    assert!(!rt.block_on(resuming.handshake_resumed(bg.addr)));
    assert!(
        rt.block_on(resuming.handshake_resumed(bg.addr)),
        "a session resumes"
    );

    install(&base, &new, &ca.pem);
    bg.signal("HUP");
    assert!(bg.wait_for_log("TLS reloaded", WAIT), "{}", bg.log());
    assert!(bg.log_contains("trigger=\"SIGHUP\"") || bg.log_contains("trigger=SIGHUP"));

    // New clients see the new certificate (compared byte for byte, and by fingerprint).
    let now = presented(bg.addr);
    assert_eq!(
        now.leaf, new.der,
        "a new client must see the new certificate"
    );
    let fp = boltgate::reload::fingerprint(&now.leaf.clone().into());
    assert!(
        bg.log_contains(&fp),
        "the reload logs the new fingerprint {fp}: {}",
        bg.log()
    );
    // The connection opened before keeps working.
    assert_eq!(rt.block_on(before.run("RETURN 2")).map(rows).unwrap(), 1);
    assert!(
        !rt.block_on(resuming.handshake_resumed(bg.addr)),
        "no session from before the reload resumes"
    );
}

#[test]
fn a_broken_new_key_leaves_the_old_certificate_in_service() {
    let Rotation {
        _db,
        ca,
        base,
        old,
        bg,
    } = Rotation::start(true);
    let other = ca.leaf("other", None);
    // A key that does not parse.
    std::fs::write(
        base.join("private.key"),
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    bg.signal("HUP");
    assert!(bg.wait_for_log("TLS reload failed", WAIT), "{}", bg.log());
    assert!(
        bg.log_contains("dbms.ssl.policy.bolt.private_key"),
        "{}",
        bg.log()
    );
    assert_eq!(presented(bg.addr).leaf, old.der);

    // A valid key of another certificate: refused too, the old one still served.
    std::fs::write(base.join("private.key"), &other.key_pem).unwrap();
    bg.signal("HUP");
    assert!(
        common::wait_until(WAIT, || bg.log().matches("TLS reload failed").count() >= 2),
        "{}",
        bg.log()
    );
    assert!(
        bg.log_contains("does not match the certificate"),
        "{}",
        bg.log()
    );
    assert_eq!(presented(bg.addr).leaf, old.der);
    // And TLS clients still get through to the upstream.
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!(["RETURN 7 AS n"]).to_string(),
            "--ca",
            ca.cert_path.to_str().unwrap(),
        ],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"][0][0], 7);
}

#[test]
fn reload_tls_procedure_through_the_python_driver() {
    let Rotation {
        _db,
        ca,
        base,
        old: _old,
        bg,
    } = Rotation::start(true);
    let new = ca.leaf("new", None);
    install(&base, &new, &ca.pem);
    let ca_path = ca.cert_path.to_str().unwrap();
    // Over TLS, then a query on the same session: the local answer and the upstream's stay in order.
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!([
                "RETURN 1 AS n",
                "CALL dbms.security.reloadTLS()",
                "RETURN 2 AS n"
            ])
            .to_string(),
            "--ca",
            ca_path,
            "--principal",
            "alice",
        ],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"][0][0], 1, "{out}");
    assert_eq!(out["results"][1]["records"], json!([]), "{out}");
    assert_eq!(out["results"][2]["records"][0][0], 2, "{out}");
    assert!(bg.log_contains("TLS reloaded"), "{}", bg.log());
    assert_eq!(presented(bg.addr).leaf, new.der);

    // A broken reload answers with a generic failure (the reason, file paths included, is in
    // the log), and the session goes on after it. A reload within 2 s of the last shares its
    // outcome: wait that out.
    std::thread::sleep(boltgate::reload::CLIENT_RELOAD_WINDOW);
    std::fs::write(base.join("public.crt"), "garbage").unwrap();
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!(["CALL dbms.security.reloadTLS()", "RETURN 3 AS n"]).to_string(),
            "--allow-errors",
            "--principal",
            "alice",
        ],
        PY_TIMEOUT,
    );
    let err = &out["results"][0]["error"];
    assert_eq!(
        err["code"], "Neo.ClientError.Procedure.ProcedureCallFailed",
        "{out}"
    );
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("reason is in boltgate's log"), "{out}");
    assert!(
        !message.contains("public_certificate") && !message.contains(base.to_str().unwrap()),
        "the client learns no setting or path: {out}"
    );
    assert!(
        bg.wait_for_log("dbms.ssl.policy.bolt.public_certificate", WAIT),
        "{}",
        bg.log()
    );
    assert_eq!(out["results"][1]["records"][0][0], 3, "{out}");
    assert_eq!(presented(bg.addr).leaf, new.der);
}

/// The cluster policy (boltgate's client certificate towards its upstream) rotates too: member M
/// requires client certificates and logs the one each connection presents.
#[test]
fn sighup_reloads_the_cluster_policy_for_new_upstream_connections() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let m_base = ca.dir.path().join("member");
    ca.policy_dir(&m_base, &ca.leaf("member", None));
    let m_dir = m_base.to_str().unwrap().to_string();
    let m = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("server.bolt.tls_level", "REQUIRED"),
        ("dbms.ssl.policy.bolt.enabled", "true"),
        ("dbms.ssl.policy.bolt.base_directory", &m_dir),
        ("dbms.ssl.policy.bolt.client_auth", "REQUIRE"),
        ("boltgate.log.level", "debug"),
    ]);
    let g_base = ca.dir.path().join("cluster");
    ca.policy_dir(&g_base, &ca.leaf("c1", None));
    let g_dir = g_base.to_str().unwrap().to_string();
    let upstream = format!("bolt://localhost:{}", m.addr.port());
    let g = Boltgate::start(&[
        ("boltgate.upstream.uri", &upstream),
        ("dbms.ssl.policy.cluster.enabled", "true"),
        ("dbms.ssl.policy.cluster.base_directory", &g_dir),
        ("dbms.security.tls_reload_enabled", "true"),
    ]);
    let query = |n: u64| {
        common::try_run_py(
            "query.py",
            &[
                &g.bolt_uri(),
                &json!([format!("RETURN {n} AS n")]).to_string(),
                "--connect-timeout",
                "5",
            ],
            PY_TIMEOUT,
        )
        .map(|o| o["results"][0]["records"][0][0].as_u64())
        .map_err(|f| f.to_string())
    };
    assert_eq!(query(1), Ok(Some(1)), "{}\n{}", g.log(), m.log());
    assert!(m.log_contains("CN=boltgate-c1"), "{}", m.log());

    // A new certificate from the same CA: the next upstream connection presents it.
    install(&g_base, &ca.leaf("c2", None), &ca.pem);
    g.signal("HUP");
    assert!(g.wait_for_log("TLS reloaded", WAIT), "{}", g.log());
    assert!(g.log_contains("cluster: CN=boltgate-c2"), "{}", g.log());
    assert_eq!(query(2), Ok(Some(2)), "{}", g.log());
    assert!(m.log_contains("CN=boltgate-c2"), "{}", m.log());

    // A broken key: the reload fails and says why; c2 stays in service.
    std::fs::write(g_base.join("private.key"), "not a key").unwrap();
    g.signal("HUP");
    assert!(g.wait_for_log("TLS reload failed", WAIT), "{}", g.log());
    assert!(
        g.log_contains("dbms.ssl.policy.cluster.private_key"),
        "{}",
        g.log()
    );
    assert_eq!(query(3), Ok(Some(3)), "{}", g.log());

    // A valid certificate from a CA the member does not trust: taken on, and the member refuses it.
    let stranger = Ca::new();
    install(&g_base, &stranger.leaf("c3", None), &stranger.pem);
    g.signal("HUP");
    assert!(
        common::wait_until(WAIT, || g.log().matches("TLS reloaded").count() == 2),
        "{}",
        g.log()
    );
    let err = query(4).expect_err("the member refuses a certificate it does not trust");
    assert!(err.contains("DatabaseUnavailable"), "{err}");
}

/// Inside an explicit transaction, between two queries of that transaction: boltgate answers the
/// call in order, the transaction goes on and commits.
#[test]
fn reload_tls_procedure_inside_an_explicit_transaction() {
    let Rotation {
        _db,
        ca,
        base,
        old: _old,
        bg,
    } = Rotation::start(true);
    let new = ca.leaf("new", None);
    install(&base, &new, &ca.pem);
    let label = format!("Reload{}", common::free_port());
    let ca_path = ca.cert_path.to_str().unwrap();
    let count = format!("MATCH (n:{label}) RETURN count(n) AS c");
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!([
                format!("CREATE (:{label} {{i: 1}})"),
                "CALL dbms.security.reloadTLS()",
                count,
            ])
            .to_string(),
            "--ca",
            ca_path,
            "--in-tx",
            "--principal",
            "alice",
        ],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][1]["records"], json!([]), "{out}");
    assert_eq!(out["results"][2]["records"][0][0], 1, "{out}");
    assert!(bg.log_contains("TLS reloaded"), "{}", bg.log());
    assert_eq!(presented(bg.addr).leaf, new.der);
    // The transaction committed: a later one sees its write.
    let out = common::run_py(
        "query.py",
        &[&bg.bolt_uri(), &json!([count]).to_string(), "--in-tx"],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"][0][0], 1, "{out}");
}

#[test]
fn reload_tls_procedure_fails_clearly_when_reload_is_disabled() {
    let Rotation {
        _db,
        ca: _ca,
        base: _base,
        old: _old,
        mut bg,
    } = Rotation::start(false);
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!(["call dbms.security.reloadtls()", "RETURN 4 AS n"]).to_string(),
            "--allow-errors",
            "--principal",
            "alice",
        ],
        PY_TIMEOUT,
    );
    let err = &out["results"][0]["error"];
    assert_eq!(
        err["code"], "Neo.ClientError.Procedure.ProcedureCallFailed",
        "{out}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("dbms.security.tls_reload_enabled=false"),
        "{out}"
    );
    assert_eq!(out["results"][1]["records"][0][0], 4, "{out}");
    bg.signal("HUP");
    assert!(bg.wait_for_log("TLS reload refused", WAIT), "{}", bg.log());
    assert!(bg.is_running(), "SIGHUP must not stop boltgate");
}

#[test]
fn a_rotation_on_disk_is_taken_on_when_watching_the_files() {
    let Rotation {
        _db,
        ca,
        base,
        old,
        bg,
    } = Rotation::start_with(true, &[("boltgate.tls_reload.watch_interval", "200ms")]);
    assert!(
        bg.wait_for_log("watching the TLS files", WAIT),
        "{}",
        bg.log()
    );
    assert_eq!(presented(bg.addr).leaf, old.der);
    let new = ca.leaf("new", None);
    install(&base, &new, &ca.pem);
    assert!(bg.wait_for_log("TLS reloaded", WAIT), "{}", bg.log());
    assert!(bg.log_contains("file change"), "{}", bg.log());
    assert_eq!(presented(bg.addr).leaf, new.der);

    // A broken key is tried once, not again at every poll, and the new certificate stays.
    std::fs::write(base.join("private.key"), "not a key").unwrap();
    assert!(bg.wait_for_log("TLS reload failed", WAIT), "{}", bg.log());
    std::thread::sleep(Duration::from_secs(1)); // five more polls
    assert_eq!(
        bg.log().matches("TLS reload failed").count(),
        1,
        "{}",
        bg.log()
    );
    assert_eq!(presented(bg.addr).leaf, new.der);
}

/// A reload takes on changed `dbms.ssl.policy.*` settings from the config file, not only files.
#[test]
fn a_changed_policy_setting_in_the_config_file_is_taken_on_by_a_reload() {
    let Rotation {
        _db,
        ca: _ca,
        base: _base,
        old,
        bg,
    } = Rotation::start(true);
    assert!(tls12_handshake(bg.addr), "TLS 1.2 is allowed at first");
    let mut text = std::fs::read_to_string(bg.config_path()).unwrap();
    text.push_str("dbms.ssl.policy.bolt.tls_versions=TLSv1.3\n");
    std::fs::write(bg.config_path(), text).unwrap();
    bg.signal("HUP");
    assert!(bg.wait_for_log("TLS reloaded", WAIT), "{}", bg.log());
    assert!(
        !tls12_handshake(bg.addr),
        "TLS 1.2 is refused after the reload"
    );
    assert_eq!(presented(bg.addr).leaf, old.der, "TLS 1.3 still works");
}

/// Neo4j lets admins only reload TLS; boltgate, the users in
/// `boltgate.procedures.reload_tls_allowed_users`. Others get Neo4j's Forbidden, and a client
/// calling it in a loop causes one reload, not one per call.
#[test]
fn reload_tls_procedure_is_for_allowed_users_only_and_calls_share_a_reload() {
    // Every field kept: the CA's temp dir holds the policy files.
    let Rotation {
        _db,
        ca: _ca,
        base: _base,
        old: _old,
        bg,
    } = Rotation::start(true);
    let call = json!(["CALL dbms.security.reloadTLS()", "RETURN 4 AS n"]).to_string();
    for who in [&["--principal", "mallory"][..], &[]] {
        let mut args = vec![bg.bolt_uri(), call.clone(), "--allow-errors".to_string()];
        args.extend(who.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::run_py("query.py", &args, PY_TIMEOUT);
        let err = &out["results"][0]["error"];
        assert_eq!(err["code"], "Neo.ClientError.Security.Forbidden", "{out}");
        assert_eq!(
            out["results"][1]["records"][0][0], 4,
            "the session goes on: {out}"
        );
    }
    assert!(!bg.log_contains("TLS reloaded"), "{}", bg.log());
    assert!(bg.log_contains("reload_tls_allowed_users"), "{}", bg.log());

    let calls: Vec<&str> = std::iter::repeat_n("CALL dbms.security.reloadTLS()", 30).collect();
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!(calls).to_string(),
            "--principal",
            "alice",
            "--allow-errors",
        ],
        PY_TIMEOUT,
    );
    assert_eq!(
        out["results"].as_array().unwrap().len(),
        30,
        "{out}\n{}",
        bg.log()
    );
    let reloads = bg.log().matches("TLS reloaded").count();
    assert!(
        (1..=5).contains(&reloads),
        "30 calls in a row made {reloads} reloads:\n{}",
        bg.log()
    );
}
