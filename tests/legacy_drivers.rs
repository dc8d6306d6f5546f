//! Legacy drivers through boltgate (issue 19): drivers that speak only Bolt 3 or 4.0-4.3, against
//! servers that dropped those versions (FalkorDB speaks 5.1-5.7; Neo4j 2026 speaks 4.4 and 5.x).
//! boltgate negotiates a version the server keeps and translates (`session::translate`).
//!
//! Each legacy driver (its own venv under target/legacy-venvs/, made by `.ci/run`) runs
//! tests/legacy/legacy.py through boltgate: auto-commit, explicit transaction and bookmark,
//! transaction functions, nodes, relationships, paths, an error that leaves the session usable,
//! and on Neo4j every temporal and spatial type. Its results must equal what the current driver
//! (the system Python's `neo4j`) gets for the same script directly from the server. Without
//! boltgate, the same legacy driver is refused by the server: the test checks that too, so it
//! cannot pass without the translation.
//!
//! A missing venv skips the test with a message, except under CI=true, where it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::boltgate::Boltgate;
use common::falkordb::FalkorDb;
use common::neo4j::{Neo4j, PASSWORD};

/// The legacy drivers, each with the venv `.ci/run` makes for it.
const NEO4J_DRIVER_1_7: &str = "neo4j-driver-1.7.6";
const NEO4J_4_2: &str = "neo4j-4.2.1";
const NEO4J_4_3: &str = "neo4j-4.3.9";
const NEO4J_4_4: &str = "neo4j-4.4.12";

fn venv_python(name: &str) -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/legacy-venvs")
        .join(name)
        .join("bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing: .ci/run's install step makes it",
        python.display()
    );
    eprintln!(
        "SKIP: {} is missing (run `bash .ci/run --install-only`)",
        python.display()
    );
    None
}

/// Runs tests/legacy/legacy.py with `python`; its JSON line, or Err with what it printed.
fn run_legacy(python: &str, uri: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/legacy");
    let mut cmd = Command::new(python);
    cmd.arg(dir.join("legacy.py"))
        .arg(uri)
        .args(args)
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let what = format!("{python} legacy.py {uri} {args:?}");
    common::run_json(&what, &mut cmd, Duration::from_secs(120))
}

/// tests/legacy/js, where `.ci/run` installs the JavaScript drivers; None (skip) when they are
/// not installed, except under CI=true.
fn js_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/legacy/js");
    if dir.join("node_modules/neo4j-driver-1.7").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "tests/legacy/js/node_modules is missing: .ci/run's install step makes it"
    );
    eprintln!("SKIP: tests/legacy/js/node_modules is missing (run `bash .ci/run --install-only`)");
    None
}

/// Runs tests/legacy/js/legacy.js with the JavaScript driver `driver` (a package alias).
fn run_js(driver: &str, uri: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let dir = js_dir().ok_or("no JavaScript drivers")?;
    let mut cmd = Command::new("node");
    cmd.arg("legacy.js")
        .arg(driver)
        .arg(uri)
        .args(args)
        .current_dir(&dir);
    let what = format!("node legacy.js {driver} {uri}");
    common::run_json(&what, &mut cmd, Duration::from_secs(120))
}

/// The JavaScript legacy drivers through boltgate to the server at `server_uri`, compared with
/// the current JavaScript driver direct; `refused`: the legacy drivers that must fail direct.
fn js_case(server_uri: &str, args: &[&str], refused: &[&str], mut after_client: impl FnMut()) {
    if js_dir().is_none() {
        return;
    }
    let want = run_js("neo4j-driver-current", server_uri, args)
        .unwrap_or_else(|e| panic!("current JavaScript driver, direct: {e}"));
    after_client();
    let gate = Boltgate::start(&[("boltgate.upstream.uri", server_uri)]);
    for driver in ["neo4j-driver-1.7", "neo4j-driver-4.2"] {
        if refused.contains(&driver) {
            let direct = run_js(driver, server_uri, args);
            after_client();
            assert!(direct.is_err(), "{driver} direct worked: {direct:?}");
        }
        let got = run_js(driver, &gate.bolt_uri(), args)
            .unwrap_or_else(|e| panic!("{e}\n--- boltgate ---\n{}", gate.log()));
        after_client();
        check_same(driver, &got, &want, &gate.log());
    }
}

