//! One test per answer rule: runs of chunked messages in, runs out.

use super::*;
use boltgate_proto::message::{Failure, Request, Success};
use boltgate_proto::packstream::Structure;

fn wire(messages: &[RawMessage]) -> Run {
    let mut out = BytesMut::new();
    for m in messages {
        chunk(m.as_bytes(), &mut out);
    }
    Run::scan(out.freeze(), 1 << 20).unwrap()
}

fn out(run: Run) -> Vec<Response> {
    messages(&run.wire)
        .map(|m| {
            let m = m.expect("no NOOP");
            Response::decode(Version::V4_4, &RawMessage::new(m).unwrap()).unwrap()
        })
        .collect()
}

fn success(entries: &[(&str, Value)]) -> RawMessage {
    Response::success(entries.iter().cloned().collect())
}

fn record(values: Vec<Value>) -> RawMessage {
    RawMessage::from_fields(sig::RECORD, &[Value::List(values)]).unwrap()
}

fn plan(t: &mut Translator, request: Request) {
    t.request(&request.to_raw().unwrap()).unwrap();
}

fn logged_in(client: Version) -> Translator {
    let mut t = Translator::new(client, Version::V5_1, 1 << 20);
    let mut extra = Map::new();
    extra.push("scheme", "basic");
    extra.push("credentials", "x");
    plan(
        &mut t,
        Request::Hello(boltgate_proto::message::Hello { extra }),
    );
    t
}

#[test]
fn hello_and_logon_answers_merge_into_one_success() {
    let mut t = logged_in(Version::V4_2);
    let got = out(t
        .answers(wire(&[
            success(&[
                ("server", "Neo4j/5.26.0".into()),
                ("connection_id", "bolt-7".into()),
            ]),
            success(&[]),
        ]))
        .unwrap());
    let [Response::Success(Success { metadata })] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(metadata.get_str("server"), Some("Neo4j/5.26.0"));
    assert_eq!(metadata.get_str("connection_id"), Some("bolt-7"));
}

#[test]
fn the_merge_waits_for_the_logon_answer_across_runs() {
    let mut t = logged_in(Version::V3);
    let first = t
        .answers(wire(&[success(&[("server", "x".into())])]))
        .unwrap();
    assert!(first.wire.is_empty(), "the HELLO answer is held");
    let got = out(t.answers(wire(&[success(&[])])).unwrap());
    assert!(matches!(got.as_slice(), [Response::Success(_)]));
}

#[test]
fn a_refused_logon_is_the_clients_failure_and_a_refused_hello_hides_the_logon_answer() {
    let mut t = logged_in(Version::V4_2);
    let got = out(t
        .answers(wire(&[
            success(&[("server", "x".into())]),
            Response::failure(Version::V5_1, "Neo.ClientError.Security.Unauthorized", "no"),
        ]))
        .unwrap());
    let [Response::Failure(f)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(f.code(), Some("Neo.ClientError.Security.Unauthorized"));

    let mut t = logged_in(Version::V4_2);
    let got = out(t
        .answers(wire(&[
            Response::failure(Version::V5_1, "Neo.ClientError.Request.Invalid", "bad"),
            Response::ignored(),
        ]))
        .unwrap());
    assert!(matches!(got.as_slice(), [Response::Failure(_)]), "{got:?}");
}

#[test]
fn the_utc_patch_boltgate_kept_is_echoed() {
    let mut t = Translator::new(Version::V4_4, Version::V5_1, 1 << 20);
    let mut extra = Map::new();
    extra.push("patch_bolt", Value::List(vec!["utc".into()]));
    plan(
        &mut t,
        Request::Hello(boltgate_proto::message::Hello { extra }),
    );
    let got = out(t.answers(wire(&[success(&[]), success(&[])])).unwrap());
    let [Response::Success(s)] = got.as_slice() else {
        panic!()
    };
    assert_eq!(
        s.metadata.get("patch_bolt"),
        Some(&Value::List(vec!["utc".into()]))
    );
}

#[test]
fn gql_failures_become_code_and_message() {
    let mut t = logged_in(Version::V4_2);
    t.plans.clear();
    plan(&mut t, Request::Reset);
    let gql = Response::failure(
        Version::V5_7,
        "Neo.ClientError.Statement.SyntaxError",
        "bad",
    );
    let got = out(t.answers(wire(&[gql])).unwrap());
    let [Response::Failure(Failure { metadata })] = got.as_slice() else {
        panic!()
    };
    assert_eq!(
        metadata.get_str("code"),
        Some("Neo.ClientError.Statement.SyntaxError")
    );
    assert_eq!(metadata.get_str("message"), Some("bad"));
    assert!(!metadata.contains_key("neo4j_code"));
    assert!(!metadata.contains_key("gql_status"));
}

#[test]
fn gql_statuses_become_notifications() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    plan(&mut t, Request::Reset);
    let mut record = Map::new();
    record.push("_severity", "WARNING");
    record.push("_classification", "PERFORMANCE");
    let mut warning = Map::new();
    warning.push("gql_status", "03N91");
    warning.push(
        "neo4j_code",
        "Neo.ClientNotification.Statement.CartesianProduct",
    );
    warning.push("title", "cartesian");
    warning.push("description", "a cartesian product");
    warning.push("diagnostic_record", Value::Map(record));
    let mut ok = Map::new();
    ok.push("gql_status", "00000");
    let summary = success(&[(
        "statuses",
        Value::List(vec![Value::Map(ok), Value::Map(warning)]),
    )]);
    let got = out(t.answers(wire(&[summary])).unwrap());
    let [Response::Success(s)] = got.as_slice() else {
        panic!()
    };
    assert!(!s.metadata.contains_key("statuses"));
    let Some(Value::List(n)) = s.metadata.get("notifications") else {
        panic!("{:?}", s.metadata)
    };
    assert_eq!(n.len(), 1, "only statuses that are notifications");
    let n = n[0].as_map().unwrap();
    assert_eq!(
        n.get_str("code"),
        Some("Neo.ClientNotification.Statement.CartesianProduct")
    );
    assert_eq!(n.get_str("severity"), Some("WARNING"));
    assert_eq!(n.get_str("category"), Some("PERFORMANCE"));
}

