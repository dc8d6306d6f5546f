//! Checking a response exactly as a client would: a successful basic response, signed by the
//! issuer or by a delegated responder the issuer certified for OCSP signing, with an answer for
//! this certificate whose time window holds now. Used on the bolt certificate's own staple
//! before serving it and on upstream servers' staples, so both sides apply the same rules.

use std::time::SystemTime;

use der::{Decode, Encode};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus};

use super::fetch::{cert_id_matches, parse_cert};
use super::{der_err, Checked, OcspError, Status, SKEW};

const OID_OCSP_BASIC: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const OID_KP_OCSP_SIGNING: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const OID_EXT_KEY_USAGE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.37");

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

pub(super) fn show(t: SystemTime) -> String {
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
    check_signature(&basic, &issuer, provider, now)?;
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

/// Whether `basic` is signed by the issuer, or by a responder certificate the issuer signed for
/// OCSP signing (RFC 6960 4.2.2.2) that is valid at `now`.
fn check_signature(
    basic: &BasicOcspResponse,
    issuer: &Certificate,
    provider: &CryptoProvider,
    now: SystemTime,
) -> Result<(), OcspError> {
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
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
