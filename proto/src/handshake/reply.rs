//! The server's 4-byte answer to a [`ClientHello`](super::ClientHello): a version, the manifest
//! marker or a refusal. Read by the proxy on its upstream side, where an HTTP or TLS answer
//! means a misconfigured upstream address, so those get their own errors.

use super::{HandshakeError, Hex, MANIFEST_V1, REFUSAL};
use crate::version::Version;

/// A TLS alert record (content type 21): what a TLS server answers to plaintext.
const TLS_ALERT: &[u8; 2] = &[0x15, 0x03];

/// The server's 4-byte answer to a [`ClientHello`](super::ClientHello).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerReply {
    /// An exact version boltgate speaks.
    Version(Version),
    /// `00 00 01 FF`: manifest v1 accepted; a [`ManifestOffer`](super::ManifestOffer) follows.
    Manifest,
    /// `00 00 00 00`: no common version; the server closes.
    Refused,
}

impl ServerReply {
    /// Reads the reply. A version boltgate does not speak, a range, or anything unrecognised is an
    /// error (the proxy proposed only what it speaks), with hints for HTTP and TLS answers.
    pub fn parse(bytes: [u8; 4]) -> Result<ServerReply, HandshakeError> {
        let got = Hex(bytes.to_vec());
        if bytes == REFUSAL {
            return Ok(ServerReply::Refused);
        }
        if bytes == MANIFEST_V1 {
            return Ok(ServerReply::Manifest);
        }
        if &bytes == b"HTTP" {
            return Err(HandshakeError::ServerSpeaksHttp { got });
        }
        if bytes.starts_with(TLS_ALERT) {
            return Err(HandshakeError::ServerSpeaksTls { got });
        }
        let [reserved, range, minor, major] = bytes;
        if reserved != 0 || range != 0 || major == 0xFF {
            return Err(HandshakeError::Unexpected {
                expected:
                    "a version 00 00 minor major, 00 00 01 FF (manifest) or 00 00 00 00 (refusal)",
                got,
            });
        }
        let version = Version::new(major, minor);
        if !version.is_supported() {
            return Err(HandshakeError::UnsupportedVersion { version, got });
        }
        Ok(ServerReply::Version(version))
    }
}
