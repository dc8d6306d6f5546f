//! The bounded label values boltgate's counters use for why something was refused or failed,
//! and what a connect error must tell them.

/// Why a client connection was closed before its session started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `boltgate.client.max_connections` reached.
    MaxConnections,
    /// PROXY protocol on, and the peer is not in `trusted_networks`.
    ProxyUntrusted,
    /// PROXY protocol on, and the header was missing, malformed or late.
    ProxyHeader,
    /// The client started TLS but `server.bolt.tls_level=DISABLED`.
    TlsDisabled,
    /// Plaintext while `server.bolt.tls_level=REQUIRED`.
    TlsRequired,
    /// Nothing (or nothing usable) sent within `boltgate.client.handshake_timeout`.
    HandshakeTimeout,
    /// The WebSocket upgrade was refused (origin, malformed request).
    WebSocket,
    /// No Bolt version in common with the client (or with the upstream).
    BoltVersion,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::ProxyUntrusted => "proxy_untrusted",
            Refusal::ProxyHeader => "proxy_header",
            Refusal::TlsDisabled => "tls_disabled",
            Refusal::TlsRequired => "tls_required",
            Refusal::HandshakeTimeout => "handshake_timeout",
            Refusal::WebSocket => "websocket_upgrade",
            Refusal::BoltVersion => "bolt_version",
        }
    }
}

/// A short, bounded label for why a TLS handshake failed.
pub fn tls_failure_reason(e: &std::io::Error) -> &'static str {
    use rustls::{CertificateError, Error as E};
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return "io";
    };
    match tls {
        E::NoCertificatesPresented => "no_client_certificate",
        E::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate_expired"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate_not_yet_valid"
            }
            CertificateError::Revoked => "certificate_revoked",
            CertificateError::UnknownIssuer => "unknown_issuer",
            _ => "bad_certificate",
        },
        E::AlertReceived(_) => "alert_received",
        E::PeerIncompatible(_) => "incompatible",
        E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::InvalidMessage(_)
        | E::PeerMisbehaved(_) => "protocol_error",
        _ => "other",
    }
}

/// What [`super::Metrics::upstream_connect_failed`] needs of a connect error. The upstream side
/// implements it, so that metrics imports nothing above it.
pub trait ConnectFailure: std::fmt::Display {
    /// A short, bounded label for the `reason` of `boltgate_upstream_connect_failures_total`.
    fn reason(&self) -> &'static str;
    /// The server only refused the client's Bolt versions: not a sign of ill health.
    fn is_version_refusal(&self) -> bool;
}
