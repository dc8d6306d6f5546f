//! The Bolt handshake: preamble, four version proposals, and the 5.7+ manifest v1 negotiation.
//!
//! ```text
//! C: 60 60 B0 17                        preamble; the server answers nothing if it is wrong
//! C: p1 p2 p3 p4                        four proposals, 4 bytes each, in preference order
//! S: 00 00 minor major | 00 00 00 00    the chosen version, or a refusal and close
//!    00 00 01 FF + manifest offer       or, if the client asked for it, manifest v1 (see `manifest`)
//! ```
//!
//! A proposal is `00 RR minor major`: versions `major.(minor-RR)` through `major.minor` (the range
//! byte exists from 4.3; servers before 4.3 read only exact versions). `00 00 01 FF` asks for manifest
//! v1. Bolt 1 and 2 were plain integers (`00 00 00 01`, `00 00 00 02`); they are recognised only to
//! be refused with a clear reason.
//!
//! Everything here is pure. The proxy runs [`negotiate`] facing the client (as a server would) and
//! reasons about the upstream with the same types: [`encode_proposals`] builds what it proposes,
//! [`ServerReply`] reads the answer.
//!
//! The parts, each in its own file: [`Proposal`] (one 4-byte slot, `proposal`), [`ClientHello`]
//! (what a client sends first, and what non-Bolt bytes look like, `hello`), choosing a version
//! and building proposals for the upstream (`negotiation`), the server's 4-byte answer
//! ([`ServerReply`], `reply`) and manifest v1 (`manifest`). This file keeps what they all share:
//! the wire constants, the error type and the hex display its messages use.

use std::fmt;

use thiserror::Error;

use crate::version::Version;

mod hello;
mod manifest;
mod negotiation;
mod proposal;
mod reply;

pub use hello::ClientHello;
pub use manifest::{
    decode_varint, encode_varint, ManifestChoice, ManifestOffer, MAX_MANIFEST_ENTRIES,
};
pub use negotiation::{encode_proposals, negotiate, offers, upstream_proposals, Negotiated};
pub use proposal::Proposal;
pub use reply::ServerReply;

/// The magic every Bolt connection starts with ("GoGoBolt").
pub const PREAMBLE: [u8; 4] = [0x60, 0x60, 0xB0, 0x17];
/// The proposal asking for manifest v1; also the server's "manifest follows" reply.
pub const MANIFEST_V1: [u8; 4] = [0x00, 0x00, 0x01, 0xFF];
/// The server's "no common version" reply (it then closes); also an empty proposal slot.
pub const REFUSAL: [u8; 4] = [0; 4];
/// Preamble plus four proposals.
pub const CLIENT_HELLO_LEN: usize = 20;

/// The versions boltgate speaks, for error messages. Kept in step with `Version::SUPPORTED` by a test
/// (5.5 is inside "5.0–5.8" here but absent there: no server ever negotiated it).
pub const SUPPORTED_TEXT: &str = "3, 4.0–4.4, 5.0–5.8, 6.0";

/// How many of the bytes that arrived an error keeps to show.
const SHOWN_BYTES: usize = 16;

/// Bytes shown as upper-case hex pairs, `60 60 B0 17`, in error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    fn of(bytes: &[u8]) -> Hex {
        Hex(bytes[..bytes.len().min(SHOWN_BYTES)].to_vec())
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({self})")
    }
}

/// Everything that can go wrong in the handshake, with what was expected and what arrived.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    #[error("expected the Bolt preamble 60 60 B0 17, got {got}; is this a Bolt client?")]
    BadPreamble { got: Hex },
    #[error(
        "expected the Bolt preamble 60 60 B0 17, got {got} ({text:?}): this looks like HTTP; is an \
         HTTP client or browser pointed at the Bolt port?"
    )]
    LooksLikeHttp { got: Hex, text: String },
    #[error(
        "expected the Bolt preamble 60 60 B0 17, got {got}: this looks like a TLS handshake; is the \
         client using bolt+s against a plaintext listener?"
    )]
    LooksLikeTls { got: Hex },
    #[error(
        "the client proposed only Bolt {version}; Bolt 1 and 2 are not supported; boltgate speaks \
         {SUPPORTED_TEXT}"
    )]
    LegacyVersion { version: u32 },
    #[error(
        "no common Bolt version: the client proposed {}; boltgate speaks {SUPPORTED_TEXT}",
        list(.proposed)
    )]
    NoCommonVersion { proposed: Vec<Proposal> },
    #[error(
        "expected a Bolt version from the server, got {got} (\"HTTP\"): is the upstream address \
         Neo4j's HTTP port (7474) instead of its Bolt port (7687)?"
    )]
    ServerSpeaksHttp { got: Hex },
    #[error(
        "expected a Bolt version from the server, got {got}: a TLS alert; does the upstream need \
         TLS (a bolt+s:// or bolt+ssc:// URI)?"
    )]
    ServerSpeaksTls { got: Hex },
    #[error("expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: Hex },
    #[error(
        "the peer chose Bolt {version} ({got}), which boltgate does not speak ({SUPPORTED_TEXT})"
    )]
    UnsupportedVersion { version: Version, got: Hex },
    #[error("the client chose Bolt {version} from the manifest, which was not offered (offered {})", list(.offered))]
    NotOffered {
        version: Version,
        offered: Vec<Proposal>,
    },
    #[error(
        "the client chose capabilities {chosen:#x} from the manifest, but only {offered:#x} were offered"
    )]
    CapabilitiesNotOffered { chosen: u64, offered: u64 },
    #[error("the client answered the manifest offer with 00 00 00 00: none of the offered versions suits it")]
    ManifestRefused,
    #[error("the manifest announces {count} version entries; at most {max} are accepted")]
    TooManyManifestEntries { count: u64, max: usize },
    #[error("expected a LEB128 varint of at most 10 bytes that fits in 64 bits, got {got}")]
    VarintOverflow { got: Hex },
}

fn list(proposals: &[Proposal]) -> String {
    let shown: Vec<String> = proposals.iter().map(Proposal::to_string).collect();
    if shown.is_empty() {
        "nothing".to_owned()
    } else {
        format!("[{}]", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_text_covers_supported() {
        let hulls = [(3, 0, 0), (4, 0, 4), (5, 0, 8), (6, 0, 0)];
        for v in Version::SUPPORTED {
            assert!(
                hulls
                    .iter()
                    .any(|&(ma, lo, hi)| v.major == ma && (lo..=hi).contains(&v.minor)),
                "{v} missing from SUPPORTED_TEXT"
            );
        }
    }
}
