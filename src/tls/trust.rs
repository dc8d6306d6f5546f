//! Whom to trust: a policy's `trusted_dir`, or the system's roots for `bolt+s` upstreams.

use std::path::Path;

use rustls::RootCertStore;

use super::{pem, TlsError};

/// Every certificate in every file of `dir`. Files that are not certificates are reported by
/// name, so a stray key or README in the directory is an error rather than a silent skip.
pub fn load_trusted_dir(setting: &str, dir: &Path) -> Result<RootCertStore, TlsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TlsError::Read {
        setting: setting.to_string(),
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut store = RootCertStore::empty();
    for path in &paths {
        for cert in pem::load_certificates(setting, path)? {
            store.add(cert).map_err(|e| TlsError::File {
                setting: setting.to_string(),
                path: path.clone(),
                problem: format!("not a usable trust anchor: {e}"),
            })?;
        }
    }
    if store.is_empty() {
        return Err(TlsError::File {
            setting: setting.to_string(),
            path: dir.to_path_buf(),
            problem: "no trusted certificates in this directory".into(),
        });
    }
    Ok(store)
}

/// The roots a `bolt+s://` upstream is verified against: the operating system's store
/// (which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`), or Mozilla's roots when it has none.
pub fn system_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::debug!(error = %err, "skipping a system certificate");
    }
    let (added, _ignored) = store.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!("no system CA certificates found; using the bundled Mozilla roots");
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    store
}
