//! Parity with Neo4j's own TLS: the SSL framework manual page's settings, *the same lines*, given
//! to a real Neo4j (tests/neo4j/launcher) and to boltgate (in front of a plaintext Neo4j), and
//! the same probes against both: Python's `ssl` with the Bolt handshake (for TLS versions,
//! ciphers, alerts) and the official Python driver running `RETURN 1` (tests/py/tls_probe.py).
//!
//! The comparison is written to docs/neo4j-parity.md. The test fails when an outcome differs
//! and the difference is not in [`EXPLAINED`] (with its reason), and when an explained
//! difference no longer occurs (so the list never goes stale).
//!
//! Four Neo4j configurations, started in parallel (a JVM start takes 10-40 s here); the first
//! (tls_level DISABLED) is also the plaintext upstream of every boltgate.

mod cases;
#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::neo4j::{Neo4j, Neo4jConfig};
use common::Boltgate;

use cases::{config_sets, ConfigSet, EXPLAINED, FIXED};

const PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// One compared case.
struct Row {
    set: &'static str,
    case: String,
    neo4j: String,
    boltgate: String,
}

/// Runs tests/py/tls_probe.py with `cases` against `port`: case name -> outcome.
fn probe(set: &ConfigSet, port: u16) -> BTreeMap<String, String> {
    let probes: Vec<serde_json::Value> = set
        .cases
        .iter()
        .map(|c| {
            let mut p = c.probe.clone();
            p["name"] = c.name.into();
            p["port"] = port.into();
            p
        })
        .collect();
    let out = common::run_py(
        "tls_probe.py",
        &[&serde_json::Value::Array(probes).to_string()],
        PROBE_TIMEOUT,
    );
    out["outcomes"]
        .as_object()
        .expect("outcomes")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Neo4j with `set`'s lines and boltgate with the same lines (forwarding to `upstream`), probed
/// alike.
fn compare(set: &ConfigSet, server: &Neo4j, upstream: &str) -> Vec<Row> {
    let mut lines: Vec<(&str, &str)> = set
        .settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    lines.push(("boltgate.upstream.uri", upstream));
    let gate = Boltgate::start(&lines);
    let from_neo4j = probe(set, server.port);
    let from_gate = probe(set, gate.addr.port());
    for c in &set.cases {
        eprintln!(
            "{} | {} | Neo4j: {} | boltgate: {}",
            set.name,
            c.name,
            from_neo4j.get(c.name).map_or("?", |s| s.as_str()),
            from_gate.get(c.name).map_or("?", |s| s.as_str())
        );
    }
    set.cases
        .iter()
        .map(|c| Row {
            set: set.name,
            case: c.name.to_string(),
            neo4j: from_neo4j.get(c.name).cloned().unwrap_or_default(),
            boltgate: from_gate.get(c.name).cloned().unwrap_or_default(),
        })
        .collect()
}

fn neo4j_config(set: &ConfigSet) -> Neo4jConfig {
    Neo4jConfig {
        settings: set.settings.clone(),
        conf_text: None,
        password: None,
        netns: None,
    }
}

#[test]
fn neo4j_and_boltgate_answer_the_same_tls_settings_alike() {
    let started = Instant::now();
    let pki = common::TestPki::new();
    let sets = config_sets(&pki);

    // One start at a time (two at once on a loaded 2-core machine took longer than either
    // alone). A (tls_level DISABLED) stays up as the plaintext upstream of every boltgate.
    let mut start_secs = 0;
    let mut start = |set: &ConfigSet| {
        let t = Instant::now();
        let server = Neo4j::start_with(&neo4j_config(set));
        start_secs += t.elapsed().as_secs();
        server
    };
    let upstream_server = start(&sets[0]);
    let neo4j_version = upstream_server.version.clone();
    let upstream = upstream_server.bolt_uri();
    let mut rows = compare(&sets[0], &upstream_server, &upstream);
    for set in &sets[1..] {
        let server = start(set);
        rows.extend(compare(set, &server, &upstream));
    }

    let doc = render(&sets, &rows, &neo4j_version);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/neo4j-parity.md");
    std::fs::write(&path, &doc).expect("write docs/neo4j-parity.md");
    eprintln!(
        "neo4j parity: {} cases, Neo4j starts {start_secs}s, total {}s",
        rows.len(),
        started.elapsed().as_secs()
    );

    let mut problems = Vec::new();
    for r in &rows {
        let key = format!("{}: {}", r.set, r.case);
        let explained = EXPLAINED.iter().any(|(k, _)| *k == key);
        if r.neo4j != r.boltgate && !explained {
            problems.push(format!(
                "unexplained difference in {key}: Neo4j {:?}, boltgate {:?}",
                r.neo4j, r.boltgate
            ));
        }
        if r.neo4j == r.boltgate && explained {
            problems.push(format!(
                "{key} is listed in EXPLAINED but both now answer {:?}: remove it",
                r.neo4j
            ));
        }
    }
    for (k, _) in EXPLAINED {
        if !rows.iter().any(|r| format!("{}: {}", r.set, r.case) == *k) {
            problems.push(format!("EXPLAINED names no case: {k}"));
        }
    }
    assert!(problems.is_empty(), "{}\n\n{doc}", problems.join("\n"));
}

fn render(sets: &[ConfigSet], rows: &[Row], version: &str) -> String {
    let differ = rows.iter().filter(|r| r.neo4j != r.boltgate).count();
    let mut d = String::new();
    let _ = writeln!(
        d,
        "# TLS parity with Neo4j\n\n\
         Written by `cargo test --test neo4j_parity` (tests/neo4j_parity/); do not edit by hand.\n\n\
         Neo4j Community {version} (embedded, tests/neo4j/launcher) and boltgate get *the same*\n\
         `server.bolt.tls_level` and `dbms.ssl.policy.bolt.*` lines (Neo4j's SSL framework manual\n\
         page); boltgate forwards to a plaintext Neo4j. Each case is one client, run against both:\n\n\
         - *raw*: Python's `ssl` module, then the Bolt handshake (magic and version offers); the\n  \
           outcome is `connected` (a Bolt version agreed) or where and how the client was refused\n  \
           (`TLS alert <name>` is the alert the server sent, as OpenSSL names it);\n\
         - *driver*: the official Python driver (`neo4j` 6.x) running `RETURN 1`, with the test CA\n  \
           trusted (and a client certificate where the case says so).\n\n\
         {} cases, {differ} with different outcomes, each explained below the table.\n",
        rows.len()
    );
    for set in sets {
        let _ = writeln!(d, "## {}\n\n{}\n\n```properties", set.name, set.about);
        for (k, v) in &set.settings {
            let shown = if k.ends_with("base_directory") {
                "<test temp dir>/certificates/bolt"
            } else {
                v
            };
            let _ = writeln!(d, "{k}={shown}");
        }
        let _ = writeln!(d, "```\n\n| case | Neo4j | boltgate | |\n|---|---|---|---|");
        for r in rows.iter().filter(|r| r.set == set.name) {
            let mark = if r.neo4j == r.boltgate {
                "same"
            } else {
                "**differs** (see below)"
            };
            let _ = writeln!(d, "| {} | {} | {} | {mark} |", r.case, r.neo4j, r.boltgate);
        }
        let _ = writeln!(d);
    }
    let _ = writeln!(d, "## Differences and why\n");
    for (k, why) in EXPLAINED {
        let _ = writeln!(d, "- **{k}**: {why}");
    }
    let _ = writeln!(d, "\n## Differences found and fixed in boltgate\n");
    for (k, what) in FIXED {
        let _ = writeln!(d, "- **{k}**: {what}");
    }
    d
}
