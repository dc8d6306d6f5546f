//! One SSL policy per scope, from the `dbms.ssl.policy.<scope>.*` settings, as Neo4j defines them.
//!
//! Only names and paths are settled here: the base directory is resolved against
//! `server.directories.neo4j_home` and the files against the base directory (absolute paths are kept).
//! No file is opened; the TLS module reads them and reports its own errors naming these settings.

use std::fmt;
use std::path::{Path, PathBuf};

use super::ClientAuth;

/// An SSL policy scope boltgate knows. Neo4j also has `backup`, which a proxy has no use for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The client-facing Bolt listener.
    Bolt,
    /// Server-to-server traffic (Neo4j's intra-cluster scope); boltgate's upstream side uses it.
    Cluster,
    /// HTTPS (boltgate's admin endpoint).
    Https,
}

impl Scope {
    /// In the order of the per-scope default arrays in the settings table.
    pub const ALL: [Scope; 3] = [Scope::Bolt, Scope::Cluster, Scope::Https];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Bolt => "bolt",
            Scope::Cluster => "cluster",
            Scope::Https => "https",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Position in [`Scope::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// "bolt, cluster, https", for error messages.
    pub fn known_names() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string (a key passphrase). Debug and Display print `<redacted>`; [`Secret::expose`] gives
/// the value to the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What print-config and Debug show instead of a secret.
pub const REDACTED: &str = "<redacted>";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// One scope's `dbms.ssl.policy.<scope>.*` settings, paths resolved. Field names are the setting
/// suffixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslPolicyConfig {
    pub scope: Scope,
    pub enabled: bool,
    /// Absolute, or relative to the working directory when neo4j_home was relative.
    pub base_directory: PathBuf,
    pub private_key: PathBuf,
    pub private_key_password: Option<Secret>,
    pub public_certificate: PathBuf,
    pub trusted_dir: PathBuf,
    pub revoked_dir: PathBuf,
    pub verify_hostname: bool,
    /// None: the TLS library's default suites. Names are checked by the TLS module.
    pub ciphers: Option<Vec<String>>,
    /// Non-empty; each `TLSv1.2` or `TLSv1.3`.
    pub tls_versions: Vec<String>,
    pub client_auth: ClientAuth,
    pub trust_all: bool,
}

/// The TLS versions boltgate's TLS library (rustls) implements.
pub const TLS_VERSIONS: [&str; 2] = ["TLSv1.2", "TLSv1.3"];

/// The raw values of one scope's settings (defaults applied), before paths are resolved.
#[derive(Debug, Clone)]
pub(crate) struct RawPolicy {
    pub enabled: bool,
    pub base_directory: PathBuf,
    pub private_key: PathBuf,
    pub private_key_password: Option<Secret>,
    pub public_certificate: PathBuf,
    pub trusted_dir: PathBuf,
    pub revoked_dir: PathBuf,
    pub verify_hostname: bool,
    pub ciphers: Option<Vec<String>>,
    pub tls_versions: Vec<String>,
    pub client_auth: ClientAuth,
    pub trust_all: bool,
}

impl RawPolicy {
    /// Resolves the paths: base_directory against `neo4j_home`, the rest against base_directory.
    pub(crate) fn resolve(self, scope: Scope, neo4j_home: &Path) -> SslPolicyConfig {
        let base_directory = neo4j_home.join(&self.base_directory);
        SslPolicyConfig {
            scope,
            enabled: self.enabled,
            private_key: base_directory.join(&self.private_key),
            private_key_password: self.private_key_password,
            public_certificate: base_directory.join(&self.public_certificate),
            trusted_dir: base_directory.join(&self.trusted_dir),
            revoked_dir: base_directory.join(&self.revoked_dir),
            base_directory,
            verify_hostname: self.verify_hostname,
            ciphers: self.ciphers,
            tls_versions: self.tls_versions,
            client_auth: self.client_auth,
            trust_all: self.trust_all,
        }
    }
}

/// The three policies. Every scope has one; `enabled` says whether it is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslPolicies {
    pub bolt: SslPolicyConfig,
    pub cluster: SslPolicyConfig,
    pub https: SslPolicyConfig,
}

impl SslPolicies {
    pub fn get(&self, scope: Scope) -> &SslPolicyConfig {
        match scope {
            Scope::Bolt => &self.bolt,
            Scope::Cluster => &self.cluster,
            Scope::Https => &self.https,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(base: &str, key: &str) -> RawPolicy {
        RawPolicy {
            enabled: true,
            base_directory: base.into(),
            private_key: key.into(),
            private_key_password: Some(Secret::new("hunter2")),
            public_certificate: "public.crt".into(),
            trusted_dir: "trusted".into(),
            revoked_dir: "revoked".into(),
            verify_hostname: false,
            ciphers: None,
            tls_versions: vec!["TLSv1.3".into()],
            client_auth: ClientAuth::Optional,
            trust_all: false,
        }
    }

    #[test]
    fn relative_paths_resolve_against_home_then_base() {
        let p = raw("certificates/bolt", "private.key")
            .resolve(Scope::Bolt, Path::new("/opt/boltgate"));
        assert_eq!(
            p.base_directory,
            Path::new("/opt/boltgate/certificates/bolt")
        );
        assert_eq!(
            p.private_key,
            Path::new("/opt/boltgate/certificates/bolt/private.key")
        );
        assert_eq!(
            p.trusted_dir,
            Path::new("/opt/boltgate/certificates/bolt/trusted")
        );
        assert_eq!(
            p.revoked_dir,
            Path::new("/opt/boltgate/certificates/bolt/revoked")
        );
    }

    #[test]
    fn absolute_paths_are_kept() {
        let p =
            raw("/etc/tls", "/secrets/key.pem").resolve(Scope::Https, Path::new("/opt/boltgate"));
        assert_eq!(p.base_directory, Path::new("/etc/tls"));
        assert_eq!(p.private_key, Path::new("/secrets/key.pem"));
        assert_eq!(p.public_certificate, Path::new("/etc/tls/public.crt"));
    }

    #[test]
    fn password_is_redacted_in_debug() {
        let p = raw("b", "k").resolve(Scope::Bolt, Path::new("/"));
        let debug = format!("{p:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains(REDACTED));
        assert_eq!(
            p.private_key_password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
    }

    #[test]
    fn scopes() {
        assert_eq!(Scope::from_name("cluster"), Some(Scope::Cluster));
        assert_eq!(Scope::from_name("backup"), None);
        assert_eq!(Scope::known_names(), "bolt, cluster, https");
        for (i, s) in Scope::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }
}
