//! One fuzz case: a whole boltgate session (handshakes on both sides, then the relay) with arbitrary
//! client bytes against a scripted upstream, over in-memory pipes on a current-thread runtime
//! with paused time, so every timeout inside boltgate fires as soon as nothing else can run.
//!
//! Invariants: no panic; the session ends within [`SESSION_LIMIT`] of virtual time; what the
//! client receives is a handshake answer (a version it proposed, a manifest offer of such
//! versions and 6.0, or a refusal with nothing after it) followed by whole chunked messages, each a Bolt
//! structure when the upstream is well-behaved.
//!
//! Input: `flags`, then (garbage upstream only) `n` and `n` bytes the upstream sends verbatim,
//! then the client's body. `flags`:
//! - bits 0–1, the client's hello: 0 none (the body is sent raw, handshake included), 1 Bolt
//!   5.8–5.0 and 4.4, 2 manifest v1 then 5.8–5.0, 3 Bolt 4.4 and 3;
//! - bit 2: the body is `[len][len bytes]` messages the harness chunks (len 0 sends a NOOP,
//!   `FF b k` a message of `k * 300` bytes `b`, past the 64 KiB limit for large `k`);
//! - bits 3–4: upstream 0–2 the synthetic server with different versions, 3 a garbage upstream
//!   that sends its bytes (its handshake reply included) and then only reads;
//! - bit 5: the client writes in small pieces;
//! - bit 6: the client vanishes right after writing, without reading the rest;
//! - bit 7: the client half-closes (shuts down its write side) after writing. Otherwise it keeps
//!   the connection open while it reads, as drivers do, until boltgate closes it (the idle
//!   timeout, 30 s of virtual time, ends a session with nothing outstanding).
//!
//! The `session` fuzz target and the regression replays in `tests/fuzz_regressions.rs` both call
//! [`run`], so a crashing input found by one is replayed by the other exactly.

use std::sync::OnceLock;
use std::time::Duration;

use boltgate_proto::chunk::encode_message;
use boltgate_proto::handshake::{
    ClientHello, ManifestChoice, ManifestOffer, Proposal, ServerReply, MANIFEST_V1, REFUSAL,
};
use boltgate_proto::message::RawMessage;
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::memory::MemoryProxy;
use super::synthetic::{Options, ScriptedUpstream};
use boltgate::session::End;

/// Each pipe's buffer: small, so backpressure paths run too.
const PIPE: usize = 16 * 1024;
/// boltgate's own timeouts are 10 s (handshake, connect), 30 s (idle) and 2 s (close); a
/// session still running this long after it started is stuck.
const SESSION_LIMIT: Duration = Duration::from_secs(600);
/// How long the client waits for more output before it gives up and drops its pipe.
const CLIENT_PATIENCE: Duration = Duration::from_secs(120);

const SETTINGS: &str = "boltgate.client.idle_timeout=30s\nboltgate.limits.max_message_size=64KiB\n";

struct Fixture {
    proxy: MemoryProxy,
    upstreams: [ScriptedUpstream; 3],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        proxy: MemoryProxy::new(SETTINGS).expect("the fuzz settings load"),
        upstreams: [
            ScriptedUpstream::new(Options {
                payload_len: 200,
                ..Options::default()
            }),
            ScriptedUpstream::new(Options {
                versions: vec![Version::V5_4, Version::V5_0],
                manifest: false,
                payload_len: 20,
                ..Options::default()
            }),
            ScriptedUpstream::new(Options {
                versions: vec![Version::V4_4],
                manifest: false,
                payload_len: 20,
                ..Options::default()
            }),
        ],
    })
}

fn hello(kind: u8) -> Option<ClientHello> {
    let range5 = Proposal::Range {
        major: 5,
        min_minor: 0,
        max_minor: 8,
    };
    let proposals = match kind {
        1 => [
            range5,
            Proposal::exact(Version::V4_4),
            Proposal::Empty,
            Proposal::Empty,
        ],
        2 => [
            Proposal::Manifest { version: 1 },
            range5,
            Proposal::Empty,
            Proposal::Empty,
        ],
        3 => [
            Proposal::exact(Version::V4_4),
            Proposal::exact(Version::V3),
            Proposal::Empty,
            Proposal::Empty,
        ],
        _ => return None,
    };
    Some(ClientHello { proposals })
}

