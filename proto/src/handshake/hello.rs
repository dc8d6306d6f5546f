//! What a client sends first ([`ClientHello`]: the preamble and four proposals), and what the
//! first bytes look like when they are not Bolt at all (HTTP, TLS), so the error can say which
//! mistake the operator made.

use super::{HandshakeError, Hex, Proposal, CLIENT_HELLO_LEN, PREAMBLE, SHOWN_BYTES};
use crate::version::Version;

/// First bytes of the HTTP requests (and the HTTP/2 preface) someone may send to a Bolt port by
/// mistake, and the "HTTP" a Bolt client reads when it is pointed at an HTTP port.
const HTTP_SIGNATURES: &[&[u8; 4]] = &[
    b"GET ", b"POST", b"PUT ", b"HEAD", b"HTTP", b"OPTI", b"DELE", b"PATC", b"CONN", b"PRI ",
];
/// A TLS record header: content type 22 (handshake), then protocol major version 3.
const TLS_HANDSHAKE: &[u8; 2] = &[0x16, 0x03];

/// What a client sends first: the preamble and four proposals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello {
    pub proposals: [Proposal; 4],
}

impl ClientHello {
    /// Parses the first 20 bytes of a connection (extra bytes are ignored; the hello is always
    /// [`CLIENT_HELLO_LEN`] long). `Ok(None)` while more bytes are needed.
    ///
    /// The preamble is checked byte by byte, so garbage fails as soon as it arrives. When the bytes
    /// that broke it could still be the start of an HTTP request or a TLS record (e.g. a lone `G` or
    /// `16`), parsing waits for up to four bytes to say which, then fails with
    /// [`HandshakeError::LooksLikeHttp`] or [`HandshakeError::LooksLikeTls`].
    pub fn parse(buf: &[u8]) -> Result<Option<ClientHello>, HandshakeError> {
        let seen = &buf[..buf.len().min(PREAMBLE.len())];
        if seen != &PREAMBLE[..seen.len()] {
            return classify_non_bolt(buf).map(|()| None);
        }
        if buf.len() < CLIENT_HELLO_LEN {
            return Ok(None);
        }
        let slot = |i: usize| {
            let at = PREAMBLE.len() + 4 * i;
            Proposal::from_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
        };
        Ok(Some(ClientHello {
            proposals: [slot(0), slot(1), slot(2), slot(3)],
        }))
    }

    /// The 20 wire bytes.
    pub fn encode(&self) -> [u8; CLIENT_HELLO_LEN] {
        let mut out = [0u8; CLIENT_HELLO_LEN];
        out[..4].copy_from_slice(&PREAMBLE);
        for (i, p) in self.proposals.iter().enumerate() {
            out[4 + 4 * i..8 + 4 * i].copy_from_slice(&p.to_bytes());
        }
        out
    }

    /// Whether the client asks for manifest v1 (anywhere among its proposals).
    pub fn wants_manifest(&self) -> bool {
        self.proposals.contains(&Proposal::Manifest { version: 1 })
    }

    /// Every supported version the client proposed, in the client's preference order (proposal
    /// order; inside a range highest first), without duplicates.
    pub fn acceptable(&self, supported: &[Version]) -> Vec<Version> {
        let mut out: Vec<Version> = Vec::new();
        for v in self.proposals.iter().flat_map(Proposal::versions) {
            if supported.contains(&v) && !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    /// The error to report (and log) when [`negotiate`](super::negotiate) found nothing acceptable: Bolt 1 or 2 get
    /// [`HandshakeError::LegacyVersion`], anything else [`HandshakeError::NoCommonVersion`].
    pub fn refusal_error(&self) -> HandshakeError {
        let ranges = self
            .proposals
            .iter()
            .any(|p| matches!(p, Proposal::Range { .. } | Proposal::Manifest { .. }));
        let legacy = self.proposals.iter().find_map(|p| match p {
            Proposal::Legacy(v @ (1 | 2)) => Some(*v),
            _ => None,
        });
        match legacy {
            Some(version) if !ranges => HandshakeError::LegacyVersion { version },
            _ => HandshakeError::NoCommonVersion {
                proposed: self
                    .proposals
                    .iter()
                    .copied()
                    .filter(|p| *p != Proposal::Empty)
                    .collect(),
            },
        }
    }
}

/// The first bytes are not a preamble: say what they look like, or wait if they might still turn
/// out to be HTTP or TLS.
fn classify_non_bolt(buf: &[u8]) -> Result<(), HandshakeError> {
    if buf.starts_with(TLS_HANDSHAKE) {
        return Err(HandshakeError::LooksLikeTls { got: Hex::of(buf) });
    }
    if HTTP_SIGNATURES.iter().any(|sig| buf.starts_with(&sig[..])) {
        let head = &buf[..buf.len().min(SHOWN_BYTES)];
        let text = String::from_utf8_lossy(head).into_owned();
        return Err(HandshakeError::LooksLikeHttp {
            got: Hex::of(buf),
            text,
        });
    }
    let maybe_tls = buf.len() < TLS_HANDSHAKE.len() && TLS_HANDSHAKE.starts_with(buf);
    let maybe_http = buf.len() < 4 && HTTP_SIGNATURES.iter().any(|sig| sig.starts_with(buf));
    if maybe_tls || maybe_http {
        return Ok(());
    }
    Err(HandshakeError::BadPreamble { got: Hex::of(buf) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_while_it_might_be_http_or_tls() {
        assert_eq!(ClientHello::parse(b"G"), Ok(None));
        assert_eq!(ClientHello::parse(b"PO"), Ok(None));
        assert_eq!(ClientHello::parse(&[0x16]), Ok(None));
        assert!(matches!(
            ClientHello::parse(&[0x16, 0x01]),
            Err(HandshakeError::BadPreamble { .. })
        ));
        assert!(matches!(
            ClientHello::parse(b"GEX"),
            Err(HandshakeError::BadPreamble { .. })
        ));
        assert!(matches!(
            ClientHello::parse(&[0x60, 0x61]),
            Err(HandshakeError::BadPreamble { .. })
        ));
    }
}
