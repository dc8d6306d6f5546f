//! OCSP (RFC 6960): the bolt certificate's staple, and checking the staples of upstream servers.
//!
//! Server side (`server.bolt.ocsp_stapling_enabled`): a [`Stapler`] task asks the responder
//! (the certificate's Authority Information Access URL, or `boltgate.ocsp.responder_url`) with an
//! HTTP POST, checks the answer exactly as a client would ([`check`]), puts a `good` answer on the
//! [`StapledCert`] and fetches again before it goes stale. While the responder is unreachable the
//! last good answer keeps being served until its nextUpdate; then stapling stops, with a warning.
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

use crate::config::value::redact_userinfo;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use thiserror::Error;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest,
};

use super::resolver::StapledCert;
use crate::config::Scope;
use crate::metrics::Metrics;

/// Time allowed for one fetch from the responder, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before asking again after a failed fetch (capped by the cached staple's expiry).
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Clock skew tolerated on thisUpdate and nextUpdate (RFC 6960 leaves it to the client; five
/// minutes is what most TLS stacks allow).
const SKEW: Duration = Duration::from_secs(300);
/// A responder's answer is small (a few KiB with a delegated certificate); refuse anything huge.
const MAX_RESPONSE: u64 = 1 << 20;

const OID_SHA1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_OCSP_BASIC: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const OID_KP_OCSP_SIGNING: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const OID_EXT_KEY_USAGE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.37");

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

// === CertID, request, fetch ===

fn parse_cert(der: &[u8], what: &'static str) -> Result<Certificate, OcspError> {
    Certificate::from_der(der).map_err(der_err(what))
}

fn digest(alg: &der::asn1::ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    let alg = if *alg == OID_SHA1 {
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY
    } else if *alg == OID_SHA256 {
        &ring::digest::SHA256
    } else {
        return None;
    };
    Some(ring::digest::digest(alg, data).as_ref().to_vec())
}

/// The CertID of `leaf` (issued by `issuer`) with SHA-1, as OpenSSL and most responders expect.
pub fn cert_id(leaf: &Certificate, issuer: &Certificate) -> Result<CertId, OcspError> {
    let hash = |d: &[u8]| digest(&OID_SHA1, d).expect("SHA-1 is known");
    let name = issuer
        .tbs_certificate
        .subject
        .to_der()
        .map_err(der_err("the issuer's name"))?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: OID_SHA1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(hash(&name)).map_err(der_err("a hash"))?,
        issuer_key_hash: OctetString::new(hash(key)).map_err(der_err("a hash"))?,
        serial_number: leaf.tbs_certificate.serial_number.clone(),
    })
}

/// Whether `id` (with whatever hash the responder chose) names `leaf` issued by `issuer`.
fn cert_id_matches(id: &CertId, leaf: &Certificate, issuer: &Certificate) -> bool {
    let alg = &id.hash_algorithm.oid;
    let Ok(name) = issuer.tbs_certificate.subject.to_der() else {
        return false;
    };
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    id.serial_number == leaf.tbs_certificate.serial_number
        && digest(alg, &name).as_deref() == Some(id.issuer_name_hash.as_bytes())
        && digest(alg, key).as_deref() == Some(id.issuer_key_hash.as_bytes())
}

/// A DER `OCSPRequest` for one certificate, unsigned and without a nonce (a staple is served to
/// many clients, so a nonce would mean nothing to them).
pub fn request(id: CertId) -> Result<Vec<u8>, OcspError> {
    OcspRequest {
        tbs_request: TbsRequest {
            version: x509_ocsp::Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(der_err("the request"))
}

/// The OCSP URL in the certificate's Authority Information Access extension.
pub fn aia_url(leaf: &CertificateDer<'_>) -> Option<url::Url> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    cert.extensions().iter().find_map(|ext| {
        let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() else {
            return None;
        };
        aia.accessdescs
            .iter()
            .find_map(|d| match &d.access_location {
                GeneralName::URI(uri)
                    if d.access_method
                        == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP =>
                {
                    url::Url::parse(uri).ok()
                }
                _ => None,
            })
    })
}

