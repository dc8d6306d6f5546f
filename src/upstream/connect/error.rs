//! [`UpstreamError`]: every way reaching the upstream can fail, saying which side failed and
//! whether trying again may help, because the session turns it into the FAILURE a client's driver
//! decides to retry on; and [`tls_hint`], the setting that fixes a failed TLS handshake.

use std::time::Duration;

use boltgate_proto::Version;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum UpstreamError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error("TLS handshake with {addr} failed: {source}{}", hint_suffix(hint))]
    Tls {
        addr: String,
        #[source]
        source: std::io::Error,
        /// Which setting fixes it, when the failure says (see [`tls_hint`]).
        hint: Option<&'static str>,
    },
    #[error("Bolt handshake with {addr} failed: {problem}")]
    Handshake { addr: String, problem: String },
    #[error("{addr} speaks none of the Bolt versions the client proposed ({proposed})")]
    NoCommonVersion { addr: String, proposed: String },
    #[error(
        "{addr} answered Bolt {chose}, which was not offered ({offered}), also when asked again \
         without the manifest: the server does not follow the Bolt handshake for this client's \
         versions; the client was refused, as its driver would refuse the server"
    )]
    NotOffered {
        addr: String,
        chose: Version,
        offered: String,
    },
    #[error(
        "{addr} closed the connection without a reply to the client's versions ({offered}), \
         though it answers boltgate's own offer: the client was closed the same way"
    )]
    ClosedOnOffer { addr: String, offered: String },
    #[error("{addr} closed the connection")]
    Closed { addr: String },
}

impl UpstreamError {
    /// Whether the negotiation failed on the client's versions, as opposed to the upstream being
    /// unreachable: the client then gets a handshake refusal, as it would from the server itself,
    /// and the upstream is not marked down (it answered; another client's versions may suit it).
    pub fn is_version_refusal(&self) -> bool {
        matches!(
            self,
            UpstreamError::NoCommonVersion { .. }
                | UpstreamError::NotOffered { .. }
                | UpstreamError::ClosedOnOffer { .. }
        )
    }
}

/// The labels `boltgate_upstream_connect_failures_total` counts by.
impl crate::metrics::ConnectFailure for UpstreamError {
    fn reason(&self) -> &'static str {
        if matches!(self, UpstreamError::Connect { .. }) {
            "connect"
        } else if matches!(self, UpstreamError::ConnectTimeout { .. }) {
            "timeout"
        } else if matches!(self, UpstreamError::Tls { .. }) {
            "tls"
        } else if matches!(
            self,
            UpstreamError::NoCommonVersion { .. }
                | UpstreamError::NotOffered { .. }
                | UpstreamError::ClosedOnOffer { .. }
        ) {
            "bolt_version"
        } else if matches!(
            self,
            UpstreamError::Handshake { .. } | UpstreamError::Closed { .. }
        ) {
            "bolt_handshake"
        } else {
            "other"
        }
    }

    fn is_version_refusal(&self) -> bool {
        UpstreamError::is_version_refusal(self)
    }
}

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map(|h| format!(" ({h})")).unwrap_or_default()
}

/// The setting that fixes a failed upstream TLS handshake, from what failed: an operator reading
/// "UnknownIssuer" should not have to know which of boltgate's settings chooses the roots.
pub fn tls_hint(e: &std::io::Error, cluster_policy: bool) -> Option<&'static str> {
    use rustls::{CertificateError, Error as Tls};
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>());
    Some(match (tls, cluster_policy) {
        (Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)), true) => {
            "the server's certificate is not signed by a CA in dbms.ssl.policy.cluster.trusted_dir: \
             put that CA's certificate there"
        }
        (Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)), false) => {
            "the server's certificate is not signed by a CA in the system roots: point \
             SSL_CERT_FILE at its CA, or enable dbms.ssl.policy.cluster with the CA in its \
             trusted_dir, or accept any certificate with bolt+ssc:// in boltgate.upstream.uri"
        }
        (
            Some(Tls::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )),
            true,
        ) => "connect by a name the certificate holds, or set dbms.ssl.policy.cluster.verify_hostname=false",
        (
            Some(Tls::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )),
            false,
        ) => "use a host name the certificate holds in boltgate.upstream.uri, or bolt+ssc:// to skip the check",
        (Some(Tls::InvalidCertificate(_)), _) => {
            "the server's certificate was refused; see the reason above and fix it on the server"
        }
        (Some(Tls::AlertReceived(_)), false) => {
            "the server refused the handshake; if it requires a client certificate, enable \
             dbms.ssl.policy.cluster with boltgate's certificate and key"
        }
        (Some(Tls::AlertReceived(_)), true) => {
            "the server refused the handshake; if it checks client certificates, it must trust \
             the CA that signed dbms.ssl.policy.cluster.public_certificate"
        }
        (Some(Tls::InvalidMessage(_)), _) => {
            "the server does not answer in TLS on this port: use bolt:// in boltgate.upstream.uri \
             (and leave dbms.ssl.policy.cluster.enabled=false)"
        }
        (None, _)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            "the server closed the connection during the TLS handshake: if it does not speak TLS \
             on this port, use bolt:// in boltgate.upstream.uri (and leave \
             dbms.ssl.policy.cluster.enabled=false); if it wants a client certificate, enable \
             dbms.ssl.policy.cluster"
        }
        _ => return None,
    })
}