/// What the current driver gets directly from the server: the reference.
fn reference(uri: &str, args: &[&str]) -> serde_json::Value {
    let python = common::driver::python();
    run_legacy(&python, uri, args).unwrap_or_else(|e| panic!("current driver, direct: {e}"))
}

fn check_same(name: &str, got: &serde_json::Value, want: &serde_json::Value, log: &str) {
    let (got, want) = (&got["results"], &want["results"]);
    assert!(
        got == want,
        "{name} through boltgate differs from the current driver direct:\n got: {got}\nwant: \
         {want}\n--- boltgate log ---\n{}",
        common::tail(log, 4000)
    );
}

// === FalkorDB (Bolt 5.1-5.7) ===

fn falkordb_case(venv: &str) {
    let Some(python) = venv_python(venv) else {
        return;
    };
    let python = python.to_string_lossy().to_string();
    let mut db = FalkorDb::start();
    // No database: Bolt 3 has no field for it, and FalkorDB runs explicit transactions on its
    // default graph whatever BEGIN names, so every driver works on the default graph.
    let args: &[&str] = &[];
    let want = reference(&db.bolt_uri(), args);
    db.absorb_goodbye_slots();

    // Direct, the server refuses the legacy driver: translation is what makes it work.
    let direct = run_legacy(&python, &db.bolt_uri(), args);
    assert!(
        direct.is_err(),
        "{venv} direct to FalkorDB worked: {direct:?}"
    );
    db.absorb_goodbye_slots();

    let gate = Boltgate::start(&[("boltgate.upstream.uri", &db.bolt_uri())]);
    let got = run_legacy(&python, &gate.bolt_uri(), args)
        .unwrap_or_else(|e| panic!("{e}\n--- boltgate ---\n{}", gate.log()));
    db.absorb_goodbye_slots();
    check_same(venv, &got, &want, &gate.log());

    // With routing: the driver fetches a routing table first, through the procedure its version
    // calls (Bolt 3: dbms.cluster.routing.getRoutingTable; 4.0-4.2: dbms.routing.getRoutingTable
    // on the system database; 4.3+: ROUTE), which boltgate answers naming itself.
    let scheme = if venv == NEO4J_DRIVER_1_7 {
        "bolt+routing"
    } else {
        "neo4j"
    };
    let got = run_legacy(&python, &gate.uri_with_scheme(scheme), args)
        .unwrap_or_else(|e| panic!("{e}\n--- boltgate ---\n{}", gate.log()));
    db.absorb_goodbye_slots();
    check_same(&format!("{venv} ({scheme}://)"), &got, &want, &gate.log());

    // boltgate.upstream.translate=off: refused as the server refuses it.
    let off = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.upstream.translate", "off"),
    ]);
    assert!(run_legacy(&python, &off.bolt_uri(), args).is_err());
    db.absorb_goodbye_slots();
}

#[test]
fn bolt_3_driver_1_7_works_through_boltgate_against_falkordb() {
    falkordb_case(NEO4J_DRIVER_1_7);
}

#[test]
fn bolt_4_2_driver_works_through_boltgate_against_falkordb() {
    falkordb_case(NEO4J_4_2);
}

#[test]
fn bolt_4_3_driver_works_through_boltgate_against_falkordb() {
    falkordb_case(NEO4J_4_3);
}

#[test]
fn bolt_4_4_driver_works_through_boltgate_against_falkordb() {
    falkordb_case(NEO4J_4_4);
}

#[test]
fn javascript_1_7_and_4_2_drivers_work_through_boltgate_against_falkordb() {
    let mut db = FalkorDb::start();
    let uri = db.bolt_uri();
    let both = ["neo4j-driver-1.7", "neo4j-driver-4.2"];
    js_case(&uri, &[], &both, || {
        db.absorb_goodbye_slots();
    });
}

// === Neo4j (Bolt 4.4 and 5.x) ===

/// The scripts' arguments against Neo4j: its login, every temporal type, and the transaction
/// rolled back (the database is shared by every driver in turn).
const NEO4J_ARGS: [&str; 6] = [
    "--user",
    "neo4j",
    "--password",
    PASSWORD,
    "--temporal",
    "--rollback",
];

