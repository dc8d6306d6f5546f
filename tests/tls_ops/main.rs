//! TLS operations as an operator and a client see them: certificate rotation without a restart
//! (SIGHUP, `CALL dbms.security.reloadTLS()`), OCSP stapling on the bolt listener, and OCSP
//! checking of upstream servers. Real binary, real FalkorDB, `openssl ocsp` as the responder,
//! every peer on loopback.

#[path = "../common/mod.rs"]
mod common;
mod java_ocsp;
mod ocsp;
mod ocsp_lifecycle;
mod reload;
mod support;

use std::path::Path;

/// boltgate settings: TLS OPTIONAL on the bolt listener with the policy at `base`, upstream
/// `upstream`, plus `extra`.
pub fn settings<'a>(
    base: &'a Path,
    upstream: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut s = vec![
        ("boltgate.upstream.uri", upstream),
        ("server.bolt.tls_level", "OPTIONAL"),
        ("dbms.ssl.policy.bolt.enabled", "true"),
        (
            "dbms.ssl.policy.bolt.base_directory",
            base.to_str().unwrap(),
        ),
        ("dbms.ssl.policy.bolt.client_auth", "NONE"),
    ];
    s.extend_from_slice(extra);
    s
}
