//! Bolt protocol versions.

use std::fmt;

/// A Bolt protocol version, `major.minor`. Bolt 1–3 have minor 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

impl Version {
    pub const V3: Version = Version::new(3, 0);
    pub const V4_0: Version = Version::new(4, 0);
    pub const V4_1: Version = Version::new(4, 1);
    pub const V4_2: Version = Version::new(4, 2);
    pub const V4_3: Version = Version::new(4, 3);
    pub const V4_4: Version = Version::new(4, 4);
    pub const V5_0: Version = Version::new(5, 0);
    pub const V5_1: Version = Version::new(5, 1);
    pub const V5_2: Version = Version::new(5, 2);
    pub const V5_3: Version = Version::new(5, 3);
    pub const V5_4: Version = Version::new(5, 4);
    pub const V5_6: Version = Version::new(5, 6);
    pub const V5_7: Version = Version::new(5, 7);
    pub const V5_8: Version = Version::new(5, 8);
    pub const V6_0: Version = Version::new(6, 0);

    pub const fn new(major: u8, minor: u8) -> Self {
        Version { major, minor }
    }

    /// Every version boltgate understands, newest first. 5.5 is absent on purpose: no server ever
    /// negotiated it (it shipped only in some drivers), so boltgate neither offers nor accepts it.
    pub const SUPPORTED: &'static [Version] = &[
        Version::V6_0,
        Version::V5_8,
        Version::V5_7,
        Version::V5_6,
        Version::V5_4,
        Version::V5_3,
        Version::V5_2,
        Version::V5_1,
        Version::V5_0,
        Version::V4_4,
        Version::V4_3,
        Version::V4_2,
        Version::V4_1,
        Version::V4_0,
        Version::V3,
    ];

    /// Whether boltgate speaks this version.
    pub fn is_supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }

    /// Whether this version is negotiated only through the handshake manifest: drivers offer
    /// Bolt 6 nowhere else (servers before 5.7 could not read a major 6 slot).
    pub const fn manifest_only(self) -> bool {
        self.major >= 6
    }

    /// The four proposal bytes of this exact version, as in a handshake reply: `00 00 minor major`.
    pub const fn to_bytes(self) -> [u8; 4] {
        [0, 0, self.minor, self.major]
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_and_display() {
        assert!(Version::V5_8 > Version::V5_7);
        assert!(Version::V6_0 > Version::V5_8);
        assert!(Version::V4_4 > Version::V3);
        assert_eq!(Version::V5_4.to_string(), "5.4");
        assert_eq!(Version::V4_3.to_bytes(), [0, 0, 3, 4]);
        assert!(!Version::new(5, 5).is_supported());
        assert!(Version::V3.is_supported());
    }
}
