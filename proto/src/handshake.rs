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

use std::fmt;

use thiserror::Error;

use crate::version::Version;

mod manifest;

pub use manifest::{
    decode_varint, encode_varint, ManifestChoice, ManifestOffer, MAX_MANIFEST_ENTRIES,
};

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

/// First bytes of the HTTP requests (and the HTTP/2 preface) someone may send to a Bolt port by
/// mistake, and the "HTTP" a Bolt client reads when it is pointed at an HTTP port.
const HTTP_SIGNATURES: &[&[u8; 4]] = &[
    b"GET ", b"POST", b"PUT ", b"HEAD", b"HTTP", b"OPTI", b"DELE", b"PATC", b"CONN", b"PRI ",
];
/// A TLS record header: content type 22 (handshake), then protocol major version 3.
const TLS_HANDSHAKE: &[u8; 2] = &[0x16, 0x03];
/// A TLS alert record (content type 21): what a TLS server answers to plaintext.
const TLS_ALERT: &[u8; 2] = &[0x15, 0x03];
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

// === Proposal ===

/// One 4-byte proposal slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proposal {
    /// `00 00 00 00`: padding.
    Empty,
    /// `00 RR max_minor major`: `major.min_minor` through `major.max_minor`. An exact version (and
    /// Bolt 3, `00 00 00 03`) is a range with `min_minor == max_minor`.
    Range {
        major: u8,
        min_minor: u8,
        max_minor: u8,
    },
    /// `00 00 vv FF`: the handshake manifest, version `vv` (only 1 exists).
    Manifest { version: u8 },
    /// Bolt 1 or 2 (`00 00 00 01`, `00 00 00 02`), and anything unrecognised: a non-zero reserved
    /// byte, a range wider than its minor, major 0, or a manifest with a range. Kept as the raw
    /// big-endian value for error messages; never matches a version.
    Legacy(u32),
}

impl Proposal {
    /// Reads one slot. Never fails: what is not understood becomes [`Proposal::Legacy`].
    pub fn from_bytes(bytes: [u8; 4]) -> Proposal {
        let [reserved, range, minor, major] = bytes;
        if bytes == REFUSAL {
            return Proposal::Empty;
        }
        if reserved != 0 || major == 0 || major == 1 || major == 2 || range > minor {
            return Proposal::Legacy(u32::from_be_bytes(bytes));
        }
        if major == 0xFF {
            // A manifest range (`00 01 02 FF`) is conceivable but no manifest v2 exists.
            return if range == 0 {
                Proposal::Manifest { version: minor }
            } else {
                Proposal::Legacy(u32::from_be_bytes(bytes))
            };
        }
        Proposal::Range {
            major,
            min_minor: minor - range,
            max_minor: minor,
        }
    }

    /// The wire form. A `Range` with `min_minor > max_minor` (not produced by this crate) is
    /// written as the exact version `max_minor`.
    pub fn to_bytes(&self) -> [u8; 4] {
        match *self {
            Proposal::Empty => REFUSAL,
            Proposal::Range {
                major,
                min_minor,
                max_minor,
            } => [0, max_minor.saturating_sub(min_minor), max_minor, major],
            Proposal::Manifest { version } => [0, 0, version, 0xFF],
            Proposal::Legacy(raw) => raw.to_be_bytes(),
        }
    }

    /// A single exact version.
    pub fn exact(version: Version) -> Proposal {
        Proposal::Range {
            major: version.major,
            min_minor: version.minor,
            max_minor: version.minor,
        }
    }

    /// Whether this proposal names `version`.
    pub fn contains(&self, version: Version) -> bool {
        match *self {
            Proposal::Range {
                major,
                min_minor,
                max_minor,
            } => version.major == major && (min_minor..=max_minor).contains(&version.minor),
            _ => false,
        }
    }

    /// The versions of a range, highest first (empty for anything else).
    pub fn versions(&self) -> impl Iterator<Item = Version> {
        let (major, min, max) = match *self {
            Proposal::Range {
                major,
                min_minor,
                max_minor,
            } if min_minor <= max_minor => (major, min_minor, max_minor),
            _ => (0, 1, 0),
        };
        (min..=max)
            .rev()
            .map(move |minor| Version::new(major, minor))
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Proposal::Empty => f.write_str("(empty)"),
            Proposal::Range {
                major,
                min_minor,
                max_minor,
            } if min_minor == max_minor => write!(f, "{major}.{max_minor}"),
            Proposal::Range {
                major,
                min_minor,
                max_minor,
            } => write!(f, "{major}.{max_minor}–{major}.{min_minor}"),
            Proposal::Manifest { version } => write!(f, "manifest v{version}"),
            Proposal::Legacy(v @ (1 | 2)) => write!(f, "Bolt {v}"),
            Proposal::Legacy(raw) => write!(f, "unrecognised {}", Hex(raw.to_be_bytes().to_vec())),
        }
    }
}

