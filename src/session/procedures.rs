//! Procedures boltgate answers itself instead of forwarding: `CALL dbms.security.reloadTLS()`,
//! as Neo4j does, since it is boltgate's TLS that a client connected to boltgate means.
//!
//! A RUN whose query (trimmed, case-insensitive, optional trailing `;`) is that call is never
//! forwarded. boltgate answers it, and the PULL or DISCARD that follows it, with messages of its
//! own. Neo4j's procedure is VOID: on success, RUN gets `SUCCESS {fields: []}` and the PULL
//! `SUCCESS {type: "s"}` (with the "00001 omitted result" GQL status on 5.6+) with no RECORD,
//! the shape Neo4j gives its VOID DBMS procedures (Community has no reloadTLS: it is an
//! Enterprise procedure; docs/neo4j.md); on failure, RUN gets a FAILURE
//! (`Neo.ClientError.Procedure.ProcedureCallFailed`) whose message is the reason, and everything
//! up to the client's RESET gets IGNORED, as from a server.
//!
//! Ordering: the relay pipelines. The call is answered only once every request already
//! forwarded has its answer (the relay waits for that before calling [`Procedures::answer`]);
//! boltgate's answers then go through the same writer as the upstream's, in a queue the writer
//! empties first. While a local answer is open (a result to PULL, or a failure awaiting RESET),
//! the client's requests are answered here too, so nothing from the upstream can overtake them.
//! "Authenticated" comes from the session state: only a session the upstream has put in READY
//! (after HELLO/LOGON) or TX_READY may call it; in any other state the RUN is forwarded and the
//! upstream answers as it would to any query (IGNORED after a failure, for instance).

use boltgate_proto::chunk::Frame;
use boltgate_proto::message::{RawMessage, RequestKind, Response};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::state::ServerState;
use boltgate_proto::Version;

use super::Context;

/// The procedure's failure code, as Neo4j reports a procedure that threw.
pub const PROCEDURE_CALL_FAILED: &str = "Neo.ClientError.Procedure.ProcedureCallFailed";
const REQUEST_INVALID: &str = "Neo.ClientError.Request.Invalid";

/// What is open on the client's side of a local answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Open {
    #[default]
    Nothing,
    /// RUN succeeded; its (empty) result awaits PULL or DISCARD.
    Result,
    /// RUN failed; everything until RESET is IGNORED.
    Failed,
}

/// The per-session state of locally answered procedures.
#[derive(Debug, Default)]
pub struct Procedures {
    open: Open,
}

/// The GQL status Neo4j (2026.08, measured in tests/neo4j_drivers.rs) puts in the final
/// SUCCESS of a VOID procedure on Bolt 5.6+, where drivers read statuses instead of
/// notifications.
fn omitted_result_status() -> Value {
    let mut m = Map::new();
    m.push("gql_status", "00001");
    m.push(
        "status_description",
        "note: successful completion - omitted result",
    );
    Value::Map(m)
}

/// Whether `raw` is a RUN of a procedure boltgate answers.
fn is_reload_call(version: Version, raw: &RawMessage) -> bool {
    if raw.kind(version) != RequestKind::Run || raw.field_count() != 3 {
        return false;
    }
    let Ok(query) = raw.fields().read_str() else {
        return false;
    };
    let q = query.trim().trim_end_matches(';').trim_end();
    // "CALL dbms.security.reloadTLS()" with any case and spacing around the parentheses.
    let compact: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = compact.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "call dbms.security.reloadtls()"
            | "call dbms.security.reloadtls ()"
            | "call dbms.security.reloadtls"
    )
}

impl Procedures {
    /// Whether boltgate answers `raw` itself (checked before it is forwarded).
    pub fn intercepts(&self, version: Version, raw: &RawMessage) -> bool {
        match self.open {
            Open::Nothing => is_reload_call(version, raw),
            // RESET is forwarded: it ends the local failure and resets the upstream too.
            Open::Result | Open::Failed => raw.kind(version) != RequestKind::Reset,
        }
    }

    /// Called for a forwarded RESET or GOODBYE: nothing local stays open.
    pub fn on_forwarded(&mut self, version: Version, raw: &RawMessage) {
        if raw.kind(version) == RequestKind::Reset {
            self.open = Open::Nothing;
        }
    }

    /// The answer to an intercepted request. `state` is the session's state with nothing
    /// outstanding; None means "forward it after all" (the session is not in a state where the
    /// procedure may run, so the upstream answers).
    pub async fn answer(
        &mut self,
        version: Version,
        raw: &RawMessage,
        state: ServerState,
        ctx: &Context,
    ) -> Option<Vec<Frame>> {
        let frame = |m: RawMessage| Frame::Message(m.into_bytes());
        match self.open {
            Open::Failed => Some(vec![frame(Response::ignored())]),
            Open::Result => {
                self.open = Open::Nothing;
                match raw.kind(version) {
                    RequestKind::Pull | RequestKind::Discard => {
                        let mut m = Map::new();
                        m.push("type", "s");
                        m.push("t_last", 0i64);
                        if version >= Version::V5_6 {
                            m.push("statuses", Value::List(vec![omitted_result_status()]));
                        }
                        Some(vec![frame(Response::success(m))])
                    }
                    _ => {
                        self.open = Open::Failed;
                        Some(vec![frame(Response::failure(
                            version,
                            REQUEST_INVALID,
                            "the result of CALL dbms.security.reloadTLS() must be pulled or \
                             discarded before the next request",
                        ))])
                    }
                }
            }
            Open::Nothing => {
                if !matches!(state, ServerState::Ready | ServerState::TxReady) {
                    return None;
                }
                tracing::info!("CALL dbms.security.reloadTLS() from a client");
                match ctx
                    .tls_reload
                    .reload("CALL dbms.security.reloadTLS()")
                    .await
                {
                    Ok(_) => {
                        self.open = Open::Result;
                        let mut m = Map::new();
                        m.push("fields", Value::List(Vec::new()));
                        m.push("t_first", 0i64);
                        Some(vec![frame(Response::success(m))])
                    }
                    Err(e) => {
                        self.open = Open::Failed;
                        let message = format!(
                            "Failed to invoke procedure `dbms.security.reloadTLS`: {}",
                            crate::listener::chain(&e)
                        );
                        Some(vec![frame(Response::failure(
                            version,
                            PROCEDURE_CALL_FAILED,
                            &message,
                        ))])
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::message::Request;

    fn run(query: &str) -> RawMessage {
        Request::Run(boltgate_proto::message::Run {
            query: query.into(),
            parameters: Map::new(),
            extra: Map::new(),
        })
        .to_raw()
        .unwrap()
    }

    #[test]
    fn recognises_the_call_in_any_case_and_spacing() {
        let v = Version::V5_4;
        for q in [
            "CALL dbms.security.reloadTLS()",
            "  call DBMS.SECURITY.RELOADTLS()  ",
            "CALL dbms.security.reloadTLS();",
            "CALL dbms.security.reloadTLS ()",
        ] {
            assert!(is_reload_call(v, &run(q)), "{q}");
        }
        for q in [
            "RETURN 1",
            "CALL dbms.security.reloadTLS() YIELD x",
            "CALL db.labels()",
        ] {
            assert!(!is_reload_call(v, &run(q)), "{q}");
        }
    }
}
