//! The relay: messages both ways, pipelined, with backpressure, decoding only what it must.
//!
//! Each direction is its own loop; both run in one task under `select!`, so a client pushing a
//! long pipeline and a server streaming a long result never wait on each other (one loop
//! blocked on a full socket does not stop the other). A loop forwards every message that is
//! already buffered before it flushes, so pipelined requests and RECORD streams cost one write
//! per batch rather than one per message.
//!
//! What is decoded: the signature of every message (a byte); the few summary fields the state
//! tracker needs (SUCCESS `has_more`, FAILURE code). RECORD bodies are never decoded.
//!
//! Losing the upstream keeps its meaning: every complete message that arrived from the server is
//! relayed, then the client's connection is closed, with no FAILURE of boltgate's own, exactly
//! what the client would see direct. A FAILURE claims to know the outcome (drivers retry a
//! transient one), which boltgate does not when a request was forwarded: a COMMIT may have been
//! applied. The same at the end of a shutdown's grace period. boltgate speaks for itself only
//! about what it never forwarded: a message it refuses to relay (`Request.Invalid`), and an
//! upstream it could not reach at session start (`super::unavailable`).

use std::sync::Mutex;

use boltgate_proto::chunk::{ChunkCodec, ChunkError, Frame};
use boltgate_proto::message::{sig, AccessMode, RawMessage, RequestKind};
use boltgate_proto::state::Tracker;
use boltgate_proto::Version;
use bytes::BytesMut;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::buffers;
use super::ending;
use super::procedures::Procedures;
use super::wire::{WireReader, WireWriter};
use super::work::count_work;
use super::{Context, End, SessionError};
use crate::metrics::SessionMetrics;
use crate::net::Prefixed;
use crate::net::Stream;

/// Reads through [`Prefixed`], so bytes read past a handshake are decoded before the socket is
/// read again (a FramedRead's own buffer, extended, would wait for new bytes first).
type Rx = FramedRead<Prefixed<ReadHalf<Stream>>, ChunkCodec>;
type Tx = FramedWrite<WriteHalf<Stream>, ChunkCodec>;
/// The upstream's answers are forwarded as runs of wire bytes ([`super::wire`]).
type URx = WireReader<ReadHalf<Stream>>;
type CTx = WireWriter<WriteHalf<Stream>>;

/// Bytes buffered for writing before the sink applies backpressure. Larger than tokio-util's
/// 8 KiB default so a RECORD stream goes out in fewer, fuller writes.
const WRITE_BOUNDARY: usize = 64 * 1024;

/// Read buffer for the upstream side, where result streams arrive. tokio-util's default (8 KiB)
/// costs one `recv` per 8 KiB (about eight 1 KiB RECORDs); 64 KiB matches [`WRITE_BOUNDARY`], so a
/// full read becomes one full write to the client.
const UPSTREAM_READ_CAPACITY: usize = 64 * 1024;

pub async fn run(
    client: Stream,
    client_rest: BytesMut,
    upstream: Stream,
    upstream_rest: BytesMut,
    version: Version,
    ctx: &Context,
    metrics: &SessionMetrics,
) -> Result<End, SessionError> {
    let codec = || ChunkCodec::new(ctx.max_message_size);
    let (cr, cw) = tokio::io::split(client);
    let (ur, uw) = tokio::io::split(upstream);
    let mut c_rx = FramedRead::with_capacity(
        Prefixed::new(client_rest.freeze(), cr),
        codec(),
        buffers::CLIENT_FIRST_READ,
    );
    let mut u_rx = WireReader::new(
        ur,
        upstream_rest,
        ctx.max_message_size,
        UPSTREAM_READ_CAPACITY,
    );
    let mut c_tx = WireWriter::new(cw);
    let mut u_tx = buffers::lazy(FramedWrite::new(uw, codec()));
    u_tx.set_backpressure_boundary(WRITE_BOUNDARY);
    let tracker = Mutex::new(Tracker::new(version));
    let (local_tx, mut local_rx) = tokio::sync::mpsc::unbounded_channel();
    let local = Local {
        tx: local_tx,
        answered: tokio::sync::Notify::new(),
    };

    let goodbye = std::sync::atomic::AtomicBool::new(false);
    let result = tokio::select! {
        r = client_to_upstream(&mut c_rx, &mut u_tx, &tracker, version, ctx, metrics, &local, &goodbye) => r,
        r = upstream_to_client(&mut u_rx, &mut c_tx, &tracker, ctx, metrics, &local, &mut local_rx, &goodbye) => r,
        _ = ctx.shutdown.closing() => Ok(End::Shutdown),
    };
    if let Err(SessionError::UpstreamIo(_)) = &result {
        // Writing to the server failed; what it sent before it went (a FAILURE saying why, as
        // Neo4j sends TokenExpired before closing) still goes to the client, up to its close.
        let drain = upstream_to_client(
            &mut u_rx,
            &mut c_tx,
            &tracker,
            ctx,
            metrics,
            &local,
            &mut local_rx,
            &goodbye,
        );
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
    }

    ending::log_unanswered(&result, tracker.lock().expect("tracker lock").outstanding());
    let last = ending::last_word(version, &result);
    let upstream_close = async {
        let _ = SinkExt::<Frame>::flush(&mut u_tx).await;
        let _ = u_tx.get_mut().shutdown().await;
    };
    ending::close(&mut c_tx, last, upstream_close).await;
    result
}

