//! The rendered families, and the README's list of them.

use super::*;

#[test]
fn renders_openmetrics_with_every_family() {
    let m = Metrics::new();
    let _open = m.connection_accepted();
    m.connection_refused(Refusal::MaxConnections);
    m.bolt_version(Version::new(5, 4));
    let s = m.session("127.0.0.1:7687");
    s.to_upstream(3, 120);
    s.to_client(5, 900);
    s.query(AccessMode::Read);
    s.transaction(AccessMode::Write);
    m.upstream_connected("127.0.0.1:7687", Duration::from_millis(3));
    m.routing_refreshed("neo4j", true);
    m.ocsp_staple(
        Scope::Bolt,
        Some(SystemTime::now() - Duration::from_secs(60)),
    );
    m.reload(false);
    let text = m.render(true);
    for line in [
        "boltgate_client_connections_open 1",
        "boltgate_client_connections_accepted_total 1",
        "boltgate_client_connections_refused_total{reason=\"max_connections\"} 1",
        "boltgate_bolt_sessions_total{version=\"5.4\"} 1",
        "boltgate_bolt_messages_total{direction=\"client_to_upstream\",member=\"127.0.0.1:7687\"} 3",
        "boltgate_bolt_message_bytes_total{direction=\"upstream_to_client\",member=\"127.0.0.1:7687\"} 900",
        "boltgate_queries_total{member=\"127.0.0.1:7687\",mode=\"read\"} 1",
        "boltgate_transactions_total{member=\"127.0.0.1:7687\",mode=\"write\"} 1",
        "boltgate_upstream_connect_seconds_count{member=\"127.0.0.1:7687\"} 1",
        "boltgate_upstream_up{member=\"127.0.0.1:7687\"} 1",
        "boltgate_routing_table_refreshes_total{db=\"neo4j\",result=\"ok\"} 1",
        "boltgate_reloads_total{result=\"failed\"} 1",
        "boltgate_ready 1",
        "# EOF",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(
        text.contains("boltgate_ocsp_staple_age_seconds{scope=\"bolt\"} 6"),
        "{text}"
    );
    assert!(
        text.contains("boltgate_routing_table_age_seconds{db=\"neo4j\"} 0."),
        "{text}"
    );
}

#[test]
fn open_connections_fall_when_the_guard_drops() {
    let m = Metrics::new();
    let a = m.connection_accepted();
    let b = m.connection_accepted();
    drop(a);
    assert!(m
        .render(false)
        .contains("boltgate_client_connections_open 1\n"));
    drop(b);
    assert!(m
        .render(false)
        .contains("boltgate_client_connections_open 0\n"));
}

mod readme {
    use super::*;

    /// A connect failure as the upstream side reports one.
    struct Refused;

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection refused")
        }
    }

    impl ConnectFailure for Refused {
        fn reason(&self) -> &'static str {
            "connect"
        }
        fn is_version_refusal(&self) -> bool {
            false
        }
    }

    /// Every family rendered once populated is listed in the README's "Metrics" table.
    #[test]
    fn the_readme_lists_every_metric() {
        let m = Metrics::new();
        let _open = m.connection_accepted();
        m.connection_refused(Refusal::TlsRequired);
        m.bolt_version(Version::new(5, 4));
        let s = m.session("a:1");
        s.to_upstream(1, 1);
        s.query(AccessMode::Write);
        s.transaction(AccessMode::Write);
        m.upstream_connected("a:1", Duration::from_millis(1));
        m.upstream_connect_failed("a:1", &Refused);
        m.routing_refreshed("neo4j", true);
        m.routing_stale_table_used("neo4j");
        m.routing_member_banned("a:1");
        m.ocsp_staple(Scope::Bolt, Some(SystemTime::now()));
        m.reload(true);
        let text = m.render(true);
        let readme = include_str!("../../README.md");
        let mut families = 0;
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split_whitespace().nth(2).unwrap();
            let kind = line.split_whitespace().nth(3).unwrap();
            let exposed = match kind {
                "counter" => format!("{name}_total"),
                "info" => format!("{name}_info"),
                _ => name.to_string(),
            };
            assert!(
                readme.contains(&format!("`{exposed}`")),
                "README lacks `{exposed}`"
            );
            families += 1;
        }
        // TLS handshakes and certificate expiry need a real handshake and certificate; their
        // rows are checked by name here.
        for name in [
            "boltgate_tls_handshakes_total",
            "boltgate_tls_handshake_failures_total",
            "boltgate_certificate_expiry_timestamp_seconds",
        ] {
            assert!(
                readme.contains(&format!("`{name}`")),
                "README lacks `{name}`"
            );
        }
        assert!(families >= 18, "{text}");
    }
}
