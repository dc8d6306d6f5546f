//! What an operator and the members see of routed traffic: `/metrics` per member and mode, the
//! routing context the members get in HELLO, and `CALL dbms.security.reloadTLS()` answered by
//! boltgate (never by a member).

use std::net::SocketAddr;

use boltgate_proto::message::{sig, AccessMode};
use serde_json::json;

use super::cluster::FakeCluster;
use super::common::admin::{scrape, value};
use super::common::{self, free_addr, Boltgate};
use super::fake_cluster::{routing_py, start_gate, PY_TIMEOUT};

const WRITE_Q: &str = "RETURN 1";
const READ_Q: &str = "RETURN 2";

fn gate_with_admin(cluster: &FakeCluster) -> (Boltgate, SocketAddr) {
    let admin = free_addr();
    let admin_text = admin.to_string();
    let gate = start_gate(
        cluster,
        &[
            ("server.http.enabled", "true"),
            ("server.http.listen_address", &admin_text),
        ],
    );
    (gate, admin)
}

/// BEGINs member `i` received, by access mode.
fn begins(cluster: &FakeCluster, i: usize, mode: AccessMode) -> usize {
    cluster
        .received(i)
        .iter()
        .filter(|r| r.message.signature() == sig::BEGIN)
        .filter(|r| r.message.tx_view().map(|v| v.mode).unwrap_or_default() == mode)
        .count()
}