/// Answers boltgate gives itself ([`procedures`]), queued for the client's writer, and the
/// signal that the upstream's answers were written (so a local answer can wait its turn).
struct Local {
    tx: tokio::sync::mpsc::UnboundedSender<Frame>,
    answered: tokio::sync::Notify,
}

#[allow(clippy::too_many_arguments)]
async fn client_to_upstream(
    rx: &mut Rx,
    tx: &mut Tx,
    tracker: &Mutex<Tracker>,
    version: Version,
    ctx: &Context,
    metrics: &SessionMetrics,
    local: &Local,
    goodbye: &std::sync::atomic::AtomicBool,
) -> Result<End, SessionError> {
    let mut drain_seen = false;
    let mut procedures =
        Procedures::new(ctx.max_nesting_depth).with_routing(ctx.advertised.clone());
    // The access mode of the open explicit transaction: RUNs inside it carry no mode of their own.
    let mut tx_mode: Option<AccessMode> = None;
    let mut idle = buffers::Idle::new();
    let mut held = Held::default();
    let mut login_clock = super::LoginClock::new(ctx.handshake_timeout);
    loop {
        let login = super::logging_in(&tracker.lock().expect("tracker lock"));
        let limit = if login {
            Some(login_clock.poll())
        } else {
            ctx.idle_timeout
        };
        let next = if let Some(frame) = held.pop() {
            Next::Frame(frame)
        } else {
            tokio::select! {
            biased;
            _ = ctx.shutdown.draining(), if !drain_seen => {
                drain_seen = true;
                if tracker.lock().expect("tracker lock").is_idle() {
                    return Ok(End::Drained);
                }
                continue;
            }
            next = next_with_timeout(rx, tx, &mut idle, limit) => next,
            }
        };
        let mut frame = match next {
            Next::Frame(frame) => frame,
            Next::Eof => return Ok(End::ClientClosed),
            Next::Err(e) => return Err(SessionError::ClientFraming(e)),
            Next::Idle => {
                let t = tracker.lock().expect("tracker lock");
                // Which limit ran out decides: the session may have logged in meanwhile.
                if login && login_clock.expired(&t) {
                    return Ok(End::LoginTimeout);
                }
                if !login && t.is_idle() {
                    return Ok(End::IdleTimeout);
                }
                continue;
            }
        };
        login_clock.restart();
        let (mut messages, mut bytes_out) = (0u64, 0u64);
        loop {
            if let Frame::Message(bytes) = frame {
                let raw = RawMessage::new(bytes)
                    .map_err(|e| SessionError::ClientMessage(e.to_string()))?;
                messages += 1;
                bytes_out += raw.as_bytes().len() as u64;
                let kind = RequestKind::of(version, raw.signature());
                tracing::trace!(message = sig::name(raw.signature()), "client → upstream");
                if kind == RequestKind::Goodbye {
                    // The server hears it as from the client itself (scripted servers and
                    // conformance stubs expect it). `forward_goodbye=false` closes without it:
                    // FalkorDB, after a connection that ended with GOODBYE, never serves the
                    // next one it accepts.
                    if ctx.forward_goodbye {
                        goodbye.store(true, std::sync::atomic::Ordering::Relaxed);
                        metrics.to_upstream(1, raw.as_bytes().len() as u64);
                        tx.feed(Frame::Message(raw.into_bytes()))
                            .await
                            .map_err(upstream_err)?;
                    }
                    SinkExt::<Frame>::flush(tx).await.map_err(upstream_err)?;
                    // Requests pipelined before the GOODBYE still get their answers, as from
                    // the server itself; a client that closes at once (drivers do) ends the wait.
                    tokio::select! {
                        _ = all_answered(tracker, local) => {}
                        _ = rx.next() => {}
                    }
                    return Ok(End::Goodbye);
                }
                let answered = procedures.intercepts(version, &raw) && {
                    // The upstream's answers to what came before go out first.
                    SinkExt::<Frame>::flush(tx).await.map_err(upstream_err)?;
                    let state = held.wait_for_answers(rx, tracker, local, ctx).await?;
                    answer_locally(&mut procedures, &raw, state, version, ctx, local).await
                };
                if !answered {
                    count_work(&raw, kind, &mut tx_mode, metrics);
                    procedures.on_forwarded(version, &raw);
                    tracker.lock().expect("tracker lock").on_request(kind);
                    tx.feed(Frame::Message(raw.into_bytes()))
                        .await
                        .map_err(upstream_err)?;
                }
            } else {
                tx.feed(Frame::Noop).await.map_err(upstream_err)?;
            }
            if let Some(f) = held.pop() {
                frame = f;
                continue;
            }
            match rx.next().now_or_never() {
                Some(Some(Ok(f))) => frame = f,
                Some(Some(Err(e))) => {
                    SinkExt::<Frame>::flush(tx).await.map_err(upstream_err)?;
                    return Err(SessionError::ClientFraming(e));
                }
                Some(None) => {
                    SinkExt::<Frame>::flush(tx).await.map_err(upstream_err)?;
                    return Ok(End::ClientClosed);
                }
                None => break,
            }
        }
        metrics.to_upstream(messages, bytes_out);
        SinkExt::<Frame>::flush(tx).await.map_err(upstream_err)?;
    }
}