/// The client's body in wire form: as is, or chunked by the harness (see the module docs).
fn body(framed: bool, data: &[u8]) -> Vec<u8> {
    if !framed {
        return data.to_vec();
    }
    let mut out = BytesMut::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let message = match len {
            0 => {
                out.extend_from_slice(&[0, 0]);
                rest = tail;
                continue;
            }
            0xFF => {
                let (&b, &k) = match tail {
                    [b, k, ..] => (b, k),
                    _ => break,
                };
                rest = &tail[2..];
                vec![b; usize::from(k) * 300]
            }
            n => {
                let n = usize::from(n).min(tail.len());
                rest = &tail[n..];
                tail[..n].to_vec()
            }
        };
        if !message.is_empty() {
            encode_message(&message, &mut out).expect("a non-empty message encodes");
        }
    }
    out.to_vec()
}

/// The garbage upstream: its bytes, then reading until boltgate closes.
async fn garbage_upstream(mut io: DuplexStream, script: &[u8]) {
    let _ = io.write_all(script).await;
    let mut sink = [0u8; 4096];
    while let Ok(n) = io.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// Reads into `out` until `want` says enough or the stream ends; false at the end.
async fn read_until(
    r: &mut (impl AsyncRead + Unpin),
    out: &mut Vec<u8>,
    want: impl Fn(&[u8]) -> bool,
) -> bool {
    while !want(out) {
        match tokio::time::timeout(CLIENT_PATIENCE, r.read_buf(out)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return false,
        }
    }
    true
}

/// The client: hello and manifest choice (when structured), then the body while reading
/// everything boltgate sends. Returns the output and whether it was read to the end.
async fn client(
    io: DuplexStream,
    hello: Option<ClientHello>,
    body: Vec<u8>,
    trickle: bool,
    vanish: bool,
    half_close: bool,
) -> (Vec<u8>, bool) {
    let (mut r, mut w) = tokio::io::split(io);
    let mut out = Vec::new();
    if let Some(hello) = hello {
        if w.write_all(&hello.encode()).await.is_err()
            || !read_until(&mut r, &mut out, |o| o.len() >= 4).await
        {
            return (out, false);
        }
        if out[..4] == MANIFEST_V1 {
            let offer = |o: &[u8]| {
                matches!(
                    ManifestOffer::parse_after_marker(&o[4..]),
                    Ok(Some(_)) | Err(_)
                )
            };
            if !read_until(&mut r, &mut out, offer).await {
                return (out, false);
            }
            if let Ok(Some((offer, _))) = ManifestOffer::parse_after_marker(&out[4..]) {
                let acceptable = hello.acceptable(Version::SUPPORTED);
                if let Some(version) = offer.choose(&acceptable) {
                    let mut choice = BytesMut::new();
                    ManifestChoice {
                        version,
                        capabilities: 0,
                    }
                    .encode(&mut choice);
                    let _ = w.write_all(&choice).await;
                }
            }
        }
    }
    let write = async {
        let step = if trickle { 7 } else { body.len().max(1) };
        for piece in body.chunks(step) {
            if w.write_all(piece).await.is_err() {
                return;
            }
            if trickle {
                tokio::task::yield_now().await;
            }
        }
        if half_close {
            let _ = w.shutdown().await;
        }
    };
    if vanish {
        write.await;
        return (out, false);
    }
    let read = async {
        let mut rest = Vec::new();
        let ended = matches!(
            tokio::time::timeout(CLIENT_PATIENCE, r.read_to_end(&mut rest)).await,
            Ok(Ok(_))
        );
        (rest, ended)
    };
    let ((), (rest, ended)) = tokio::join!(write, read);
    out.extend_from_slice(&rest);
    (out, ended)
}

/// Checks the client's view (see the module docs) and returns the signature of each whole
/// message received. `complete`: the client read to the end, so nothing may be cut short.
fn check_output(
    out: &[u8],
    hello: Option<&ClientHello>,
    complete: bool,
    well_behaved: bool,
) -> Vec<u8> {
    let mut signatures = Vec::new();
    if out.len() < 4 {
        assert!(
            out.is_empty() || !complete,
            "a partial handshake answer: {out:02x?}"
        );
        return signatures;
    }
    let head: [u8; 4] = out[..4].try_into().expect("four bytes");
    let acceptable = hello.map(|h| h.acceptable(Version::SUPPORTED));
    let mut at = 4;
    if head == REFUSAL {
        assert_eq!(out.len(), 4, "bytes after a refusal: {out:02x?}");
        return signatures;
    }
    if head == MANIFEST_V1 {
        match ManifestOffer::parse_after_marker(&out[4..]) {
            Ok(Some((offer, used))) => {
                // The agreed version alone, or the server's manifest narrowed to what the
                // client named plus the versions only a manifest negotiates (6.0).
                let offered: Vec<Version> =
                    offer.ranges.iter().flat_map(|r| r.versions()).collect();
                assert!(!offered.is_empty(), "an empty manifest offer");
                if let Some(acceptable) = &acceptable {
                    assert!(
                        offered
                            .iter()
                            .all(|v| acceptable.contains(v) || v.manifest_only()),
                        "offer {offer:?} not proposed"
                    );
                }
                at += used;
            }
            Ok(None) => {
                assert!(!complete, "a partial manifest offer");
                return signatures;
            }
            Err(e) => panic!("a malformed manifest offer: {e}"),
        }
    } else {
        match ServerReply::parse(head) {
            Ok(ServerReply::Version(v)) => {
                assert!(v.is_supported(), "answered {v}");
                if let Some(acceptable) = &acceptable {
                    assert!(acceptable.contains(&v), "answered {v}, not proposed");
                }
            }
            other => panic!("handshake answer {head:02x?}: {other:?}"),
        }
    }
    let mut message = Vec::new();
    while at < out.len() {
        if out.len() - at < 2 {
            assert!(!complete, "a partial chunk header at the end");
            return signatures;
        }
        let len = usize::from(u16::from_be_bytes([out[at], out[at + 1]]));
        at += 2;
        if len == 0 {
            if let Some(&sig) = message.get(1) {
                signatures.push(sig);
            }
            if !message.is_empty() && well_behaved {
                let raw = RawMessage::new(Bytes::from(std::mem::take(&mut message)));
                assert!(
                    raw.is_ok(),
                    "a message that is not a Bolt structure: {raw:?}"
                );
            }
            message.clear();
            continue;
        }
        if out.len() - at < len {
            assert!(!complete, "a partial chunk at the end");
            return signatures;
        }
        message.extend_from_slice(&out[at..at + len]);
        at += len;
    }
    assert!(
        message.is_empty() || !complete,
        "the output ends inside a message"
    );
    signatures
}

/// The parsed input (see the module docs).
struct Case {
    hello: Option<ClientHello>,
    wire: Vec<u8>,
    /// Bits 3–4: the upstream (single) or the cluster (routed).
    upstream: usize,
    script: Vec<u8>,
    trickle: bool,
    vanish: bool,
    half_close: bool,
}

fn parse(data: &[u8]) -> Option<Case> {
    let (&flags, mut rest) = data.split_first()?;
    let hello = hello(flags & 3);
    let upstream = usize::from((flags >> 3) & 3);
    let mut script: &[u8] = &[];
    if upstream == 3 {
        let (&n, tail) = rest.split_first()?;
        let n = usize::from(n).min(tail.len());
        script = &tail[..n];
        rest = &tail[n..];
    }
    let wire = if hello.is_none() {
        rest.to_vec()
    } else {
        body(flags & 4 != 0, rest)
    };
    Some(Case {
        hello,
        wire,
        upstream,
        script: script.to_vec(),
        trickle: flags & 0x20 != 0,
        vanish: flags & 0x40 != 0,
        half_close: flags & 0x80 != 0,
    })
}

/// Runs the case `data` on `runtime`, which must be a current-thread runtime with paused time
/// (`start_paused(true)`, tokio's `test-util` feature). Panics when an invariant breaks.
pub fn run(runtime: &tokio::runtime::Runtime, data: &[u8]) -> Outcome {
    let Some(case) = parse(data) else {
        return Outcome::default();
    };
    let Case {
        hello,
        wire,
        upstream,
        script,
        trickle,
        vanish,
        half_close,
    } = case;
    let fixture = fixture();
    let (end, out, complete) = runtime.block_on(async {
        let (client_end, proxy_client) = tokio::io::duplex(PIPE);
        let (proxy_upstream, upstream_end) = tokio::io::duplex(PIPE);
        let session = fixture.proxy.session(proxy_client, proxy_upstream);
        let upstream = async {
            if upstream == 3 {
                garbage_upstream(upstream_end, &script).await;
            } else {
                let _ = fixture.upstreams[upstream].serve(upstream_end).await;
            }
        };
        let everything = async {
            let (end, (out, complete), ()) = tokio::join!(
                session,
                client(client_end, hello, wire, trickle, vanish, half_close),
                upstream
            );
            (end, out, complete)
        };
        match tokio::time::timeout(SESSION_LIMIT, everything).await {
            Ok(result) => result,
            Err(_) => panic!("the session did not end within {SESSION_LIMIT:?} (virtual time)"),
        }
    });
    let signatures = check_output(&out, hello.as_ref(), complete, upstream != 3);
    Outcome {
        end: Some(end.map_err(|e| e.to_string())),
        complete,
        signatures,
    }
}

/// The fake cluster of a routed case: a writer and two readers, dialled in memory.
const ROUTED_SETTINGS: &str = "boltgate.client.idle_timeout=30s\n\
    boltgate.limits.max_message_size=64KiB\n\
    boltgate.routing.members=writer=writer.test:7687,reader=reader1.test:7687,reader=reader2.test:7687\n";

thread_local! {
    /// The running case's cluster mode and garbage script, read by [`dial_member`] (the case
    /// and its dials run on this thread: a current-thread runtime).
    static CLUSTER: std::cell::RefCell<(usize, Vec<u8>)> = const { std::cell::RefCell::new((0, Vec::new())) };
}

/// A member connection for the routed case. Cluster modes (bits 3–4): 0 every member the
/// synthetic server (Bolt 5.x with a manifest); 1 every member the 5.4/5.0 one; 2 the readers
/// refuse connections; 3 the writer is a garbage server (the case's script), readers are fine.
fn dial_member(address: &str) -> Option<DuplexStream> {
    let (mode, script) = CLUSTER.with(|c| c.borrow().clone());
    let reader = !address.starts_with("writer");
    let (mine, theirs) = tokio::io::duplex(PIPE);
    match (mode, reader) {
        (2, true) => return None,
        (3, false) => {
            tokio::spawn(async move { garbage_upstream(theirs, &script).await });
        }
        (1, _) => {
            tokio::spawn(async move {
                let _ = fixture().upstreams[1].serve(theirs).await;
            });
        }
        _ => {
            tokio::spawn(async move {
                let _ = fixture().upstreams[0].serve(theirs).await;
            });
        }
    }
    Some(mine)
}

fn routed_proxy() -> &'static MemoryProxy {
    static PROXY: OnceLock<MemoryProxy> = OnceLock::new();
    PROXY.get_or_init(|| {
        MemoryProxy::routed(ROUTED_SETTINGS, std::sync::Arc::new(dial_member))
            .expect("the routed fuzz settings load")
    })
}

