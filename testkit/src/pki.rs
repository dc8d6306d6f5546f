//! A throwaway PKI made at test time with rcgen: a CA, server / client / wrong-host / expired
//! leaf certificates, CRLs, and the Neo4j SSL-policy folder layout.
//!
//! Why at test time: private keys never enter the repository, and every run gets fresh keys
//! in a temp dir that is removed on Drop. ECDSA P-256 keys (rcgen's default) keep it fast.
//!
//! The one PKI builder of the tests and the examples (the load tool's TLS runs use
//! [`TestPki::server_config`] and [`TestPki::client_config`]). The unit tests in boltgate's
//! src/tls use tests/ssl_policy/pki.rs instead: they cannot depend on this crate, which depends
//! on boltgate.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams,
    CertificateRevocationListParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType,
    SerialNumber,
};

/// Serial numbers, unique within the test process, so a CRL names exactly one certificate.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1000);

/// What a leaf certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
}

/// A leaf certificate with its key, as PEM text and as files in the PKI's folder.
#[derive(Debug, Clone)]
pub struct Issued {
    pub name: String,
    pub serial: u64,
    pub cert_pem: String,
    /// PKCS#8 PEM.
    pub key_pem: String,
    /// `<dir>/<name>.crt`: the leaf alone.
    pub cert_path: PathBuf,
    /// `<dir>/<name>.key`.
    pub key_path: PathBuf,
    /// `<dir>/<name>-chain.crt`: the leaf, then the CA (what a server presents).
    pub chain_path: PathBuf,
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER.
    pub key_der: Vec<u8>,
}

/// The test CA and the certificates it issued, in a temp dir removed on Drop.
pub struct TestPki {
    dir: tempfile::TempDir,
    ca_cert: Certificate,
    ca_key: KeyPair,
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    /// `<dir>/ca.crt`: what a client trusts.
    pub ca_path: PathBuf,
    /// For `localhost`, 127.0.0.1 and ::1, serverAuth.
    pub server: Issued,
    /// clientAuth, CN "boltgate-test-client".
    pub client: Issued,
    /// For `wrong.example` only: fails hostname verification on loopback.
    pub wrong_host: Issued,
    /// For localhost, but valid only in 2000.
    pub expired: Issued,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestPki({})", self.dir.path().display())
    }
}

impl TestPki {
    /// Makes the CA and the four standard leaves. Panics only on rcgen or file errors.
    // No `Default`: this makes keys and writes files, which `default()` would hide.
    #[allow(clippy::new_without_default)]
    pub fn new() -> TestPki {
        let dir = tempfile::Builder::new()
            .prefix("pki-")
            .tempdir()
            .expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name = dn("boltgate test CA");
        params.serial_number = Some(next_serial().1);
        let ca_cert = params.self_signed(&ca_key).expect("self-sign CA");
        let ca_pem = ca_cert.pem();
        let ca_der = ca_cert.der().to_vec();
        let ca_path = dir.path().join("ca.crt");
        std::fs::write(&ca_path, &ca_pem).expect("write ca.crt");
        let mut pki = TestPki {
            dir,
            ca_cert,
            ca_key,
            ca_pem,
            ca_der,
            ca_path,
            // Filled in just below; issuing needs the CA in place first.
            server: placeholder(),
            client: placeholder(),
            wrong_host: placeholder(),
            expired: placeholder(),
        };
        pki.server = pki.issue(
            "server",
            &["localhost", "127.0.0.1", "::1"],
            Usage::Server,
            None,
        );
        pki.client = pki.issue("client", &[], Usage::Client, None);
        pki.wrong_host = pki.issue("wrong-host", &["wrong.example"], Usage::Server, None);
        pki.expired = pki.issue(
            "expired",
            &["localhost", "127.0.0.1", "::1"],
            Usage::Server,
            Some((2000, 2001)),
        );
        pki
    }