/// Client frames read while a local answer waits for the upstream's answers to come first.
#[derive(Default)]
struct Held {
    frames: std::collections::VecDeque<Frame>,
    bytes: usize,
}

impl Held {
    fn pop(&mut self) -> Option<Frame> {
        let frame = self.frames.pop_front();
        if self.frames.is_empty() {
            self.bytes = 0;
        }
        frame
    }

    /// Waits until every forwarded request is answered, reading the client meanwhile so a client
    /// that leaves ends the session (the upstream may never answer). What the client sends is
    /// held, up to one maximum message size (more ends the session with a FAILURE), and handled
    /// after the local answer, in order.
    async fn wait_for_answers(
        &mut self,
        rx: &mut Rx,
        tracker: &Mutex<Tracker>,
        local: &Local,
        ctx: &Context,
    ) -> Result<boltgate_proto::state::ServerState, SessionError> {
        loop {
            tokio::select! {
                state = all_answered(tracker, local) => return Ok(state),
                // Always read: a client no longer read could leave unnoticed while the server
                // stays silent (a session held for ever; found by the session fuzzer). One that
                // sends more than the cap meanwhile is refused instead of waited for.
                next = rx.next() => match next {
                    Some(Ok(frame)) => {
                        self.bytes += match &frame {
                            Frame::Message(b) => b.len().max(1),
                            Frame::Noop => 1,
                        };
                        if self.bytes > ctx.max_message_size {
                            return Err(SessionError::ClientMessage(format!(
                                "the client sent more than {} bytes \
                                 (boltgate.limits.max_message_size) while boltgate waited for \
                                 the server to answer the requests before one it answers itself",
                                ctx.max_message_size
                            )));
                        }
                        self.frames.push_back(frame);
                    }
                    Some(Err(e)) => return Err(SessionError::ClientFraming(e)),
                    None => {
                        return Err(SessionError::ClientIo(
                            std::io::ErrorKind::UnexpectedEof.into(),
                        ))
                    }
                },
            }
        }
    }
}

/// Answers `raw` locally, in the session's `state` once every forwarded request is answered.
/// False when that state says the upstream should answer after all.
async fn answer_locally(
    procedures: &mut Procedures,
    raw: &RawMessage,
    state: boltgate_proto::state::ServerState,
    version: Version,
    ctx: &Context,
    local: &Local,
) -> bool {
    match procedures.answer(version, raw, state, ctx).await {
        Some(frames) => {
            for f in frames {
                // The receiver lives as long as the session; a send can only fail as it ends.
                let _ = local.tx.send(f);
            }
            true
        }
        None => false,
    }
}

