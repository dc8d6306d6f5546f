//! Bolt over WebSocket: ws:// and wss:// beside raw Bolt on one port, the framing rules, and
//! the upgrade's refusals.

use tokio::io::AsyncWriteExt;

use super::harness::{one_plus_one, within, Bolt, Conn, FalkorDb, Gateway, Pki};
use super::raw_ws::{self, *};

/// The Bolt handshake: preamble, then 5.0–5.8 and 4.4.
const BOLT_HELLO: [u8; 20] = [
    0x60, 0x60, 0xB0, 0x17, 0, 8, 8, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[tokio::test]
async fn ws_client_queries_falkordb_through_boltgate() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[]).await;
    let conn = Conn::ws(Conn::tcp(gw.addr).await, &gw.ws_url(), None)
        .await
        .unwrap();
    let mut bolt = Bolt::connect(conn).await.unwrap();
    assert_eq!(one_plus_one(&mut bolt).await, 2);
    // A second query on the same WebSocket, then a clean goodbye.
    assert_eq!(one_plus_one(&mut bolt).await, 2);
    bolt.goodbye().await.unwrap();
}

#[tokio::test]
async fn raw_bolt_ws_tls_and_wss_share_the_listener_port() {
    let db = FalkorDb::start();
    let pki = Pki::new();
    let gw = Gateway::start(db.bolt_port, Some(&pki), &[]).await;
    let raw = Conn::Raw(Conn::tcp(gw.addr).await);
    let ws = Conn::ws(Conn::tcp(gw.addr).await, &gw.ws_url(), None)
        .await
        .unwrap();
    let tls = Conn::Raw(Conn::tls(gw.addr, &pki).await);
    let wss = Conn::ws(
        Conn::tls(gw.addr, &pki).await,
        &format!("wss://localhost:{}/", gw.addr.port()),
        None,
    )
    .await
    .unwrap();
    // All four open at once, then each runs a query.
    let mut sessions = Vec::new();
    for (name, conn) in [("bolt", raw), ("ws", ws), ("bolt+s", tls), ("wss", wss)] {
        sessions.push((name, Bolt::connect(conn).await.unwrap()));
    }
    for (name, bolt) in &mut sessions {
        assert_eq!(one_plus_one(bolt).await, 2, "{name}");
    }
}

#[tokio::test]
async fn tls_level_required_refuses_ws_and_serves_wss() {
    let db = FalkorDb::start();
    let pki = Pki::new();
    let gw = Gateway::start(
        db.bolt_port,
        Some(&pki),
        &["server.bolt.tls_level=REQUIRED"],
    )
    .await;
    let (head, _) = raw_ws::http(gw.addr, &upgrade_request(&[])).await;
    assert_eq!(head, "", "plaintext ws:// must be closed without an answer");
    let wss = Conn::ws(
        Conn::tls(gw.addr, &pki).await,
        &format!("wss://localhost:{}/", gw.addr.port()),
        None,
    )
    .await
    .unwrap();
    let mut bolt = Bolt::connect(wss).await.unwrap();
    assert_eq!(one_plus_one(&mut bolt).await, 2);
}

#[tokio::test]
async fn frame_boundaries_mean_nothing_and_fragments_are_joined() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[]).await;
    let mut tcp = upgraded(gw.addr).await;
    // The 20-byte Bolt handshake as one fragmented message (3 frames), then a ping in between.
    let mut out = frame(OP_BINARY, false, &BOLT_HELLO[..3], Some([1, 2, 3, 4]));
    out.extend(masked(OP_PING, b"are you there"));
    out.extend(frame(
        OP_CONTINUATION,
        false,
        &BOLT_HELLO[3..11],
        Some([5, 6, 7, 8]),
    ));
    out.extend(frame(
        OP_CONTINUATION,
        true,
        &BOLT_HELLO[11..],
        Some([9, 9, 9, 9]),
    ));
    tcp.write_all(&out).await.unwrap();
    // The ping is answered with a pong carrying the same payload, before or after the version.
    let mut pong = None;
    let mut version = Vec::new();
    while pong.is_none() || version.len() < 4 {
        let (op, payload) = read_frame(&mut tcp).await.expect("a frame");
        match op {
            OP_PONG => pong = Some(payload),
            OP_BINARY => version.extend(payload),
            other => panic!("unexpected opcode {other}"),
        }
    }
    assert_eq!(pong.unwrap(), b"are you there");
    assert_eq!(
        version[0..2],
        [0, 0],
        "a Bolt version, not a refusal: {version:?}"
    );
    assert_ne!(version, [0, 0, 0, 0]);
    // A clean close from the client is answered with a close.
    tcp.write_all(&masked(OP_CLOSE, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut tcp).await, Some(1000));
}

#[tokio::test]
async fn a_text_frame_is_refused_with_close_1003() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[]).await;
    let mut tcp = upgraded(gw.addr).await;
    tcp.write_all(&masked(OP_TEXT, b"RETURN 1")).await.unwrap();
    assert_eq!(close_code(&mut tcp).await, Some(1003));
}

