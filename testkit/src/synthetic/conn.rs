//! One connection: the server side of the handshake (including manifest v1 and the scripted
//! misbehaviour), the read-decode-answer loop, and the output buffer that gathers every answer
//! to what was received into one write.

use std::sync::Arc;

use boltgate_proto::chunk::{encode_message, ChunkCodec, Frame};
use boltgate_proto::handshake::{
    negotiate, ClientHello, ManifestChoice, ManifestOffer, Negotiated, CLIENT_HELLO_LEN, REFUSAL,
};
use boltgate_proto::message::{RawMessage, Response};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

use super::query::Open;
use super::shared::Shared;
use super::FLUSH_AT;

pub(super) struct Conn<S> {
    /// Counts this connection as open; first, so it is dropped before `io` closes the socket:
    /// the count never lags behind what the peer sees.
    pub(super) open_guard: Option<super::OpenGuard>,
    pub(super) io: S,
    pub(super) id: u64,
    pub(super) shared: Arc<Shared>,
    pub(super) rbuf: BytesMut,
    pub(super) out: BytesMut,
    pub(super) version: Version,
    pub(super) manifest: bool,
    pub(super) failed: bool,
    pub(super) in_tx: bool,
    pub(super) open: Option<Open>,
    /// `COMMIT_DIES` (`Some(true)`) or `COMMIT_HANGS` ran in the open transaction.
    pub(super) commit_fate: Option<bool>,
    /// The user logged in (with [`Options::users`](super::Options::users)).
    pub(super) user: Option<String>,
}

pub(super) enum Flow {
    Continue,
    Close,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) fn new(io: S, id: u64, shared: Arc<Shared>) -> Self {
        Conn {
            open_guard: None,
            io,
            id,
            shared,
            rbuf: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::with_capacity(FLUSH_AT + 64 * 1024),
            version: Version::V5_8,
            manifest: false,
            failed: false,
            in_tx: false,
            open: None,
            commit_fate: None,
            user: None,
        }
    }

    /// Reads more bytes; `false` on a clean close.
    async fn fill(&mut self) -> std::io::Result<bool> {
        self.rbuf.reserve(64 * 1024);
        Ok(self.io.read_buf(&mut self.rbuf).await? > 0)
    }

    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            // A TLS stream may keep the end of a write encrypted in its session when the socket
            // was full; unflushed, the client waits for it forever (the load tool hung so).
            self.io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    pub(super) async fn serve(mut self) -> std::io::Result<()> {
        if !self.handshake().await? {
            return Ok(());
        }
        let mut codec = ChunkCodec::default();
        loop {
            while let Some(frame) = codec.decode(&mut self.rbuf).map_err(framing)? {
                let Frame::Message(bytes) = frame else {
                    continue;
                };
                if let Flow::Close = self.on_message(bytes).await? {
                    return self.flush().await;
                }
            }
            self.flush().await?;
            if !self.fill().await? {
                return Ok(());
            }
        }
    }

    /// The server side of the handshake; `false` if the connection should close.
    async fn handshake(&mut self) -> std::io::Result<bool> {
        let hello = loop {
            match ClientHello::parse(&self.rbuf) {
                Ok(Some(hello)) => break hello,
                Ok(None) => {
                    if !self.fill().await? {
                        return Ok(false);
                    }
                }
                Err(_) => return Ok(false),
            }
        };
        let bytes: [u8; CLIENT_HELLO_LEN] = self.rbuf[..CLIENT_HELLO_LEN]
            .try_into()
            .expect("a whole hello was parsed");
        self.shared
            .handshakes
            .lock()
            .expect("handshakes lock")
            .push(bytes);
        let _ = self.rbuf.split_to(CLIENT_HELLO_LEN);
        let opts = &self.shared.opts;
        if opts.close_in_handshake {
            return Ok(false);
        }
        let forced = opts.reply_version.or(opts
            .unoffered_to_manifest
            .filter(|_| hello.wants_manifest()));
        if let Some(v) = forced {
            self.version = v;
            self.io.write_all(&v.to_bytes()).await?;
            return Ok(true);
        }
        let versions = self.shared.opts.versions.clone();
        match negotiate(&hello.proposals, &versions, self.shared.opts.manifest) {
            Negotiated::Version(v) => {
                self.version = v;
                self.io.write_all(&v.to_bytes()).await?;
            }
            Negotiated::Manifest => {
                let offer = ManifestOffer::from_versions(&versions, 0);
                let mut bytes = BytesMut::new();
                offer.encode(&mut bytes);
                self.io.write_all(&bytes).await?;
                let choice: ManifestChoice = loop {
                    match ManifestChoice::parse(&self.rbuf) {
                        Ok(Some((choice, used))) => {
                            let _ = self.rbuf.split_to(used);
                            break choice;
                        }
                        Ok(None) => {
                            if !self.fill().await? {
                                return Ok(false);
                            }
                        }
                        Err(_) => return Ok(false),
                    }
                };
                if offer.check(&choice).is_err() {
                    return Ok(false);
                }
                self.version = choice.version;
                self.manifest = true;
            }
            Negotiated::NoneAcceptable => {
                self.io.write_all(&REFUSAL).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(super) fn push(&mut self, chunked: &Bytes) {
        self.out.extend_from_slice(chunked);
    }

    pub(super) fn push_raw(&mut self, raw: &RawMessage) {
        // The server's own messages are never empty.
        let _ = encode_message(raw.as_bytes(), &mut self.out);
    }

    pub(super) fn fail(&mut self, code: &str, message: &str) {
        let failure = Response::failure(self.version, code, message);
        self.push_raw(&failure);
        self.failed = true;
        self.open = None;
    }
}

/// A framing error ends the connection, as it would on a real server.
fn framing(e: boltgate_proto::chunk::ChunkError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}
