//! The official Python (tests/py/transparency.py) and JavaScript (tests/js/transparency.mjs)
//! drivers, each fault case run direct against a scripted server and through boltgate in front
//! of the same server: the exception class, code and message family must be the same.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

use super::common::{self, Boltgate, ChildGuard};
use super::{Scripted, WAIT};
use boltgate_testkit::synthetic::Options;

const TIMEOUT: Duration = Duration::from_secs(60);

fn py(uri: &str, case: &str, gate: &Boltgate) -> Json {
    common::try_run_py(
        "transparency.py",
        &[uri, case, "--connect-timeout", "5"],
        TIMEOUT,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n--- boltgate log ---\n{}",
            common::tail(&gate.log(), 6000)
        )
    })
}

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("js")
}

/// `node tests/js/transparency.mjs URI CASE`; its one JSON line.
fn js(uri: &str, case: &str, gate: &Boltgate) -> Json {
    assert!(
        js_dir().join("node_modules/neo4j-driver").is_dir(),
        "tests/js/node_modules/neo4j-driver is missing: run `npm ci` in tests/js (.ci/run does)"
    );
    let mut cmd = Command::new("node");
    cmd.arg("transparency.mjs")
        .args([uri, case])
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn("node transparency.mjs", &mut cmd).expect("node runs");
    let mut out = child.take_stdout().expect("stdout");
    let mut err = child.take_stderr().expect("stderr");
    let status = child.wait_timeout(TIMEOUT);
    if status.is_none() {
        child.kill();
    }
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let _ = out.read_to_string(&mut stdout);
    let _ = err.read_to_string(&mut stderr);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "node transparency.mjs {uri} {case}: {status:?}\n{stdout}\n{stderr}\n\
                 --- boltgate log ---\n{}",
                common::tail(&gate.log(), 6000)
            )
        })
}

/// The message with its numbers (ports, ids) blanked: the same family direct and proxied.
fn family(message: &Json) -> String {
    let text = message.as_str().unwrap_or_default();
    let mut out = String::new();
    let mut digits = false;
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            digits = false;
            out.push(ch);
        }
    }
    out
}

/// What a driver concluded: its error's class, code and message family, records and calls.
fn outcome(r: &Json) -> Json {
    let e = &r["error"];
    serde_json::json!({
        "class": e["class"],
        "code": e["code"],
        "family": if e.is_null() { Json::Null } else { Json::from(family(&e["message"])) },
        "records": r["records"],
        // Once, or more: how many retries fit in the retry time depends on timing.
        "calls": r["calls"].as_u64().map(|c| c.min(2)),
    })
}

/// Runs `case` with both drivers direct and through boltgate; returns (python, js) outcomes
/// after asserting each is the same both ways.
fn side_by_side(s: &Scripted, gate: &Boltgate, case: &str) -> (Json, Json) {
    let (direct, proxied) = (s.server.uri(), gate.bolt_uri());
    // The distinct handshakes the server saw during `run`.
    let offers = |run: &mut dyn FnMut() -> Json| {
        let before = s.server.handshakes().len();
        let out = run();
        let mut seen: Vec<[u8; 20]> = s.server.handshakes()[before..].to_vec();
        seen.dedup();
        (out, seen)
    };
    let (py_direct, offered_direct) = offers(&mut || outcome(&py(&direct, case, gate)));
    let (py_proxied, offered_proxied) = offers(&mut || outcome(&py(&proxied, case, gate)));
    assert_eq!(
        offered_proxied, offered_direct,
        "the server is offered the Python driver's own handshake bytes"
    );
    assert_eq!(
        py_proxied,
        py_direct,
        "Python driver, {case}: through boltgate vs direct\n{}",
        common::tail(&gate.log(), 4000)
    );
    let (js_direct, offered_direct) = offers(&mut || outcome(&js(&direct, case, gate)));
    let (js_proxied, offered_proxied) = offers(&mut || outcome(&js(&proxied, case, gate)));
    assert_eq!(
        offered_proxied, offered_direct,
        "the server is offered the JavaScript driver's own handshake bytes"
    );
    assert_eq!(
        js_proxied,
        js_direct,
        "JavaScript driver, {case}: through boltgate vs direct\n{}",
        common::tail(&gate.log(), 4000)
    );
    (py_direct, js_direct)
}

#[test]
fn python_and_javascript_drivers_see_the_same_outcomes_through_boltgate() {
    let s = Scripted::start(Options::default());
    let gate = s.gate(&[]);

    // A drop after three records: a connection error, never a transient FAILURE.
    let (p, j) = side_by_side(&s, &gate, "mid_stream");
    assert_eq!(p["class"], "ServiceUnavailable", "{p}");
    assert_ne!(
        j["code"], "Neo.TransientError.General.DatabaseUnavailable",
        "{j}"
    );
    assert!(!j["class"].is_null(), "{j}");

    // The server's TokenExpired, then its close: the driver raises the server's error.
    let (p, j) = side_by_side(&s, &gate, "token_expired");
    assert_eq!(p["class"], "TokenExpired", "{p}");
    assert_eq!(j["code"], "Neo.ClientError.Security.TokenExpired", "{j}");

    // COMMIT's connection dies: the outcome is unknown. Python raises IncompleteCommit and runs
    // the function once (boltgate's old retryable FAILURE made it run again: a duplicate
    // write). The JavaScript driver 5.28 retries a lost COMMIT's function itself, direct too.
    let (p, j) = side_by_side(&s, &gate, "commit_dies");
    assert_eq!(p["class"], "IncompleteCommit", "{p}");
    assert_eq!(p["calls"], 1, "{p}");
    assert_eq!(j["code"], "ServiceUnavailable", "{j}");

    // driver.close(): every connection says GOODBYE, through boltgate as direct.
    let before = s.server.goodbyes();
    let direct = py(&s.server.uri(), "goodbye", &gate);
    let direct_goodbyes = s.server.goodbyes() - before;
    let proxied = py(&gate.bolt_uri(), "goodbye", &gate);
    assert_eq!(outcome(&proxied), outcome(&direct));
    assert!(direct_goodbyes >= 1);
    assert!(
        common::wait_until(WAIT, || s.server.goodbyes() - before == 2 * direct_goodbyes),
        "GOODBYEs: {direct_goodbyes} direct, {} through boltgate",
        s.server.goodbyes() - before - direct_goodbyes
    );
}
