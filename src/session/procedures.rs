//! Procedures boltgate answers itself instead of forwarding: `CALL dbms.security.reloadTLS()`,
//! as Neo4j does, since it is boltgate's TLS that a client connected to boltgate means; and, on
//! the single-upstream relay ([`Procedures::routing`]), ROUTE and the routing procedures
//! (`dbms.routing.getRoutingTable`, `dbms.cluster.routing.getRoutingTable`), answered with a
//! table naming boltgate in every role, so a `neo4j://` client keeps talking to boltgate instead
//! of the address the server would give it. The address is the one the client put in its routing
//! context (the ROUTE's or the procedure's `context`, else its HELLO's): the `host:port` it
//! dialled, which is how it reaches boltgate; without one, `boltgate.routing.advertised_addresses`.
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
//! Authorised: Neo4j allows the procedure to admins only; boltgate to the users named in
//! `boltgate.procedures.reload_tls_allowed_users`, matched on the `principal` of the session's
//! HELLO or LOGON (anyone else gets `Neo.ClientError.Security.Forbidden`). Concurrent calls share
//! one reload ([`crate::reload::TlsReloader::reload_for_client`]); a failing reload's reason
//! goes to the log, the client gets a generic message.
//!
//! The same local-answer machinery refuses messages boltgate must not forward: a client message
//! beyond the decoder's structural limits (`boltgate.client.max_nesting_depth`, lengths) gets a
//! FAILURE (`Neo.ClientError.Request.Invalid`) here and never reaches the upstream. As after a
//! server's FAILURE, what follows is IGNORED until the client's RESET, which is forwarded: the
//! upstream, which never saw the refused message, is reset from whatever state it was in, so
//! both sides end in READY together.

use boltgate_proto::chunk::Frame;
use boltgate_proto::message::{RawMessage, Request, RequestKind, Response};
use boltgate_proto::packstream::{Cursor, Limits, Map, Marker, Value};
use boltgate_proto::state::ServerState;
use boltgate_proto::Version;

use super::intercept::{is_routing_procedure, may_call, starts_with_call, Advertised};
use super::Context;

/// Neo4j's code for a procedure the user may not run.
pub use crate::status::FORBIDDEN;
/// The procedure's failure code, as Neo4j reports a procedure that threw.
pub use crate::status::PROCEDURE_CALL_FAILED;
use crate::status::REQUEST_INVALID;

/// What is open on the client's side of a local answer.
#[derive(Debug, Default, Clone)]
enum Open {
    #[default]
    Nothing,
    /// RUN succeeded; its (empty) result awaits PULL or DISCARD.
    Result,
    /// RUN failed; everything until RESET is IGNORED.
    Failed,
    /// A routing procedure's RUN succeeded; the PULL gets the table, naming this.
    Table(Advertised),
}

