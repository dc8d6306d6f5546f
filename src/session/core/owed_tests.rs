//! [`Owed`] without sockets: runs of wire bytes in, the client's steps out.

use boltgate_proto::chunk::encode_message;
use boltgate_proto::message::{sig, RawMessage, Response, Summary};
use boltgate_proto::packstream::Map;
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};

use super::*;

const V: Version = Version::V5_4;

fn record(i: u8) -> Vec<u8> {
    vec![0xB1, sig::RECORD, 0x91, i]
}

fn success() -> Vec<u8> {
    Response::success(Map::new()).into_bytes().to_vec()
}

fn failure(code: &str) -> Vec<u8> {
    Response::failure(V, code, "no").into_bytes().to_vec()
}

/// One run of whole chunked messages (`None`: a NOOP).
fn run(messages: &[Option<Vec<u8>>]) -> Bytes {
    let mut wire = BytesMut::new();
    for m in messages {
        match m {
            Some(m) => encode_message(m, &mut wire).unwrap(),
            None => wire.extend_from_slice(&[0, 0]),
        }
    }
    wire.freeze()
}

fn summary_of(bytes: &Bytes) -> Summary {
    RawMessage::new(bytes.clone()).unwrap().summary().unwrap()
}

#[test]
fn a_stream_goes_out_as_one_slice_of_the_run_it_arrived_in() {
    let mut owed = Owed::new("cluster member m:1".into());
    owed.expect(Expect::Client, true);
    let wire = run(&[
        Some(record(1)),
        None,
        Some(record(2)),
        Some(record(3)),
        Some(success()),
    ]);
    owed.arrived(wire.clone().into());
    let Step::Forward {
        wire: out,
        messages,
        payload,
        summary,
    } = owed.next_for_client(V)
    else {
        panic!("a forward")
    };
    assert_eq!(out, wire, "the server's bytes, NOOP included, unchanged");
    assert_eq!(
        messages, 4,
        "three RECORDs and the summary; the NOOP is no message"
    );
    assert_eq!(payload, 3 * 4 + success().len() as u64);
    assert!(matches!(
        summary_of(&summary.unwrap()),
        Summary::Success { .. }
    ));
    assert!(!owed.is_owed(), "the request is answered");
    assert!(matches!(owed.next_for_client(V), Step::Wait));
}

#[test]
fn a_stream_over_two_runs_is_forwarded_as_it_comes_and_ends_at_its_summary() {
    let mut owed = Owed::new("m".into());
    owed.expect(Expect::Client, true);
    owed.expect(Expect::Client, true);
    owed.arrived(run(&[Some(record(1)), Some(record(2))]).into());
    let Step::Forward {
        messages, summary, ..
    } = owed.next_for_client(V)
    else {
        panic!("a forward")
    };
    assert_eq!((messages, summary.is_some()), (2, false));
    assert!(
        matches!(owed.next_for_client(V), Step::Wait),
        "the rest has not come"
    );
    // The summary of the first request and the whole answer of the second, in one run.
    let second = run(&[Some(success())]);
    owed.arrived(run(&[Some(record(3)), Some(success()), Some(success())]).into());
    let Step::Forward {
        messages, summary, ..
    } = owed.next_for_client(V)
    else {
        panic!("a forward")
    };
    assert_eq!(
        (messages, summary.is_some()),
        (2, true),
        "stops at the summary"
    );
    let Step::Forward { wire, .. } = owed.next_for_client(V) else {
        panic!("the second answer")
    };
    assert_eq!(wire, second);
    assert!(!owed.is_owed());
}

#[test]
fn answers_to_boltgates_own_requests_are_consumed() {
    let mut owed = Owed::new("m".into());
    owed.expect(Expect::Swallow("HELLO"), true);
    owed.expect(Expect::Swallow("LOGON"), true);
    owed.expect(Expect::Client, true);
    owed.arrived(
        run(&[
            Some(success()),
            Some(success()),
            Some(record(7)),
            Some(success()),
        ])
        .into(),
    );
    let Step::Forward { wire, messages, .. } = owed.next_for_client(V) else {
        panic!("the client's answer")
    };
    assert_eq!(messages, 2);
    assert_eq!(
        wire,
        run(&[Some(record(7)), Some(success())]),
        "only the client's part"
    );
}

#[test]
fn a_refused_replay_fails_the_next_request_with_the_members_code_then_ignores() {
    let mut owed = Owed::new("m".into());
    owed.expect(Expect::Swallow("LOGON"), true);
    owed.expect(Expect::Client, true);
    owed.expect(Expect::Client, true);
    owed.arrived(run(&[Some(failure(crate::status::UNAUTHORIZED))]).into());
    let Step::Local(first) = owed.next_for_client(V) else {
        panic!("a local answer")
    };
    match summary_of(&first) {
        Summary::Failure { code, .. } => assert_eq!(code, crate::status::UNAUTHORIZED),
        other => panic!("{other:?}"),
    }
    let Step::Local(second) = owed.next_for_client(V) else {
        panic!("a local answer")
    };
    assert!(matches!(summary_of(&second), Summary::Ignored));
    assert!(!owed.is_alive());
}

#[test]
fn a_lost_connection_gives_what_came_then_ends_the_clients_connection() {
    let mut owed = Owed::new("m".into());
    owed.expect(Expect::Client, true);
    owed.arrived(run(&[Some(record(1))]).into());
    owed.die(MemberError::Closed);
    let Step::Forward {
        messages, summary, ..
    } = owed.next_for_client(V)
    else {
        panic!("what arrived goes first")
    };
    assert_eq!((messages, summary.is_some()), (1, false));
    // No FAILURE of boltgate's own: the outcome of a forwarded request is unknown.
    assert!(matches!(owed.next_for_client(V), Step::Lost(e) if matches!(*e, MemberError::Closed)));
}

#[test]
fn a_request_that_never_left_gets_a_retryable_failure_once_then_ignored() {
    let mut owed = Owed::new("cluster member m:1".into());
    owed.die(MemberError::Closed);
    owed.expect(Expect::Client, false);
    owed.expect(Expect::Client, false);
    let Step::Local(first) = owed.next_for_client(V) else {
        panic!("a local answer")
    };
    match summary_of(&first) {
        Summary::Failure { code, message } => {
            assert_eq!(
                code,
                crate::status::DATABASE_UNAVAILABLE,
                "nothing ran: safe to retry"
            );
            assert!(
                message.contains("boltgate lost cluster member m:1"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let Step::Local(second) = owed.next_for_client(V) else {
        panic!("a local answer")
    };
    assert!(matches!(summary_of(&second), Summary::Ignored));
    assert!(!owed.is_owed());
}