/// POSTs `body` to `url` (RFC 6960 A.1) on a blocking thread and returns the body of a 200.
pub async fn fetch(url: &url::Url, body: Vec<u8>) -> Result<Vec<u8>, OcspError> {
    let task_url = url.to_string();
    let target = redact_userinfo(&task_url);
    let err = |problem: String| OcspError::Fetch {
        // ureq's errors may quote the URL, credentials included.
        problem: problem.replace(&task_url, &target),
        url: target.clone(),
    };
    let task_url = task_url.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&task_url)
            .header("Content-Type", "application/ocsp-request")
            .header("Accept", "application/ocsp-response")
            .send(&body[..])
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status != 200 {
            return Err(format!("HTTP status {status}"));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| e.to_string())
    })
    .await;
    match joined {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(problem)) => Err(err(problem)),
        Err(e) => Err(err(format!("the fetch task failed: {e}"))),
    }
}

// === checking a response ===

/// The contents of a DER SEQUENCE (what pki-types' `AlgorithmIdentifier` holds).
fn seq_contents(der_bytes: &[u8]) -> Option<&[u8]> {
    let mut reader = der::SliceReader::new(der_bytes).ok()?;
    let header = der::Header::decode(&mut reader).ok()?;
    let len: usize = header.length.try_into().ok()?;
    der_bytes.get(der_bytes.len() - len..)
}

/// Verifies `signature` over `message` with `spki`, using the provider's algorithms (so only
/// what rustls would accept in a handshake is accepted here).
fn verify_signature(
    provider: &CryptoProvider,
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let (Ok(key_alg), Ok(sig_alg)) = (spki.algorithm.to_der(), alg.to_der()) else {
        return false;
    };
    let (Some(key_alg), Some(sig_alg)) = (seq_contents(&key_alg), seq_contents(&sig_alg)) else {
        return false;
    };
    provider
        .signature_verification_algorithms
        .all
        .iter()
        .filter(|a| {
            a.public_key_alg_id().as_ref() == key_alg && a.signature_alg_id().as_ref() == sig_alg
        })
        .any(|a| {
            a.verify_signature(spki.subject_public_key.raw_bytes(), message, signature)
                .is_ok()
        })
}

fn has_ocsp_signing(cert: &Certificate) -> bool {
    let Some(exts) = &cert.tbs_certificate.extensions else {
        return false;
    };
    exts.iter()
        .filter(|e| e.extn_id == OID_EXT_KEY_USAGE)
        .any(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                .is_ok_and(|eku| eku.0.contains(&OID_KP_OCSP_SIGNING))
        })
}

fn to_system_time(t: &x509_ocsp::OcspGeneralizedTime) -> SystemTime {
    t.0.to_system_time()
}

fn show(t: SystemTime) -> String {
    der::asn1::GeneralizedTime::from_system_time(t)
        .map(|g| g.to_date_time().to_string())
        .unwrap_or_else(|_| format!("{t:?}"))
}

