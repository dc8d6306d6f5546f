//! The PROXY protocol on the Bolt listener: v1 and v2 headers in front of raw Bolt and
//! WebSocket, the address that gets logged, and the refusals.

use std::net::SocketAddr;

use ppp::v2::{Builder, Command, Protocol, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::{one_plus_one, within, Bolt, Conn, FalkorDb, Gateway, Io};

const ENABLED: &str = "boltgate.proxy_protocol.enabled=true";

fn v2(source: &str, command: Command) -> Vec<u8> {
    let src: SocketAddr = source.parse().unwrap();
    let dst: SocketAddr = "127.0.0.1:7687".parse().unwrap();
    Builder::with_addresses(Version::Two | command, Protocol::Stream, (src, dst))
        .build()
        .unwrap()
}

/// A TCP connection that has already sent `header`.
async fn with_header(addr: SocketAddr, header: &[u8]) -> TcpStream {
    let mut tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
    tcp.write_all(header).await.unwrap();
    tcp
}

/// Whether boltgate closed the connection without a byte (after `then` was sent).
async fn refused(mut tcp: TcpStream, then: &[u8]) -> bool {
    let _ = tcp.write_all(then).await;
    let mut buf = [0u8; 64];
    matches!(within("close", tcp.read(&mut buf)).await, Ok(0) | Err(_))
}

const BOLT_HELLO: [u8; 20] = [
    0x60, 0x60, 0xB0, 0x17, 0, 8, 8, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn v1_header_then_raw_bolt_is_served_and_logged_under_the_real_client() {
    // The real binary and its log file: what an operator reads.
    use super::common::bolt::{Got, RawBolt, HELLO_5_AND_4_4};
    use boltgate_proto::message::{Record, Response};
    use boltgate_proto::packstream::Value;
    let db = super::common::FalkorDb::start();
    let gate = super::common::Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.proxy_protocol.enabled", "true"),
        ("boltgate.log.level", "debug"),
    ]);
    let mut c = RawBolt::connect(gate.addr);
    let local = c.stream.local_addr().unwrap();
    c.send_raw(b"PROXY TCP4 192.0.2.7 127.0.0.1 51000 7687\r\n");
    c.login(&HELLO_5_AND_4_4);
    c.run_and_pull("RETURN 1 + 1 AS n");
    let got: Vec<Got> = (0..3).map(|_| c.recv(super::harness::WAIT)).collect();
    assert!(
        matches!(&got[1], Got::Message(Response::Record(Record { data })) if data == &[Value::Integer(2)]),
        "{got:?}"
    );
    drop(c);
    assert!(
        gate.wait_for_log("session closed", super::harness::WAIT),
        "{}",
        gate.log()
    );
    let log = gate.log();
    let line = log
        .lines()
        .find(|l| l.contains("session closed"))
        .unwrap_or_else(|| panic!("no session line in:\n{log}"));
    assert!(line.contains("client.addr=192.0.2.7:51000"), "{line}");
    assert!(line.contains(&format!("proxy.addr={local}")), "{line}");
}

#[tokio::test]
async fn v2_header_then_websocket_is_served() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[ENABLED]).await;
    let tcp = with_header(gw.addr, &v2("[2001:db8::5]:40000", Command::Proxy)).await;
    let io: Box<dyn Io> = Box::new(tcp);
    let conn = Conn::ws(io, &gw.ws_url(), Some("http://127.0.0.1"))
        .await
        .unwrap();
    let mut bolt = Bolt::connect(conn).await.unwrap();
    assert_eq!(one_plus_one(&mut bolt).await, 2);
}

#[tokio::test]
async fn v2_local_header_as_health_checks_send_is_served() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[ENABLED]).await;
    let local = Builder::with_addresses(
        Version::Two | Command::Local,
        Protocol::Unspecified,
        ppp::v2::Addresses::Unspecified,
    )
    .build()
    .unwrap();
    let tcp = with_header(gw.addr, &local).await;
    let mut bolt = Bolt::connect(Conn::Raw(Box::new(tcp))).await.unwrap();
    assert_eq!(one_plus_one(&mut bolt).await, 2);
}

#[tokio::test]
async fn a_connection_without_a_header_is_refused() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[ENABLED]).await;
    let tcp = within("connect", TcpStream::connect(gw.addr))
        .await
        .unwrap();
    assert!(refused(tcp, &BOLT_HELLO).await);
}

#[tokio::test]
async fn malformed_headers_are_refused() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[ENABLED]).await;
    let mut bad_v2 = v2("192.0.2.1:1000", Command::Proxy);
    bad_v2[12] = 0x31; // version 3
    let too_long = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
    for header in [
        b"PROXY TCP4 192.0.2.300 127.0.0.1 51000 7687\r\n".to_vec(),
        b"PROXY TCP5 192.0.2.3 127.0.0.1 51000 7687\r\n".to_vec(),
        too_long.into_bytes(),
        bad_v2,
    ] {
        let tcp = with_header(gw.addr, &header).await;
        assert!(
            refused(tcp, &BOLT_HELLO).await,
            "{}",
            String::from_utf8_lossy(&header)
        );
    }
    // Still serving.
    let tcp = with_header(gw.addr, b"PROXY TCP4 192.0.2.7 127.0.0.1 51000 7687\r\n").await;
    let mut bolt = Bolt::connect(Conn::Raw(Box::new(tcp))).await.unwrap();
    assert_eq!(one_plus_one(&mut bolt).await, 2);
}

#[tokio::test]
async fn a_header_from_an_untrusted_source_is_refused() {
    let db = FalkorDb::start();
    // Loopback is not a trusted network here.
    let gw = Gateway::start(
        db.bolt_port,
        None,
        &[
            ENABLED,
            "boltgate.proxy_protocol.trusted_networks=10.0.0.0/8",
        ],
    )
    .await;
    let tcp = with_header(gw.addr, b"PROXY TCP4 192.0.2.7 127.0.0.1 51000 7687\r\n").await;
    assert!(refused(tcp, &BOLT_HELLO).await);
    let tcp = within("connect", TcpStream::connect(gw.addr))
        .await
        .unwrap();
    assert!(refused(tcp, &BOLT_HELLO).await, "nor without a header");
}

#[tokio::test]
async fn with_the_protocol_off_a_header_is_not_bolt() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[]).await;
    let tcp = with_header(gw.addr, b"PROXY TCP4 192.0.2.7 127.0.0.1 51000 7687\r\n").await;
    assert!(refused(tcp, &BOLT_HELLO).await);
}