    /// The folder holding every file of this PKI.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Issues a leaf named `name` for `hosts` (DNS names or IP addresses), valid from
    /// 1 Jan of `years.0` to 1 Jan of `years.1` when given (rcgen's 1975–4096 otherwise).
    pub fn issue(
        &self,
        name: &str,
        hosts: &[&str],
        usage: Usage,
        years: Option<(i32, i32)>,
    ) -> Issued {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        for h in hosts {
            let san = match h.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*h).try_into().expect("DNS name")),
            };
            params.subject_alt_names.push(san);
        }
        params.distinguished_name = dn(&format!("boltgate-test-{name}"));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        if let Some((from, to)) = years {
            params.not_before = date_time_ymd(from, 1, 1);
            params.not_after = date_time_ymd(to, 1, 1);
        }
        let (serial, serial_number) = next_serial();
        params.serial_number = Some(serial_number);
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("sign leaf");
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        let cert_path = self.dir().join(format!("{name}.crt"));
        let key_path = self.dir().join(format!("{name}.key"));
        let chain_path = self.dir().join(format!("{name}-chain.crt"));
        std::fs::write(&cert_path, &cert_pem).expect("write cert");
        std::fs::write(&key_path, &key_pem).expect("write key");
        std::fs::write(&chain_path, format!("{cert_pem}{}", self.ca_pem)).expect("write chain");
        Issued {
            name: name.to_string(),
            serial,
            cert_pem,
            key_pem,
            cert_path,
            key_path,
            chain_path,
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    /// `leaf` (with the CA after it) as a rustls server, no client authentication.
    pub fn server_config(&self, leaf: &Issued) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let chain = vec![
            CertificateDer::from(leaf.cert_der.clone()),
            CertificateDer::from(self.ca_der.clone()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(boltgate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        Arc::new(config)
    }

    /// A rustls client trusting this CA only, no client certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(self.ca_der.clone()))
            .expect("CA certificate");
        let config = rustls::ClientConfig::builder_with_provider(boltgate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// Writes the Neo4j SSL-policy layout for `leaf` under `base` and returns `base`:
    /// `private.key` (PKCS#8 PEM), `public.crt` (leaf, then the CA), `trusted/ca.crt`, and an
    /// empty `revoked/`.
    pub fn write_policy_dir(&self, base: &Path, leaf: &Issued) -> PathBuf {
        std::fs::create_dir_all(base.join("trusted")).expect("mkdir trusted");
        std::fs::create_dir_all(base.join("revoked")).expect("mkdir revoked");
        std::fs::write(base.join("private.key"), &leaf.key_pem).expect("write private.key");
        std::fs::write(
            base.join("public.crt"),
            format!("{}{}", leaf.cert_pem, self.ca_pem),
        )
        .expect("write public.crt");
        std::fs::write(base.join("trusted").join("ca.crt"), &self.ca_pem).expect("write ca.crt");
        base.to_path_buf()
    }

    /// `<dir>/policies/<scope>` laid out for the server certificate.
    pub fn server_policy_dir(&self, scope: &str) -> PathBuf {
        let base = self.dir().join("policies").join(scope);
        self.write_policy_dir(&base, &self.server)
    }

    /// A CRL from the CA revoking `revoked` (PEM), valid from 2020 to 4000.
    pub fn crl_pem(&self, revoked: &[&Issued]) -> String {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2020, 1, 1),
            next_update: date_time_ymd(4000, 1, 1),
            crl_number: SerialNumber::from(NEXT_SERIAL.fetch_add(1, Ordering::Relaxed)),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|i| RevokedCertParams {
                    serial_number: SerialNumber::from(i.serial),
                    revocation_time: date_time_ymd(2020, 1, 1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.ca_cert, &self.ca_key)
            .expect("sign CRL")
            .pem()
            .expect("CRL PEM")
    }

    /// Writes [`TestPki::crl_pem`] to `path` (e.g. `<policy>/revoked/ca.crl`).
    pub fn write_crl(&self, path: &Path, revoked: &[&Issued]) {
        std::fs::write(path, self.crl_pem(revoked)).expect("write CRL");
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "boltgate tests");
    dn
}

fn next_serial() -> (u64, SerialNumber) {
    let n = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
    (n, SerialNumber::from(n))
}

fn placeholder() -> Issued {
    Issued {
        name: String::new(),
        serial: 0,
        cert_pem: String::new(),
        key_pem: String::new(),
        cert_path: PathBuf::new(),
        key_path: PathBuf::new(),
        chain_path: PathBuf::new(),
        cert_der: Vec::new(),
        key_der: Vec::new(),
    }
}
