//! OCSP stapling on the bolt listener, and staple checking on the upstream side, against an
//! `openssl ocsp` responder on loopback.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use serde_json::json;

use crate::common::{self, Boltgate, FalkorDb};
use crate::settings;
use crate::support::{presented, stapling, Ca, Leaf, Responder};

const WAIT: Duration = Duration::from_secs(20);
const PY_TIMEOUT: Duration = Duration::from_secs(60);

/// The staple, checked the way boltgate checks an upstream's.
pub fn status_of(staple: &[u8], leaf: &Leaf, ca: &Ca) -> boltgate::tls::ocsp::Status {
    let issuer = rustls::pki_types::CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap();
    boltgate::tls::ocsp::check(
        staple,
        &leaf.der.clone().into(),
        &issuer,
        &rustls::crypto::ring::default_provider(),
        SystemTime::now(),
    )
    .expect("the staple checks")
    .status
}

/// `openssl s_client -status` against `port`: its output.
fn s_client_status(port: u16, ca: &Ca) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-status",
            "-CAfile",
        ])
        .arg(&ca.cert_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    drop(child.stdin.take()); // EOF: s_client closes after the handshake
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_fresh_staple_is_in_every_handshake() {
    let ca = Ca::new();
    let (leaf, port, _) = ca.leaf_with_responder("bolt");
    let _responder = Responder::start(&ca, port, &[&leaf], &[], &["-ndays", "1"]);
    let bg = stapling(&ca, &leaf, "bolt://127.0.0.1:1", &[]);
    assert!(
        bg.wait_for_log("OCSP staple obtained", WAIT),
        "{}\n--- responder ---\n{}",
        bg.log(),
        common::read_log(&ca.dir.path().join(format!("ocsp-{port}.log")))
    );

    let shown = presented(bg.addr);
    assert_eq!(shown.leaf, leaf.der);
    assert!(!shown.staple.is_empty(), "no staple in the handshake");
    assert_eq!(
        status_of(&shown.staple, &leaf, &ca),
        boltgate::tls::ocsp::Status::Good
    );

    let out = s_client_status(bg.addr.port(), &ca);
    assert!(out.contains("OCSP Response Status: successful"), "{out}");
    assert!(out.contains("Cert Status: good"), "{out}");
}

#[test]
fn a_revoked_bolt_certificate_is_not_stapled() {
    let ca = Ca::new();
    let (leaf, port, _) = ca.leaf_with_responder("bolt");
    let _responder = Responder::start(&ca, port, &[], &[&leaf], &["-ndays", "1"]);
    let bg = stapling(&ca, &leaf, "bolt://127.0.0.1:1", &[]);
    assert!(bg.wait_for_log("REVOKED", WAIT), "{}", bg.log());
    assert!(
        bg.log_contains("ERROR"),
        "a revoked certificate is an error: {}",
        bg.log()
    );
    let shown = presented(bg.addr);
    assert!(
        shown.staple.is_empty(),
        "a revoked response must not be stapled"
    );
    let out = s_client_status(bg.addr.port(), &ca);
    assert!(out.contains("OCSP response: no response sent"), "{out}");
}

#[test]
fn the_cached_staple_is_still_served_when_the_responder_stops() {
    let ca = Ca::new();
    let (leaf, port, _) = ca.leaf_with_responder("bolt");
    let responder = Responder::start(&ca, port, &[&leaf], &[], &["-ndays", "1"]);
    // nextUpdate is a day away: a margin one second short of that makes boltgate ask again a
    // second after each answer, so a fetch soon meets the stopped responder.
    let bg = stapling(
        &ca,
        &leaf,
        "bolt://127.0.0.1:1",
        &[("boltgate.ocsp.refresh_margin", "86399s")],
    );
    assert!(
        bg.wait_for_log("OCSP staple obtained", WAIT),
        "{}",
        bg.log()
    );
    let first = presented(bg.addr).staple;
    assert!(!first.is_empty());
    drop(responder);
    assert!(bg.wait_for_log("OCSP fetch failed", WAIT), "{}", bg.log());
    assert!(
        bg.log_contains("still serving the cached staple"),
        "{}",
        bg.log()
    );
    let later = presented(bg.addr).staple;
    assert_eq!(
        later, first,
        "the cached staple is served while the responder is down"
    );
}

#[test]
fn responder_url_setting_overrides_the_certificate() {
    let ca = Ca::new();
    let port = common::free_port();
    let leaf = ca.leaf("bolt", None); // names no responder
    let responder = Responder::start(&ca, port, &[&leaf], &[], &[]);
    // Credentials in the URL are sent to the responder but shown nowhere.
    let with_credentials = responder.url.replace("http://", "http://ocsp:Hush1@");
    let admin = common::free_addr();
    let bg = stapling(
        &ca,
        &leaf,
        "bolt://127.0.0.1:1",
        &[
            ("boltgate.ocsp.responder_url", &with_credentials),
            ("server.http.enabled", "true"),
            ("server.http.listen_address", &admin.to_string()),
        ],
    );
    assert!(
        bg.wait_for_log("OCSP staple obtained", WAIT),
        "{}",
        bg.log()
    );
    assert!(!presented(bg.addr).staple.is_empty());
    let (status, config) = common::admin::http(admin, "GET", "/config");
    assert_eq!(status, 200, "{config}");
    assert!(config.contains("boltgate.ocsp.responder_url"), "{config}");
    assert!(
        !config.contains("Hush1"),
        "/config shows the password:\n{config}"
    );
    let log = bg.log();
    assert!(log.contains("<redacted>@127.0.0.1"), "{log}");
    assert!(!log.contains("Hush1"), "the log shows the password:\n{log}");
}

/// `openssl s_server` presenting `leaf` with a fixed staple (DER file), for the upstream side.
pub fn s_server_with_staple(
    leaf: &Leaf,
    ca: &Ca,
    key: &std::path::Path,
    staple: &std::path::Path,
    port: u16,
) -> common::ChildGuard {
    let chain = ca.dir.path().join(format!("chain-{port}.crt"));
    std::fs::write(&chain, format!("{}{}", leaf.cert_pem, ca.pem)).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
        .arg(&chain)
        .arg("-key")
        .arg(key)
        .arg("-status_file")
        .arg(staple)
        // -www: serve without reading stdin (which is closed, and EOF there ends s_server).
        .arg("-www")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = common::ChildGuard::spawn("openssl s_server", &mut cmd).unwrap();
    assert!(common::wait_for_port(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(10)
    ));
    child
}

/// Asks the responder for `leaf`'s status and saves the DER response.
pub fn fetch_response(ca: &Ca, leaf: &Leaf, url: &str, out: &std::path::Path) {
    let status = Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(&ca.cert_path)
        .arg("-cert")
        .arg(&leaf.cert_path)
        .args(["-url", url, "-noverify", "-respout"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl ocsp client failed");
}

#[test]
fn a_member_whose_staple_says_revoked_is_refused() {
    let ca = Ca::new();
    let (member, port, url) = ca.leaf_with_responder("member");
    let _responder = Responder::start(&ca, port, &[], &[&member], &["-ndays", "1"]);
    let staple = ca.dir.path().join("member.ocsp");
    fetch_response(&ca, &member, &url, &staple);
    let key = ca.dir.path().join("member.key");
    std::fs::write(&key, &member.key_pem).unwrap();
    let member_port = common::free_port();
    let _server = s_server_with_staple(&member, &ca, &key, &staple, member_port);

    let gate = Boltgate::start_with_env(
        &format!("boltgate.upstream.uri=bolt+s://localhost:{member_port}\n"),
        &[("SSL_CERT_FILE", ca.cert_path.to_str().unwrap())],
    );
    let err = common::try_run_py(
        "query.py",
        &[
            &gate.bolt_uri(),
            &json!(["RETURN 1"]).to_string(),
            "--connect-timeout",
            "5",
        ],
        PY_TIMEOUT,
    )
    .expect_err("a revoked member must be refused")
    .to_string();
    assert!(err.contains("DatabaseUnavailable"), "{err}");
    assert!(
        gate.wait_for_log("its certificate is revoked", WAIT),
        "{}",
        gate.log()
    );
}

#[test]
fn a_member_with_a_good_staple_is_used_and_a_missing_staple_is_refused_only_when_required() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let (member_leaf, port, _) = ca.leaf_with_responder("member");
    let plain_leaf = ca.leaf("plain", None);
    let _responder = Responder::start(&ca, port, &[&member_leaf], &[], &["-ndays", "1"]);
    let uri = db.bolt_uri();
    // B: a boltgate member stapling a good response, in front of FalkorDB.
    let b = stapling(&ca, &member_leaf, &uri, &[]);
    assert!(b.wait_for_log("OCSP staple obtained", WAIT), "{}", b.log());
    // C: a member stapling nothing.
    let c_base = ca.dir.path().join("c");
    ca.policy_dir(&c_base, &plain_leaf);
    let c = Boltgate::start(&settings(&c_base, &uri, &[]));

    let env = [("SSL_CERT_FILE", ca.cert_path.to_str().unwrap())];
    let gate = |member: &Boltgate, required: &str| {
        Boltgate::start_with_env(
            &format!(
                "boltgate.upstream.uri=bolt+s://localhost:{}\nboltgate.upstream.ocsp_required={required}\nboltgate.log.level=debug\n",
                member.addr.port()
            ),
            &env,
        )
    };
    let run = |g: &Boltgate| {
        common::try_run_py(
            "query.py",
            &[
                &g.bolt_uri(),
                &json!(["RETURN 5 AS n"]).to_string(),
                "--connect-timeout",
                "5",
            ],
            PY_TIMEOUT,
        )
        .map(|o| o["results"][0]["records"][0][0].as_u64())
        .map_err(|f| f.to_string())
    };
    let a = gate(&b, "true");
    assert_eq!(run(&a), Ok(Some(5)), "{}", a.log());
    assert!(a.log_contains("stapled OCSP response: good"), "{}", a.log());

    let lenient = gate(&c, "false");
    assert_eq!(run(&lenient), Ok(Some(5)), "{}", lenient.log());
    let strict = gate(&c, "true");
    let err = run(&strict).expect_err("no staple with ocsp_required=true is refused");
    assert!(err.contains("DatabaseUnavailable"), "{err}");
    assert!(
        strict.log_contains("stapled no OCSP response"),
        "{}",
        strict.log()
    );
}