#[tokio::test]
async fn an_oversized_frame_is_refused_with_close_1009() {
    let db = FalkorDb::start();
    let gw = Gateway::start(
        db.bolt_port,
        None,
        &["boltgate.websocket.max_frame_size=1KiB"],
    )
    .await;
    let mut tcp = upgraded(gw.addr).await;
    tcp.write_all(&masked(OP_BINARY, &[0x60; 2048]))
        .await
        .unwrap();
    assert_eq!(close_code(&mut tcp).await, Some(1009));

    // Fragments are counted together: two 600-byte fragments exceed 1 KiB as well.
    let mut tcp = upgraded(gw.addr).await;
    let mut out = frame(OP_BINARY, false, &[0x60; 600], Some([1, 2, 3, 4]));
    out.extend(frame(
        OP_CONTINUATION,
        true,
        &[0x60; 600],
        Some([1, 2, 3, 4]),
    ));
    tcp.write_all(&out).await.unwrap();
    assert_eq!(close_code(&mut tcp).await, Some(1009));
}

#[tokio::test]
async fn an_unmasked_client_frame_is_a_protocol_error() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[]).await;
    let mut tcp = upgraded(gw.addr).await;
    tcp.write_all(&frame(OP_BINARY, true, &BOLT_HELLO, None))
        .await
        .unwrap();
    assert_eq!(close_code(&mut tcp).await, Some(1002));
}

#[tokio::test]
async fn bad_upgrade_requests_get_an_http_error_that_says_why() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[]).await;

    // A plain GET, as a browser pointed at the Bolt port sends.
    let (head, mut tcp) = raw_ws::http(gw.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(read_rest(&mut tcp)
        .await
        .contains("not a WebSocket upgrade"));

    // No Sec-WebSocket-Key.
    let request = upgrade_request(&[]).replace("Sec-WebSocket-Key", "X-Nothing");
    let (head, _) = raw_ws::http(gw.addr, &request).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    // Not HTTP at all after the G.
    let (head, _) = raw_ws::http(gw.addr, "GARBAGE\0\0\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    // Another path.
    let request = upgrade_request(&[]).replace("GET / ", "GET /db/neo4j ");
    let (head, _) = raw_ws::http(gw.addr, &request).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // A head that never ends within 64 KiB.
    let mut request = String::from("GET / HTTP/1.1\r\n");
    while request.len() < 70_000 {
        request.push_str("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let (head, _) = raw_ws::http(gw.addr, &request).await;
    assert!(
        head.starts_with("HTTP/1.1 431") || head.starts_with("HTTP/1.1 400"),
        "{head}"
    );

    // The listener still serves after all that.
    let conn = Conn::ws(Conn::tcp(gw.addr).await, &gw.ws_url(), None)
        .await
        .unwrap();
    let mut bolt = Bolt::connect(conn).await.unwrap();
    assert_eq!(one_plus_one(&mut bolt).await, 2);
}

#[tokio::test]
async fn origins_outside_the_allow_list_are_refused_with_403() {
    let db = FalkorDb::start();
    let gw = Gateway::start(
        db.bolt_port,
        None,
        &["boltgate.websocket.allowed_origins=https://browser.example.com"],
    )
    .await;
    let (head, mut tcp) = raw_ws::http(
        gw.addr,
        &upgrade_request(&["Origin: https://evil.example.net"]),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(read_rest(&mut tcp).await.contains("allowed_origins"));
    let err = Conn::ws(
        Conn::tcp(gw.addr).await,
        &gw.ws_url(),
        Some("http://browser.example.com"),
    )
    .await;
    assert!(err.is_err(), "same host, other scheme: another origin");

    // The listed origin (written differently) and a client without Origin (not a browser) pass.
    for origin in [Some("https://BROWSER.example.com:443"), None] {
        let conn = Conn::ws(Conn::tcp(gw.addr).await, &gw.ws_url(), origin)
            .await
            .unwrap();
        let mut bolt = Bolt::connect(conn).await.unwrap();
        assert_eq!(one_plus_one(&mut bolt).await, 2, "{origin:?}");
    }
}

#[tokio::test]
async fn a_large_result_arrives_whole_over_ws() {
    let db = FalkorDb::start();
    let gw = Gateway::start(db.bolt_port, None, &[]).await;
    let conn = Conn::ws(Conn::tcp(gw.addr).await, &gw.ws_url(), None)
        .await
        .unwrap();
    let mut bolt = Bolt::connect(conn).await.unwrap();
    // About 400 KiB of strings: many server writes, split over many frames.
    let records = within(
        "large query",
        bolt.query(
            "boltgate_ws",
            "UNWIND range(1, 4000) AS i RETURN i, '0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789' AS s",
        ),
    )
    .await
    .unwrap();
    assert_eq!(records.len(), 4000);
    assert_eq!(records[3999][0].as_int(), Some(4000));
}
