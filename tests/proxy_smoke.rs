//! The official Python driver runs every harness script through boltgate to FalkorDB, and
//! boltgate stops cleanly on SIGTERM: the end-to-end check that the harness and the proxy fit.
//!
//! Ignored on the `harness` branch, where src/main.rs is a stub; run it with
//! `cargo test --test proxy_smoke -- --ignored` (or `BOLTGATE_BIN=path/to/boltgate`), and drop
//! the `#[ignore]` once the proxy is merged.

mod common;

use std::time::Duration;

use common::{Boltgate, FalkorDb};
use serde_json::json;

const PY_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs the proxy binary; see the module docs"]
fn driver_scripts_pass_through_boltgate_and_sigterm_stops_it() {
    let mut db = FalkorDb::start();
    let upstream = db.bolt_uri();
    let mut gate = Boltgate::start(&[
        ("boltgate.upstream.uri", upstream.as_str()),
        ("boltgate.log.level", "debug"),
    ]);
    let uri = gate.bolt_uri();
    let out = common::run_py("types.py", &[&uri], PY_TIMEOUT);
    assert!(out["checked"].as_u64().unwrap_or(0) >= 60, "{out}");
    let out = common::run_py("tx.py", &[&uri], PY_TIMEOUT);
    assert_eq!(out["committed"], 3, "{out}");
    let out = common::run_py("many_rows.py", &[&uri], PY_TIMEOUT);
    assert_eq!(out["rows"], 100_000, "{out}");
    let out = common::run_py("concurrent_sessions.py", &[&uri], PY_TIMEOUT);
    assert_eq!(out["ok"], 400, "{out}");
    // The proxy closes upstream on a client's GOODBYE instead of forwarding it, so FalkorDB is
    // left with no poisoned slot (see tests/common/falkordb.rs).
    assert_eq!(db.absorb_goodbye_slots(), 0, "a GOODBYE reached FalkorDB");
    let out = common::run_py("query.py", &[&uri, r#"["RETURN 3 AS x"]"#], PY_TIMEOUT);
    assert_eq!(out["results"][0]["records"], json!([[3]]));
    let status = gate.stop_gracefully(Duration::from_secs(40));
    assert!(status.success(), "exit {status}; log:\n{}", gate.log());
}
