//! Asking a router for a routing table: boltgate acts as a client of the cluster.
//!
//! The connection is opened with the Bolt version the asking session negotiated and
//! authenticated by replaying that session's own HELLO (and LOGON on 5.1+), so boltgate keeps no
//! credentials of its own and a table is only fetched on behalf of a client the cluster accepts.
//! Then, as the drivers do:
//! - 4.3+: `ROUTE {routing context} [bookmarks] db` (4.3 shape) or `{db}` (4.4+);
//! - 4.0-4.2 (no ROUTE message): `RUN "CALL dbms.routing.getRoutingTable($context, $database)"
//!   {context, database} {mode: "r", db: "system", bookmarks}` and `PULL {n: -1}`, whose one
//!   RECORD is `[ttl, servers]`.
//!
//! The connection is closed without GOODBYE (FalkorDB-style servers dislike it, and Neo4j does
//! not care).
//!
//! The routing context members see, in ROUTE and in every HELLO boltgate sends them (replayed
//! for the client or its own), is boltgate's upstream one: the upstream URI's query string with
//! `address` set to the member being spoken to ([`hello_for_member`]). The client's own context
//! names boltgate, and a member that got none would take the connection for a direct (`bolt://`)
//! one and might route it server-side, behind boltgate's back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::sig;
use boltgate_proto::message::{
    PullDiscard, RawMessage, Request, Route, RouteTarget, RoutingServers,
    RoutingTable as RouteAnswer, Run, Summary,
};
use boltgate_proto::packstream::{Limits, Map, Value};
use boltgate_proto::Version;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::connect::Upstream;
use super::registry::Fetch;

/// How long a fetch waits for the router to close its side after boltgate's close (a router
/// closes at once; the bound is for one that does not).
const ROUTER_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A session's way of fetching tables (cheap to clone: byte buffers and Arcs).
#[derive(Clone)]
pub struct RouteFetcher {
    pub upstream: Arc<Upstream>,
    pub version: Version,
    pub hello: Bytes,
    pub logon: Option<Bytes>,
    /// The routing context sent with ROUTE: the URI's query string plus `address`.
    pub context: Map,
    pub max_message_size: usize,
    pub metrics: crate::metrics::Metrics,
}

impl Fetch for RouteFetcher {
    fn fetch<'a>(
        &'a self,
        router: &'a str,
        db: Option<&'a str>,
        bookmarks: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<RouteAnswer, String>> + Send + 'a>> {
        Box::pin(async move {
            let timeout = self.upstream.connect_timeout() * 2;
            tokio::time::timeout(timeout, self.exchange(router, db, bookmarks))
                .await
                .map_err(|_| format!("no routing table within {timeout:?}"))?
        })
    }
}

