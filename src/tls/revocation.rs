//! `revoked_dir`: certificate revocation lists, and certificates placed there directly.
//!
//! CRLs (PEM `BEGIN X509 CRL` or DER) go to rustls' verifier builders (`with_crls`), which check
//! their signatures against the peer's chain. The Neo4j manual's own how-to puts a *certificate*
//! in `revoked/` ("if a particular certificate is revoked, place it under …/revoked"): such a
//! certificate is refused wherever it appears in a peer's chain, compared byte for byte, and is
//! dropped from the trusted certificates if it is also there.
//!
//! A refused peer is logged at warn with its subject and serial, and the file that revoked it.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::CertificateError;
use x509_parser::prelude::parse_x509_crl;

use super::pem::{self, file_error, io_error, looks_like_der};
use super::TlsError;
use crate::config::Scope;

/// One revoked (issuer, serial), and where it was found.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The issuer's DER-encoded name.
    issuer: Vec<u8>,
    /// The serial number's bytes, leading zeros stripped.
    serial: Vec<u8>,
    pub source: PathBuf,
}

/// What one file in `revoked_dir` held, for `certs check`.
#[derive(Debug, Clone)]
pub struct RevokedFile {
    pub path: PathBuf,
    pub crls: usize,
    pub certificates: usize,
    /// Issuer and number of revoked serials of each CRL, and its next update.
    pub descriptions: Vec<String>,
}

/// The contents of a `revoked_dir`.
#[derive(Debug, Default, Clone)]
pub struct Revoked {
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// Certificates placed in the directory: refused exactly.
    pub certificates: Vec<(CertificateDer<'static>, PathBuf)>,
    /// Every (issuer, serial) from the CRLs, for naming what a CRL refused.
    entries: Vec<Entry>,
    pub files: Vec<RevokedFile>,
}

fn strip(serial: &[u8]) -> Vec<u8> {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    serial[start..].to_vec()
}

/// Files of a policy directory, sorted, without sub-directories and hidden files (`.keep`,
/// Kubernetes' `..data`). A missing directory is an error: boltgate creates none.
pub(crate) fn list_dir(setting: &str, dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(setting, dir, e))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads every file of `revoked_dir`: CRLs (PEM or DER) and certificates (PEM or DER). Anything
/// else is an error naming the file.
pub fn load_revoked_dir(setting: &str, dir: &Path) -> Result<Revoked, TlsError> {
    let mut revoked = Revoked::default();
    for path in list_dir(setting, dir)? {
        let bytes = pem::read(setting, &path)?;
        let mut file = RevokedFile {
            path: path.clone(),
            crls: 0,
            certificates: 0,
            descriptions: Vec::new(),
        };
        let (crls, certs) = if looks_like_der(&bytes) {
            if parse_x509_crl(&bytes).is_ok() {
                (vec![CertificateRevocationListDer::from(bytes)], vec![])
            } else if pem::parse(&bytes).is_some() {
                (vec![], vec![CertificateDer::from(bytes)])
            } else {
                return Err(file_error(
                    setting,
                    &path,
                    "neither a CRL nor a certificate (DER); revoked_dir holds CRLs \
                     (PEM `BEGIN X509 CRL` or DER) and revoked certificates",
                ));
            }
        } else {
            let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file_error(setting, &path, format!("not valid PEM: {e}")))?;
            let certs = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file_error(setting, &path, format!("not valid PEM: {e}")))?;
            if crls.is_empty() && certs.is_empty() {
                return Err(file_error(
                    setting,
                    &path,
                    "no `BEGIN X509 CRL` or `BEGIN CERTIFICATE` block; revoked_dir holds CRLs \
                     and revoked certificates only",
                ));
            }
            (crls, certs)
        };
        for crl in crls {
            let (_, parsed) = parse_x509_crl(&crl)
                .map_err(|e| file_error(setting, &path, format!("not a valid CRL: {e}")))?;
            let issuer = parsed.issuer().as_raw().to_vec();
            let mut n = 0;
            for r in parsed.iter_revoked_certificates() {
                n += 1;
                revoked.entries.push(Entry {
                    issuer: issuer.clone(),
                    serial: strip(r.raw_serial()),
                    source: path.clone(),
                });
            }
            file.descriptions.push(format!(
                "CRL issued by {}: {n} revoked serial{}, next update {}",
                parsed.issuer(),
                if n == 1 { "" } else { "s" },
                parsed
                    .next_update()
                    .map_or_else(|| "none".to_string(), |t| t.to_string())
            ));
            file.crls += 1;
            revoked.crls.push(crl);
        }
        for cert in certs {
            let Some(parsed) = pem::parse(&cert) else {
                return Err(file_error(
                    setting,
                    &path,
                    "a certificate in this file is not valid X.509",
                ));
            };
            file.descriptions.push(format!(
                "revoked certificate {} (serial {})",
                parsed.subject(),
                parsed.raw_serial_as_string()
            ));
            file.certificates += 1;
            revoked.certificates.push((cert, path.clone()));
        }
        revoked.files.push(file);
    }
    Ok(revoked)
}

