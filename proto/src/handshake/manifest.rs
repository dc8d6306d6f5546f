//! Handshake manifest v1 (Bolt 5.7+): the server offers version ranges and capabilities, the client
//! picks one exact version and a subset of the capabilities.
//!
//! ```text
//! S: 00 00 01 FF  <varint N>  N x (00 RR minor major)  <varint capabilities>
//! C: 00 00 minor major  <varint capabilities>          (or 00 00 00 00: nothing suits; close)
//! ```
//!
//! Varints are unsigned LEB128: 7 bits per byte, least significant group first, high bit set on
//! every byte but the last. A `u64` needs at most 10 bytes.

use bytes::BufMut;

use super::{HandshakeError, Hex, Proposal, MANIFEST_V1, REFUSAL};
use crate::version::Version;

/// Most version entries accepted in an offer. Real servers send two or three; the cap keeps a
/// hostile peer from making us wait for (or allocate) up to 2^64 entries.
pub const MAX_MANIFEST_ENTRIES: usize = 64;

/// A `u64` in LEB128 takes at most ceil(64 / 7) = 10 bytes.
const MAX_VARINT_LEN: usize = 10;

/// Appends `value` as an unsigned LEB128 varint (1 to 10 bytes).
pub fn encode_varint(mut value: u64, out: &mut impl BufMut) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Reads an unsigned LEB128 varint from the start of `buf`: `Ok(Some((value, bytes used)))`,
/// `Ok(None)` if `buf` ends inside it, or [`HandshakeError::VarintOverflow`] if it runs past 10 bytes
/// or past 64 bits. Non-minimal encodings (`80 00`) are accepted.
pub fn decode_varint(buf: &[u8]) -> Result<Option<(u64, usize)>, HandshakeError> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(MAX_VARINT_LEN) {
        let bits = u64::from(byte & 0x7F);
        // The 10th byte holds bit 63 only.
        if i == MAX_VARINT_LEN - 1 && byte > 0x01 {
            return Err(HandshakeError::VarintOverflow {
                got: Hex::of(&buf[..=i]),
            });
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Ok(None)
}

/// The server's manifest v1 offer (after the `00 00 01 FF` reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOffer {
    /// Offered versions, normally [`Proposal::Range`]s; anything else is kept but never chosen.
    pub ranges: Vec<Proposal>,
    /// Offered capability bits (only `0x01` FABRIC is known, for Neo4j's internal connector).
    pub capabilities: u64,
}

impl ManifestOffer {
    /// An offer of exactly `versions` (preference order, normally newest first): a range covers
    /// only consecutive minors, so an offer never includes a version not listed (the full supported
    /// list gives `5.8–5.6` and `5.4–5.0`: some drivers do speak 5.5, and must not pick it).
    pub fn from_versions(versions: &[Version], capabilities: u64) -> ManifestOffer {
        ManifestOffer {
            ranges: super::negotiation::group_ranges(versions, |low, high| {
                low.minor + 1 == high.minor
            }),
            capabilities,
        }
    }

    /// Writes the whole server side: `00 00 01 FF`, varint N, N entries, varint capabilities.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&MANIFEST_V1);
        encode_varint(self.ranges.len() as u64, out);
        for range in &self.ranges {
            out.put_slice(&range.to_bytes());
        }
        encode_varint(self.capabilities, out);
    }

    /// Parses what follows the `00 00 01 FF` reply. `Ok(None)` while incomplete; on success also
    /// returns how many bytes of `buf` the offer used.
    pub fn parse_after_marker(
        buf: &[u8],
    ) -> Result<Option<(ManifestOffer, usize)>, HandshakeError> {
        let Some((count, mut at)) = decode_varint(buf)? else {
            return Ok(None);
        };
        if count > MAX_MANIFEST_ENTRIES as u64 {
            return Err(HandshakeError::TooManyManifestEntries {
                count,
                max: MAX_MANIFEST_ENTRIES,
            });
        }
        // count <= MAX_MANIFEST_ENTRIES, so this cannot overflow.
        let entries_len = 4 * count as usize;
        if buf.len() < at + entries_len {
            return Ok(None);
        }
        let ranges = buf[at..at + entries_len]
            .chunks_exact(4)
            .map(|c| Proposal::from_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        at += entries_len;
        let Some((capabilities, used)) = decode_varint(&buf[at..])? else {
            return Ok(None);
        };
        Ok(Some((
            ManifestOffer {
                ranges,
                capabilities,
            },
            at + used,
        )))
    }

    /// The client side's pick: the first of `candidates` (preference order) that the offer contains.
    pub fn choose(&self, candidates: &[Version]) -> Option<Version> {
        candidates
            .iter()
            .copied()
            .find(|v| self.ranges.iter().any(|r| r.contains(*v)))
    }

    /// What a proxy shows its client of this (the server's) offer: the versions of `supported`
    /// the server offers that the client named in its proposal slots (`named`) or that only a
    /// manifest negotiates ([`Version::manifest_only`]: a client asking for a manifest names
    /// those nowhere else), newest first, with no capabilities (a proxy relays none). The client
    /// then picks what it speaks: a 5.8 client offering a manifest is shown 6.0 too and passes it by.
    pub fn relayable(&self, named: &[Version], supported: &[Version]) -> ManifestOffer {
        let mut versions: Vec<Version> = supported
            .iter()
            .copied()
            .filter(|v| named.contains(v) || v.manifest_only())
            .filter(|v| self.ranges.iter().any(|r| r.contains(*v)))
            .collect();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        ManifestOffer::from_versions(&versions, 0)
    }

    /// The server side's check of the client's answer: the version must have been offered and the
    /// capabilities must be a subset of those offered (otherwise a server closes the connection).
    pub fn check(&self, choice: &ManifestChoice) -> Result<(), HandshakeError> {
        if !self.ranges.iter().any(|r| r.contains(choice.version)) {
            return Err(HandshakeError::NotOffered {
                version: choice.version,
                offered: self.ranges.clone(),
            });
        }
        if choice.capabilities & !self.capabilities != 0 {
            return Err(HandshakeError::CapabilitiesNotOffered {
                chosen: choice.capabilities,
                offered: self.capabilities,
            });
        }
        Ok(())
    }
}

