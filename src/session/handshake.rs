//! The client half of version negotiation, as I/O.
//!
//! boltgate reads the client's proposals, lets the upstream choose among the ones both sides
//! speak, and only then answers the client: the client always ends up on exactly the version
//! the upstream agreed to, so messages need no translation.

use boltgate_proto::handshake::{ClientHello, ManifestChoice, ManifestOffer, Proposal, REFUSAL};
use boltgate_proto::Version;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::SessionError;
use crate::listener::stream::Stream;

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
    let mut out = BytesMut::new();
    ManifestOffer {
        ranges: vec![Proposal::Range {
            major: version.major,
            min_minor: version.minor,
            max_minor: version.minor,
        }],
        capabilities: 0,
    }
    .encode(&mut out);
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
            return if choice.version == version {
                Ok(())
            } else {
                Err(SessionError::NoCommonVersion {
                    proposed: format!("client chose {} from an offer of {version}", choice.version),
                })
            };
        }
        let n = stream.read_buf(buf).await.map_err(SessionError::ClientIo)?;
        if n == 0 {
            return Err(SessionError::ClientIo(
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
    }
}

/// `00 00 00 00`: none of the client's versions will do. The client closes after reading it.
pub async fn refuse_client(stream: &mut Stream) {
    let _ = stream.write_all(&REFUSAL).await;
    let _ = stream.shutdown().await;
}
