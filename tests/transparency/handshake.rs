//! Version negotiation as direct: the upstream is offered the client's own proposals, a server
//! that answers a manifest offer with an unoffered version is asked once more without it, and
//! nothing a client proposes turns `/ready` or `boltgate_upstream_up` down.

use std::net::SocketAddr;

use std::io::Read;

use boltgate_proto::handshake::Proposal;
use boltgate_proto::message::{Hello, Logon, Request, Response};
use boltgate_proto::packstream::Map;
use boltgate_proto::Version;
use boltgate_testkit::synthetic::Options;

use super::common::admin::{http, samples, scrape};
use super::common::bolt::{failure_of, Got, RawBolt};
use super::common::{self, Boltgate, FalkorDb};
use super::{Scripted, WAIT};

const PREAMBLE: [u8; 4] = [0x60, 0x60, 0xB0, 0x17];

fn hello(slots: [[u8; 4]; 4]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out[..4].copy_from_slice(&PREAMBLE);
    for (i, s) in slots.iter().enumerate() {
        out[4 + 4 * i..8 + 4 * i].copy_from_slice(s);
    }
    out
}

/// Only 5.6.
const ONLY_5_6: [[u8; 4]; 4] = [[0, 0, 6, 5], [0; 4], [0; 4], [0; 4]];
/// The manifest request, then 5.6.
const MANIFEST_5_6: [[u8; 4]; 4] = [[0, 0, 1, 0xFF], [0, 0, 6, 5], [0; 4], [0; 4]];
/// Only 4.4.
const ONLY_4_4: [[u8; 4]; 4] = [[0, 0, 4, 4], [0; 4], [0; 4], [0; 4]];

/// Handshake with `offer` and log in: through the manifest (boltgate answers a client that asked
/// for one in that form) or plain. The version agreed.
fn login(c: &mut RawBolt, offer: [[u8; 4]; 4]) -> Result<Version, String> {
    if offer[0] != [0, 0, 1, 0xFF] {
        return c.try_login(&hello(offer));
    }
    let reply = c.handshake(&hello(offer)).ok_or("handshake not answered")?;
    if reply != [0, 0, 1, 0xFF] {
        return Err(format!("not a manifest reply: {reply:02x?}"));
    }
    // One range (count 1), 4 bytes, capabilities 0: what boltgate offers a manifest client.
    let mut offered = [0u8; 6];
    c.stream
        .read_exact(&mut offered)
        .map_err(|e| e.to_string())?;
    if offered[0] != 1 || offered[5] != 0 {
        return Err(format!("unexpected manifest offer {offered:02x?}"));
    }
    let [_, range, minor, major] = [offered[1], offered[2], offered[3], offered[4]];
    if range != 0 {
        return Err(format!("a range offered: {offered:02x?}"));
    }
    c.send_raw(&[0, 0, minor, major, 0]);
    let version = Version::new(major, minor);
    let mut extra = Map::new();
    extra.push("user_agent", "boltgate-tests/1.0");
    c.send(&Request::Hello(Hello { extra }));
    let mut auth = Map::new();
    auth.push("scheme", "none");
    c.send(&Request::Logon(Logon { auth }));
    for _ in 0..2 {
        match c.recv(WAIT) {
            Got::Message(Response::Success(_)) => {}
            other => return Err(format!("login failed: {other:?}")),
        }
    }
    Ok(version)
}

/// The 6.x drivers' offer: the manifest request, 5.8-5.0 and 4.4-4.2.
const DRIVER_6: [[u8; 4]; 4] = [[0, 0, 1, 0xFF], [0, 8, 8, 5], [0, 2, 4, 4], [0; 4]];

/// Handshake with `offer` (which asks for a manifest), pick from the offer shown with `pick`, and
/// log in. The ranges shown (as text) and the version the session runs on.
fn manifest_login(
    c: &mut RawBolt,
    offer: [[u8; 4]; 4],
    pick: impl Fn(&[Proposal]) -> Version,
) -> Result<(Vec<String>, Version), String> {
    let ranges = read_manifest(c, offer)?;
    let version = pick(&ranges);
    c.send_raw(&[0, 0, version.minor, version.major, 0]);
    let mut extra = Map::new();
    extra.push("user_agent", "boltgate-tests/1.0");
    c.send(&Request::Hello(Hello { extra }));
    let mut auth = Map::new();
    auth.push("scheme", "none");
    c.send(&Request::Logon(Logon { auth }));
    for _ in 0..2 {
        match c.recv(WAIT) {
            Got::Message(Response::Success(_)) => {}
            other => return Err(format!("login on {version} failed: {other:?}")),
        }
    }
    Ok((ranges.iter().map(Proposal::to_string).collect(), version))
}

