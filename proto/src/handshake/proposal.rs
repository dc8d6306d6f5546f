//! One 4-byte proposal slot of the client's handshake: what the bytes mean, how it is written
//! back, and the versions it names. Both the client side (`hello`) and the upstream side
//! (`negotiation`) reason in these.

use std::fmt;

use super::{Hex, REFUSAL};
use crate::version::Version;

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

#[cfg(test)]
mod tests {
    use super::super::MANIFEST_V1;
    use super::*;

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
}