impl RouteFetcher {
    async fn exchange(
        &self,
        router: &str,
        db: Option<&str>,
        bookmarks: &[String],
    ) -> Result<RouteAnswer, String> {
        if self.version < Version::V4_0 {
            return Err(format!(
                "Bolt {} has no routing procedure boltgate can call; routing needs Bolt 4.0 or later",
                self.version
            ));
        }
        let started = std::time::Instant::now();
        let connected = self
            .upstream
            .connect_to(router, &super::connect::Offer::version(self.version))
            .await;
        let (stream, _, rest) = match connected {
            Ok(c) => {
                self.metrics.upstream_connected(router, started.elapsed());
                c
            }
            Err(e) => {
                self.metrics.upstream_connect_failed(router, &e);
                return Err(e.to_string());
            }
        };
        let (r, w) = tokio::io::split(stream);
        // Prefixed: bytes read past the handshake are decoded before the socket is read again.
        let r = crate::net::Prefixed::new(rest.freeze(), r);
        let mut rx = FramedRead::new(r, ChunkCodec::new(self.max_message_size));
        let mut tx = FramedWrite::new(w, ChunkCodec::new(self.max_message_size));
        let hello = hello_for_member(&self.hello, self.version, &self.context, router);
        let mut requests = vec![("HELLO", hello)];
        if let Some(logon) = &self.logon {
            requests.push(("LOGON", logon.clone()));
        }
        let procedure = self.version < Version::V4_3;
        if procedure {
            requests.push(("RUN", self.procedure_run(db, bookmarks)?));
            let mut n = Map::new();
            n.push("n", -1i64);
            let pull = Request::Pull(PullDiscard { extra: n })
                .to_raw()
                .map_err(|e| e.to_string())?;
            requests.push(("PULL", pull.into_bytes()));
        } else {
            requests.push(("ROUTE", self.route(db, bookmarks)?));
        }
        for (_, m) in &requests {
            tx.feed(Frame::Message(m.clone()))
                .await
                .map_err(|e| e.to_string())?;
        }
        SinkExt::<Frame>::flush(&mut tx)
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = None;
        let mut record = None;
        for (name, _) in &requests {
            let raw = loop {
                let raw = match rx.next().await {
                    Some(Ok(Frame::Message(b))) => RawMessage::new(b).map_err(|e| e.to_string())?,
                    Some(Ok(Frame::Noop)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                    None => {
                        return Err(format!(
                            "the router closed the connection before {name}'s answer"
                        ))
                    }
                };
                if raw.signature() == sig::RECORD && *name == "PULL" {
                    record.get_or_insert(raw);
                    continue;
                }
                break raw;
            };
            match raw.summary().map_err(|e| e.to_string())? {
                Summary::Success { .. } if *name == "ROUTE" => {
                    answer = raw.routing_table().map_err(|e| e.to_string())?;
                }
                Summary::Success { .. } => {}
                Summary::Failure { code, message } => {
                    return Err(format!("{name} refused: {code}: {message}"))
                }
                other => return Err(format!("{name} answered {other:?}")),
            }
        }
        let _ = tx.get_mut().shutdown().await;
        // Wait (briefly) for the router's own close: with transaction pooling the fetch holds a
        // place in the router's pool, freed when this returns, and the router must have seen
        // this connection go before another takes that place.
        let closed = async { while let Some(Ok(_)) = rx.next().await {} };
        let _ = tokio::time::timeout(ROUTER_CLOSE_WAIT, closed).await;
        if procedure {
            let record = record.ok_or("dbms.routing.getRoutingTable returned no record")?;
            return procedure_answer(&record);
        }
        answer.ok_or_else(|| "the ROUTE answer has no `rt`".to_string())
    }

    fn route(&self, db: Option<&str>, bookmarks: &[String]) -> Result<Bytes, String> {
        let route = Request::Route(Route {
            routing: self.context.clone(),
            bookmarks: bookmarks.to_vec(),
            target: if self.version >= Version::V4_4 {
                let mut extra = Map::new();
                if let Some(db) = db {
                    extra.push("db", db);
                }
                RouteTarget::Extra(extra)
            } else {
                RouteTarget::Db(db.map(str::to_string))
            },
        });
        Ok(route.to_raw().map_err(|e| e.to_string())?.into_bytes())
    }

    /// The 4.0-4.2 way: the routing procedure, run on the system database in read mode.
    fn procedure_run(&self, db: Option<&str>, bookmarks: &[String]) -> Result<Bytes, String> {
        let mut parameters = Map::new();
        parameters.push("context", self.context.clone());
        parameters.push("database", db.map_or(Value::Null, Value::from));
        let mut extra = Map::new();
        extra.push("mode", "r");
        extra.push("db", "system");
        if !bookmarks.is_empty() {
            extra.push(
                "bookmarks",
                Value::List(bookmarks.iter().map(|b| Value::from(b.as_str())).collect()),
            );
        }
        let run = Request::Run(Run {
            query: GET_ROUTING_TABLE.into(),
            parameters,
            extra,
        });
        Ok(run.to_raw().map_err(|e| e.to_string())?.into_bytes())
    }
}

/// The routing procedure drivers call on 4.0-4.2 servers.
pub const GET_ROUTING_TABLE: &str = "CALL dbms.routing.getRoutingTable($context, $database)";

/// The table in the procedure's RECORD `[ttl, servers]`.
fn procedure_answer(record: &RawMessage) -> Result<RouteAnswer, String> {
    let bad = |why: &str| format!("dbms.routing.getRoutingTable returned {why}");
    let fields = record
        .decode_fields(&Limits::default())
        .map_err(|e| bad(&e.to_string()))?;
    let row = fields
        .first()
        .and_then(Value::as_list)
        .ok_or_else(|| bad("a record that is not a list"))?;
    let (Some(ttl), Some(servers)) = (
        row.first().and_then(Value::as_int),
        row.get(1).and_then(Value::as_list),
    ) else {
        return Err(bad("a record that is not [ttl, servers]"));
    };
    let mut answer = RouteAnswer {
        ttl,
        db: None,
        servers: Vec::new(),
    };
    for s in servers {
        let m = s
            .as_map()
            .ok_or_else(|| bad("a server entry that is not a map"))?;
        let addresses = m
            .get("addresses")
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        answer.servers.push(RoutingServers {
            role: m.get_str("role").unwrap_or_default().to_string(),
            addresses,
        });
    }
    Ok(answer)
}

/// The client's HELLO for `member`: its `routing` entry replaced with `context` naming the
/// member (`address`). Bolt 4.0 and earlier HELLOs have no routing context and go unchanged, as
/// does a HELLO boltgate cannot re-encode (the member then judges it). LOGON carries only
/// credentials, so it is replayed as is.
pub fn hello_for_member(hello: &Bytes, version: Version, context: &Map, member: &str) -> Bytes {
    if version < Version::V4_1 {
        return hello.clone();
    }
    let Ok(raw) = RawMessage::new(hello.clone()) else {
        return hello.clone();
    };
    let Ok(Request::Hello(mut h)) = Request::decode(version, &raw) else {
        return hello.clone();
    };
    let mut routing = context.clone();
    routing.insert("address", member);
    h.extra.insert("routing", routing);
    match Request::Hello(h).to_raw() {
        Ok(raw) => raw.into_bytes(),
        Err(_) => hello.clone(),
    }
}

/// The routing context for ROUTE: the URI's query string and `address` (the initial router as
/// written in the URI, as drivers send it).
pub fn routing_context(address: &str, query: &[(String, String)]) -> Map {
    let mut m = Map::new();
    m.push("address", address);
    for (k, v) in query {
        m.push(k.as_str(), Value::from(v.as_str()));
    }
    m
}
