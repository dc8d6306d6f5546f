//! Fuzz one whole boltgate session: handshakes on both sides, then the relay, with arbitrary
//! client bytes against a scripted upstream, in memory, on a runtime with paused time. The case
//! itself (input layout, invariants) is `boltgate_testkit::session_case`, shared with the
//! regression replays in `tests/fuzz_regressions.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let _ = boltgate_testkit::session_case::run(&runtime, data);
});