/// The client's answer to a [`ManifestOffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestChoice {
    pub version: Version,
    pub capabilities: u64,
}

impl ManifestChoice {
    /// Writes `00 00 minor major` then the capabilities varint.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&self.version.to_bytes());
        encode_varint(self.capabilities, out);
    }

    /// Parses the client's answer. `Ok(None)` while incomplete. A refusal (`00 00 00 00`) is
    /// [`HandshakeError::ManifestRefused`] as soon as its four bytes are here; a range or a
    /// manifest marker instead of an exact version is [`HandshakeError::Unexpected`]. Whether the
    /// version was offered is [`ManifestOffer::check`]'s job.
    pub fn parse(buf: &[u8]) -> Result<Option<(ManifestChoice, usize)>, HandshakeError> {
        let Some(head) = buf.get(..4) else {
            return Ok(None);
        };
        let [reserved, range, minor, major] = [head[0], head[1], head[2], head[3]];
        if head == REFUSAL {
            return Err(HandshakeError::ManifestRefused);
        }
        if reserved != 0 || range != 0 || major == 0xFF || major == 0 {
            return Err(HandshakeError::Unexpected {
                expected: "an exact version 00 00 minor major chosen from the manifest",
                got: Hex::of(head),
            });
        }
        let Some((capabilities, used)) = decode_varint(&buf[4..])? else {
            return Ok(None);
        };
        Ok(Some((
            ManifestChoice {
                version: Version::new(major, minor),
                capabilities,
            },
            4 + used,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_at_group_edges() {
        for value in [
            0,
            1,
            0x7F,
            0x80,
            0x3FFF,
            0x4000,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            encode_varint(value, &mut out);
            assert!(out.len() <= MAX_VARINT_LEN);
            assert_eq!(decode_varint(&out), Ok(Some((value, out.len()))), "{value}");
            assert_eq!(decode_varint(&out[..out.len() - 1]), Ok(None), "{value}");
        }
    }

    #[test]
    fn from_versions_never_bridges_gaps() {
        let offer = ManifestOffer::from_versions(Version::SUPPORTED, 0);
        let text: Vec<String> = offer.ranges.iter().map(|r| r.to_string()).collect();
        assert_eq!(text, ["6.0", "5.8–5.6", "5.4–5.0", "4.4–4.0", "3.0"]);
        assert!(!offer.ranges.iter().any(|r| r.contains(Version::new(5, 5))));
    }

    fn shown(offer: &ManifestOffer) -> Vec<String> {
        offer.ranges.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn relayable_adds_manifest_only_versions_to_what_the_client_named() {
        // Neo4j 2026.08: 6.0-6.1 and 5.0-5.8 (5.5 inside), capabilities 1.
        let server = ManifestOffer {
            ranges: vec![
                Proposal::from_bytes([0, 1, 1, 6]),
                Proposal::from_bytes([0, 8, 8, 5]),
            ],
            capabilities: 1,
        };
        // A 6.x driver names 5.8-5.0 and 4.4 beside the manifest: 6.1 and 5.5 are not relayed.
        let named = [
            Version::V5_8,
            Version::V5_7,
            Version::V5_6,
            Version::V5_4,
            Version::V5_0,
            Version::V4_4,
        ];
        let got = server.relayable(&named, Version::SUPPORTED);
        assert_eq!(shown(&got), ["6.0", "5.8–5.6", "5.4", "5.0"]);
        assert_eq!(got.capabilities, 0);
        // A client that named only 5.6 is shown 5.6 and 6.0, nothing it did not name below 6.
        let got = server.relayable(&[Version::V5_6], Version::SUPPORTED);
        assert_eq!(shown(&got), ["6.0", "5.6"]);
        // A server without 6.0 offers none; one offering only 4.4 leaves nothing to show.
        let old = ManifestOffer::from_versions(&[Version::V5_8, Version::V5_7], 0);
        assert_eq!(
            shown(&old.relayable(&named, Version::SUPPORTED)),
            ["5.8–5.7"]
        );
        let only = ManifestOffer::from_versions(&[Version::V4_4], 0);
        assert!(only
            .relayable(&[Version::V5_8], Version::SUPPORTED)
            .ranges
            .is_empty());
    }
}
