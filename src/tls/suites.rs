//! `ciphers` and `tls_versions`, by the names the Neo4j manual uses, mapped onto rustls.
//!
//! Cipher suites are named as IANA does (`TLS_AES_128_GCM_SHA256`,
//! `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`), which are also the JDK's names; rustls' own
//! spelling of the TLS 1.3 suites (`TLS13_AES_128_GCM_SHA256`) is accepted too. rustls offers no
//! DHE, CBC, RC4 or 3DES suites and no TLS 1.1: such names are refused with the supported list.
//! The result is a `CryptoProvider` whose `cipher_suites` are the named ones, in the given order.

use std::sync::Arc;

use rustls::crypto::ring::cipher_suite as cs;
use rustls::crypto::CryptoProvider;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use super::TlsError;

/// Every suite boltgate's TLS library offers, by IANA name, in boltgate's default order of
/// preference. A TLS server picks the first of its suites the client offers (`ciphers` sets
/// the list and its order), as Neo4j on the JDK does: docs/neo4j-parity.md (set E) shows Neo4j
/// choosing the configured order over the client's, and TLS_AES_128_GCM_SHA256 over the
/// client's first choice TLS_AES_256_GCM_SHA384 by default (set B). That default is also the
/// cheaper one here: its key schedule uses SHA-256, which ring computes with the CPU's SHA
/// instructions where they exist, while its SHA-384 runs in plain code on AMD CPUs (README,
/// Performance, session 15). TLS 1.2 keeps rustls' order, AES-256 first, which Neo4j also
/// picks (set C). As a client (the cluster scope) boltgate offers them in this order.
pub const SUITES: &[(&str, SupportedCipherSuite)] = &[
    ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
    ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The IANA name of a suite.
pub fn name(suite: SupportedCipherSuite) -> &'static str {
    SUITES
        .iter()
        .find(|(_, s)| s.suite() == suite.suite())
        .map_or("?", |(n, _)| n)
}

/// The name of the suite a finished handshake agreed on (`unknown` before one finishes).
pub fn negotiated(conn: &rustls::ServerConnection) -> &'static str {
    conn.negotiated_cipher_suite().map_or("unknown", name)
}

/// `TLSv1.2` / `TLSv1.3`.
pub fn version_name(v: &SupportedProtocolVersion) -> &'static str {
    if v.version == rustls::ProtocolVersion::TLSv1_3 {
        "TLSv1.3"
    } else {
        "TLSv1.2"
    }
}

/// A negotiated version by Neo4j's name (`TLSv1.3`).
pub fn protocol_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "other",
    }
}

fn supported_names() -> String {
    SUITES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn lookup(name: &str) -> Option<SupportedCipherSuite> {
    let iana = name
        .strip_prefix("TLS13_")
        .map(|rest| format!("TLS_{rest}"))
        .unwrap_or_else(|| name.to_string());
    SUITES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&iana))
        .map(|(_, s)| *s)
}

/// The provider and versions for one policy. `ciphers` None is all of [`SUITES`], in its
/// order. Every enabled version must keep at least one of its suites.
pub fn select(
    ciphers_setting: &str,
    versions_setting: &str,
    ciphers: Option<&[String]>,
    tls_versions: &[String],
    warnings: &mut Vec<String>,
) -> Result<(Arc<CryptoProvider>, Vec<&'static SupportedProtocolVersion>), TlsError> {
    let versions = parse_versions(versions_setting, tls_versions)?;
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = match ciphers {
        Some(names) => parse_ciphers(ciphers_setting, names)?,
        None => SUITES.iter().map(|(_, s)| *s).collect(),
    };
    for &v in &versions {
        check_version_has_suite(ciphers_setting, versions_setting, &provider, v)?;
    }
    if ciphers.is_none() {
        // The library's defaults for a version the policy does not enable are not the operator's
        // doing: drop them silently rather than warn about settings nobody wrote.
        provider
            .cipher_suites
            .retain(|s| versions.contains(&s.version()));
    }
    let unused: Vec<_> = provider
        .cipher_suites
        .iter()
        .filter(|s| !versions.contains(&s.version()))
        .map(|s| name(*s))
        .collect();
    if !unused.is_empty() {
        warnings.push(format!(
            "{ciphers_setting}: {} belong to a TLS version {versions_setting} does not enable; \
             they are never used",
            unused.join(", ")
        ));
    }
    Ok((Arc::new(provider), versions))
}

