//! The routing messages boltgate answers itself instead of forwarding: ROUTE (4.3 and 4.4+
//! shapes) and the older routing procedure calls (`dbms.routing.getRoutingTable`,
//! `dbms.cluster.routing.getRoutingTable`).
//!
//! The table lists boltgate's own advertised address(es) in every role, so a `neo4j://` client
//! sends all its work, reads and writes, through boltgate, and never learns a member's address.

use std::time::Duration;

use boltgate_proto::message::{RawMessage, Record, Response};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;

/// What boltgate tells clients about itself.
#[derive(Debug, Clone)]
pub struct Advertised {
    pub addresses: Vec<String>,
    pub ttl: Duration,
}

impl Advertised {
    fn servers(&self) -> Value {
        let addresses = Value::List(
            self.addresses
                .iter()
                .map(|a| Value::from(a.as_str()))
                .collect(),
        );
        Value::List(
            ["WRITE", "READ", "ROUTE"]
                .iter()
                .map(|role| {
                    let mut m = Map::new();
                    m.push("addresses", addresses.clone());
                    m.push("role", *role);
                    Value::Map(m)
                })
                .collect(),
        )
    }

    fn ttl_secs(&self) -> i64 {
        self.ttl.as_secs().max(1) as i64
    }

    /// The SUCCESS for a ROUTE: `{rt: {ttl, db, servers}}`; `db` (4.4+) is the database the
    /// client asked for, left out for the home database (drivers then keep their own name).
    pub fn route_success(&self, version: Version, db: Option<&str>) -> RawMessage {
        let mut rt = Map::new();
        rt.push("ttl", self.ttl_secs());
        if version >= Version::V4_4 {
            if let Some(db) = db {
                rt.push("db", db);
            }
        }
        rt.push("servers", self.servers());
        let mut meta = Map::new();
        meta.push("rt", rt);
        Response::success(meta)
    }

    /// The RUN SUCCESS of a routing procedure call.
    pub fn procedure_run_success(&self) -> RawMessage {
        let mut meta = Map::new();
        meta.push(
            "fields",
            Value::List(vec![Value::from("ttl"), Value::from("servers")]),
        );
        meta.push("t_first", 0i64);
        Response::success(meta)
    }

    /// The RECORD `[ttl, servers]` and the final SUCCESS of a routing procedure call.
    pub fn procedure_result(&self) -> [RawMessage; 2] {
        let record = Response::Record(Record {
            data: vec![Value::from(self.ttl_secs()), self.servers()],
        })
        .to_raw()
        .unwrap_or_else(|_| Response::ignored());
        let mut meta = Map::new();
        meta.push("has_more", false);
        meta.push("t_last", 0i64);
        meta.push("type", "r");
        [record, Response::success(meta)]
    }
}

/// Whether `query` starts with CALL, in any case (the callers check the rest): a cheap first
/// test, since most queries are not procedure calls.
pub fn starts_with_call(query: &str) -> bool {
    let q = query.trim_start().as_bytes();
    q.len() >= 4 && q[..4].eq_ignore_ascii_case(b"call")
}

/// Whether a RUN's query may start with CALL, from its first bytes and without checking the
/// query is UTF-8: false only when its first character after ASCII white space is ASCII and not
/// a C. Every RUN passes here, twice (the reload and the routing procedures); a query that
/// starts with anything else (another white space, a non-ASCII character) goes on to the exact
/// test on the string.
pub fn may_call(run: &RawMessage) -> bool {
    let Ok(query) = run.fields().read_str_bytes() else {
        return true;
    };
    // str::trim_start's white space within ASCII: VT (0x0B) is one, unlike u8::is_ascii_whitespace.
    let first = query
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r'));
    match first {
        Some(b) if b.is_ascii() => b.eq_ignore_ascii_case(&b'c'),
        _ => true,
    }
}

