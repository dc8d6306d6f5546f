//! Fuzz one whole routed boltgate session: the client handshake, then the routed relay against a
//! fake cluster (a writer and two readers dialled in memory: synthetic servers, a member that
//! refuses, or a garbage writer), on a runtime with paused time. The case is
//! `boltgate_testkit::session_case::run_routed`, replayed by `tests/fuzz_regressions.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let _ = boltgate_testkit::session_case::run_routed(&runtime, data);
});