/// Checks a DER `OCSPResponse` for `leaf` issued by `issuer` at `now`: a successful basic
/// response, signed by the issuer or by a responder certificate the issuer signed for OCSP
/// signing (RFC 6960 4.2.2.2), with an answer for this certificate whose time window holds `now`.
pub fn check(
    response: &[u8],
    leaf: &CertificateDer<'_>,
    issuer: &CertificateDer<'_>,
    provider: &CryptoProvider,
    now: SystemTime,
) -> Result<Checked, OcspError> {
    let leaf = parse_cert(leaf.as_ref(), "the certificate")?;
    let issuer = parse_cert(issuer.as_ref(), "the issuer's certificate")?;
    let outer = OcspResponse::from_der(response).map_err(der_err("the OCSP response"))?;
    if outer.response_status != OcspResponseStatus::Successful {
        return Err(OcspError::Status(outer.response_status));
    }
    let bytes = outer.response_bytes.ok_or(OcspError::NotBasic)?;
    if bytes.response_type != OID_OCSP_BASIC {
        return Err(OcspError::NotBasic);
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(der_err("the basic OCSP response"))?;
    // der decodes strict DER only, so re-encoding gives back the bytes that were signed.
    let tbs = basic
        .tbs_response_data
        .to_der()
        .map_err(der_err("the response data"))?;
    let signature = basic.signature.raw_bytes();
    let issuer_spki = &issuer.tbs_certificate.subject_public_key_info;
    let signed_by_issuer = verify_signature(
        provider,
        issuer_spki,
        &basic.signature_algorithm,
        &tbs,
        signature,
    );
    let signed_by_delegate = || {
        basic.certs.iter().flatten().any(|responder| {
            let Ok(responder_tbs) = responder.tbs_certificate.to_der() else {
                return false;
            };
            let valid = responder
                .tbs_certificate
                .validity
                .not_before
                .to_system_time()
                <= now + SKEW
                && now
                    <= responder
                        .tbs_certificate
                        .validity
                        .not_after
                        .to_system_time()
                        + SKEW;
            responder.tbs_certificate.issuer == issuer.tbs_certificate.subject
                && valid
                && has_ocsp_signing(responder)
                && verify_signature(
                    provider,
                    issuer_spki,
                    &responder.signature_algorithm,
                    &responder_tbs,
                    responder.signature.raw_bytes(),
                )
                && verify_signature(
                    provider,
                    &responder.tbs_certificate.subject_public_key_info,
                    &basic.signature_algorithm,
                    &tbs,
                    signature,
                )
        })
    };
    if !signed_by_issuer && !signed_by_delegate() {
        return Err(OcspError::Signature);
    }
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| cert_id_matches(&r.cert_id, &leaf, &issuer))
        .ok_or_else(|| OcspError::NoMatchingCertId {
            serial: leaf.tbs_certificate.serial_number.to_string(),
        })?;
    let this_update = to_system_time(&single.this_update);
    let next_update = single.next_update.as_ref().map(to_system_time);
    if this_update > now + SKEW {
        return Err(OcspError::NotYetValid(show(this_update)));
    }
    if let Some(next) = next_update {
        if now > next + SKEW {
            return Err(OcspError::Expired(show(next)));
        }
    }
    let status = match &single.cert_status {
        CertStatus::Good(_) => Status::Good,
        CertStatus::Unknown(_) => Status::Unknown,
        CertStatus::Revoked(info) => Status::Revoked {
            at: show(to_system_time(&info.revocation_time)),
            reason: info.revocation_reason.map(|r| format!("{r:?}")),
        },
    };
    Ok(Checked {
        status,
        this_update,
        next_update,
    })
}

/// The issuer of `leaf` among `candidates` (by name, then by signature).
pub fn find_issuer<'a>(
    leaf: &CertificateDer<'_>,
    candidates: impl IntoIterator<Item = &'a CertificateDer<'static>>,
    provider: &CryptoProvider,
) -> Option<CertificateDer<'static>> {
    let parsed = parse_cert(leaf.as_ref(), "the certificate").ok()?;
    let tbs = parsed.tbs_certificate.to_der().ok()?;
    candidates.into_iter().find_map(|c| {
        let issuer = parse_cert(c.as_ref(), "a certificate").ok()?;
        (issuer.tbs_certificate.subject == parsed.tbs_certificate.issuer
            && verify_signature(
                provider,
                &issuer.tbs_certificate.subject_public_key_info,
                &parsed.signature_algorithm,
                &tbs,
                parsed.signature.raw_bytes(),
            ))
        .then(|| c.clone())
    })
}

// === the stapler ===

/// Everything the stapler needs for one certificate.
#[derive(Debug, Clone)]
pub struct StapleSource {
    pub leaf: CertificateDer<'static>,
    pub issuer: CertificateDer<'static>,
    pub url: url::Url,
    pub refresh_margin: Duration,
    pub provider: Arc<CryptoProvider>,
}

/// A staple already obtained (carried over a reload that kept the same certificate).
#[derive(Debug, Clone)]
pub struct Cached {
    pub der: Vec<u8>,
    pub checked: Checked,
}