/// Waits until every forwarded request has its answer written to the client; the state then.
async fn all_answered(
    tracker: &Mutex<Tracker>,
    local: &Local,
) -> boltgate_proto::state::ServerState {
    loop {
        // Created before the check, so a wake-up between the two is not lost.
        let answered = local.answered.notified();
        {
            let t = tracker.lock().expect("tracker lock");
            if t.outstanding() == 0 {
                return t.state();
            }
        }
        answered.await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn upstream_to_client(
    rx: &mut URx,
    tx: &mut CTx,
    tracker: &Mutex<Tracker>,
    ctx: &Context,
    metrics: &SessionMetrics,
    local: &Local,
    local_rx: &mut tokio::sync::mpsc::UnboundedReceiver<Frame>,
    goodbye: &std::sync::atomic::AtomicBool,
) -> Result<End, SessionError> {
    loop {
        let next = tokio::select! {
            biased;
            Some(answer) = local_rx.recv() => {
                tx.push_frame(answer);
                while let Ok(answer) = local_rx.try_recv() {
                    tx.push_frame(answer);
                }
                tx.flush().await.map_err(SessionError::ClientIo)?;
                continue;
            }
            // While the upstream is quiet, its read buffer goes (the writer keeps none).
            next = rx.next_run(|| {}) => next,
        };
        let run = match next {
            Ok(Some(run)) => run,
            Err(e) => return Err(upstream_err(e)),
            Ok(None) => {
                if goodbye.load(std::sync::atomic::Ordering::Relaxed) {
                    // The server closed after the client's GOODBYE, as it should.
                    return Ok(End::Goodbye);
                }
                let outstanding = tracker.lock().expect("tracker lock").outstanding();
                return if outstanding > 0 {
                    Err(SessionError::UpstreamClosed { outstanding })
                } else {
                    Ok(End::UpstreamClosed)
                };
            }
        };
        let (mut messages, mut bytes_in) = (0u64, 0u64);
        for span in rx.spans() {
            if span.is_noop() {
                continue;
            }
            messages += 1;
            bytes_in += span.payload_len as u64;
            // RECORDs are the bulk of the traffic and change no state: forwarded unread.
            if span.signature != sig::RECORD {
                observe_response(&span.payload(&run), tracker);
            }
        }
        // The run goes out as it arrived: the server's own chunking, one write.
        tx.push(run);
        tx.flush().await.map_err(SessionError::ClientIo)?;
        metrics.to_client(messages, bytes_in);
        local.answered.notify_waiters();
        if ctx.shutdown.is_draining() && tracker.lock().expect("tracker lock").is_idle() {
            return Ok(End::Drained);
        }
    }
}

/// Updates the state tracker from a summary. A message boltgate cannot read is still forwarded:
/// the client may understand it even if the proxy does not.
fn observe_response(bytes: &bytes::Bytes, tracker: &Mutex<Tracker>) {
    match RawMessage::new(bytes.clone()).and_then(|raw| raw.summary()) {
        Ok(summary) => {
            tracing::trace!(?summary, "upstream → client");
            if let Err(violation) = tracker.lock().expect("tracker lock").on_response(&summary) {
                // The server knows its own state better than our model of it: forward anyway.
                tracing::debug!(%violation, "response outside boltgate's model of the session");
            }
        }
        Err(e) => tracing::debug!(error = %e, "unreadable message from upstream, forwarded as is"),
    }
}

enum Next {
    Frame(Frame),
    Eof,
    Err(ChunkError),
    Idle,
}

/// The client's next frame; the client's read buffer and the upstream's write buffer are
/// released while the client is quiet ([`buffers`]).
async fn next_with_timeout(
    rx: &mut Rx,
    tx: &mut Tx,
    clock: &mut buffers::Idle,
    idle: Option<std::time::Duration>,
) -> Next {
    let next = buffers::next(rx, buffers::CLIENT_READ_CAPACITY, clock, || {
        buffers::release_write(tx)
    });
    let next = match idle {
        Some(d) => match tokio::time::timeout(d, next).await {
            Ok(n) => n,
            Err(_) => return Next::Idle,
        },
        None => next.await,
    };
    match next {
        Some(Ok(f)) => Next::Frame(f),
        Some(Err(e)) => Next::Err(e),
        None => Next::Eof,
    }
}

fn upstream_err(e: ChunkError) -> SessionError {
    match e {
        ChunkError::Io(e) => SessionError::UpstreamIo(e),
        other => SessionError::UpstreamFraming(other),
    }
}
