//! Certificate chains and private keys, read from PEM files.
//!
//! The Neo4j manual asks for PEM everywhere: `public_certificate` holds the chain leaf first, and
//! `private_key` a PKCS#8 key, optionally encrypted (PKCS#5 v2: AES-128/256-CBC with
//! hmacWithSHA1/224/256/384/512, decrypted here with the `pkcs8` crate since the PEM reader of
//! pki-types skips `ENCRYPTED PRIVATE KEY`). PKCS#1 (`BEGIN RSA PRIVATE KEY`) and SEC1
//! (`BEGIN EC PRIVATE KEY`) keys still load, with a warning naming the conversion. A DER file is
//! the most common mistake, so it gets its own message with the `openssl` command that converts it.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::{parse_x509_certificate, X509Certificate};

use super::TlsError;
use crate::config::Secret;

/// Reads a file; a missing one gets a message saying boltgate creates nothing.
pub(crate) fn read(setting: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| io_error(setting, path, source))
}

/// An I/O error on a policy file or directory, with what to do about it.
pub(crate) fn io_error(setting: &str, path: &Path, source: std::io::Error) -> TlsError {
    if source.kind() == std::io::ErrorKind::NotFound {
        file_error(
            setting,
            path,
            format!(
                "does not exist; boltgate creates none of a policy's files or directories: \
                 create it, or point {setting} elsewhere"
            ),
        )
    } else {
        TlsError::Read {
            setting: setting.to_string(),
            path: path.to_path_buf(),
            source,
        }
    }
}

pub(crate) fn file_error(setting: &str, path: &Path, problem: impl Into<String>) -> TlsError {
    TlsError::File {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// A DER file starts with an ASN.1 SEQUENCE tag; PEM is text.
pub(crate) fn looks_like_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
}

/// The message for a DER certificate where PEM is expected.
pub(crate) fn der_certificate_error(setting: &str, path: &Path) -> TlsError {
    file_error(
        setting,
        path,
        format!(
            "this is a DER (binary) certificate; boltgate reads PEM. Convert it with \
             `openssl x509 -in {0} -inform der -outform pem -out {0}.pem`",
            path.display()
        ),
    )
}

/// Parses a DER certificate with x509-parser (for names, validity, usages).
pub(crate) fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    parse_x509_certificate(der).ok().map(|(_, c)| c)
}

/// `CN=…` style subject of a certificate, for messages.
pub fn subject(der: &[u8]) -> String {
    parse(der).map_or_else(
        || "<unparsable certificate>".into(),
        |c| c.subject().to_string(),
    )
}

/// Every certificate in a PEM file, in file order. `setting` names the setting for errors.
pub fn load_certificates(
    setting: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(setting, path)?;
    certificates_from_bytes(setting, path, &bytes)
}

pub(crate) fn certificates_from_bytes(
    setting: &str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    if looks_like_der(bytes) {
        return Err(der_certificate_error(setting, path));
    }
    let certs = CertificateDer::pem_slice_iter(bytes)
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
            "no `-----BEGIN CERTIFICATE-----` block found; this is not a certificate file",
        ));
    }
    for (i, cert) in certs.iter().enumerate() {
        if parse(cert).is_none() {
            return Err(file_error(
                setting,
                path,
                format!(
                    "certificate {} in the file is not a valid X.509 certificate",
                    i + 1
                ),
            ));
        }
    }
    Ok(certs)
}

/// `public_certificate`: the chain, leaf first, each certificate issued by the next, each
/// currently valid.
pub fn load_chain(setting: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = load_certificates(setting, path)?;
    check_chain_order(setting, path, &chain)?;
    check_validity(setting, path, &chain)?;
    Ok(chain)
}