/// The background task keeping one [`StapledCert`]'s staple fresh; stopped on Drop.
#[derive(Debug)]
pub struct Stapler {
    task: tokio::task::JoinHandle<()>,
    cached: Arc<std::sync::Mutex<Option<Cached>>>,
    source: StapleSource,
}

impl Drop for Stapler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stapler {
    /// Starts fetching at once (or, with `cached` still fresh, when it is due for refresh). The
    /// staple's age is kept in `metrics` (`boltgate_ocsp_staple_age_seconds{scope="bolt"}`).
    pub fn spawn(
        cert: Arc<StapledCert>,
        source: StapleSource,
        cached: Option<Cached>,
        metrics: Metrics,
    ) -> Stapler {
        let cached = Arc::new(std::sync::Mutex::new(cached));
        let task = tokio::spawn(run(cert, source.clone(), cached.clone(), metrics));
        Stapler {
            task,
            cached,
            source,
        }
    }

    /// The last good response, for carrying over to a reloaded config with the same leaf.
    pub fn cached_for(&self, leaf: &CertificateDer<'_>) -> Option<Cached> {
        if self.source.leaf.as_ref() != leaf.as_ref() {
            return None;
        }
        self.cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The shortest wait between two fetches after a good answer: a responder that hands out short
/// (or already half-spent) responses must not be asked every second forever.
const MIN_REFRESH: Duration = Duration::from_secs(5);

/// When to fetch again after a good response obtained at `now`: halfway through its validity
/// or `margin` before its nextUpdate, whichever is sooner. A margin at least as long as the
/// validity would mean "now" after every answer; then halfway is used and `true` says the
/// margin was too long (for a warning). Never sooner than [`MIN_REFRESH`] from `now`.
fn refresh_at(checked: &Checked, margin: Duration, now: SystemTime) -> (SystemTime, bool) {
    let floor = now + MIN_REFRESH;
    match checked.next_update {
        None => ((now + margin).max(floor), false),
        Some(next) => {
            let validity = next.duration_since(checked.this_update).unwrap_or_default();
            let half = checked.this_update + validity / 2;
            if margin >= validity {
                return (half.max(floor), true);
            }
            (half.min(next - margin).max(floor), false)
        }
    }
}

async fn sleep_until(t: SystemTime) {
    let d = t.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(d).await;
}

async fn run(
    cert: Arc<StapledCert>,
    source: StapleSource,
    cached: Arc<std::sync::Mutex<Option<Cached>>>,
    metrics: Metrics,
) {
    let url = redact_userinfo(source.url.as_str());
    let lock = || cached.lock().unwrap_or_else(|e| e.into_inner());
    let staple = |der: Option<Vec<u8>>, this_update: Option<SystemTime>| {
        cert.set_ocsp(der);
        metrics.ocsp_staple(Scope::Bolt, this_update);
    };
    let mut next_fetch = SystemTime::now();
    let mut margin_warned = false;
    if let Some(c) = lock().clone() {
        if c.checked.servable_at(SystemTime::now()) {
            staple(Some(c.der.clone()), Some(c.checked.this_update));
            next_fetch = refresh_at(&c.checked, source.refresh_margin, c.checked.this_update).0;
        }
    }
    loop {
        // Wake for the fetch, or earlier to drop a staple that expires first.
        let expiry = lock().as_ref().and_then(|c| c.checked.next_update);
        let wake = expiry.map_or(next_fetch, |e| e.min(next_fetch));
        sleep_until(wake).await;
        let now = SystemTime::now();
        if now < next_fetch {
            let mut guard = lock();
            if guard.as_ref().is_some_and(|c| !c.checked.servable_at(now)) {
                *guard = None;
                staple(None, None);
                tracing::warn!(scope = "bolt", responder = %url,
                    "OCSP staple expired and the responder could not be reached: stapling stopped until a fresh response is obtained");
            }
            continue;
        }
        match fetch_checked(&source).await {
            Ok((der, checked)) => match &checked.status {
                Status::Good => {
                    tracing::info!(scope = "bolt", responder = %url,
                        this_update = %show(checked.this_update),
                        next_update = %checked.next_update.map_or("none".into(), show),
                        "OCSP staple obtained");
                    let (at, margin_too_long) =
                        refresh_at(&checked, source.refresh_margin, SystemTime::now());
                    if margin_too_long && !margin_warned {
                        margin_warned = true;
                        let validity = checked
                            .next_update
                            .and_then(|n| n.duration_since(checked.this_update).ok())
                            .unwrap_or_default();
                        tracing::warn!(scope = "bolt", responder = %url,
                            validity_secs = validity.as_secs(),
                            refresh_margin_secs = source.refresh_margin.as_secs(),
                            "OCSP: the responder's answers are valid for no longer than boltgate.ocsp.refresh_margin; refreshing halfway through each answer instead (set a shorter boltgate.ocsp.refresh_margin)");
                    }
                    next_fetch = at;
                    staple(Some(der.clone()), Some(checked.this_update));
                    *lock() = Some(Cached { der, checked });
                }
                Status::Revoked { at, reason } => {
                    tracing::error!(scope = "bolt", responder = %url, revoked_at = %at,
                        reason = reason.as_deref().unwrap_or("unspecified"),
                        "OCSP: the bolt certificate is REVOKED; it is not stapled (replace the certificate and reload)");
                    staple(None, None);
                    *lock() = None;
                    next_fetch = SystemTime::now() + source.refresh_margin.min(RETRY_AFTER * 10);
                }
                Status::Unknown => {
                    tracing::warn!(scope = "bolt", responder = %url,
                        "OCSP: the responder does not know the bolt certificate (status unknown); not stapled, the last good staple (if any) is kept");
                    next_fetch = SystemTime::now() + RETRY_AFTER;
                }
            },
            Err(e) => {
                let serving = lock().is_some();
                tracing::warn!(scope = "bolt", responder = %url, error = %e,
                    "OCSP fetch failed; {}; retrying in {RETRY_AFTER:?}",
                    if serving { "still serving the cached staple until its nextUpdate" } else { "no staple is served" });
                next_fetch = SystemTime::now() + RETRY_AFTER;
            }
        }
    }
}

async fn fetch_checked(source: &StapleSource) -> Result<(Vec<u8>, Checked), OcspError> {
    let leaf = parse_cert(source.leaf.as_ref(), "the certificate")?;
    let issuer = parse_cert(source.issuer.as_ref(), "the issuer's certificate")?;
    let body = request(cert_id(&leaf, &issuer)?)?;
    let der = fetch(&source.url, body).await?;
    let checked = check(
        &der,
        &source.leaf,
        &source.issuer,
        &source.provider,
        SystemTime::now(),
    )?;
    Ok((der, checked))
}

// === the client side ===

/// Wraps an upstream certificate verifier with a check of the stapled OCSP response.
#[derive(Debug)]
pub struct OcspCheckingVerifier {
    pub inner: Arc<dyn ServerCertVerifier>,
    pub provider: Arc<CryptoProvider>,
    /// Certificates that may have issued the server's (e.g. trusted_dir), besides those it sends.
    pub issuers: Vec<CertificateDer<'static>>,
    /// `boltgate.upstream.ocsp_required`.
    pub required: bool,
}

fn refuse(problem: String) -> rustls::Error {
    rustls::Error::General(problem)
}

impl ServerCertVerifier for OcspCheckingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let server = server_name.to_str();
        if ocsp_response.is_empty() {
            if self.required {
                tracing::info!(server = %server, "upstream refused: it stapled no OCSP response (boltgate.upstream.ocsp_required=true)");
                return Err(refuse(format!(
                    "{server} stapled no OCSP response and boltgate.upstream.ocsp_required=true"
                )));
            }
            tracing::debug!(server = %server, "upstream stapled no OCSP response");
            return Ok(verified);
        }
        let sent: Vec<CertificateDer<'static>> = intermediates
            .iter()
            .map(|c| c.clone().into_owned())
            .collect();
        let Some(issuer) = find_issuer(
            end_entity,
            sent.iter().chain(self.issuers.iter()),
            &self.provider,
        ) else {
            return Err(refuse(format!(
                "{server} stapled an OCSP response, but the issuer of its certificate is neither in its chain nor in trusted_dir, so the response cannot be checked"
            )));
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now.as_secs());
        match check(ocsp_response, end_entity, &issuer, &self.provider, now) {
            Ok(Checked {
                status: Status::Good,
                ..
            }) => {
                tracing::debug!(server = %server, "upstream's stapled OCSP response: good");
                Ok(verified)
            }
            Ok(Checked {
                status: Status::Revoked { at, reason },
                ..
            }) => {
                tracing::warn!(server = %server, revoked_at = %at,
                    reason = reason.as_deref().unwrap_or("unspecified"),
                    "upstream refused: its stapled OCSP response says its certificate is revoked");
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Revoked,
                ))
            }
            Ok(Checked {
                status: Status::Unknown,
                ..
            }) if !self.required => {
                tracing::debug!(server = %server, "upstream's stapled OCSP response: unknown; accepted (boltgate.upstream.ocsp_required=false)");
                Ok(verified)
            }
            Ok(_) => Err(refuse(format!(
                "{server}'s stapled OCSP response says `unknown` and boltgate.upstream.ocsp_required=true"
            ))),
            Err(e) => {
                tracing::warn!(server = %server, error = %e, "upstream refused: its stapled OCSP response does not check");
                Err(refuse(format!("{server}'s stapled OCSP response: {e}")))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(this: u64, next: Option<u64>) -> Checked {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        Checked {
            status: Status::Good,
            this_update: t(this),
            next_update: next.map(t),
        }
    }

    #[test]
    fn refresh_is_halfway_or_margin_before_next_update_whichever_is_sooner() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let hour = Duration::from_secs(3600);
        // A week of validity: halfway comes first.
        let c = checked(0, Some(7 * 86_400));
        assert_eq!(refresh_at(&c, hour, at(10)), (at(7 * 86_400 / 2), false));
        // 90 minutes of validity, one hour margin: the margin comes first.
        let c = checked(0, Some(5400));
        assert_eq!(refresh_at(&c, hour, at(10)), (at(1800), false));
        // Without nextUpdate: every margin.
        let c = checked(0, None);
        assert_eq!(refresh_at(&c, hour, at(10)), (at(3610), false));
    }

