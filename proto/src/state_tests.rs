//! Tests of the state tracker (`state.rs`).
use super::*;
use RequestKind as K;
use ServerState::*;

fn ok() -> Summary {
    Summary::Success {
        has_more: false,
        bookmark: None,
        db: None,
    }
}
fn more() -> Summary {
    Summary::Success {
        has_more: true,
        bookmark: None,
        db: None,
    }
}
fn fail() -> Summary {
    Summary::Failure {
        code: "Neo.X".into(),
        message: "m".into(),
    }
}

fn ready(version: Version) -> Tracker {
    let mut t = Tracker::new(version);
    t.on_request(K::Hello);
    t.on_response(&ok()).unwrap();
    if version >= Version::V5_1 {
        assert_eq!(t.state(), Authentication);
        t.on_request(K::Logon);
        t.on_response(&ok()).unwrap();
    }
    assert!(t.is_idle());
    t
}

#[test]
fn auto_commit_in_every_family() {
    for v in [Version::V3, Version::V4_4, Version::V5_0, Version::V5_8] {
        let mut t = ready(v);
        t.on_request(K::Run);
        t.on_request(K::Pull);
        assert_eq!(t.outstanding(), 2);
        assert!(!t.is_idle());
        assert_eq!(t.on_response(&ok()).unwrap(), Streaming);
        assert_eq!(t.on_response(&Summary::Record).unwrap(), Streaming);
        assert_eq!(t.on_response(&ok()).unwrap(), Ready);
        assert!(t.is_idle());
    }
}

#[test]
fn has_more_keeps_streaming() {
    let mut t = ready(Version::V4_4);
    t.on_request(K::Run);
    t.on_response(&ok()).unwrap();
    t.on_request(K::Pull);
    assert_eq!(t.on_response(&more()).unwrap(), Streaming);
    t.on_request(K::Discard);
    assert_eq!(t.on_response(&ok()).unwrap(), Ready);
}

#[test]
fn explicit_transaction_with_two_open_results() {
    let mut t = ready(Version::V5_4);
    for k in [K::Begin, K::Run, K::Run] {
        t.on_request(k);
        t.on_response(&ok()).unwrap();
    }
    assert_eq!(t.state(), TxStreaming);
    assert!(t.in_transaction());
    t.on_request(K::Pull);
    assert_eq!(
        t.on_response(&ok()).unwrap(),
        TxStreaming,
        "one result still open"
    );
    t.on_request(K::Pull);
    assert_eq!(t.on_response(&ok()).unwrap(), TxReady);
    t.on_request(K::Commit);
    assert_eq!(t.on_response(&ok()).unwrap(), Ready);
    assert!(!t.in_transaction() && t.is_idle());
}

#[test]
fn v3_forbids_second_run_while_streaming_in_tx() {
    let r = transition(
        Version::V3,
        TxStreaming,
        K::Run,
        Outcome::Success { has_more: false },
    );
    assert!(r.is_err());
    assert_eq!(
        transition(
            Version::V4_0,
            TxStreaming,
            K::Run,
            Outcome::Success { has_more: false }
        ),
        Ok(TxStreaming)
    );
}

#[test]
fn failure_then_ignored_then_reset() {
    let mut t = ready(Version::V5_0);
    t.on_request(K::Begin);
    t.on_response(&ok()).unwrap();
    t.on_request(K::Run);
    t.on_request(K::Pull);
    assert_eq!(t.on_response(&fail()).unwrap(), Failed);
    assert!(t.in_transaction());
    assert_eq!(t.on_response(&Summary::Ignored).unwrap(), Failed);
    t.on_request(K::Reset);
    assert_eq!(t.state(), Interrupted);
    assert_eq!(t.on_response(&ok()).unwrap(), Ready);
    assert!(t.is_idle() && !t.in_transaction());
}

#[test]
fn reset_interrupts_pipelined_work_at_once() {
    let mut t = ready(Version::V4_4);
    t.on_request(K::Run);
    t.on_request(K::Pull);
    t.on_request(K::Reset);
    assert_eq!(t.state(), Interrupted);
    // The RUN finished before the interrupt landed, the PULL was ignored.
    assert_eq!(t.on_response(&ok()).unwrap(), Interrupted);
    assert_eq!(t.on_response(&Summary::Ignored).unwrap(), Interrupted);
    assert_eq!(t.on_response(&ok()).unwrap(), Ready);
    assert!(t.is_idle());
}

#[test]
fn reset_failure_is_defunct_and_final() {
    let mut t = ready(Version::V4_4);
    t.on_request(K::Reset);
    assert_eq!(t.on_response(&fail()).unwrap(), Defunct);
    t.on_request(K::Run);
    assert_eq!(t.outstanding(), 0);
    assert!(t.on_response(&ok()).is_err());
    assert_eq!(t.state(), Defunct);
}

#[test]
fn logon_logoff_in_5_1() {
    let mut t = ready(Version::V5_1);
    t.on_request(K::Logoff);
    t.on_request(K::Logon);
    assert_eq!(t.on_response(&ok()).unwrap(), Authentication);
    assert_eq!(t.on_response(&ok()).unwrap(), Ready);
    // LOGON failure closes.
    t.on_request(K::Logoff);
    t.on_response(&ok()).unwrap();
    t.on_request(K::Logon);
    assert_eq!(t.on_response(&fail()).unwrap(), Defunct);
    // Before 5.1 HELLO goes straight to READY.
    assert_eq!(
        transition(
            Version::V5_0,
            Negotiation,
            K::Hello,
            Outcome::Success { has_more: false }
        ),
        Ok(Ready)
    );
}

#[test]
fn goodbye_is_final_once_reached() {
    let mut t = ready(Version::V5_8);
    t.on_request(K::Run);
    t.on_request(K::Goodbye);
    assert_eq!(t.state(), Ready, "GOODBYE waits behind the RUN");
    assert_eq!(t.on_response(&ok()).unwrap(), Defunct);
    assert_eq!(t.outstanding(), 0);
    let mut t = ready(Version::V3);
    t.on_request(K::Goodbye);
    assert!(t.is_defunct());
}

#[test]
fn violations_are_values() {
    let mut t = Tracker::new(Version::V5_1);
    t.on_request(K::Run);
    t.on_request(K::Run);
    let v = t.on_response(&ok()).unwrap_err();
    assert_eq!(t.outstanding(), 0, "a defunct tracker waits for nothing");
    assert_eq!(v.state, Negotiation);
    assert!(t.is_defunct());
    assert!(t.violation().is_some());
    let mut t = ready(Version::V4_4);
    assert!(t.on_response(&ok()).is_err(), "a summary nobody asked for");
    assert!(transition(Version::V4_4, Ready, K::Run, Outcome::Ignored).is_err());
    assert!(transition(Version::V4_4, Ready, K::Run, Outcome::NoResponse).is_err());
    assert_eq!(
        transition(Version::V4_4, Ready, K::Commit, Outcome::Failure),
        Ok(Failed)
    );
    assert_eq!(
        transition(Version::V4_2, Ready, K::Route, Outcome::Failure),
        Ok(Failed)
    );
}