/// Leaf first, then its issuer, up towards the root: certificate i must be issued by i+1.
pub fn check_chain_order(
    setting: &str,
    path: &Path,
    chain: &[CertificateDer<'_>],
) -> Result<(), TlsError> {
    let parsed: Vec<_> = chain.iter().filter_map(|c| parse(c)).collect();
    for (i, pair) in parsed.windows(2).enumerate() {
        let (cert, next) = (&pair[0], &pair[1]);
        if cert.issuer().as_raw() != next.subject().as_raw() {
            let reversed = next.issuer().as_raw() == cert.subject().as_raw();
            return Err(file_error(
                setting,
                path,
                format!(
                    "the certificate chain is out of order: certificate {} ({}) is issued by \
                     {}, but the next one in the file is {}{}; list the leaf (this server's \
                     certificate) first, then the certificate that issued it, up towards the root",
                    i + 1,
                    cert.subject(),
                    cert.issuer(),
                    next.subject(),
                    if reversed {
                        " (the chain looks reversed: root first)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Each certificate of the chain must be valid now.
pub fn check_validity(
    setting: &str,
    path: &Path,
    chain: &[CertificateDer<'_>],
) -> Result<(), TlsError> {
    let now = x509_parser::time::ASN1Time::now();
    for (i, der) in chain.iter().enumerate() {
        let Some(cert) = parse(der) else { continue };
        let validity = cert.validity();
        let which = if i == 0 {
            "the certificate".to_string()
        } else {
            format!("certificate {} of the chain", i + 1)
        };
        if validity.not_after < now {
            return Err(file_error(
                setting,
                path,
                format!(
                    "{which} ({}) expired on {}; renew it",
                    cert.subject(),
                    validity.not_after
                ),
            ));
        }
        if validity.not_before > now {
            return Err(file_error(
                setting,
                path,
                format!(
                    "{which} ({}) is not valid before {}; check the clock, or use a \
                     certificate that is valid now",
                    cert.subject(),
                    validity.not_before
                ),
            ));
        }
    }
    Ok(())
}

/// How a private key was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `BEGIN PRIVATE KEY`, what the manual asks for.
    Pkcs8,
    /// `BEGIN ENCRYPTED PRIVATE KEY` (PKCS#5 v2), decrypted with `private_key_password`.
    EncryptedPkcs8,
    /// `BEGIN RSA PRIVATE KEY`: deprecated, loaded with a warning.
    Pkcs1,
    /// `BEGIN EC PRIVATE KEY`: loaded with a warning.
    Sec1,
}

impl std::fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyFormat::Pkcs8 => "PKCS#8",
            KeyFormat::EncryptedPkcs8 => "encrypted PKCS#8",
            KeyFormat::Pkcs1 => "PKCS#1 (deprecated)",
            KeyFormat::Sec1 => "SEC1 EC",
        })
    }
}

/// The private key in a PEM file: PKCS#8, encrypted PKCS#8 (with `password`), or (with a
/// warning pushed to `warnings`) PKCS#1 and SEC1. `setting` is the `private_key` setting and
/// `password_setting` the `private_key_password` one, for messages.
pub fn load_private_key(
    setting: &str,
    password_setting: &str,
    path: &Path,
    password: Option<&Secret>,
    warnings: &mut Vec<String>,
) -> Result<(PrivateKeyDer<'static>, KeyFormat), TlsError> {
    let bytes = read(setting, path)?;
    if let Some(w) = mode_warning(path) {
        warnings.push(w);
    }
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
        let key = decrypt(setting, password_setting, path, &text, password)?;
        return Ok((key, KeyFormat::EncryptedPkcs8));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(file_error(
            setting,
            path,
            format!(
                "this is a legacy OpenSSL-encrypted PKCS#1 key, which boltgate cannot read; \
                 convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc \
                 -v2prf hmacWithSHA512 -in {0} -out {0}.pk8`",
                path.display()
            ),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        file_error(
            setting,
            path,
            format!(
                "no usable private key: expected PEM `BEGIN PRIVATE KEY` (PKCS#8), \
                 `BEGIN ENCRYPTED PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or \
                 `BEGIN EC PRIVATE KEY` ({e})"
            ),
        )
    })?;
    if password.is_some() {
        warnings.push(format!(
            "{password_setting} is set but {} is not encrypted; the password is not used",
            path.display()
        ));
    }
    let format = match key {
        PrivateKeyDer::Pkcs8(_) => KeyFormat::Pkcs8,
        PrivateKeyDer::Pkcs1(_) => {
            warnings.push(format!(
                "{setting}: {0} is a PKCS#1 key (BEGIN RSA PRIVATE KEY), which is deprecated; \
                 convert it to PKCS#8 with `openssl pkcs8 -topk8 -in {0} -out {0}.pk8` \
                 (add -nocrypt to leave it unencrypted)",
                path.display()
            ));
            KeyFormat::Pkcs1
        }
        PrivateKeyDer::Sec1(_) => {
            warnings.push(format!(
                "{setting}: {0} is a SEC1 EC key (BEGIN EC PRIVATE KEY); Neo4j expects \
                 PKCS#8: convert it with `openssl pkcs8 -topk8 -in {0} -out {0}.pk8` \
                 (add -nocrypt to leave it unencrypted)",
                path.display()
            ));
            KeyFormat::Sec1
        }
        _ => KeyFormat::Pkcs8,
    };
    Ok((key, format))
}

/// `BEGIN ENCRYPTED PRIVATE KEY` → PKCS#8, with the policy's password.
fn decrypt(
    setting: &str,
    password_setting: &str,
    path: &Path,
    text: &str,
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    use pkcs8::der::Decode;
    let Some(password) = password else {
        return Err(file_error(
            setting,
            path,
            format!("the key is encrypted; set {password_setting} to its passphrase"),
        ));
    };
    let (label, doc) = pkcs8::Document::from_pem(text.trim()).map_err(|e| {
        file_error(
            setting,
            path,
            format!("the encrypted key is not valid PEM: {e}"),
        )
    })?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(file_error(
            setting,
            path,
            format!("expected one `ENCRYPTED PRIVATE KEY` block, found `{label}`"),
        ));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes()).map_err(|e| {
        file_error(
            setting,
            path,
            format!("the encrypted key is not valid PKCS#8: {e}"),
        )
    })?;
    let unsupported = |e: &dyn std::fmt::Display| {
        file_error(
            setting,
            path,
            format!(
                "the key is encrypted with a scheme boltgate cannot read ({e}); supported: \
                 PKCS#5 v2 with aes-128-cbc or aes-256-cbc and hmacWithSHA1/224/256/384/512. \
                 Re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf \
                 hmacWithSHA512 -in {0} -out {0}.pk8`",
                path.display()
            ),
        )
    };
    // Named after the password: that is the line to fix.
    let wrong_password = || {
        file_error(
            password_setting,
            path,
            format!("cannot decrypt the key: {password_setting} is not its passphrase"),
        )
    };
    let decrypted = match info.decrypt(password.expose()) {
        Ok(doc) => doc,
        // Bad padding after decryption: the wrong password. pkcs5 0.7 reports a CBC unpadding
        // failure as `EncryptFailed`, so both variants mean it.
        Err(pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed,
        )) => return Err(wrong_password()),
        // Valid padding by chance (about once in 256 wrong passwords) and the plaintext, which
        // `decrypt` parses as DER, is garbage: the scheme itself was read when the key was.
        Err(pkcs8::Error::Asn1(_)) => return Err(wrong_password()),
        Err(e) => return Err(unsupported(&e)),
    };
    // Garbage that happens to be DER is not a private key: the wrong password too.
    if pkcs8::PrivateKeyInfo::from_der(decrypted.as_bytes()).is_err() {
        return Err(wrong_password());
    }
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        decrypted.as_bytes().to_vec(),
    )))
}

/// The manual: "Ensure that only the Neo4j user can read the private key."
#[cfg(unix)]
pub fn mode_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "private key {} is readable by group or others (mode {mode:04o}); only boltgate's \
             user should read it: chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub fn mode_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
#[path = "pem_tests.rs"]
mod tests;