/// Handshake with `offer`; the manifest's version entries (fewer than 128, one-byte varints).
fn read_manifest(c: &mut RawBolt, offer: [[u8; 4]; 4]) -> Result<Vec<Proposal>, String> {
    let reply = c.handshake(&hello(offer)).ok_or("handshake not answered")?;
    if reply != [0, 0, 1, 0xFF] {
        return Err(format!("not a manifest reply: {reply:02x?}"));
    }
    let mut count = [0u8; 1];
    c.stream.read_exact(&mut count).map_err(|e| e.to_string())?;
    // The entries, then the capabilities: none are relayed.
    let mut rest = vec![0u8; 4 * usize::from(count[0]) + 1];
    c.stream.read_exact(&mut rest).map_err(|e| e.to_string())?;
    if rest.last() != Some(&0) {
        return Err(format!("capabilities offered: {rest:02x?}"));
    }
    Ok(rest
        .chunks_exact(4)
        .map(|b| Proposal::from_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// A server offering 6.0 through its manifest, as Neo4j 2026.x does (6.x on top of 5.x).
fn with_bolt_6() -> Scripted {
    let mut versions = vec![Version::V6_0];
    versions.extend_from_slice(boltgate_testkit::synthetic::DEFAULT_VERSIONS);
    Scripted::start(Options {
        versions,
        ..Options::default()
    })
}

#[test]
fn a_manifest_client_chooses_6_0_from_the_servers_manifest_as_direct() {
    let s = with_bolt_6();
    let gate = s.gate(&[]);
    let mut c = RawBolt::connect(gate.addr);
    // The newest offered, as the 6.x drivers pick.
    let (shown, version) = manifest_login(&mut c, DRIVER_6, |ranges| {
        ranges
            .iter()
            .flat_map(|r| r.versions())
            .max()
            .expect("a version offered")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    // 6.0 from the server's manifest, then what both the server and the client name.
    assert_eq!(shown, ["6.0", "5.8–5.6", "5.4–5.0", "4.4"]);
    assert_eq!(version, Version::V6_0);
    c.run_and_pull("RETURN 1");
    assert!(
        matches!(c.recv(WAIT), Got::Message(Response::Success(_))),
        "{}",
        gate.log()
    );
}

#[test]
fn a_manifest_client_that_does_not_speak_6_chooses_5_8_as_direct() {
    // A 5.7/5.8 driver may ask for a manifest too: it is shown 6.0 and passes it by.
    let s = with_bolt_6();
    let gate = s.gate(&[]);
    let mut c = RawBolt::connect(gate.addr);
    let (shown, version) = manifest_login(&mut c, DRIVER_6, |ranges| {
        ranges
            .iter()
            .flat_map(|r| r.versions())
            .filter(|v| v.major == 5)
            .max()
            .expect("a 5.x version offered")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    assert!(shown.contains(&"6.0".to_string()), "{shown:?}");
    assert_eq!(version, Version::V5_8);
    c.run_and_pull("RETURN 1");
    assert!(
        matches!(c.recv(WAIT), Got::Message(Response::Success(_))),
        "{}",
        gate.log()
    );
}

#[test]
fn a_client_refusing_the_relayed_manifest_is_closed_and_the_upstream_stays_up() {
    let s = with_bolt_6();
    let (gate, admin) = gate_with_admin(&s);
    let mut c = RawBolt::connect(gate.addr);
    read_manifest(&mut c, DRIVER_6).unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    c.send_raw(&[0, 0, 0, 0, 0]);
    assert!(c.closes_silently(WAIT), "{}", gate.log());
    upstream_up(admin).unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    // The next client is served.
    let mut c = RawBolt::connect(gate.addr);
    let (_, version) = manifest_login(&mut c, DRIVER_6, |_| Version::V6_0)
        .unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    assert_eq!(version, Version::V6_0);
}

fn gate_with_admin(s: &Scripted) -> (Boltgate, SocketAddr) {
    let admin = common::free_addr();
    let text = admin.to_string();
    let gate = s.gate(&[
        ("server.http.enabled", "true"),
        ("server.http.listen_address", &text),
        ("boltgate.upstream.probe_interval", "0"),
    ]);
    (gate, admin)
}

/// `/ready` answers 200 and the upstream is up in the metrics.
fn upstream_up(admin: SocketAddr) -> Result<(), String> {
    let (status, body) = http(admin, "GET", "/ready");
    if status != 200 {
        return Err(format!("/ready {status}: {body}"));
    }
    let up: Vec<f64> = samples(&scrape(admin), "boltgate_upstream_up", &[])
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => -1.0,
        })
        .collect();
    if up.iter().any(|v| *v != 1.0) {
        return Err(format!("boltgate_upstream_up {up:?}"));
    }
    Ok(())
}

#[test]
fn the_upstream_is_offered_the_clients_own_bytes() {
    // A 4.x driver's offer: a 4.4-4.2 range and an exact 4.1, which a 4.1 server reads only as
    // written (boltgate used to fold them into 4.4-4.1 behind a manifest nobody asked for).
    let s = Scripted::start(Options {
        versions: vec![Version::new(4, 1)],
        manifest: false,
        ..Options::default()
    });
    let gate = s.gate(&[]);
    let offer = [[0, 4, 4, 5], [0, 2, 4, 4], [0, 0, 1, 4], [0, 0, 0, 3]];
    let mut c = RawBolt::connect(gate.addr);
    assert_eq!(
        c.handshake(&hello(offer)),
        Some([0, 0, 1, 4]),
        "{}",
        gate.log()
    );
    assert_eq!(s.server.handshakes(), vec![hello(offer)]);
}

#[test]
fn a_server_answering_a_manifest_offer_with_an_unoffered_version_is_asked_again_without_it() {
    // FalkorDB 4.16 answers 5.7 to any offer with a manifest request.
    let s = Scripted::start(Options {
        unoffered_to_manifest: Some(Version::V5_7),
        ..Options::default()
    });
    let (gate, admin) = gate_with_admin(&s);
    let mut c = RawBolt::connect(gate.addr);
    assert_eq!(
        login(&mut c, MANIFEST_5_6),
        Ok(Version::V5_6),
        "{}",
        gate.log()
    );
    assert_eq!(
        s.server.handshakes(),
        vec![hello(MANIFEST_5_6), hello(ONLY_5_6)],
        "first the client's offer, then the same without the manifest"
    );
    upstream_up(admin).unwrap();
}

#[test]
fn a_server_that_picks_an_unoffered_version_twice_refuses_the_client_and_stays_up() {
    let s = Scripted::start(Options {
        reply_version: Some(Version::V5_7),
        ..Options::default()
    });
    let (gate, admin) = gate_with_admin(&s);
    let mut c = RawBolt::connect(gate.addr);
    assert_eq!(
        c.handshake(&hello(MANIFEST_5_6)),
        Some([0; 4]),
        "{}",
        gate.log()
    );
    assert_eq!(c.recv(WAIT), Got::Closed);
    assert!(
        gate.wait_for_log("which was not offered", WAIT),
        "a log line says what the server did\n{}",
        gate.log()
    );
    assert_eq!(s.server.handshakes().len(), 2, "asked twice, no more");
    // Without a manifest there is nothing to retry: one handshake.
    let mut c = RawBolt::connect(gate.addr);
    assert_eq!(c.handshake(&hello(ONLY_5_6)), Some([0; 4]));
    assert_eq!(s.server.handshakes().len(), 3);
    upstream_up(admin).unwrap();
}

#[test]
fn a_server_closing_during_the_handshake_gives_a_truthful_failure_and_a_log_line() {
    let s = Scripted::start(Options {
        close_in_handshake: true,
        ..Options::default()
    });
    let gate = s.gate(&[]);
    let mut c = RawBolt::connect(gate.addr);
    let login = c.try_login(&hello(ONLY_5_6));
    // Nothing of the client's was forwarded: boltgate's own, retryable FAILURE is true.
    let err = login.expect_err("login fails");
    assert!(err.contains("DatabaseUnavailable"), "{err}");
    // Before login the client learns nothing about the upstream (issue 15); the log says why.
    assert!(!err.contains("closed the connection"), "{err}");
    assert!(
        gate.wait_for_log("closed the connection", WAIT),
        "{}",
        gate.log()
    );
}

/// With `boltgate.upstream.translate=off` boltgate refuses what the server refuses, as direct;
/// with the default (`auto`) a 4.4-only client is translated instead (tests/legacy_drivers.rs,
/// and the end of this test).
#[test]
fn falkordb_serves_5_6_only_clients_refuses_4_4_only_ones_as_direct_and_stays_ready() {
    let db = FalkorDb::start();
    let admin = common::free_addr();
    let text = admin.to_string();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.upstream.translate", "off"),
        ("server.http.enabled", "true"),
        ("server.http.listen_address", &text),
    ]);
    let direct: SocketAddr = format!("127.0.0.1:{}", db.bolt_port).parse().unwrap();

    // A 5.6-only client (as a driver pinned to 5.6) gets 5.6 and its query answered.
    for offer in [ONLY_5_6, MANIFEST_5_6] {
        let mut c = RawBolt::connect(gate.addr);
        assert_eq!(login(&mut c, offer), Ok(Version::V5_6), "{}", gate.log());
        c.run_and_pull("RETURN 56 AS v");
        let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
        assert!(
            got.iter()
                .all(|g| matches!(g, Got::Message(m) if failure_of(m).is_none())),
            "{got:?}"
        );
    }
    // A 4.4-only client: FalkorDB speaks 5.1-5.7 and closes without a reply, direct and
    // through boltgate.
    let mut c = RawBolt::connect(direct);
    assert_eq!(c.handshake(&hello(ONLY_4_4)), None, "direct");
    let mut c = RawBolt::connect(gate.addr);
    assert_eq!(c.handshake(&hello(ONLY_4_4)), None, "through boltgate");
    assert!(
        gate.wait_for_log("though it answers boltgate's own offer", WAIT),
        "{}",
        gate.log()
    );

    // 100 such handshakes change nothing about the upstream's health.
    for i in 0..100 {
        let offer = [ONLY_5_6, MANIFEST_5_6, ONLY_4_4][i % 3];
        let mut c = RawBolt::connect(gate.addr);
        let reply = c.handshake(&hello(offer));
        let expected = if offer == ONLY_4_4 {
            None
        } else {
            Some([0, 0, 1, 0xFF])
        };
        let expected = if offer == ONLY_5_6 {
            Some([0, 0, 6, 5])
        } else {
            expected
        };
        assert_eq!(reply, expected, "handshake {i}\n{}", gate.log());
    }
    upstream_up(admin).unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    drop(gate);

    // The default translates: the 4.4-only client gets 4.4, the server speaks 5.x.
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &db.bolt_uri())]);
    let mut c = RawBolt::connect(gate.addr);
    assert_eq!(
        c.handshake(&hello(ONLY_4_4)),
        Some([0, 0, 4, 4]),
        "{}",
        gate.log()
    );
}

