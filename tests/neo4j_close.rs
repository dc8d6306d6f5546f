//! How boltgate's connection to a real Neo4j ends when its client's does, read from the
//! kernel's socket table (`/proc/net/tcp*`).
//!
//! Whichever side of a TCP connection closes first keeps it in TIME_WAIT for a minute. On the
//! side that connected, that holds a local port for the server's address, and off loopback
//! Linux does not reuse it: a proxy that closed its upstream connections first would run out of
//! ports to a server (about 28,000) at a few hundred sessions a second.
//! - A client that says GOODBYE: boltgate passes it on and lets Neo4j close first, so the
//!   TIME_WAIT is Neo4j's (whose side holds no port of its own for it).
//! - A client that resets its connection: boltgate resets the idle upstream connection too, as
//!   a blind relay does, and neither side keeps it.
//!
//! Both in the plain relay (`bolt://`) and the routed one (`neo4j://`), with a raw client and,
//! for GOODBYE, the official Python driver.

mod common;

use std::time::Duration;

use boltgate_proto::message::{Request, Response};
use boltgate_proto::packstream::Value;
use common::bolt::{Got, RawBolt, HELLO_5_AND_4_4};
use common::neo4j::{Neo4j, Neo4jConfig};
use common::Boltgate;

const WAIT: Duration = Duration::from_secs(10);

/// TCP state codes of `/proc/net/tcp`.
const ESTABLISHED: &str = "01";
const TIME_WAIT: &str = "06";

/// Every TCP socket on the machine as (local port, remote port, state), IPv4 and IPv6.
fn sockets() -> Vec<(u16, u16, String)> {
    let port = |field: &str| {
        field
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if let (Some(local), Some(remote), Some(state)) = (
                cols.get(1).and_then(|c| port(c)),
                cols.get(2).and_then(|c| port(c)),
                cols.get(3),
            ) {
                out.push((local, remote, state.to_string()));
            }
        }
    }
    out
}

/// The states of the socket whose ports are (`local`, `remote`).
fn states(local: u16, remote: u16) -> Vec<String> {
    sockets()
        .into_iter()
        .filter(|(l, r, _)| (*l, *r) == (local, remote))
        .map(|(_, _, s)| s)
        .collect()
}

/// Logs in through `gate` (auth off) and returns the session and the local port of boltgate's
/// connection to Neo4j, as Neo4j lists it for the connection id its HELLO answer gave.
fn session_and_upstream_port(gate: &Boltgate) -> (RawBolt, u16) {
    let mut bolt = RawBolt::connect(gate.addr);
    let (_, hello) = bolt
        .try_login_hello(&HELLO_5_AND_4_4)
        .unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    let id = hello
        .get_str("connection_id")
        .expect("HELLO SUCCESS names the connection")
        .to_string();
    bolt.run_and_pull(&format!(
        "CALL dbms.listConnections() YIELD connectionId, clientAddress \
         WHERE connectionId = '{id}' RETURN clientAddress"
    ));
    let mut address = None;
    // RUN's SUCCESS, the RECORD, PULL's SUCCESS.
    let mut summaries = 0;
    while summaries < 2 {
        match bolt.recv(WAIT) {
            Got::Message(Response::Record(r)) => {
                if let Some(Value::String(a)) = r.data.first() {
                    address = Some(a.clone());
                }
            }
            Got::Message(Response::Success(_)) => summaries += 1,
            other => panic!("listConnections: {other:?}"),
        }
    }
    let address = address.unwrap_or_else(|| panic!("Neo4j does not list {id}"));
    let port = address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("client address {address}"));
    (bolt, port)
}

fn gates(neo4j: &Neo4j) -> Vec<(&'static str, Boltgate)> {
    ["bolt", "neo4j"]
        .into_iter()
        .map(|scheme| {
            let uri = neo4j.uri_with_scheme(scheme);
            (scheme, Boltgate::start(&[("boltgate.upstream.uri", &uri)]))
        })
        .collect()
}

fn neo4j() -> Neo4j {
    Neo4j::start_with(&Neo4jConfig {
        password: None,
        ..Neo4jConfig::default()
    })
}

/// The connection on boltgate's local `port` ended with Neo4j's side in TIME_WAIT and nothing
/// left on boltgate's.
fn assert_time_wait_is_neo4js(who: &str, gate: &Boltgate, server: u16, port: u16) {
    assert!(
        common::wait_until(WAIT, || states(server, port)
            .contains(&TIME_WAIT.to_string())),
        "{who}: Neo4j's side of {port} never reached TIME_WAIT; boltgate's: {:?}\n{}",
        states(port, server),
        gate.log()
    );
    assert_eq!(
        states(port, server),
        Vec::<String>::new(),
        "{who}: boltgate's side of {port} should be gone"
    );
}

#[test]
fn a_session_that_says_goodbye_leaves_the_time_wait_to_neo4j() {
    let neo4j = neo4j();
    let server = neo4j.port;
    for (scheme, gate) in gates(&neo4j) {
        let (mut bolt, port) = session_and_upstream_port(&gate);
        assert_eq!(states(port, server), [ESTABLISHED], "{scheme}");
        bolt.send(&Request::Goodbye);
        bolt.until_closed(WAIT);
        assert_time_wait_is_neo4js(scheme, &gate, server, port);

        // The official Python driver says GOODBYE as it closes: boltgate's connections for it
        // (Neo4j lists them by the driver's user agent, which boltgate relays) end the same way.
        let queries = serde_json::json!([
            "CALL dbms.listConnections() YIELD clientAddress, userAgent \
             WHERE userAgent STARTS WITH 'neo4j-python' RETURN clientAddress"
        ])
        .to_string();
        let uri = format!("{scheme}://{}", gate.addr);
        let out = common::run_py(
            "query.py",
            &[&uri, &queries, "--database", "neo4j"],
            Duration::from_secs(120),
        );
        let rows = out["results"][0]["records"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            !rows.is_empty(),
            "{scheme}: Neo4j lists no driver connection: {out}"
        );
        for row in rows {
            let address = row[0].as_str().unwrap_or_default();
            let port = address
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("client address {address}"));
            assert_time_wait_is_neo4js(&format!("{scheme}, Python driver"), &gate, server, port);
        }
    }
}

#[test]
fn a_client_that_resets_gets_its_reset_passed_on_and_neither_side_keeps_the_connection() {
    let neo4j = neo4j();
    let server = neo4j.port;
    for (scheme, gate) in gates(&neo4j) {
        let (bolt, port) = session_and_upstream_port(&gate);
        socket2::SockRef::from(&bolt.stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(bolt);
        assert!(
            common::wait_until(WAIT, || states(port, server).is_empty()
                && states(server, port).is_empty()),
            "{scheme}: the connection on port {port} is still there: boltgate's side {:?}, \
             Neo4j's {:?}\n{}",
            states(port, server),
            states(server, port),
            gate.log()
        );
        // Neo4j took it as a client going away: nothing in its log about the connection.
        let logs = neo4j.logs();
        assert!(
            !logs.contains("ERROR"),
            "{scheme}: Neo4j logged an error:\n{logs}"
        );
        // The gate still serves.
        let (mut next, _) = session_and_upstream_port(&gate);
        next.send(&Request::Goodbye);
        next.until_closed(WAIT);
    }
}
