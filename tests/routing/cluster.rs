//! A scripted fake cluster: three synthetic Bolt servers (see `boltgate_testkit::synthetic`)
//! that answer ROUTE (and, on 4.0-4.2, the routing procedure) with one shared, changeable table,
//! refuse writes with NotALeader or routing on demand, report their own bookmark, crash on the
//! query [`CRASH`], and record every message (so a test sees which member ran what).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use boltgate_proto::message::{sig, Request};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;
use boltgate_testkit::synthetic::{Options, Received, SyntheticServer};

pub struct FakeCluster {
    /// Runs the members; kept for their lifetime.
    rt: tokio::runtime::Runtime,
    pub members: Vec<Option<SyntheticServer>>,
    pub addrs: Vec<String>,
    /// Each member's script, to start it again ([`FakeCluster::restart`]).
    opts: Vec<Options>,
    table: Arc<Mutex<Value>>,
    ttl: AtomicI64,
    not_leader: Vec<Arc<AtomicBool>>,
    refuse_route: Arc<AtomicBool>,
}

/// The query that makes the member running it crash (stop, every connection closed).
pub const CRASH: &str = "CRASH";

/// Member names, in order: m0 is the first writer.
pub const NAMES: [&str; 3] = ["m0", "m1", "m2"];

impl FakeCluster {
    /// Three members; the table says m0 writes, m1 and m2 read, all three route.
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> FakeCluster {
        FakeCluster::start_with(vec![tls; 3], None)
    }

    /// As [`FakeCluster::start`], with each member's own TLS configuration and, when given,
    /// the Bolt versions every member speaks.
    pub fn start_with(
        tls: Vec<Option<Arc<rustls::ServerConfig>>>,
        versions: Option<&[Version]>,
    ) -> FakeCluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let table = Arc::new(Mutex::new(Value::Null));
        let refuse_route = Arc::new(AtomicBool::new(false));
        let mut members = Vec::new();
        let mut not_leader = Vec::new();
        let mut scripts = Vec::new();
        for (name, tls) in NAMES.iter().zip(tls) {
            let flag = Arc::new(AtomicBool::new(false));
            let mut opts = Options {
                record: true,
                tls,
                route_table: Some(table.clone()),
                not_leader: Some(flag.clone()),
                bookmark: Some(format!("bm:{name}")),
                crash_on: Some(CRASH.into()),
                refuse_route: Some(refuse_route.clone()),
                ..Options::default()
            };
            if let Some(v) = versions {
                opts.versions = v.to_vec();
            }
            scripts.push(opts.clone());
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
            rt,
            members,
            addrs,
            opts: scripts,
            table,
            ttl: AtomicI64::new(300),
            not_leader,
            refuse_route,
        };
        c.set_table(&[0], &[1, 2], &[0, 1, 2]);
        c
    }

    /// The TTL of the tables set from now on (call [`FakeCluster::set_table`] after it).
    pub fn set_ttl(&self, secs: i64) {
        self.ttl.store(secs, Ordering::Relaxed);
    }

    /// While `on`, every member refuses ROUTE and the routing procedure.
    pub fn set_refuse_route(&self, on: bool) {
        self.refuse_route.store(on, Ordering::Relaxed);
    }

    /// The table every member answers ROUTE with from now on (ttl 300 s unless
    /// [`FakeCluster::set_ttl`] said otherwise, db "neo4j").
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
        rt.push("ttl", self.ttl.load(Ordering::Relaxed));
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

    /// Starts a stopped member again on its own port (what it received before is forgotten).
    pub fn restart(&mut self, member: usize) {
        self.kill(member);
        let port = self.addrs[member]
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("member address has a port");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        // The old listener closes as its task ends: retry the bind for a bounded time.
        for _ in 0..100 {
            let opts = self.opts[member].clone();
            if let Ok(server) = self.rt.block_on(SyntheticServer::start_at(addr, opts)) {
                self.members[member] = Some(server);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("member {member} could not bind {addr} again");
    }

    /// The most connections member `i` had open at once (since it last started).
    pub fn max_open(&self, member: usize) -> u64 {
        self.members[member]
            .as_ref()
            .map(|m| m.max_open_connections())
            .unwrap_or(0)
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

    /// The `routing` entry of every HELLO member `i` received (None: the HELLO had none).
    pub fn hello_contexts(&self, member: usize) -> Vec<Option<Map>> {
        self.received(member)
            .iter()
            .filter(|r| r.message.signature() == sig::HELLO)
            .filter_map(|r| match Request::decode(r.version, &r.message) {
                Ok(Request::Hello(h)) => Some(h.extra.get_map("routing").cloned()),
                _ => None,
            })
            .collect()
    }

    /// The messages (names) member `i` received, in order.
    pub fn names(&self, member: usize) -> Vec<&'static str> {
        self.received(member).iter().map(|r| r.name()).collect()
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