/// The Python interpreter of a venv with the official driver 5.23 (`.ci/run` makes it):
/// `BOLTGATE_PYTHON_NEO4J5`, else `target/neo4j5-venv/bin/python`.
fn python_neo4j5() -> std::path::PathBuf {
    std::env::var_os("BOLTGATE_PYTHON_NEO4J5")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/neo4j5-venv/bin/python")
        })
}

/// tests/py/query.py under the 5.23 driver; its JSON line.
fn query_neo4j5(uri: &str, gate: &Boltgate) -> serde_json::Value {
    let python = python_neo4j5();
    assert!(
        python.exists(),
        "{} is missing: .ci/run makes a venv with neo4j==5.23.0 there (or set \
         BOLTGATE_PYTHON_NEO4J5)",
        python.display()
    );
    let py_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py");
    // tests/py goes last on the path: its types.py would shadow the standard library's in a
    // venv interpreter (the system one has `types` frozen).
    let run = "import runpy, sys; d = sys.argv[1]; sys.path.append(d); \
               sys.argv = [d + '/query.py'] + sys.argv[2:]; \
               runpy.run_path(sys.argv[0], run_name='__main__')";
    let out = std::process::Command::new(&python)
        .args(["-P", "-c", run])
        .arg(&py_dir)
        .args([uri, r#"["RETURN 23 AS v"]"#, "--connect-timeout", "5"])
        .current_dir(&py_dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "query.py (neo4j 5.23) {uri}: {}\n{stdout}\n{}\n--- boltgate log ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                common::tail(&gate.log(), 4000)
            )
        })
}

#[test]
fn the_python_driver_5_23_offering_at_most_5_6_gets_5_6_from_falkordb_through_boltgate() {
    // The 5.23 driver offers 00 06 06 05 | 00 02 04 04 | 00 00 01 04 | 00 00 00 03, no
    // manifest. Direct, FalkorDB picks 5.6; boltgate used to add a manifest, FalkorDB answered
    // 5.7 and the driver failed through boltgate only.
    let mut db = FalkorDb::start();
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &db.bolt_uri())]);
    let direct = query_neo4j5(&db.bolt_uri(), &gate);
    db.absorb_goodbye_slots();
    let proxied = query_neo4j5(&gate.bolt_uri(), &gate);
    assert_eq!(
        direct["server"]["protocol_version"],
        serde_json::json!([5, 6])
    );
    assert_eq!(proxied, direct, "through boltgate as direct");
    assert_eq!(proxied["results"][0]["records"], serde_json::json!([[23]]));
}
