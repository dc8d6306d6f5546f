//! Asking a router for a routing table: boltgate acts as a client of the cluster.
//!
//! The connection is opened with the Bolt version the asking session negotiated and
//! authenticated by replaying that session's own HELLO (and LOGON on 5.1+), so boltgate keeps no
//! credentials of its own and a table is only fetched on behalf of a client the cluster accepts.
//! Then `ROUTE {routing context} [bookmarks] db` (4.3 shape) or `{db}` (4.4+); the connection is
//! closed without GOODBYE (FalkorDB-style servers dislike it, and Neo4j does not care).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::{
    RawMessage, Request, Route, RouteTarget, RoutingTable as RouteAnswer, Summary,
};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::connect::Upstream;
use super::registry::Fetch;

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
        if self.version < Version::V4_3 {
            return Err(format!(
                "Bolt {} has no ROUTE message; routing needs Bolt 4.3 or later",
                self.version
            ));
        }
        let (stream, _, rest) = self
            .upstream
            .connect_to(router, &[self.version], true)
            .await
            .map_err(|e| e.to_string())?;
        let (r, w) = tokio::io::split(stream);
        // Prefixed: bytes read past the handshake are decoded before the socket is read again.
        let r = crate::listener::detect::Prefixed::new(rest.freeze(), r);
        let mut rx = FramedRead::new(r, ChunkCodec::new(self.max_message_size));
        let mut tx = FramedWrite::new(w, ChunkCodec::new(self.max_message_size));
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
        })
        .to_raw()
        .map_err(|e| e.to_string())?;
        let mut requests = vec![("HELLO", self.hello.clone())];
        if let Some(logon) = &self.logon {
            requests.push(("LOGON", logon.clone()));
        }
        requests.push(("ROUTE", route.into_bytes()));
        for (_, m) in &requests {
            tx.feed(Frame::Message(m.clone()))
                .await
                .map_err(|e| e.to_string())?;
        }
        SinkExt::<Frame>::flush(&mut tx)
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = None;
        for (name, _) in &requests {
            let raw = loop {
                match rx.next().await {
                    Some(Ok(Frame::Message(b))) => {
                        break RawMessage::new(b).map_err(|e| e.to_string())?
                    }
                    Some(Ok(Frame::Noop)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                    None => {
                        return Err(format!(
                            "the router closed the connection before {name}'s answer"
                        ))
                    }
                }
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
        answer.ok_or_else(|| "the ROUTE answer has no `rt`".to_string())
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
