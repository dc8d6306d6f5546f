//! A scripted fake cluster: three synthetic Bolt servers (see `boltgate::testkit::synthetic`)
//! that answer ROUTE with one shared, changeable table, refuse writes with NotALeader on demand,
//! report their own bookmark, and record every message (so a test sees which member ran what).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use boltgate::testkit::synthetic::{Options, Received, SyntheticServer};
use boltgate_proto::message::{sig, Request};
use boltgate_proto::packstream::{Map, Value};

pub struct FakeCluster {
    /// Runs the members; kept for their lifetime.
    _rt: tokio::runtime::Runtime,
    pub members: Vec<Option<SyntheticServer>>,
    pub addrs: Vec<String>,
    table: Arc<Mutex<Value>>,
    not_leader: Vec<Arc<AtomicBool>>,
}

/// Member names, in order: m0 is the first writer.
pub const NAMES: [&str; 3] = ["m0", "m1", "m2"];

impl FakeCluster {
    /// Three members; the table says m0 writes, m1 and m2 read, all three route.
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> FakeCluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let table = Arc::new(Mutex::new(Value::Null));
        let mut members = Vec::new();
        let mut not_leader = Vec::new();
        for name in NAMES {
            let flag = Arc::new(AtomicBool::new(false));
            let opts = Options {
                record: true,
                tls: tls.clone(),
                route_table: Some(table.clone()),
                not_leader: Some(flag.clone()),
                bookmark: Some(format!("bm:{name}")),
                ..Options::default()
            };
            let server = rt
                .block_on(SyntheticServer::start_with(opts))
                .expect("start a synthetic member");
            members.push(Some(server));
            not_leader.push(flag);
        }
        let addrs = members
            .iter()
            .map(|m| format!("localhost:{}", m.as_ref().unwrap().addr().port()))
            .collect();
        let c = FakeCluster {
            _rt: rt,
            members,
            addrs,
            table,
            not_leader,
        };
        c.set_table(&[0], &[1, 2], &[0, 1, 2]);
        c
    }

    /// The table every member answers ROUTE with from now on (ttl 300 s, db "neo4j").
    pub fn set_table(&self, writers: &[usize], readers: &[usize], routers: &[usize]) {
        let role = |role: &str, ids: &[usize]| {
            let mut m = Map::new();
            m.push(
                "addresses",
                Value::List(
                    ids.iter()
                        .map(|i| Value::from(self.addrs[*i].as_str()))
                        .collect(),
                ),
            );
            m.push("role", role);
            Value::Map(m)
        };
        let mut rt = Map::new();
        rt.push("ttl", 300i64);
        rt.push("db", "neo4j");
        rt.push(
            "servers",
            Value::List(vec![
                role("WRITE", writers),
                role("READ", readers),
                role("ROUTE", routers),
            ]),
        );
        *self.table.lock().unwrap() = Value::Map(rt);
    }

    pub fn set_not_leader(&self, member: usize, on: bool) {
        self.not_leader[member].store(on, Ordering::Relaxed);
    }

    /// Stops a member: its listener and every connection close.
    pub fn kill(&mut self, member: usize) {
        if let Some(m) = self.members[member].take() {
            m.stop();
        }
    }

    pub fn received(&self, member: usize) -> Vec<Received> {
        self.members[member]
            .as_ref()
            .map(|m| m.received())
            .unwrap_or_default()
    }

    /// Queries member `i` ran (RUN texts).
    pub fn queries(&self, member: usize) -> Vec<String> {
        self.received(member)
            .iter()
            .filter_map(Received::query)
            .collect()
    }

    pub fn count(&self, member: usize, query: &str) -> usize {
        self.queries(member).iter().filter(|q| *q == query).count()
    }

    /// The routing contexts of the ROUTE requests member `i` received.
    pub fn routes(&self, member: usize) -> Vec<Map> {
        self.received(member)
            .iter()
            .filter(|r| r.message.signature() == sig::ROUTE)
            .filter_map(|r| match Request::decode(r.version, &r.message) {
                Ok(Request::Route(route)) => Some(route.routing),
                _ => None,
            })
            .collect()
    }

    /// The bookmarks each BEGIN member `i` received carried.
    pub fn begin_bookmarks(&self, member: usize) -> Vec<Vec<String>> {
        self.received(member)
            .iter()
            .filter(|r| r.message.signature() == sig::BEGIN)
            .filter_map(|r| r.message.tx_view().ok())
            .map(|v| v.bookmarks)
            .collect()
    }

    pub fn uri(&self, member: usize) -> String {
        format!("neo4j://{}", self.addrs[member])
    }
}