/// [`run`] for a routed session (the `routed` fuzz target): the same input, with bits 3–4
/// choosing the fake cluster's behaviour ([`dial_member`]) instead of the one upstream.
pub fn run_routed(runtime: &tokio::runtime::Runtime, data: &[u8]) -> Outcome {
    let Some(case) = parse(data) else {
        return Outcome::default();
    };
    let well_behaved = case.upstream != 3;
    CLUSTER.with(|c| *c.borrow_mut() = (case.upstream, case.script.clone()));
    let proxy = routed_proxy();
    let hello = case.hello;
    let (end, out, complete) = runtime.block_on(async {
        let (client_end, proxy_client) = tokio::io::duplex(PIPE);
        let everything = async {
            let (end, (out, complete)) = tokio::join!(
                proxy.routed_session(proxy_client),
                client(
                    client_end,
                    case.hello,
                    case.wire,
                    case.trickle,
                    case.vanish,
                    case.half_close
                ),
            );
            (end, out, complete)
        };
        match tokio::time::timeout(SESSION_LIMIT, everything).await {
            Ok(result) => result,
            Err(_) => {
                panic!("the routed session did not end within {SESSION_LIMIT:?} (virtual time)")
            }
        }
    });
    let signatures = check_output(&out, hello.as_ref(), complete, well_behaved);
    Outcome {
        end: Some(end.map_err(|e| e.to_string())),
        complete,
        signatures,
    }
}

/// What one case did, for tests that check a case is not vacuous.
#[derive(Debug, Default)]
pub struct Outcome {
    /// How the session ended; None when the input was too short to run one.
    pub end: Option<Result<End, String>>,
    /// Whether the client read everything to the end.
    pub complete: bool,
    /// The signature of each whole message the client received, in order.
    pub signatures: Vec<u8>,
}
