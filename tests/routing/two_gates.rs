//! More than one boltgate (issue 16, item 6): two instances in front of the same cluster, each
//! advertising both addresses (`boltgate.routing.advertised_addresses`), as behind a DNS name or
//! as Kubernetes pods. The official Python driver with `neo4j://` spreads managed transactions
//! over both; when one drains on SIGTERM (a rolling update), the rest complete on the other and
//! no error reaches the application. docs/deploy.md describes the deployment.

use std::time::{Duration, Instant};

use super::cluster::FakeCluster;
use super::common::admin::{scrape, value};
use super::common::{self, free_addr, Boltgate};

const TRANSACTIONS: u32 = 160;

fn transactions(admin: std::net::SocketAddr) -> f64 {
    value(&scrape(admin), "boltgate_transactions_total", &[])
}

#[test]
fn two_instances_share_the_work_and_one_drains_without_an_error_reaching_the_app() {
    let cluster = FakeCluster::start(None);
    let (bolt_a, bolt_b) = (free_addr(), free_addr());
    let (admin_a, admin_b) = (free_addr(), free_addr());
    let advertised = format!("{bolt_a},{bolt_b}");
    let upstream = cluster.uri(0);
    let start = |bolt: std::net::SocketAddr, admin: std::net::SocketAddr| {
        Boltgate::start(&[
            ("server.bolt.listen_address", &bolt.to_string()),
            ("boltgate.upstream.uri", &upstream),
            ("boltgate.routing.advertised_addresses", &advertised),
            ("server.http.enabled", "true"),
            ("server.http.listen_address", &admin.to_string()),
            ("boltgate.shutdown.grace_period", "10s"),
        ])
    };
    let a = start(bolt_a, admin_a);
    let mut b = start(bolt_b, admin_b);

    let uri = a.uri_with_scheme("neo4j");
    let app = std::thread::spawn(move || {
        common::try_run_py(
            "two_gates.py",
            &[
                &uri,
                "--database",
                "neo4j",
                "--count",
                &TRANSACTIONS.to_string(),
                "--connect-timeout",
                "5",
            ],
            Duration::from_secs(180),
        )
    });

    // Both instances serve transactions before one goes away.
    let deadline = Instant::now() + Duration::from_secs(60);
    while transactions(admin_a) < 5.0 || transactions(admin_b) < 5.0 {
        assert!(
            Instant::now() < deadline && !app.is_finished(),
            "the driver did not use both instances: a {} b {}\n--- a ---\n{}\n--- b ---\n{}",
            transactions(admin_a),
            transactions(admin_b),
            common::tail(&a.log(), 3000),
            common::tail(&b.log(), 3000)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let on_b_before_drain = transactions(admin_b);
    let status = b.stop_gracefully(Duration::from_secs(30));
    assert!(
        status.success(),
        "b drained and exited cleanly: {status}\n{}",
        b.log()
    );
    assert!(b.log_contains("draining"), "{}", b.log());

    let out = app.join().unwrap().unwrap_or_else(|e| {
        panic!(
            "an error reached the application:\n{e}\n--- a ---\n{}\n--- b ---\n{}",
            common::tail(&a.log(), 4000),
            common::tail(&b.log(), 4000)
        )
    });
    assert_eq!(out["done"], TRANSACTIONS, "{out}");
    let servers = out["servers"].as_object().expect("servers");
    let count =
        |addr: std::net::SocketAddr| servers.get(&addr.to_string()).and_then(|v| v.as_u64());
    let (via_a, via_b) = (count(bolt_a).unwrap_or(0), count(bolt_b).unwrap_or(0));
    assert!(
        via_b as f64 >= on_b_before_drain / 2.0 && via_b > 0,
        "{out}"
    );
    assert_eq!(via_a + via_b, u64::from(TRANSACTIONS), "{out}");
    // What did not run on b ran on a, by a's own count. (b's count read before its drain is no
    // measure of what b ran: transactions it started between that read and the drain are not
    // in it; the application's count is exact.)
    assert!(
        transactions(admin_a) + via_b as f64 >= f64::from(TRANSACTIONS),
        "a served the rest: a {} b {via_b}",
        transactions(admin_a)
    );
    // The cluster saw every transaction once.
    let ran = (0..3).map(|m| cluster.count(m, "RETURN 1")).sum::<usize>();
    assert_eq!(ran, TRANSACTIONS as usize);
}
