//! Answering each request as a well-behaved Neo4j would, minus the database: the Bolt state
//! machine's rules (IGNORED after a FAILURE until RESET), the scripted cluster's refusals, RUN
//! from the query text, PULL and DISCARD from the open result.

use std::sync::atomic::Ordering;

use boltgate_proto::message::{RawMessage, Record, Request, Response, Run};
use boltgate_proto::packstream::{Map, Structure, Value};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::{Conn, Flow};
use super::query::{is_routing_procedure, parse_query, Open, Query};
use super::shared::{fields, success, WIDE_FIELDS, WIDE_ID_OFFSET};
use super::{Received, BOOKMARK, FLUSH_AT, SERVER_AGENT};

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) async fn on_message(&mut self, bytes: Bytes) -> std::io::Result<Flow> {
        let raw = match RawMessage::new(bytes) {
            Ok(raw) => raw,
            // Not a structure: a real server would close.
            Err(_) => return Ok(Flow::Close),
        };
        if self.shared.opts.record {
            self.record(&raw);
        }
        let request = match Request::decode(self.version, &raw) {
            Ok(request) => request,
            Err(e) => {
                self.fail(
                    "Neo.ClientError.Request.Invalid",
                    &format!("synthetic server: {e}"),
                );
                return Ok(Flow::Continue);
            }
        };
        if self.shared.opts.users.is_some() {
            if let Some(flow) = self.check_login(&request) {
                return Ok(flow);
            }
        }
        match request {
            Request::Goodbye => {
                self.shared.goodbyes.fetch_add(1, Ordering::Relaxed);
                return Ok(Flow::Close);
            }
            Request::Reset => {
                self.failed = false;
                self.in_tx = false;
                self.commit_fate = None;
                self.open = None;
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            _ if self.failed => {
                let ignored = self.shared.ignored.clone();
                self.push(&ignored);
            }
            Request::Hello(_) => {
                let mut meta = Map::new();
                meta.push("server", SERVER_AGENT);
                meta.push("connection_id", format!("synthetic-{}", self.id));
                if self.manifest {
                    meta.push("protocol_version", self.version.to_string());
                }
                self.push_raw(&Response::success(meta));
            }
            Request::Run(run) => return Ok(self.on_run_message(&run)),
            Request::Pull(p) => return self.on_pull(p.n()).await,
            Request::PullAll => return self.on_pull(-1).await,
            Request::Discard(_) | Request::DiscardAll => {
                if self.open.take().is_some() {
                    self.push_summary();
                } else {
                    self.fail(
                        "Neo.ClientError.Request.Invalid",
                        "no open result to discard",
                    );
                }
            }
            Request::Begin(begin) if self.refuses_write(&begin.extra) => {}
            Request::Begin(_) => {
                self.in_tx = true;
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            Request::Commit if self.commit_fate == Some(true) => return Ok(Flow::Close),
            Request::Commit if self.commit_fate == Some(false) => {}
            Request::Commit => {
                self.in_tx = false;
                self.open = None;
                let bookmark = self.shared.opts.bookmark.as_deref().unwrap_or(BOOKMARK);
                self.push(&success(vec![("bookmark", bookmark.into())]));
            }
            Request::Rollback => {
                self.commit_fate = None;
                self.in_tx = false;
                self.open = None;
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            Request::Route(_) if self.refuses_route() => {}
            Request::Route(_) => {
                let rt = self.route_table();
                self.push(&success(vec![("rt", rt)]));
            }
            Request::Logon(_) | Request::Logoff | Request::Telemetry(_) => {
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            Request::Unknown(s) => self.fail(
                "Neo.ClientError.Request.Invalid",
                &format!("synthetic server: unknown message 0x{:02X}", s.tag),
            ),
        }
        Ok(Flow::Continue)
    }

    /// Keeps `raw` for [`SyntheticServer::received`](super::SyntheticServer::received).
    fn record(&self, raw: &RawMessage) {
        self.shared
            .received
            .lock()
            .expect("received lock")
            .push(Received {
                connection: self.id,
                version: self.version,
                message: raw.clone(),
                user: self.user.clone(),
            });
    }

    /// With [`Options::users`](super::Options::users): LOGON (or a pre-5.1 HELLO) checks the
    /// credentials; a refusal closes the connection, as Neo4j does; LOGOFF logs out; work before
    /// a login is refused. `Some` when the request was answered here.
    fn check_login(&mut self, request: &Request) -> Option<Flow> {
        let auth = match request {
            Request::Logon(l) => Some(&l.auth),
            Request::Hello(h) if self.version < boltgate_proto::Version::V5_1 => Some(&h.extra),
            Request::Logoff => {
                self.user = None;
                return None;
            }
            _ => None,
        };
        let users = self.shared.opts.users.as_ref()?;
        match auth {
            Some(auth) => {
                let principal = auth.get_str("principal").unwrap_or_default();
                let credentials = auth.get_str("credentials").unwrap_or_default();
                if users
                    .iter()
                    .any(|(u, p)| u == principal && p == credentials)
                {
                    self.user = Some(principal.to_string());
                    None
                } else {
                    self.user = None;
                    self.fail(
                        "Neo.ClientError.Security.Unauthorized",
                        "The client is unauthorized due to authentication failure.",
                    );
                    Some(Flow::Close)
                }
            }
            None => match request {
                Request::Hello(_) | Request::Reset | Request::Goodbye => None,
                _ if self.user.is_none() => {
                    self.fail(
                        "Neo.ClientError.Security.Unauthorized",
                        "synthetic server: not logged in",
                    );
                    Some(Flow::Continue)
                }
                _ => None,
            },
        }
    }

    /// A RUN, in the order its cases take precedence: the scripted crash, the routing
    /// procedure, a write refused by a scripted follower, then the query's own answer.
    fn on_run_message(&mut self, run: &Run) -> Flow {
        if self.shared.opts.crash_on.as_deref() == Some(&run.query) {
            self.shared.cancel.cancel();
            return Flow::Close;
        }
        if is_routing_procedure(&run.query) {
            if !self.refuses_route() {
                let meta = vec![
                    ("fields", fields(&["ttl", "servers"])),
                    ("t_first", 0.into()),
                ];
                self.push(&success(meta));
                self.open = Some(Open::Table { sent: false });
            }
            return Flow::Continue;
        }
        if !self.in_tx && self.refuses_write(&run.extra) {
            return Flow::Continue;
        }
        if let Query::FailClose(code) = parse_query(&run.query) {
            self.fail(&code, "synthetic failure requested by the query; closing");
            return Flow::Close;
        }
        self.on_run(&run.query);
        Flow::Continue
    }

    /// The `rt` map: the scripted cluster's, or one naming this server in every role.
    fn route_table(&self) -> Value {
        if let Some(rt) = &self.shared.opts.route_table {
            return rt.lock().expect("route table lock").clone();
        }
        let addr = self.shared.addr.to_string();
        let server = |role: &str| -> Value {
            let mut m = Map::new();
            m.push("addresses", Value::List(vec![addr.clone().into()]));
            m.push("role", role);
            m.into()
        };
        let mut rt = Map::new();
        rt.push("ttl", 300);
        rt.push("db", "neo4j");
        rt.push(
            "servers",
            Value::List(vec![server("ROUTE"), server("READ"), server("WRITE")]),
        );
        rt.into()
    }

    /// Under [`Options::refuse_route`](super::Options::refuse_route), refuses a routing request (and returns true).
    fn refuses_route(&mut self) -> bool {
        let refusing = self
            .shared
            .opts
            .refuse_route
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        if refusing {
            self.fail(
                "Neo.TransientError.General.DatabaseUnavailable",
                "synthetic server: routing is switched off on this member",
            );
        }
        refusing
    }

    /// Under [`Options::not_leader`](super::Options::not_leader), refuses write work with NotALeader (and returns true).
    fn refuses_write(&mut self, extra: &Map) -> bool {
        let refusing = self
            .shared
            .opts
            .not_leader
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        if refusing && extra.get_str("mode") != Some("r") {
            self.fail(
                "Neo.ClientError.Cluster.NotALeader",
                "synthetic server: no write operations are allowed on this member",
            );
            return true;
        }
        false
    }

    fn on_run(&mut self, query: &str) {
        self.shared.runs.fetch_add(1, Ordering::Relaxed);
        let (open, names, cached) = match parse_query(query) {
            Query::One(value) => (
                Open::One { value, sent: false },
                vec![value.to_string()],
                (value == 1).then(|| self.shared.run_success_one.clone()),
            ),
            Query::Wide(total) => (
                Open::Wide {
                    next: 0,
                    total,
                    small: false,
                },
                WIDE_FIELDS.iter().map(|f| f.to_string()).collect(),
                Some(self.shared.run_success_wide.clone()),
            ),
            Query::Small(total) => (
                Open::Wide {
                    next: 0,
                    total,
                    small: true,
                },
                vec!["id".to_string()],
                Some(self.shared.run_success_small.clone()),
            ),
            Query::Fail(code) | Query::FailClose(code) => {
                self.fail(&code, "synthetic failure requested by the query");
                return;
            }
            Query::DieAfter(rows) => (Open::Die { rows }, vec!["n".to_string()], None),
            Query::Zoned => (Open::Zoned { sent: false }, vec!["dt".to_string()], None),
            Query::Commit(dies) => {
                self.commit_fate = self.in_tx.then_some(dies);
                (
                    Open::One {
                        value: 1,
                        sent: false,
                    },
                    vec!["n".to_string()],
                    None,
                )
            }
            Query::Unknown => {
                self.fail(
                    "Neo.ClientError.Statement.SyntaxError",
                    "the synthetic server understands only RETURN <int>, ROWS <n> and FAIL <code>",
                );
                return;
            }
        };
        match cached {
            Some(ok) if !self.in_tx => self.push(&ok),
            _ => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let mut meta = vec![("fields", fields(&names)), ("t_first", 0.into())];
                if self.in_tx {
                    // One result at a time inside a transaction, so its qid is always 0.
                    meta.push(("qid", 0.into()));
                }
                self.push(&success(meta));
            }
        }
        self.open = Some(open);
    }

    fn push_summary(&mut self) {
        let done = if self.in_tx {
            self.shared.pull_done_tx.clone()
        } else {
            self.shared.pull_done.clone()
        };
        self.push(&done);
    }

    async fn on_pull(&mut self, n: i64) -> std::io::Result<Flow> {
        let Some(mut open) = self.open else {
            self.fail(
                "Neo.ClientError.Request.Invalid",
                "no open result to pull from",
            );
            return Ok(Flow::Continue);
        };
        if let Open::Die { rows } = open {
            for i in 0..rows {
                let row = Response::Record(Record {
                    data: vec![Value::Integer(i as i64)],
                });
                if let Ok(raw) = row.to_raw() {
                    self.push_raw(&raw);
                }
            }
            return Ok(Flow::Close);
        }
        let wanted = if n < 0 {
            open.remaining()
        } else {
            open.remaining().min(n as u64)
        };
        match &mut open {
            // Answered above.
            Open::Die { .. } => {}
            Open::Table { sent } => {
                if wanted > 0 {
                    let rt = self.route_table();
                    let rt = rt.as_map();
                    let ttl = rt
                        .and_then(|m| m.get("ttl"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let servers = rt
                        .and_then(|m| m.get("servers"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let row = Response::Record(Record {
                        data: vec![ttl, servers],
                    });
                    if let Ok(raw) = row.to_raw() {
                        self.push_raw(&raw);
                    }
                    *sent = true;
                }
            }
            Open::Zoned { sent } => {
                if wanted > 0 {
                    if let Ok(raw) = zoned_row(self.version).to_raw() {
                        self.push_raw(&raw);
                    }
                    *sent = true;
                }
            }
            Open::One { value, sent } => {
                if wanted > 0 {
                    if *value == 1 {
                        let row = self.shared.one_row.clone();
                        self.push(&row);
                    } else {
                        let row = Response::Record(Record {
                            data: vec![Value::Integer(*value)],
                        });
                        if let Ok(raw) = row.to_raw() {
                            self.push_raw(&raw);
                        }
                    }
                    *sent = true;
                }
            }
            Open::Wide { next, small, .. } => {
                let row = if *small {
                    self.shared.small_row.clone()
                } else {
                    self.shared.wide_row.clone()
                };
                for _ in 0..wanted {
                    let at = self.out.len() + WIDE_ID_OFFSET;
                    self.out.extend_from_slice(&row);
                    self.out[at..at + 8].copy_from_slice(&(*next as i64).to_be_bytes());
                    *next += 1;
                    if self.out.len() >= FLUSH_AT {
                        self.flush().await?;
                    }
                }
            }
        }
        if open.remaining() > 0 {
            self.open = Some(open);
            let more = self.shared.pull_has_more.clone();
            self.push(&more);
        } else {
            self.open = None;
            self.push_summary();
        }
        Ok(Flow::Continue)
    }
}

/// `DATETIME_ZONED`'s row, 2024-07-02T03:04:05[Europe/Paris]: UTC seconds (`i`) from 5.0, local
/// seconds (`f`) before.
fn zoned_row(version: boltgate_proto::Version) -> Response {
    let (tag, seconds) = if version.major >= 5 {
        (0x69, 1_719_882_245)
    } else {
        (0x66, 1_719_889_445)
    };
    let dt = Structure::new(tag, vec![seconds.into(), 0.into(), "Europe/Paris".into()]);
    Response::Record(Record {
        data: vec![Value::Structure(dt)],
    })
}