#[test]
fn records_lose_element_ids_and_keep_everything_else() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    plan(&mut t, Request::PullAll);
    let node = Structure::new(
        0x4E,
        vec![
            1.into(),
            Value::List(vec![]),
            Value::Map(Map::new()),
            "4:x:1".into(),
        ],
    );
    let got = out(t
        .answers(wire(&[
            record(vec![node.into(), 42.into(), "s".into()]),
            success(&[("t_last", 1.into())]),
        ]))
        .unwrap());
    let [Response::Record(r), Response::Success(_)] = got.as_slice() else {
        panic!("{got:?}")
    };
    let row = &r.data;
    assert_eq!(row[0].as_structure().unwrap().fields.len(), 3);
    assert_eq!(row[1], Value::Integer(42));
}

#[test]
fn a_value_without_translation_turns_its_result_into_a_failure() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    plan(&mut t, Request::PullAll);
    plan(&mut t, Request::Reset);
    let zoned = Structure::new(0x69, vec![0.into(), 0.into(), "Mars/Olympus".into()]);
    let got = out(t
        .answers(wire(&[
            record(vec![1.into()]),
            record(vec![zoned.into()]),
            record(vec![3.into()]),
            success(&[]),
            success(&[]),
        ]))
        .unwrap());
    let [Response::Record(_), Response::Failure(f), Response::Success(_)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert!(
        f.message().unwrap().contains("time-zone id"),
        "{:?}",
        f.message()
    );
}

#[test]
fn noops_reach_4_1_clients_only() {
    let noop_and_success = |t: &mut Translator| {
        let mut w = BytesMut::new();
        w.put_slice(&[0, 0]);
        chunk(success(&[]).as_bytes(), &mut w);
        t.answers(Run::scan(w.freeze(), 1 << 20).unwrap()).unwrap()
    };
    let mut t = Translator::new(Version::V4_0, Version::V4_4, 1 << 20);
    plan(&mut t, Request::Reset);
    let run = noop_and_success(&mut t);
    assert_eq!(run.wire[..2], [0x00, 0x03], "no NOOP for a 4.0 client");
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    plan(&mut t, Request::Reset);
    let run = noop_and_success(&mut t);
    assert_eq!(run.wire[..2], [0, 0]);
}

#[test]
fn a_4_4_server_answering_a_4_2_client_is_not_touched() {
    let mut t = Translator::new(Version::V4_2, Version::V4_4, 1 << 20);
    let w = wire(&[success(&[("x", 1.into())])]);
    let before = w.wire.clone();
    assert_eq!(t.answers(w).unwrap().wire, before);
}

#[test]
fn long_messages_are_chunked_again() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    plan(&mut t, Request::PullAll);
    let big = "x".repeat(100_000);
    let got = out(t
        .answers(wire(&[record(vec![big.clone().into()]), success(&[])]))
        .unwrap());
    let [Response::Record(r), _] = got.as_slice() else {
        panic!()
    };
    assert_eq!(r.data[0].as_str(), Some(big.as_str()));
}

#[test]
fn bolt_3_stats_lose_the_keys_4_0_added() {
    let mut t = Translator::new(Version::V3, Version::V4_4, 1 << 20);
    plan(&mut t, Request::PullAll);
    let mut stats = Map::new();
    stats.push("nodes-created", 2i64);
    stats.push("contains-updates", true);
    stats.push("contains-system-updates", false);
    let got = out(t
        .answers(wire(&[success(&[("stats", Value::Map(stats))])]))
        .unwrap());
    let [Response::Success(s)] = got.as_slice() else {
        panic!()
    };
    let stats = s.metadata.get_map("stats").unwrap();
    assert_eq!(stats.get_int("nodes-created"), Some(2));
    assert_eq!(stats.len(), 1, "{stats:?}");
}
