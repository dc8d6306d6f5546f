//! The client half of version negotiation, as I/O.
//!
//! boltgate reads the client's proposals, lets the upstream choose among the ones both sides
//! speak, and only then answers the client: the client always ends up on exactly the version
//! the upstream agreed to, so messages need no translation. When the upstream answers the
//! client's manifest request, the client chooses from what boltgate can relay of the server's
//! offer ([`relay_manifest`]) and its choice goes upstream: as direct, a 6.x driver gets 6.0
//! from a server that has it, and a 5.x driver that asked for a manifest picks 5.x.

use boltgate_proto::handshake::{ClientHello, ManifestChoice, ManifestOffer, Proposal, REFUSAL};
use boltgate_proto::Version;
use bytes::BufMut;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::SessionError;
use crate::net::Stream;
use crate::upstream::connect::Agreed;

/// Reads the preamble and the four proposals. `buf` keeps any bytes that arrive after them.
pub async fn read_client_hello(
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> Result<ClientHello, SessionError> {
    loop {
        if let Some(hello) = ClientHello::parse(buf).map_err(SessionError::ClientHandshake)? {
            let _ = buf.split_to(20);
            return Ok(hello);
        }
        let n = stream.read_buf(buf).await.map_err(SessionError::ClientIo)?;
        if n == 0 {
            return Err(SessionError::ClientIo(
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
    }
}

/// Tells the client the version: in the manifest form when it asked for a manifest (the only
/// way it can be given 6.0), else as a plain four-byte reply. For a manifest, the client's
/// confirmation is read here too.
pub async fn answer_client(
    stream: &mut Stream,
    buf: &mut BytesMut,
    hello: &ClientHello,
    version: Version,
) -> Result<(), SessionError> {
    if !hello.wants_manifest() {
        stream
            .write_all(&version.to_bytes())
            .await
            .map_err(SessionError::ClientIo)?;
        return stream.flush().await.map_err(SessionError::ClientIo);
    }
    let offer = ManifestOffer {
        ranges: vec![Proposal::exact(version)],
        capabilities: 0,
    };
    relay_manifest(stream, buf, &offer).await.map(|_| ())
}

/// Finishes the client's handshake once the upstream has answered: with the version agreed
/// ([`answer_client`]), or by relaying the server's manifest and sending the client's choice
/// upstream. The version the session runs on.
pub async fn settle(
    client: &mut Stream,
    buf: &mut BytesMut,
    hello: &ClientHello,
    upstream: &mut Stream,
    agreed: Agreed,
    ctx: &super::Context,
) -> Result<Version, SessionError> {
    let timeout = ctx.handshake_timeout;
    let version = match agreed {
        Agreed::Version(version) => {
            tokio::time::timeout(timeout, answer_client(client, buf, hello, version))
                .await
                .map_err(|_| SessionError::HandshakeTimeout(timeout))??;
            version
        }
        Agreed::Manifest(shown) => {
            let chosen = tokio::time::timeout(timeout, relay_manifest(client, buf, &shown))
                .await
                .unwrap_or(Err(SessionError::HandshakeTimeout(timeout)));
            answer_upstream(upstream, &chosen).await?;
            if let Err(SessionError::ClientHandshake(_)) = &chosen {
                ctx.metrics
                    .connection_refused(crate::metrics::Refusal::BoltVersion);
            }
            chosen?.version
        }
    };
    tracing::Span::current().record("bolt.version", tracing::field::display(version));
    ctx.metrics.bolt_version(version);
    Ok(version)
}

/// Shows the client the manifest `offer` and reads its choice, which must be in the offer (a
/// refusal, `00 00 00 00`, is [`HandshakeError::ManifestRefused`](boltgate_proto::handshake::HandshakeError)).
pub async fn relay_manifest(
    stream: &mut Stream,
    buf: &mut BytesMut,
    offer: &ManifestOffer,
) -> Result<ManifestChoice, SessionError> {
    let mut out = BytesMut::new();
    offer.encode(&mut out);
    stream
        .write_all(&out)
        .await
        .map_err(SessionError::ClientIo)?;
    stream.flush().await.map_err(SessionError::ClientIo)?;
    loop {
        if let Some((choice, used)) =
            ManifestChoice::parse(buf).map_err(SessionError::ClientHandshake)?
        {
            let _ = buf.split_to(used);
            offer
                .check(&choice)
                .map_err(SessionError::ClientHandshake)?;
            return Ok(choice);
        }
        let n = stream.read_buf(buf).await.map_err(SessionError::ClientIo)?;
        if n == 0 {
            return Err(SessionError::ClientIo(
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
    }
}

/// Sends the client's manifest answer upstream: its choice, or, when it chose nothing
/// acceptable, the refusal a server expects before the connection closes.
pub async fn answer_upstream(
    upstream: &mut Stream,
    chosen: &Result<ManifestChoice, SessionError>,
) -> Result<(), SessionError> {
    let mut out = BytesMut::new();
    match chosen {
        Ok(choice) => choice.encode(&mut out),
        Err(_) => {
            out.put_slice(&REFUSAL);
            out.put_u8(0);
        }
    }
    upstream
        .write_all(&out)
        .await
        .map_err(SessionError::UpstreamIo)?;
    upstream.flush().await.map_err(SessionError::UpstreamIo)
}

/// `00 00 00 00`: none of the client's versions will do. The client closes after reading it.
pub async fn refuse_client(stream: &mut Stream) {
    let _ = stream.write_all(&REFUSAL).await;
    let _ = stream.shutdown().await;
}