#[test]
fn metrics_count_queries_and_transactions_where_the_cluster_ran_them() {
    let mut cluster = FakeCluster::start(None);
    let (gate, admin) = gate_with_admin(&cluster);
    let out = routing_py(&gate, &["--writes", "3", "--reads", "8"]);
    assert_eq!(
        (out["writes"].clone(), out["reads"].clone()),
        (json!(3), json!(9))
    );

    let s = scrape(admin);
    for (i, member) in cluster.addrs.iter().enumerate() {
        let m = member.as_str();
        let q = |mode| {
            value(
                &s,
                "boltgate_queries_total",
                &[("member", m), ("mode", mode)],
            )
        };
        let t = |mode| {
            value(
                &s,
                "boltgate_transactions_total",
                &[("member", m), ("mode", mode)],
            )
        };
        // routing.py's writes are write transactions and its reads read transactions plus one
        // read-mode auto-commit query: every RUN a member ran is counted under its mode.
        assert_eq!(q("write") as usize, cluster.count(i, WRITE_Q), "m{i}");
        assert_eq!(q("read") as usize, cluster.count(i, READ_Q), "m{i}");
        assert_eq!(t("write") as usize, begins(&cluster, i, AccessMode::Write));
        assert_eq!(t("read") as usize, begins(&cluster, i, AccessMode::Read));

        // Messages each way: at least every BEGIN/RUN/PULL/COMMIT the member ran went up, and
        // at most what the member received (boltgate's own HELLO replays and ROUTEs aside).
        let ran = cluster
            .names(i)
            .iter()
            .filter(|n| ["BEGIN", "RUN", "PULL", "COMMIT"].contains(n))
            .count() as f64;
        let up = value(
            &s,
            "boltgate_bolt_messages_total",
            &[("member", m), ("direction", "client_to_upstream")],
        );
        assert!(
            ran <= up && up <= cluster.names(i).len() as f64,
            "m{i}: {ran} <= {up}"
        );
        let down = value(
            &s,
            "boltgate_bolt_messages_total",
            &[("member", m), ("direction", "upstream_to_client")],
        );
        assert!(down >= ran, "m{i}: every request was answered: {down}");
        let bytes = value(
            &s,
            "boltgate_bolt_message_bytes_total",
            &[("member", m), ("direction", "upstream_to_client")],
        );
        assert!(bytes > down, "m{i}: bytes {bytes}");
        assert!(
            value(
                &s,
                "boltgate_upstream_connect_seconds_count",
                &[("member", m)]
            ) >= 1.0,
            "m{i} was dialled"
        );
    }
    // Three writes on m0, nine reads on the readers, all of them counted.
    let all = |metric, mode| value(&s, metric, &[("mode", mode)]);
    assert_eq!(all("boltgate_queries_total", "write"), 3.0);
    assert_eq!(all("boltgate_queries_total", "read"), 9.0);
    assert_eq!(all("boltgate_transactions_total", "read"), 8.0);
    assert!(
        value(
            &s,
            "boltgate_routing_table_refreshes_total",
            &[("db", "neo4j"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(s
        .samples
        .iter()
        .any(|x| x.metric == "boltgate_routing_table_age_seconds"
            && x.labels.get("db") == Some("neo4j")));

    // A dead reader: failed connects and a ban, counted against it.
    cluster.kill(2);
    let out = routing_py(&gate, &["--writes", "0", "--reads", "4"]);
    assert_eq!(out["reads"], 5, "{out}");
    let s = scrape(admin);
    let m2 = cluster.addrs[2].as_str();
    assert!(
        value(
            &s,
            "boltgate_upstream_connect_failures_total",
            &[("member", m2)]
        ) >= 1.0,
        "{}",
        common::tail(&gate.log(), 3000)
    );
    assert_eq!(
        value(&s, "boltgate_routing_member_bans_total", &[("member", m2)]),
        1.0
    );
}

#[test]
fn members_see_a_routing_context_naming_themselves_not_boltgate() {
    let cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[]);
    let out = routing_py(&gate, &["--writes", "2", "--reads", "4"]);
    assert_eq!(out["reads"], 5, "{out}");
    let me = gate.addr.to_string();
    let mut seen = 0;
    for (i, member) in cluster.addrs.iter().enumerate() {
        for ctx in cluster.hello_contexts(i) {
            let ctx = ctx.unwrap_or_else(|| panic!("m{i} got a HELLO without routing context"));
            assert_eq!(ctx.get_str("address"), Some(member.as_str()), "m{i}");
            assert_eq!(
                ctx.get_str("region"),
                Some("test"),
                "the URI's context, m{i}"
            );
            assert!(
                !ctx.iter().any(|(_, v)| v.as_str() == Some(me.as_str())),
                "m{i} learnt boltgate's address: {ctx:?}"
            );
            seen += 1;
        }
    }
    // A HELLO per backend connection and per routing table fetch.
    assert!(seen >= 4, "{seen} HELLOs");
}

#[test]
fn reload_tls_is_answered_by_boltgate_in_routed_mode() {
    let cluster = FakeCluster::start(None);
    let allowed = ("boltgate.procedures.reload_tls_allowed_users", "alice");
    let gate = start_gate(
        &cluster,
        &[("dbms.security.tls_reload_enabled", "true"), allowed],
    );
    let uri = gate.uri_with_scheme("neo4j");
    let queries = json!([WRITE_Q, "CALL dbms.security.reloadTLS()", READ_Q]).to_string();
    let as_alice = [
        uri.as_str(),
        &queries,
        "--database",
        "neo4j",
        "--allow-errors",
        "--principal",
        "alice",
    ];
    let out = common::run_py("query.py", &as_alice, PY_TIMEOUT);
    assert_eq!(out["results"][0]["records"], json!([[1]]), "{out}");
    assert_eq!(out["results"][1]["records"], json!([]), "{out}");
    assert_eq!(out["results"][2]["records"], json!([[2]]), "{out}");
    assert!(gate.log_contains("TLS reloaded"), "{}", gate.log());
    for i in 0..3 {
        assert!(
            !cluster
                .queries(i)
                .iter()
                .any(|q| q.to_lowercase().contains("reloadtls")),
            "m{i} was asked to reload TLS"
        );
    }
    // Another user (or none) is refused as Neo4j refuses a non-admin, in routed mode too.
    let queries = json!(["CALL dbms.security.reloadTLS()", WRITE_Q]).to_string();
    for who in [&["--principal", "mallory"][..], &[]] {
        let mut args = vec![
            uri.as_str(),
            &queries,
            "--database",
            "neo4j",
            "--allow-errors",
        ];
        args.extend_from_slice(who);
        let out = common::run_py("query.py", &args, PY_TIMEOUT);
        let err = &out["results"][0]["error"];
        assert_eq!(err["code"], "Neo.ClientError.Security.Forbidden", "{out}");
        assert_eq!(out["results"][1]["records"], json!([[1]]), "{out}");
    }
    // Disabled: the client gets boltgate's reason, and the next query runs.
    let gate = start_gate(&cluster, &[allowed]);
    let uri = gate.uri_with_scheme("neo4j");
    let out = common::run_py(
        "query.py",
        &[
            &uri,
            &queries,
            "--database",
            "neo4j",
            "--allow-errors",
            "--principal",
            "alice",
        ],
        PY_TIMEOUT,
    );
    let err = &out["results"][0]["error"];
    assert_eq!(
        err["code"], "Neo.ClientError.Procedure.ProcedureCallFailed",
        "{out}"
    );
    assert_eq!(out["results"][1]["records"], json!([[1]]), "{out}");
}
