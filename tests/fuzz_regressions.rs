//! Replays fuzz inputs without libFuzzer, in plain `cargo test`:
//! - every file under `fuzz/regressions/session/` (inputs that once broke an invariant) and the
//!   committed seeds of `fuzz/corpus/session/`, through the same case the `session` target runs
//!   (`boltgate_testkit::session_case`);
//! - a few seeds whose outcome is known, so the case is shown to do real work: a session that
//!   reaches the synthetic upstream gets its RECORDs back.
//!
//! A crash found by a proto target is kept as a unit test in proto/, next to the code it broke
//! (fuzz/README.md).

use std::path::{Path, PathBuf};

use boltgate::session::End;
use boltgate_proto::message::sig;
use boltgate_testkit::session_case::{self, Outcome};

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

fn replay(path: &Path) -> Outcome {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let runtime = paused_runtime();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        session_case::run(&runtime, &data)
    })) {
        Ok(outcome) => outcome,
        Err(_) => panic!(
            "{} breaks a session invariant (see the panic above)",
            path.display()
        ),
    }
}

#[test]
fn session_regressions_and_seeds_hold() {
    let mut files = inputs("fuzz/regressions/session");
    let seeds = inputs("fuzz/corpus/session");
    assert!(
        !seeds.is_empty(),
        "fuzz/corpus/session has the committed seeds"
    );
    files.extend(seeds);
    for path in &files {
        replay(path);
    }
}

fn seed(name: &str) -> Outcome {
    replay(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/session")
            .join(name),
    )
}

#[test]
fn an_auto_commit_seed_gets_its_record_and_ends_with_goodbye() {
    let outcome = seed("auto_commit");
    assert!(outcome.complete, "{outcome:?}");
    // HELLO, LOGON, RUN, then the RECORD and the PULL's SUCCESS.
    assert_eq!(
        outcome.signatures,
        [
            sig::SUCCESS,
            sig::SUCCESS,
            sig::SUCCESS,
            sig::RECORD,
            sig::SUCCESS
        ],
        "{outcome:?}"
    );
    assert!(matches!(outcome.end, Some(Ok(End::Goodbye))), "{outcome:?}");
}

#[test]
fn a_message_over_the_limit_gets_a_failure_before_the_close() {
    let outcome = seed("too_large");
    assert!(outcome.complete, "{outcome:?}");
    assert_eq!(
        outcome.signatures.last(),
        Some(&sig::FAILURE),
        "{outcome:?}"
    );
    let end = outcome.end.expect("a session ran");
    assert!(end.is_err(), "the session ends with an error: {end:?}");
}

#[test]
fn a_manifest_client_runs_a_transaction_through_the_synthetic_upstream() {
    let outcome = seed("manifest_tx");
    assert!(outcome.complete, "{outcome:?}");
    let records = outcome
        .signatures
        .iter()
        .filter(|&&s| s == sig::RECORD)
        .count();
    assert_eq!(records, 3, "ROWS 3 pulled in two batches: {outcome:?}");
    assert!(!outcome.signatures.contains(&sig::FAILURE), "{outcome:?}");
}

fn regression(name: &str) -> Outcome {
    replay(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/session")
            .join(name),
    )
}

/// The HELLO arrived in the same read as the handshake: it sat in the relay's read buffer, not
/// decoded until the client sent more, and a client waiting for its answer waited for ever.
#[test]
fn a_hello_that_arrives_with_the_handshake_is_answered() {
    let outcome = regression("hello_in_handshake_packet");
    assert_eq!(outcome.signatures, [sig::SUCCESS], "{outcome:?}");
}

/// `CALL dbms.security.reloadTLS()` waits for the upstream's answers to what came before; when
/// the upstream never answers and the client leaves, the session used to wait for ever.
#[test]
fn a_client_leaving_while_a_local_answer_waits_ends_the_session() {
    let outcome = regression("reload_tls_silent_upstream");
    let end = outcome.end.expect("a session ran");
    assert!(
        matches!(end, Ok(End::ClientClosed)),
        "the client's departure ends the session: {end:?}"
    );
}

/// Found by libFuzzer: a client that sends a message over the limit and never reads. boltgate's
/// FAILURE to it (the "last word" before closing) waited for ever on the full socket.
#[test]
fn a_session_ended_for_a_client_that_does_not_read_still_closes() {
    let outcome = regression("last_word_to_a_client_that_does_not_read");
    let end = outcome.end.expect("a session ran");
    assert!(
        end.is_err(),
        "the message over the limit ends the session: {end:?}"
    );
}

/// The routed case ([`session_case::run_routed`], the `routed` target) on `path`.
fn replay_routed(path: &Path) -> Outcome {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let runtime = paused_runtime();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        session_case::run_routed(&runtime, &data)
    })) {
        Ok(outcome) => outcome,
        Err(_) => panic!(
            "{} breaks a routed session invariant (see the panic above)",
            path.display()
        ),
    }
}

#[test]
fn routed_regressions_and_seeds_hold() {
    let mut files = inputs("fuzz/regressions/routed");
    let seeds = inputs("fuzz/corpus/routed");
    assert!(
        !seeds.is_empty(),
        "fuzz/corpus/routed has the committed seeds"
    );
    files.extend(seeds);
    for path in &files {
        replay_routed(path);
    }
}

#[test]
fn a_routed_auto_commit_reaches_a_member_of_the_fake_cluster() {
    let outcome = replay_routed(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/routed/auto_commit"),
    );
    assert!(outcome.complete, "{outcome:?}");
    // HELLO, LOGON, RUN, then the member's RECORD and the PULL's SUCCESS.
    assert_eq!(
        outcome.signatures,
        [
            sig::SUCCESS,
            sig::SUCCESS,
            sig::SUCCESS,
            sig::RECORD,
            sig::SUCCESS
        ],
        "{outcome:?}"
    );
}

/// The `translate` target's case ([`boltgate_testkit::translate_case`]) on every committed seed
/// and regression: no panic, no invented answer; the seeds do real work (requests and runs).
#[test]
fn translate_regressions_and_seeds_hold() {
    let mut files = inputs("fuzz/regressions/translate");
    let seeds = inputs("fuzz/corpus/translate");
    assert!(!seeds.is_empty(), "fuzz/corpus/translate has seeds");
    files.extend(seeds);
    for path in files {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| boltgate_testkit::translate_case::run(&data))
            .unwrap_or_else(|_| panic!("{} breaks a translator invariant", path.display()));
        // The hand-made seeds (named, not hashed by libFuzzer) each do real work.
        let named = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("bolt"));
        if named {
            assert!(
                outcome.requests > 0 && outcome.runs > 0,
                "{}",
                path.display()
            );
        }
    }
}