    #[test]
    fn a_margin_as_long_as_the_validity_does_not_mean_fetching_every_second() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let hour = Duration::from_secs(3600);
        // One minute of validity (what `openssl ocsp -nmin 1` gives), the default one-hour
        // margin: halfway, and the caller is told to warn.
        let c = checked(0, Some(60));
        assert_eq!(refresh_at(&c, hour, at(1)), (at(30), true));
        // Validity exactly the margin: the same.
        let c = checked(0, Some(3600));
        assert_eq!(refresh_at(&c, hour, at(1)), (at(1800), true));
        // A response whose halfway (or whole validity) is already past: the floor, not 1 s.
        let c = checked(0, Some(100));
        assert_eq!(refresh_at(&c, hour, at(500)), (at(505), true));
        let c = checked(0, Some(7200));
        assert_eq!(refresh_at(&c, hour, at(5000)), (at(5005), false));
    }

    #[test]
    fn a_stale_response_is_not_fresh() {
        let c = checked(0, Some(1000));
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert!(c.fresh_at(at(1000)));
        assert!(!c.fresh_at(at(1000) + SKEW + Duration::from_secs(1)));
        assert!(checked(0, None).fresh_at(at(1 << 40)));
    }

    #[test]
    fn garbage_is_a_parse_error_not_a_panic() {
        let leaf = CertificateDer::from(vec![0x30, 0x00]);
        let e = check(
            b"not der",
            &leaf,
            &leaf,
            &rustls::crypto::ring::default_provider(),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(e, OcspError::Der { .. }), "{e}");
    }
}