// === ClientHello ===

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

    /// The error to report (and log) when [`negotiate`] found nothing acceptable: Bolt 1 or 2 get
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

// === negotiation ===

/// The outcome of scanning proposals as a (pre-manifest) server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// Reply with this version (`00 00 minor major`).
    Version(Version),
    /// Reply `00 00 01 FF` and send a manifest offer.
    Manifest,
    /// Reply `00 00 00 00` and close.
    NoneAcceptable,
}

/// What a server that speaks `supported` (and manifest v1 if `manifest`) picks: the proposals are
/// scanned in order, empty and unrecognised slots skipped, `Manifest { version: 1 }` taken if
/// `manifest`, and a range answered with the highest supported version inside it.
pub fn negotiate(proposals: &[Proposal], supported: &[Version], manifest: bool) -> Negotiated {
    for proposal in proposals {
        match proposal {
            Proposal::Manifest { version: 1 } if manifest => return Negotiated::Manifest,
            Proposal::Range { .. } => {
                if let Some(v) = proposal.versions().find(|v| supported.contains(v)) {
                    return Negotiated::Version(v);
                }
            }
            _ => {}
        }
    }
    Negotiated::NoneAcceptable
}

/// Groups `candidates` (in preference order) into ranges. Consecutive candidates join one range when
/// they have the same major, descend, and `adjacent(lower, higher)` holds.
fn group_ranges(
    candidates: &[Version],
    adjacent: impl Fn(Version, Version) -> bool,
) -> Vec<Proposal> {
    let mut out: Vec<Proposal> = Vec::new();
    for &v in candidates {
        if let Some(Proposal::Range {
            major, min_minor, ..
        }) = out.last_mut()
        {
            let low = Version::new(*major, *min_minor);
            if v.major == *major && v.minor < *min_minor && adjacent(v, low) {
                *min_minor = v.minor;
                continue;
            }
        }
        out.push(Proposal::exact(v));
    }
    out
}

/// Whether no *existing* Bolt version lies strictly between `low` and `high` (same major): 5.4 and
/// 5.6 are adjacent because 5.5 never existed on any server.
fn adjacent_on_servers(low: Version, high: Version) -> bool {
    !Version::SUPPORTED
        .iter()
        .any(|v| v.major == low.major && v.minor > low.minor && v.minor < high.minor)
}

/// The four proposals for the proxy's upstream side.
///
/// `00 00 01 FF` first if `manifest`, then `candidates` (preference order, normally newest first) as
/// same-major ranges. The choice documented here: a range is the hull of a run of candidates with
/// no *existing* version missing between them, so the full list gives `5.8–5.0` (5.5 lies inside,
/// but no server ever negotiated 5.5), while a list without 5.7 gives `5.8` and `5.6–5.0`, so a
/// server can never pick a version that is not a candidate. If there are more runs than slots, the
/// least preferred runs are dropped. Unused slots are [`Proposal::Empty`].
///
/// Ranges are understood by 4.3+ servers only; a pre-4.3 server matches only a proposal whose top
/// version is its own.
pub fn encode_proposals(candidates: &[Version], manifest: bool) -> [Proposal; 4] {
    let mut out = [Proposal::Empty; 4];
    let mut slots = out.iter_mut();
    if manifest {
        if let Some(slot) = slots.next() {
            *slot = Proposal::Manifest { version: 1 };
        }
    }
    for (slot, range) in slots.zip(group_ranges(candidates, adjacent_on_servers)) {
        *slot = range;
    }
    out
}