/// The per-session state of locally answered procedures.
#[derive(Debug, Default)]
pub struct Procedures {
    open: Open,
    /// Set on the single-upstream relay: ROUTE and the routing procedures are answered too.
    routing: Option<Advertised>,
    /// The `address` of the client's HELLO routing context.
    hello_address: Option<String>,
    /// The `principal` of the last HELLO or LOGON forwarded (None after LOGOFF, or without one).
    principal: Option<String>,
    /// What a client message may be at most (`boltgate.client.max_nesting_depth`); None: no check.
    limits: Option<Limits>,
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

/// The `principal` of a HELLO's extra (Bolt 5.0 and older) or a LOGON's auth map and, with
/// `want_address`, the `address` of a HELLO's routing context: read in one walk over the map's
/// bytes, which every connection's HELLO and LOGON pass through (decoding the HELLO whole cost
/// about 1,000 instructions per connection). The first of a repeated key counts. None when the map
/// does not read.
fn entries_of(raw: &RawMessage, want_address: bool) -> Option<(Option<String>, Option<String>)> {
    let mut c = raw.fields();
    let (mut principal, mut address) = (None, None);
    let (mut principal_seen, mut routing_seen) = (false, false);
    for _ in 0..c.read_map_header().ok()? {
        match c.read_str().ok()? {
            "principal" if !principal_seen => {
                principal_seen = true;
                principal = c.read_opt_str().ok()?.map(str::to_owned);
            }
            "routing" if want_address && !routing_seen => {
                routing_seen = true;
                address = context_address_of(&mut c)?;
            }
            _ => c.skip_value().ok()?,
        }
    }
    Some((principal, address))
}

/// The `address` entry of the routing context at `c` (a map; anything else has none), trimmed;
/// None inside when it is missing, not a string or blank.
fn context_address_of(c: &mut Cursor<'_>) -> Option<Option<String>> {
    if !matches!(c.peek_marker().ok()?, Marker::TinyMap(_) | Marker::Map(_)) {
        c.skip_value().ok()?;
        return Some(None);
    }
    let mut address = None;
    let mut seen = false;
    for _ in 0..c.read_map_header().ok()? {
        let key = c.read_str().ok()?;
        let string = matches!(
            c.peek_marker().ok()?,
            Marker::TinyString(_) | Marker::String(_)
        );
        if key == "address" && !seen && string {
            seen = true;
            let a = c.read_str().ok()?.trim();
            address = (!a.is_empty()).then(|| a.to_string());
        } else {
            seen |= key == "address";
            c.skip_value().ok()?;
        }
    }
    Some(address)
}

/// Whether `raw` is a RUN of a procedure boltgate answers.
fn is_reload_call(version: Version, raw: &RawMessage) -> bool {
    if raw.kind(version) != RequestKind::Run || raw.field_count() != 3 || !may_call(raw) {
        return false;
    }
    let Ok(query) = raw.fields().read_str() else {
        return false;
    };
    // Every RUN passes here: most are not CALLs, and they are told so without an allocation.
    if !starts_with_call(query) {
        return false;
    }
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

/// The `address` entry of a routing context map.
fn context_address(context: Option<&Value>) -> Option<String> {
    let address = context?.as_map()?.get_str("address")?.trim();
    (!address.is_empty()).then(|| address.to_string())
}

impl Procedures {
    /// For a session whose client messages are held to `max_nesting_depth` (and the decoder's
    /// length limits).
    pub fn new(max_nesting_depth: usize) -> Procedures {
        Procedures {
            limits: Some(Limits {
                max_depth: max_nesting_depth,
                ..Limits::default()
            }),
            ..Procedures::default()
        }
    }

    /// Why `raw` must not be forwarded at all, if it must not.
    fn refusal(&self, raw: &RawMessage) -> Option<String> {
        let limits = self.limits.as_ref()?;
        raw.check_structure(limits).err().map(|e| {
            format!(
                "boltgate refuses this message: {e} (the limit is \
                 boltgate.client.max_nesting_depth={})",
                limits.max_depth
            )
        })
    }

    /// Procedures for the single-upstream relay: ROUTE and the routing procedures are answered
    /// with boltgate's own address (`fallback` when the client names none).
    pub fn with_routing(self, fallback: Advertised) -> Procedures {
        Procedures {
            routing: Some(fallback),
            ..self
        }
    }

    /// Whether `raw` asks for a routing table boltgate answers itself.
    fn is_routing_request(&self, version: Version, raw: &RawMessage) -> bool {
        self.routing.is_some()
            && match raw.kind(version) {
                RequestKind::Route => true,
                RequestKind::Run => is_routing_procedure(raw),
                _ => false,
            }
    }

    /// Whether boltgate answers `raw` itself (checked before it is forwarded).
    pub fn intercepts(&self, version: Version, raw: &RawMessage) -> bool {
        match self.open {
            Open::Nothing => {
                is_reload_call(version, raw)
                    || self.is_routing_request(version, raw)
                    || self.refusal(raw).is_some()
            }
            // RESET is forwarded: it ends the local failure and resets the upstream too.
            Open::Result | Open::Failed | Open::Table(_) => raw.kind(version) != RequestKind::Reset,
        }
    }

    /// Called for every forwarded request: a RESET closes what is open locally; a HELLO's
    /// routing context gives the address routing tables name.
    pub fn on_forwarded(&mut self, version: Version, raw: &RawMessage) {
        match raw.kind(version) {
            RequestKind::Reset => self.open = Open::Nothing,
            kind @ (RequestKind::Hello | RequestKind::Logon) => {
                let hello = self.routing.is_some() && kind == RequestKind::Hello;
                if let Some((principal, address)) = entries_of(raw, hello) {
                    if principal.is_some() {
                        self.principal = principal;
                    }
                    if hello {
                        self.hello_address = address;
                    }
                }
            }
            RequestKind::Logoff => self.principal = None,
            _ => {}
        }
    }

    /// The table for a client whose request named `address` in its routing context.
    fn table(&self, address: Option<String>) -> Advertised {
        let fallback = self.routing.clone().unwrap_or(Advertised {
            addresses: Vec::new(),
            ttl: std::time::Duration::from_secs(300),
        });
        match address.or_else(|| self.hello_address.clone()) {
            Some(address) => Advertised {
                addresses: vec![address],
                ttl: fallback.ttl,
            },
            None => fallback,
        }
    }

    /// ROUTE or a routing procedure's RUN, in `state` (None: forward it, the server answers).
    fn answer_routing(
        &mut self,
        version: Version,
        raw: &RawMessage,
        state: ServerState,
    ) -> Option<Vec<Frame>> {
        // ROUTE is valid in READY only; elsewhere the server gives the answer it must (IGNORED
        // after a failure, a protocol error inside a transaction).
        if state != ServerState::Ready {
            return None;
        }
        let frame = |m: RawMessage| Frame::Message(m.into_bytes());
        match Request::decode(version, raw).ok()? {
            Request::Route(_) => {
                let view = raw.route_view().ok()?;
                let address = view.routing.get_str("address").map(str::to_string);
                let table = self.table(address.filter(|a| !a.trim().is_empty()));
                tracing::debug!(addresses = ?table.addresses, db = ?view.db, "ROUTE answered by boltgate");
                Some(vec![frame(
                    table.route_success(version, view.db.as_deref()),
                )])
            }
            Request::Run(run) => {
                let table = self.table(context_address(run.parameters.get("context")));
                tracing::debug!(addresses = ?table.addresses, "routing procedure answered by boltgate");
                let success = table.procedure_run_success();
                self.open = Open::Table(table);
                Some(vec![frame(success)])
            }
            _ => None,
        }
    }

    /// The answer to an intercepted request. `state` is the session's state with nothing
    /// outstanding; None means "forward it after all" (the session is not in a state where the
    /// procedure may run, so the upstream answers).
    // Over 100 lines on purpose: one match over what the previous answer left open (a table, a
    // result, nothing) and the request; each arm is short, and splitting it would scatter one
    // state machine over several functions.
    pub async fn answer(
        &mut self,
        version: Version,
        raw: &RawMessage,
        state: ServerState,
        ctx: &Context,
    ) -> Option<Vec<Frame>> {
        let frame = |m: RawMessage| Frame::Message(m.into_bytes());
        match std::mem::take(&mut self.open) {
            Open::Failed => {
                self.open = Open::Failed;
                Some(vec![frame(Response::ignored())])
            }
            Open::Table(table) => match raw.kind(version) {
                RequestKind::Pull => {
                    Some(table.procedure_result().into_iter().map(frame).collect())
                }
                RequestKind::Discard => {
                    let [_, done] = table.procedure_result();
                    Some(vec![frame(done)])
                }
                _ => {
                    self.open = Open::Failed;
                    Some(vec![frame(Response::failure(
                        version,
                        REQUEST_INVALID,
                        "the routing table's result must be pulled or discarded before the \
                         next request",
                    ))])
                }
            },
            Open::Result => match raw.kind(version) {
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
            },
            Open::Nothing if self.is_routing_request(version, raw) => {
                self.answer_routing(version, raw, state)
            }
            Open::Nothing => {
                if let Some(why) = self.refusal(raw) {
                    if state == ServerState::Failed {
                        // The server would have ignored it; so does boltgate.
                        return Some(vec![frame(Response::ignored())]);
                    }
                    if crate::telemetry::allow(crate::telemetry::Repeated::Refused) {
                        tracing::info!("client message refused, not forwarded: {why}");
                    }
                    self.open = Open::Failed;
                    return Some(vec![frame(Response::failure(
                        version,
                        REQUEST_INVALID,
                        &why,
                    ))]);
                }
                if !matches!(state, ServerState::Ready | ServerState::TxReady) {
                    return None;
                }
                let allowed = self
                    .principal
                    .as_ref()
                    .is_some_and(|p| ctx.reload_tls_allowed_users.iter().any(|u| u == p));
                if !allowed {
                    let user = self.principal.as_deref().unwrap_or("");
                    tracing::warn!(
                        user,
                        "CALL dbms.security.reloadTLS() refused: the user is not in \
                         boltgate.procedures.reload_tls_allowed_users"
                    );
                    self.open = Open::Failed;
                    return Some(vec![frame(Response::failure(
                        version,
                        FORBIDDEN,
                        &format!(
                            "Executing admin procedure 'dbms.security.reloadTLS' is not allowed \
                             for user '{user}'"
                        ),
                    ))]);
                }
                tracing::info!(
                    user = self.principal.as_deref().unwrap_or(""),
                    "CALL dbms.security.reloadTLS() from a client"
                );
                match ctx.tls_reload.reload_for_client().await {
                    Ok(()) => {
                        self.open = Open::Result;
                        let mut m = Map::new();
                        m.push("fields", Value::List(Vec::new()));
                        m.push("t_first", 0i64);
                        Some(vec![frame(Response::success(m))])
                    }
                    Err(e) => {
                        // The reason (paths, key errors) is logged by the reload; the client
                        // learns only the outcome.
                        self.open = Open::Failed;
                        Some(vec![frame(Response::failure(
                            version,
                            PROCEDURE_CALL_FAILED,
                            &format!("Failed to invoke procedure `dbms.security.reloadTLS`: {e}"),
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
