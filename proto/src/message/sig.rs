//! Message signatures (the structure tag of a message), one table, with the versions each request
//! exists in (bolt-reference §4.1).

use crate::Version;

/// HELLO (3+); INIT in Bolt 1–2.
pub const HELLO: u8 = 0x01;
/// GOODBYE (3+): no response, the server closes.
pub const GOODBYE: u8 = 0x02;
/// ACK_FAILURE (Bolt 1–2 only).
pub const ACK_FAILURE: u8 = 0x0E;
pub const RESET: u8 = 0x0F;
pub const RUN: u8 = 0x10;
pub const BEGIN: u8 = 0x11;
pub const COMMIT: u8 = 0x12;
pub const ROLLBACK: u8 = 0x13;
/// DISCARD (4.0+, with extra) / DISCARD_ALL (≤3, no fields).
pub const DISCARD: u8 = 0x2F;
/// PULL (4.0+, with extra) / PULL_ALL (≤3, no fields).
pub const PULL: u8 = 0x3F;
/// TELEMETRY (5.4+).
pub const TELEMETRY: u8 = 0x54;
/// ROUTE (4.3+).
pub const ROUTE: u8 = 0x66;
/// LOGON (5.1+).
pub const LOGON: u8 = 0x6A;
/// LOGOFF (5.1+).
pub const LOGOFF: u8 = 0x6B;
pub const SUCCESS: u8 = 0x70;
pub const RECORD: u8 = 0x71;
pub const IGNORED: u8 = 0x7E;
pub const FAILURE: u8 = 0x7F;

/// The message name of a signature (either direction), or `"UNKNOWN"`.
pub fn name(sig: u8) -> &'static str {
    match sig {
        HELLO => "HELLO",
        GOODBYE => "GOODBYE",
        ACK_FAILURE => "ACK_FAILURE",
        RESET => "RESET",
        RUN => "RUN",
        BEGIN => "BEGIN",
        COMMIT => "COMMIT",
        ROLLBACK => "ROLLBACK",
        DISCARD => "DISCARD",
        PULL => "PULL",
        TELEMETRY => "TELEMETRY",
        ROUTE => "ROUTE",
        LOGON => "LOGON",
        LOGOFF => "LOGOFF",
        SUCCESS => "SUCCESS",
        RECORD => "RECORD",
        IGNORED => "IGNORED",
        FAILURE => "FAILURE",
        _ => "UNKNOWN",
    }
}

/// What a client request is, as far as the protocol version defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Hello,
    Logon,
    Logoff,
    Goodbye,
    Reset,
    Run,
    Begin,
    Commit,
    Rollback,
    /// DISCARD (4.0+) or DISCARD_ALL (3).
    Discard,
    /// PULL (4.0+) or PULL_ALL (3).
    Pull,
    Route,
    Telemetry,
    /// Bolt 1–2 only; never produced for the versions boltgate speaks, kept for completeness.
    AckFailure,
    /// A signature this version does not define as a request (kept so it can be forwarded or refused).
    Unknown(u8),
}

impl RequestKind {
    /// Classify a request signature under `version`. Messages newer than the version (LOGON in 4.4,
    /// TELEMETRY in 5.3, ROUTE in 4.2, …) and responses are `Unknown`.
    pub fn of(version: Version, signature: u8) -> RequestKind {
        let v = version;
        match signature {
            HELLO => RequestKind::Hello,
            GOODBYE => RequestKind::Goodbye,
            RESET => RequestKind::Reset,
            RUN => RequestKind::Run,
            BEGIN => RequestKind::Begin,
            COMMIT => RequestKind::Commit,
            ROLLBACK => RequestKind::Rollback,
            DISCARD => RequestKind::Discard,
            PULL => RequestKind::Pull,
            ACK_FAILURE if v.major < 3 => RequestKind::AckFailure,
            ROUTE if v >= Version::V4_3 => RequestKind::Route,
            TELEMETRY if v >= Version::V5_4 => RequestKind::Telemetry,
            LOGON if v >= Version::V5_1 => RequestKind::Logon,
            LOGOFF if v >= Version::V5_1 => RequestKind::Logoff,
            other => RequestKind::Unknown(other),
        }
    }

    /// The signature byte this kind is sent with.
    pub fn signature(self) -> u8 {
        match self {
            RequestKind::Hello => HELLO,
            RequestKind::Logon => LOGON,
            RequestKind::Logoff => LOGOFF,
            RequestKind::Goodbye => GOODBYE,
            RequestKind::Reset => RESET,
            RequestKind::Run => RUN,
            RequestKind::Begin => BEGIN,
            RequestKind::Commit => COMMIT,
            RequestKind::Rollback => ROLLBACK,
            RequestKind::Discard => DISCARD,
            RequestKind::Pull => PULL,
            RequestKind::Route => ROUTE,
            RequestKind::Telemetry => TELEMETRY,
            RequestKind::AckFailure => ACK_FAILURE,
            RequestKind::Unknown(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_versions() {
        assert_eq!(
            RequestKind::of(Version::V4_4, LOGON),
            RequestKind::Unknown(LOGON)
        );
        assert_eq!(RequestKind::of(Version::V5_1, LOGON), RequestKind::Logon);
        assert_eq!(
            RequestKind::of(Version::V5_3, TELEMETRY),
            RequestKind::Unknown(TELEMETRY)
        );
        assert_eq!(
            RequestKind::of(Version::V5_4, TELEMETRY),
            RequestKind::Telemetry
        );
        assert_eq!(
            RequestKind::of(Version::V4_2, ROUTE),
            RequestKind::Unknown(ROUTE)
        );
        assert_eq!(
            RequestKind::of(Version::V3, ACK_FAILURE),
            RequestKind::Unknown(ACK_FAILURE)
        );
        assert_eq!(
            RequestKind::of(Version::V3, SUCCESS),
            RequestKind::Unknown(SUCCESS)
        );
        for s in 0..=255u8 {
            assert_eq!(RequestKind::of(Version::V6_0, s).signature(), s);
        }
        assert_eq!(name(PULL), "PULL");
    }
}
