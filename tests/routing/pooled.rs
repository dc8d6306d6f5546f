//! Transaction pooling with routing (issue 18: a pool per cluster member), against the scripted
//! cluster (m0 writes, m1 and m2 read) behind a `neo4j://` upstream, with the official Python
//! driver over `neo4j://` through boltgate. Each member counts its own connections
//! (`max_open`), so "never more than `max_size` per member" is measured at the server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use boltgate_proto::message::sig;

use super::cluster::FakeCluster;
use super::common::admin::{samples, scrape, value};
use super::common::{self, Boltgate};
use super::failures::check_crash_mid_transaction;
use super::fake_cluster::{routing_py, PY_TIMEOUT};

const MAX_SIZE: u64 = 4;
const READ_Q: &str = "RETURN 2";

/// A pooling boltgate in front of the cluster, with its admin endpoint (no TCP probes, so the
/// members count only the pool's connections).
fn pooled_gate(cluster: &FakeCluster, extra: &[(&str, &str)]) -> (Boltgate, SocketAddr) {
    let admin = common::free_addr();
    let admin_text = admin.to_string();
    let uri = format!("{}?region=test", cluster.uri(0));
    let max_size = MAX_SIZE.to_string();
    let mut settings = vec![
        ("boltgate.upstream.uri", uri.as_str()),
        ("boltgate.pool.mode", "transaction"),
        ("boltgate.pool.max_size", max_size.as_str()),
        ("boltgate.pool.acquire_timeout", "60s"),
        ("boltgate.client.max_connections", "1000"),
        ("server.http.enabled", "true"),
        ("server.http.listen_address", admin_text.as_str()),
        ("boltgate.upstream.probe_interval", "0"),
    ];
    settings.extend_from_slice(extra);
    (Boltgate::start(&settings), admin)
}

/// pool_clients.py's synthetic workload through the boltgate at `uri` (`neo4j://`): each
/// client writes `RETURN c*1000+i` in write transactions and reads `RETURN c*1000+500+i` in read
/// ones; `retry`: the driver's managed transaction retry time, seconds.
fn pool_clients(
    uri: &str,
    clients: u32,
    rounds: u32,
    retry: &str,
    extra: &[&str],
) -> Result<serde_json::Value, common::PyFailure> {
    let (clients, rounds) = (clients.to_string(), rounds.to_string());
    let mut args = vec![
        uri,
        "--synthetic",
        "--database",
        "neo4j",
        "--clients",
        &clients,
        "--rounds",
        &rounds,
        "--retry-time",
        retry,
        "--connect-timeout",
        "30",
    ];
    args.extend_from_slice(extra);
    common::try_run_py("pool_clients.py", &args, PY_TIMEOUT * 3)
}

/// The numbers of member `m`'s `RETURN n` queries: (writes, reads) by pool_clients.py's scheme.
fn returns(cluster: &FakeCluster, m: usize) -> (Vec<u32>, Vec<u32>) {
    let numbers = cluster
        .queries(m)
        .iter()
        .filter_map(|q| q.strip_prefix("RETURN ")?.parse::<u32>().ok())
        .collect::<Vec<_>>();
    numbers.into_iter().partition(|n| n % 1000 < 500)
}

/// Write transactions member `m` ran and committed on the connection that ran them (RUN, its
/// PULL, then COMMIT).
fn committed_writes(cluster: &FakeCluster, m: usize) -> usize {
    let mut by_conn: HashMap<u64, Vec<(u8, Option<String>)>> = HashMap::new();
    for r in cluster.received(m) {
        by_conn
            .entry(r.connection)
            .or_default()
            .push((r.message.signature(), r.query()));
    }
    let mut committed = 0;
    for messages in by_conn.values() {
        for (i, (_, query)) in messages.iter().enumerate() {
            let Some(n) = query.as_deref().and_then(|q| q.strip_prefix("RETURN ")) else {
                continue;
            };
            match n.parse::<u32>() {
                Ok(n) if n % 1000 < 500 => {}
                _ => continue,
            }
            let next = messages[i + 1..]
                .iter()
                .map(|(s, _)| *s)
                .find(|s| *s != sig::PULL && *s != sig::DISCARD);
            if next == Some(sig::COMMIT) {
                committed += 1;
            }
        }
    }
    committed
}

