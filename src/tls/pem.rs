//! Certificate chains and private keys, read from PEM files.
//!
//! The Neo4j manual asks for PEM everywhere: `public_certificate` holds the chain leaf first, and
//! `private_key` a PKCS#8 key. A DER file is the most common mistake, so it gets its own message
//! with the `openssl` command that converts it.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

fn read(setting: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

fn file_error(setting: &str, path: &Path, problem: impl Into<String>) -> TlsError {
    TlsError::File {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// A DER file starts with an ASN.1 SEQUENCE tag; PEM is text.
fn looks_like_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
}

/// Every certificate in a PEM file, in file order. `setting` names the setting for errors.
pub fn load_certificates(
    setting: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(setting, path)?;
    if looks_like_der(&bytes) {
        return Err(file_error(
            setting,
            path,
            format!(
                "this is a DER (binary) certificate; boltgate reads PEM. Convert it with \
                 `openssl x509 -inform der -outform pem -in {0} -out {0}.pem`",
                path.display()
            ),
        ));
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            file_error(
                setting,
                path,
                format!("not a valid PEM certificate file: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(file_error(
            setting,
            path,
            "no `-----BEGIN CERTIFICATE-----` block found",
        ));
    }
    Ok(certs)
}

/// The private key in a PEM file: PKCS#8, or (with a deprecation warning) PKCS#1 and SEC1.
pub fn load_private_key(setting: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(setting, path)?;
    if looks_like_der(&bytes) {
        return Err(file_error(
            setting,
            path,
            format!(
                "this is a DER (binary) key; boltgate reads PEM. Convert it with \
                 `openssl pkcs8 -topk8 -nocrypt -inform der -in {0} -out {0}.pem`",
                path.display()
            ),
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(file_error(
            setting,
            path,
            "the key is encrypted; encrypted keys arrive with the SSL policy framework \
             (private_key_password); decrypt it for now with `openssl pkcs8 -topk8 -nocrypt`",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        file_error(
            setting,
            path,
            format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })?;
    if !matches!(key, PrivateKeyDer::Pkcs8(_)) {
        tracing::warn!(
            setting,
            path = %path.display(),
            "private key is not PKCS#8; convert it with `openssl pkcs8 -topk8 -in {0} -out {0}.pk8`",
            path.display()
        );
    }
    Ok(key)
}