/// Whether a RUN calls one of the routing procedures (read from the query string only; the
/// parameters are not decoded).
pub fn is_routing_procedure(run: &RawMessage) -> bool {
    if !may_call(run) {
        return false;
    }
    let mut c = run.fields();
    let Ok(query) = c.read_str() else {
        return false;
    };
    // Every RUN passes here: most are not CALLs, and they are told so without an allocation.
    if !starts_with_call(query) {
        return false;
    }
    let q: String = query
        .trim_start()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    let Some(rest) = q.strip_prefix("call") else {
        return false;
    };
    let rest = rest.trim_start();
    rest.starts_with("dbms.routing.getroutingtable")
        || rest.starts_with("dbms.cluster.routing.getroutingtable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::message::{sig, Request, Run};

    fn adv() -> Advertised {
        Advertised {
            addresses: vec!["proxy1:7687".into(), "proxy2:7687".into()],
            ttl: Duration::from_secs(300),
        }
    }

    #[test]
    fn route_answer_lists_only_boltgate_in_every_role() {
        let raw = adv().route_success(Version::V5_4, Some("movies"));
        let rt = raw.routing_table().unwrap().unwrap();
        assert_eq!(rt.ttl, 300);
        assert_eq!(rt.db.as_deref(), Some("movies"));
        assert_eq!(rt.servers.len(), 3);
        for s in &rt.servers {
            assert_eq!(s.addresses, ["proxy1:7687", "proxy2:7687"]);
        }
        let raw = adv().route_success(Version::V4_3, Some("movies"));
        assert_eq!(raw.routing_table().unwrap().unwrap().db, None);
        let raw = adv().route_success(Version::V5_4, None);
        assert_eq!(raw.routing_table().unwrap().unwrap().db, None);
    }

    #[test]
    fn recognises_the_routing_procedures() {
        let run = |q: &str| {
            Request::Run(Run {
                query: q.into(),
                parameters: Map::new(),
                extra: Map::new(),
            })
            .to_raw()
            .unwrap()
        };
        assert!(is_routing_procedure(&run(
            "CALL dbms.routing.getRoutingTable($context, $database)"
        )));
        assert!(is_routing_procedure(&run(
            "call dbms.cluster.routing.getRoutingTable($context)"
        )));
        assert!(!is_routing_procedure(&run("RETURN 1")));
        assert!(is_routing_procedure(&run(
            "\u{0B}\u{A0} CALL dbms.routing.getRoutingTable($context)"
        )));
        let [record, done] = adv().procedure_result();
        assert_eq!(record.signature(), sig::RECORD);
        assert_eq!(done.signature(), sig::SUCCESS);
    }

    /// The byte test never rules out a query the string test would take for a CALL.
    #[test]
    fn may_call_rules_out_only_what_does_not_start_with_call() {
        let run = |q: &str| {
            Request::Run(Run {
                query: q.into(),
                parameters: Map::new(),
                extra: Map::new(),
            })
            .to_raw()
            .unwrap()
        };
        for q in [
            "CALL x",
            "call x",
            " \t\r\nCaLL x",
            "\u{0B}\u{0C}call x",
            "\u{A0}CALL x",
            "\u{2003}call x",
            "\u{85}CALL x",
        ] {
            assert!(starts_with_call(q), "{q:?}");
            assert!(may_call(&run(q)), "{q:?}");
        }
        for q in [
            "RETURN 1",
            "  MATCH (n) RETURN n",
            "\tUNWIND [1] AS x RETURN x",
            ";",
        ] {
            assert!(!starts_with_call(q), "{q:?}");
            assert!(!may_call(&run(q)), "{q:?}");
        }
        // Not a string: left to the exact test, which refuses it.
        let not_a_string = RawMessage::from_fields(
            sig::RUN,
            &[
                Value::Integer(1),
                Value::Map(Map::new()),
                Value::Map(Map::new()),
            ],
        )
        .unwrap();
        assert!(may_call(&not_a_string));
        assert!(!is_routing_procedure(&not_a_string));
    }
}