fn as_usize(v: &serde_json::Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}")) as usize
}

fn assert_within_pool_size(cluster: &FakeCluster, gate: &Boltgate) {
    for m in 0..3 {
        let max = cluster.max_open(m);
        assert!(
            max <= MAX_SIZE,
            "m{m} saw {max} connections at once (max_size {MAX_SIZE} per member)\n{}",
            common::tail(&gate.log(), 4000)
        );
    }
}

#[test]
fn python_driver_120_clients_through_pools_of_4_per_member_split_reads_and_writes() {
    let cluster = FakeCluster::start(None);
    let (gate, admin) = pooled_gate(&cluster, &[]);
    let (clients, rounds) = (120u32, 2u32);
    let total = (clients * rounds) as usize;
    let uri = gate.uri_with_scheme("neo4j");
    let out = pool_clients(&uri, clients, rounds, "0", &[])
        .unwrap_or_else(|e| panic!("{e}\n{}", common::tail(&gate.log(), 8000)));
    assert_eq!(out["writes"], clients * rounds, "{out}");
    assert_eq!(out["reads"], clients * rounds, "{out}");

    // Writes on the writer, each committed there; none on the readers.
    assert_eq!(
        committed_writes(&cluster, 0),
        total,
        "every write committed on m0"
    );
    let (w0, r0) = returns(&cluster, 0);
    assert_eq!(w0.len(), total);
    assert!(r0.is_empty(), "no read on the writer: {} there", r0.len());
    let (w1, r1) = returns(&cluster, 1);
    let (w2, r2) = returns(&cluster, 2);
    assert!(w1.is_empty() && w2.is_empty(), "no write on a reader");
    // Reads on the readers, spread over both, each read once.
    assert_eq!(
        r1.len() + r2.len(),
        total,
        "m1 {} + m2 {}",
        r1.len(),
        r2.len()
    );
    assert!(
        !r1.is_empty() && !r2.is_empty(),
        "both readers served reads"
    );

    eprintln!(
        "reads m1 {} m2 {}; most connections at once: m0 {} m1 {} m2 {}",
        r1.len(),
        r2.len(),
        cluster.max_open(0),
        cluster.max_open(1),
        cluster.max_open(2)
    );
    // Never more than max_size connections at any member, counted by the member itself;
    // the clients outnumber that 30 to 1, so the pools were what held them there.
    assert_within_pool_size(&cluster, &gate);
    assert!(cluster.max_open(0) >= 1 && cluster.max_open(1) >= 1);

    // The pool gauges, one series per member.
    let m = scrape(admin);
    for addr in &cluster.addrs {
        let member = [("member", addr.as_str())];
        assert_eq!(
            samples(&m, "boltgate_pool_connections", &member).count(),
            1,
            "a series for {addr}"
        );
        let size = value(&m, "boltgate_pool_connections", &member);
        assert!(size <= MAX_SIZE as f64, "{addr}: {size}");
        assert_eq!(value(&m, "boltgate_pool_waiting_clients", &member), 0.0);
        assert!(
            value(&m, "boltgate_pool_logins_total", &member) >= 1.0,
            "{addr}"
        );
    }
    assert_eq!(value(&m, "boltgate_pool_acquire_timeouts_total", &[]), 0.0);
}