/// The four proposals for the upstream, in the client's own form: each of the client's slots as
/// it sent it, narrowed only where it names versions boltgate cannot relay.
///
/// A slot whose versions boltgate all speaks is kept byte for byte (`00 02 04 04` stays a 4.4–4.2
/// range, `00 00 01 04` stays an exact 4.1, a 5.8–5.0 range keeps 5.5 inside it, as no server
/// ever negotiated 5.5); a slot with unsupported versions becomes the ranges of its supported
/// ones (see [`encode_proposals`]); a slot with none, Bolt 1/2 and unrecognised slots are
/// dropped. The manifest request is kept where the client put it, and only if it asked for one
/// (`manifest` false drops it: the retry after a server that answered a manifest offer with a
/// version nobody offered). Slots split past four lose the least preferred; unused slots are
/// [`Proposal::Empty`], at the end. A server therefore sees what it would see from the client
/// itself whenever the client proposes only what boltgate relays.
pub fn upstream_proposals(
    hello: &ClientHello,
    supported: &[Version],
    manifest: bool,
) -> [Proposal; 4] {
    let mut kept: Vec<Proposal> = Vec::with_capacity(4);
    for p in &hello.proposals {
        match p {
            Proposal::Manifest { version: 1 } if manifest => kept.push(*p),
            Proposal::Range { .. } => {
                let versions: Vec<Version> =
                    p.versions().filter(|v| supported.contains(v)).collect();
                kept.extend(group_ranges(&versions, adjacent_on_servers));
            }
            _ => {}
        }
    }
    let mut out = [Proposal::Empty; 4];
    for (slot, p) in out.iter_mut().zip(kept) {
        *slot = p;
    }
    out
}

/// Whether `proposals` name `version` (a range containing it; the manifest names none).
pub fn offers(proposals: &[Proposal], version: Version) -> bool {
    proposals.iter().any(|p| p.contains(version))
}

// === ServerReply ===

/// The server's 4-byte answer to a [`ClientHello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerReply {
    /// An exact version boltgate speaks.
    Version(Version),
    /// `00 00 01 FF`: manifest v1 accepted; a [`ManifestOffer`] follows.
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

    #[test]
    fn proposal_display() {
        assert_eq!(Proposal::from_bytes([0, 8, 8, 5]).to_string(), "5.8–5.0");
        assert_eq!(Proposal::from_bytes([0, 0, 0, 3]).to_string(), "3.0");
        assert_eq!(Proposal::from_bytes([0, 0, 0, 2]).to_string(), "Bolt 2");
        assert_eq!(Proposal::from_bytes(MANIFEST_V1).to_string(), "manifest v1");
        assert_eq!(
            Proposal::from_bytes(*b"HTTP").to_string(),
            "unrecognised 48 54 54 50"
        );
    }

    #[test]
    fn adjacency_skips_only_versions_that_never_existed() {
        assert!(adjacent_on_servers(Version::V5_4, Version::V5_6));
        assert!(!adjacent_on_servers(Version::V5_6, Version::V5_8));
        assert!(adjacent_on_servers(Version::V5_7, Version::V5_8));
    }

    fn hello(slots: [[u8; 4]; 4]) -> ClientHello {
        ClientHello {
            proposals: slots.map(Proposal::from_bytes),
        }
    }

    fn wire(proposals: [Proposal; 4]) -> Vec<[u8; 4]> {
        proposals.iter().map(Proposal::to_bytes).collect()
    }

    #[test]
    fn upstream_proposals_keep_the_clients_own_form() {
        // The 4.x driver's offer: ranges and an exact 4.1 stay as they are, no manifest appears.
        let offer = [[0, 0, 0, 5], [0, 2, 4, 4], [0, 0, 1, 4], [0, 0, 0, 3]];
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, true);
        assert_eq!(wire(got), offer.to_vec());
        // A 6.x driver's offer with a manifest: kept, in place; 5.8-5.0 keeps 5.5 inside.
        let offer = [[0, 0, 1, 0xFF], [0, 8, 8, 5], [0, 4, 4, 4], [0, 0, 0, 0]];
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, true);
        assert_eq!(wire(got), offer.to_vec());
        // The retry without the manifest moves the rest up.
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, false);
        assert_eq!(
            wire(got),
            vec![[0, 8, 8, 5], [0, 4, 4, 4], [0, 0, 0, 0], [0, 0, 0, 0]]
        );
    }

    #[test]
    fn upstream_proposals_narrow_only_what_boltgate_cannot_relay() {
        // 5.10-5.0 names 5.9 and 5.10, which boltgate does not speak; Bolt 2 and junk go.
        let offer = [[0, 10, 10, 5], [0, 0, 0, 2], [1, 2, 3, 4], [0, 0, 6, 5]];
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, true);
        assert_eq!(
            wire(got),
            vec![[0, 8, 8, 5], [0, 0, 6, 5], [0, 0, 0, 0], [0, 0, 0, 0]]
        );
        // A client offering only 5.6 offers the server only 5.6.
        let got = upstream_proposals(
            &hello([[0, 0, 6, 5], [0; 4], [0; 4], [0; 4]]),
            Version::SUPPORTED,
            true,
        );
        assert!(offers(&got, Version::V5_6) && !offers(&got, Version::V5_7));
    }

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
