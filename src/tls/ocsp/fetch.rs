//! Asking a responder: the CertID naming a certificate, the DER request, the certificate's own
//! responder URL, and the HTTP POST. `cert_id_matches` lives here rather than with the checks
//! because it must hash exactly as `cert_id` does (with whatever hash the responder chose).

use std::time::Duration;

use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use rustls::pki_types::CertificateDer;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest};

use super::{der_err, OcspError};
use crate::config::value::redact_userinfo;

/// Time allowed for one fetch from the responder, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A responder's answer is small (a few KiB with a delegated certificate); refuse anything huge.
const MAX_RESPONSE: u64 = 1 << 20;

const OID_SHA1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

pub(super) fn parse_cert(der: &[u8], what: &'static str) -> Result<Certificate, OcspError> {
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
pub(super) fn cert_id_matches(id: &CertId, leaf: &Certificate, issuer: &Certificate) -> bool {
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