fn neo4j_case(neo4j: &Neo4j, venv: &str, refused_direct: bool) {
    let Some(python) = venv_python(venv) else {
        return;
    };
    let python = python.to_string_lossy().to_string();
    let args = NEO4J_ARGS;
    let want = reference(&neo4j.bolt_uri(), &args);
    let direct = run_legacy(&python, &neo4j.bolt_uri(), &args);
    if refused_direct {
        assert!(direct.is_err(), "{venv} direct to Neo4j worked: {direct:?}");
    }
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &neo4j.bolt_uri())]);
    let got = run_legacy(&python, &gate.bolt_uri(), &args)
        .unwrap_or_else(|e| panic!("{e}\n--- boltgate ---\n{}", gate.log()));
    check_same(venv, &got, &want, &gate.log());
}

/// Whether the server at `addr` accepts exactly `version` (`[minor, major]`) in a handshake.
fn accepts(addr: std::net::SocketAddr, major: u8, minor: u8) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut hello = vec![0x60, 0x60, 0xB0, 0x17, 0, 0, minor, major];
    hello.extend_from_slice(&[0; 12]);
    let mut reply = [0u8; 4];
    s.write_all(&hello).is_ok() && s.read_exact(&mut reply).is_ok() && reply == [0, 0, minor, major]
}

/// One Neo4j for the legacy drivers in turn (a JVM start takes a while).
#[test]
fn legacy_drivers_work_through_boltgate_against_neo4j() {
    if venv_python(NEO4J_DRIVER_1_7).is_none() {
        return;
    }
    let neo4j = Neo4j::start();
    let addr = neo4j.bolt_addr();
    let speaks: Vec<String> = [(3, 0), (4, 0), (4, 1), (4, 2), (4, 3), (4, 4), (5, 0)]
        .into_iter()
        .filter(|(major, minor)| accepts(addr, *major, *minor))
        .map(|(major, minor)| format!("{major}.{minor}"))
        .collect();
    eprintln!("Neo4j {} accepts Bolt {speaks:?}", neo4j.version);
    // Bolt 3 is gone from Neo4j 5+: the 1.7 driver works only through the translation.
    assert!(!speaks.contains(&"3.0".to_string()), "{speaks:?}");
    neo4j_case(&neo4j, NEO4J_DRIVER_1_7, true);
    // The 4.x drivers are refused direct only where the server dropped their versions; through
    // boltgate they work either way.
    let refused = |v: &str| !speaks.contains(&v.to_string());
    neo4j_case(
        &neo4j,
        NEO4J_4_2,
        refused("4.2") && refused("4.1") && refused("4.0"),
    );
    neo4j_case(&neo4j, NEO4J_4_3, refused("4.3") && refused("4.2"));
    neo4j_case(&neo4j, NEO4J_4_4, false);

    js_case(&neo4j.bolt_uri(), &NEO4J_ARGS, &["neo4j-driver-1.7"], || {});
}

// === What has no faithful translation ===

/// A 5.x-only server (testkit's synthetic one: no real server both drops 4.x and returns
/// temporal values, FalkorDB crashes on them) sends a DateTime with a time-zone id as UTC
/// seconds; a Bolt 4.2 driver, which reads local wall-clock seconds, gets the same wall-clock
/// time in the same zone (boltgate converts with the zone's offset at that instant), and its
/// session goes on. (An unknown zone id's FAILURE is unit-tested in `session::translate`.)
#[test]
fn zone_id_date_time_reaches_a_bolt_4_2_driver_as_the_same_wall_clock_time() {
    let Some(python) = venv_python(NEO4J_4_2) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let server = rt
        .block_on(boltgate_testkit::synthetic::SyntheticServer::start_with(
            boltgate_testkit::synthetic::Options {
                versions: vec![boltgate_proto::Version::V5_1],
                manifest: false,
                ..Default::default()
            },
        ))
        .expect("the synthetic server starts");
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &server.uri())]);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/legacy");
    let mut cmd = Command::new(python);
    cmd.arg(dir.join("zoned.py")).arg(gate.bolt_uri());
    let out = common::run_captured("zoned.py", &mut cmd, Duration::from_secs(60)).unwrap();
    let line: serde_json::Value = out
        .stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{}\n{}\n{}", out.stdout, out.stderr, gate.log()));
    let value = line["value"].as_str().unwrap();
    assert!(
        value.starts_with("2024-07-02T03:04:05") && value.ends_with("+02:00"),
        "2024-07-02T03:04:05[Europe/Paris] expected, got {value} ({})",
        line["zone"]
    );
    assert_eq!(line["zone"], "Europe/Paris");
    assert_eq!(line["after"], 7, "the session is usable afterwards");
    drop(server);
}
