//! Fuzz the pipelining Tracker with arbitrary request/response sequences: never panic, DEFUNCT is
//! final, and the pure transition function agrees that nothing leaves DEFUNCT.
#![no_main]

use boltgate_proto::message::{sig, RequestKind, Summary};
use boltgate_proto::state::{transition, Outcome, ServerState, Tracker};
use boltgate_proto::Version;
use libfuzzer_sys::fuzz_target;

const SIGS: &[u8] = &[
    sig::HELLO, sig::GOODBYE, sig::RESET, sig::RUN, sig::BEGIN, sig::COMMIT, sig::ROLLBACK,
    sig::DISCARD, sig::PULL, sig::TELEMETRY, sig::ROUTE, sig::LOGON, sig::LOGOFF, 0x77,
];

fn summary(b: u8) -> Summary {
    match b % 5 {
        0 => Summary::Success { has_more: false, bookmark: None, db: None },
        1 => Summary::Success { has_more: true, bookmark: None, db: None },
        2 => Summary::Failure { code: String::new(), message: String::new() },
        3 => Summary::Ignored,
        _ => Summary::Record,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&v, ops)) = data.split_first() else {
        return;
    };
    let versions = Version::SUPPORTED;
    let version = versions[usize::from(v) % versions.len()];
    let mut t = Tracker::new(version);
    for &op in ops {
        let was_defunct = t.is_defunct();
        if op & 0x80 == 0 {
            let kind = RequestKind::of(version, SIGS[usize::from(op) % SIGS.len()]);
            t.on_request(kind);
            for outcome in [
                Outcome::Success { has_more: false },
                Outcome::Failure,
                Outcome::Ignored,
                Outcome::NoResponse,
            ] {
                assert!(transition(version, ServerState::Defunct, kind, outcome).is_err());
            }
        } else {
            let _ = t.on_response(&summary(op));
        }
        if was_defunct {
            assert_eq!(t.state(), ServerState::Defunct, "DEFUNCT is final");
            assert_eq!(t.outstanding(), 0);
        }
        if t.is_idle() {
            assert_eq!(t.state(), ServerState::Ready);
        }
    }
});