impl Revoked {
    /// The file that revoked this exact certificate, if one did.
    pub fn certificate_source(&self, cert: &CertificateDer<'_>) -> Option<&Path> {
        self.certificates
            .iter()
            .find(|(c, _)| c.as_ref() == cert.as_ref())
            .map(|(_, p)| p.as_path())
    }

    /// The CRL entry naming this certificate (by issuer and serial), if any. The CRL's signature
    /// is rustls' business; this only names what it refused, or (with `trust_all`, where no chain
    /// is built) refuses by itself.
    pub fn crl_source(&self, cert: &CertificateDer<'_>) -> Option<&Path> {
        let parsed = pem::parse(cert)?;
        let issuer = parsed.issuer().as_raw();
        let serial = strip(parsed.raw_serial());
        self.entries
            .iter()
            .find(|e| e.issuer == issuer && e.serial == serial)
            .map(|e| e.source.as_path())
    }

    /// Refuses a peer chain holding a certificate placed in `revoked_dir` (and, when
    /// `match_crl_entries`, one listed in a CRL), logging who was refused.
    pub fn check(
        &self,
        scope: Scope,
        peer: &str,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        match_crl_entries: bool,
    ) -> Result<(), rustls::Error> {
        for cert in std::iter::once(end_entity).chain(intermediates) {
            let source = self
                .certificate_source(cert)
                .or_else(|| match_crl_entries.then(|| self.crl_source(cert)).flatten());
            if let Some(source) = source {
                log_refused(scope, peer, cert, source);
                return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
            }
        }
        Ok(())
    }

    /// After rustls refused a chain as revoked (by a CRL): log which certificate it was.
    pub fn explain(
        &self,
        scope: Scope,
        peer: &str,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        err: &rustls::Error,
    ) {
        if !matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Revoked)
        ) {
            return;
        }
        let chain = || std::iter::once(end_entity).chain(intermediates);
        match chain().find_map(|c| self.crl_source(c).map(|s| (c, s))) {
            Some((cert, source)) => log_refused(scope, peer, cert, source),
            None => log_refused(scope, peer, end_entity, Path::new("a CRL in revoked_dir")),
        }
    }
}

fn log_refused(scope: Scope, peer: &str, cert: &CertificateDer<'_>, source: &Path) {
    let (subject, serial) = pem::parse(cert).map_or_else(
        || ("<unparsable>".to_string(), String::new()),
        |c| (c.subject().to_string(), c.raw_serial_as_string()),
    );
    tracing::warn!(
        scope = %scope,
        peer,
        subject = %subject,
        serial = %serial,
        revoked_by = %source.display(),
        "peer refused: its certificate is revoked (subject {subject}, serial {serial})"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_without_leading_zeros() {
        assert_eq!(strip(&[0, 0, 0x81]), vec![0x81]);
        assert_eq!(strip(&[0x01, 0]), vec![1, 0]);
        assert_eq!(strip(&[0]), Vec::<u8>::new());
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let err = load_revoked_dir(
            "dbms.ssl.policy.bolt.revoked_dir",
            Path::new("/nonexistent/x"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("dbms.ssl.policy.bolt.revoked_dir"), "{err}");
    }

    #[test]
    fn a_stray_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README"), "hello").unwrap();
        std::fs::write(dir.path().join(".keep"), "").unwrap();
        let err = load_revoked_dir("s", dir.path()).unwrap_err().to_string();
        assert!(err.contains("README"), "{err}");
    }

    #[test]
    fn an_empty_directory_revokes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = load_revoked_dir("s", dir.path()).unwrap();
        assert!(r.crls.is_empty() && r.certificates.is_empty());
    }
}
