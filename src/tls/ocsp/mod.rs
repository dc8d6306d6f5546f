//! OCSP (RFC 6960): the bolt certificate's staple, and checking the staples of upstream servers.
//!
//! Server side (`server.bolt.ocsp_stapling_enabled`): a [`Stapler`] task asks the responder
//! (the certificate's Authority Information Access URL, or `boltgate.ocsp.responder_url`) with an
//! HTTP POST, checks the answer exactly as a client would ([`check`]), puts a `good` answer on the
//! [`StapledCert`](super::resolver::StapledCert) and fetches again before it goes stale. While
//! the responder is unreachable the last good answer keeps being served until its nextUpdate;
//! then stapling stops, with a warning.
//! A `revoked` answer is logged as an error and never stapled.
//!
//! Client side: [`OcspCheckingVerifier`] wraps an upstream's certificate verifier and checks the
//! stapled answer rustls hands it (rustls always asks for one): signature by the issuer or its
//! delegated responder, certificate ID, time window. `revoked` refuses the server; no staple
//! refuses it only with `boltgate.upstream.ocsp_required=true`.
//!
//! Crates: `x509-ocsp` for the ASN.1 types, `x509-cert`/`der` for certificates, rustls' own
//! signature verification algorithms (ring) for signatures, `ureq` for HTTP. Written here: the
//! CertID hashes, the delegated-responder rules and the refresh schedule, which no crate does.
//!
//! Why `ureq` on a blocking thread rather than hyper: one small POST every few hours does not
//! need an async HTTP stack; ureq (built without TLS, as OCSP is plain HTTP) is a few small
//! crates, where hyper + hyper-util + http-body-util would be the biggest dependency here.
//!
//! The parts: `fetch` (the CertID, the request and the HTTP POST to the responder), `validate`
//! (validating a response: signature, delegated responder, CertID, time window), `stapler` (the
//! server side's refresh schedule and its task) and `verifier` (the client side). This file keeps
//! the error type and the result of a check, which all of them pass around.

use std::time::{Duration, SystemTime};

use thiserror::Error;
use x509_ocsp::OcspResponseStatus;

mod fetch;
mod stapler;
mod validate;
mod verifier;

pub use fetch::{aia_url, cert_id, fetch, request};
pub use stapler::{Cached, StapleSource, Stapler};
pub use validate::{check, find_issuer};
pub use verifier::OcspCheckingVerifier;

/// Clock skew tolerated on thisUpdate and nextUpdate (RFC 6960 leaves it to the client; five
/// minutes is what most TLS stacks allow).
const SKEW: Duration = Duration::from_secs(300);

#[derive(Debug, Error)]
pub enum OcspError {
    #[error("cannot parse {what}: {source}")]
    Der {
        what: &'static str,
        #[source]
        source: der::Error,
    },
    #[error("the responder answered {0:?} instead of a response")]
    Status(OcspResponseStatus),
    #[error("the response is not a basic OCSP response")]
    NotBasic,
    #[error("the response's signature verifies neither with the issuer's key nor with a delegated responder certificate it carries")]
    Signature,
    #[error("the response has no answer for this certificate (serial {serial})")]
    NoMatchingCertId { serial: String },
    #[error("the response is not yet valid (thisUpdate {0})")]
    NotYetValid(String),
    #[error("the response expired (nextUpdate {0})")]
    Expired(String),
    #[error("POST {url} failed: {problem}")]
    Fetch { url: String, problem: String },
}

fn der_err(what: &'static str) -> impl FnOnce(der::Error) -> OcspError {
    move |source| OcspError::Der { what, source }
}

/// What a checked response says about the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked { at: String, reason: Option<String> },
    Unknown,
}

/// A response that passed [`check`].
#[derive(Debug, Clone)]
pub struct Checked {
    pub status: Status,
    pub this_update: SystemTime,
    pub next_update: Option<SystemTime>,
}

impl Checked {
    /// Whether a response from a peer is still acceptable at `now` (with clock skew allowed).
    pub fn fresh_at(&self, now: SystemTime) -> bool {
        self.next_update.is_none_or(|n| now <= n + SKEW)
    }

    /// Whether boltgate may still staple this response at `now`. No skew here: a client with
    /// an accurate clock refuses a staple past its nextUpdate, so boltgate stops at nextUpdate.
    pub fn servable_at(&self, now: SystemTime) -> bool {
        self.next_update.is_none_or(|n| now < n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn checked(this: u64, next: Option<u64>) -> Checked {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        Checked {
            status: Status::Good,
            this_update: t(this),
            next_update: next.map(t),
        }
    }

    #[test]
    fn a_stale_response_is_not_fresh() {
        let c = checked(0, Some(1000));
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert!(c.fresh_at(at(1000)));
        assert!(!c.fresh_at(at(1000) + SKEW + Duration::from_secs(1)));
        assert!(checked(0, None).fresh_at(at(1 << 40)));
    }
}