/// `tls_versions`, in order, without repeats; at least one.
fn parse_versions(
    versions_setting: &str,
    tls_versions: &[String],
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    for v in tls_versions {
        let version = match v.as_str() {
            "TLSv1.3" => &rustls::version::TLS13,
            "TLSv1.2" => &rustls::version::TLS12,
            other => {
                return Err(TlsError::Setting {
                    setting: versions_setting.to_string(),
                    problem: format!(
                        "`{other}` is not supported: boltgate's TLS library implements TLSv1.2 \
                         and TLSv1.3 only"
                    ),
                })
            }
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err(TlsError::Setting {
            setting: versions_setting.to_string(),
            problem: "no TLS version enabled; use TLSv1.2 and/or TLSv1.3".into(),
        });
    }
    Ok(versions)
}

/// `ciphers`, by IANA or rustls name, in order, without repeats; at least one, and every one
/// known (all unknown names are listed at once).
fn parse_ciphers(
    ciphers_setting: &str,
    names: &[String],
) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let mut suites = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        match lookup(n) {
            Some(s) if !suites.contains(&s) => suites.push(s),
            Some(_) => {}
            None => unknown.push(n.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(TlsError::Setting {
            setting: ciphers_setting.to_string(),
            problem: format!(
                "not offered by boltgate's TLS library (rustls, which has no DHE, CBC, RC4 \
                 or 3DES suites): {}; supported: {}",
                unknown.join(", "),
                supported_names()
            ),
        });
    }
    if suites.is_empty() {
        return Err(TlsError::Setting {
            setting: ciphers_setting.to_string(),
            problem: format!("no cipher suite given; supported: {}", supported_names()),
        });
    }
    Ok(suites)
}

/// An enabled version with none of its suites would fail every handshake at that version:
/// refused at load, naming both settings.
fn check_version_has_suite(
    ciphers_setting: &str,
    versions_setting: &str,
    provider: &CryptoProvider,
    v: &'static SupportedProtocolVersion,
) -> Result<(), TlsError> {
    if !provider.cipher_suites.iter().any(|s| s.version() == v) {
        let of_version: Vec<_> = SUITES
            .iter()
            .filter(|(_, s)| s.version() == v)
            .map(|(n, _)| *n)
            .collect();
        return Err(TlsError::Setting {
            setting: ciphers_setting.to_string(),
            problem: format!(
                "{versions_setting} enables {} but none of its cipher suites is in \
                 {ciphers_setting}; add one of {} or remove {} from {versions_setting}",
                version_name(v),
                of_version.join(", "),
                version_name(v)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Selected = (
        Arc<CryptoProvider>,
        Vec<&'static SupportedProtocolVersion>,
        Vec<String>,
    );

    fn sel(ciphers: Option<&[&str]>, versions: &[&str]) -> Result<Selected, String> {
        let c: Option<Vec<String>> = ciphers.map(|c| c.iter().map(|s| s.to_string()).collect());
        let v: Vec<String> = versions.iter().map(|s| s.to_string()).collect();
        let mut w = Vec::new();
        select("c", "v", c.as_deref(), &v, &mut w)
            .map(|(p, v)| (p, v, w))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_keep_every_suite_aes_128_first_for_tls13() {
        let (p, v, w) = sel(None, &["TLSv1.2", "TLSv1.3"]).unwrap();
        assert_eq!(p.cipher_suites.len(), SUITES.len());
        assert_eq!(name(p.cipher_suites[0]), "TLS_AES_128_GCM_SHA256");
        assert_eq!(
            name(p.cipher_suites[3]),
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        );
        assert_eq!(v.len(), 2);
        assert!(w.is_empty());
    }

    #[test]
    fn iana_and_rustls_names_select_suites_in_order() {
        let (p, _, _) = sel(
            Some(&[
                "TLS13_AES_128_GCM_SHA256",
                "tls_ecdhe_rsa_with_aes_256_gcm_sha384",
            ]),
            &["TLSv1.2", "TLSv1.3"],
        )
        .unwrap();
        let names: Vec<_> = p.cipher_suites.iter().map(|s| name(*s)).collect();
        assert_eq!(
            names,
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
    }

    #[test]
    fn dhe_and_cbc_are_refused_with_the_supported_list() {
        let e = sel(
            Some(&[
                "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            ]),
            &["TLSv1.2"],
        )
        .unwrap_err();
        assert!(e.contains("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"), "{e}");
        assert!(e.contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"), "{e}");
        assert!(e.contains("supported: TLS_AES_128_GCM_SHA256"), "{e}");
    }

    #[test]
    fn a_version_without_its_ciphers_is_an_error() {
        let e = sel(Some(&["TLS_AES_128_GCM_SHA256"]), &["TLSv1.2", "TLSv1.3"]).unwrap_err();
        assert!(
            e.contains("enables TLSv1.2 but none of its cipher suites"),
            "{e}"
        );
        assert!(e.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), "{e}");
    }

    #[test]
    fn tls11_is_refused() {
        let e = sel(None, &["TLSv1.1"]).unwrap_err();
        assert!(e.contains("TLSv1.2 and TLSv1.3 only"), "{e}");
    }

    #[test]
    fn default_ciphers_of_a_disabled_version_are_no_warning() {
        let (p, v, w) = sel(None, &["TLSv1.3"]).unwrap();
        assert_eq!(v.len(), 1);
        assert!(w.is_empty(), "{w:?}");
        assert!(p
            .cipher_suites
            .iter()
            .all(|s| s.version() == &rustls::version::TLS13));
    }

    #[test]
    fn ciphers_of_a_disabled_version_are_a_warning() {
        let (_, v, w) = sel(
            Some(&[
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            ]),
            &["TLSv1.3"],
        )
        .unwrap();
        assert_eq!(v.len(), 1);
        assert!(
            w[0].contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "{w:?}"
        );
    }
}