/// A reader killed while clients run: units in flight on it end as the Cluster policy ends them
/// (a connection loss the driver retries elsewhere), its dead pooled connections are replaced,
/// it is banned, and once it is back (same port) and its ban and the table's TTL have run out,
/// new units use it again, with no restart of boltgate.
#[test]
fn a_member_killed_mid_run_is_routed_around_and_used_again_once_back() {
    let mut cluster = FakeCluster::start(None);
    cluster.set_ttl(3);
    cluster.set_table(&[0], &[1, 2], &[0, 1, 2]);
    let (gate, _admin) = pooled_gate(
        &cluster,
        &[
            ("boltgate.routing.ban_time", "2s"),
            ("boltgate.log.level", "boltgate=debug,info"),
        ],
    );
    let (clients, rounds) = (40u32, 5u32);
    let total = (clients * rounds) as usize;
    let uri = gate.uri_with_scheme("neo4j");
    let run = std::thread::scope(|s| {
        // A read transaction whose COMMIT was in flight on m2 has an unknown outcome: the
        // driver raises IncompleteCommit and does not retry, as without pooling.
        let tolerate = ["--tolerate", "IncompleteCommit"];
        let uri = uri.as_str();
        let load = s.spawn(move || pool_clients(uri, clients, rounds, "60", &tolerate));
        // Stop m2 once it has served some reads (bounded: if the load ends first, m2 is stopped
        // after it, and the checks below still hold). Stopped, not dropped: what it received
        // stays readable.
        let deadline = Instant::now() + Duration::from_secs(120);
        while returns(&cluster, 2).1.len() < 5 && !load.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.members[2].as_ref().expect("m2 runs").stop();
        load.join().expect("load thread")
    });
    let run = run.unwrap_or_else(|e| panic!("{e}\n{}", common::tail(&gate.log(), 8000)));
    // m0 stayed up: every write ran and was committed there, once.
    assert_eq!(run["writes"], clients * rounds, "{run}");
    assert_eq!(
        committed_writes(&cluster, 0),
        total,
        "every write committed on m0"
    );
    assert_eq!(returns(&cluster, 0).0.len(), total, "no write ran twice");
    // Every read either succeeded (retried elsewhere when its connection was lost before
    // COMMIT) or, lost during its COMMIT on m2, ended with IncompleteCommit; no other outcome.
    let (reads, tolerated) = (as_usize(&run["reads"]), as_usize(&run["tolerated"]));
    eprintln!("while m2 was stopped: {reads} reads ok, {tolerated} IncompleteCommit");
    assert_eq!(reads + tolerated, total, "{run}");
    if tolerated > 0 {
        assert_eq!(
            run["tolerated_classes"],
            serde_json::json!(["IncompleteCommit"]),
            "{run}"
        );
        let on_m2 = returns(&cluster, 2).1.len();
        assert!(
            tolerated <= on_m2,
            "{tolerated} incomplete, m2 ran {on_m2} reads"
        );
    }

    // Down: every read goes to m1, and m2 is banned (found dead mid-run, or by these reads).
    let before = cluster.count(1, READ_Q);
    let out = routing_py(&gate, &["--writes", "0", "--reads", "4"]);
    assert_eq!(out["reads"], 5, "{out}");
    assert_eq!(cluster.count(1, READ_Q) - before, 5, "reads moved to m1");
    assert!(
        gate.wait_for_log("cluster member banned", Duration::from_secs(10)),
        "{}",
        common::tail(&gate.log(), 4000)
    );

    // Back: new units reach m2 again.
    cluster.restart(2);
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.count(2, READ_Q) == 0 {
        assert!(
            Instant::now() < deadline,
            "m2 was not used again after it came back\n{}",
            common::tail(&gate.log(), 6000)
        );
        let out = routing_py(&gate, &["--writes", "0", "--reads", "4"]);
        assert_eq!(out["reads"], 5, "{out}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_within_pool_size(&cluster, &gate);
}

/// A reader crashing inside a read transaction under pooling: the same outcome as without it
/// (`failures.rs`): a connection loss for the driver, no re-run elsewhere, later reads on the
/// surviving reader; then the crashed member, restarted, takes reads again.
#[test]
fn a_member_dying_mid_transaction_under_pooling_ends_it_as_without_pooling() {
    let mut cluster = FakeCluster::start(None);
    cluster.set_ttl(3);
    cluster.set_table(&[0], &[1, 2], &[0, 1, 2]);
    let (gate, _admin) = pooled_gate(
        &cluster,
        &[
            ("boltgate.routing.ban_time", "2s"),
            ("boltgate.log.level", "boltgate=debug,info"),
        ],
    );
    let dead = check_crash_mid_transaction(&cluster, &gate);
    cluster.restart(dead);
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.count(dead, READ_Q) == 0 {
        assert!(
            Instant::now() < deadline,
            "m{dead} was not used again after it came back\n{}",
            common::tail(&gate.log(), 6000)
        );
        routing_py(&gate, &["--writes", "0", "--reads", "4"]);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_within_pool_size(&cluster, &gate);
}
