//! A test PKI made at test time: a CA (rcgen), leaf certificates with chosen names, usages,
//! validity and key type, CRLs, and the `openssl` CLI for RSA keys and every encrypted-PKCS#8
//! variant. Also writes a policy directory in Neo4j's layout. Used by tests/ssl_policy and (via
//! `#[path]`) by the unit tests in src/tls, so it depends on std, rcgen and tempfile only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};

/// Runs `openssl` with `args`; panics with its stderr on failure.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes `contents` to `path` (parents created) with `mode`.
pub fn write(path: &Path, contents: impl AsRef<[u8]>, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// (year, month, day).
pub type Ymd = (i32, u8, u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256 (rcgen's default).
    Ec,
    /// RSA 2048, made by `openssl genpkey`.
    Rsa,
}

/// A fresh PKCS#8 PEM key pair.
pub fn key_pair(kind: KeyKind) -> KeyPair {
    match kind {
        KeyKind::Ec => KeyPair::generate().unwrap(),
        KeyKind::Rsa => {
            let pem = openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ]);
            KeyPair::from_pem(std::str::from_utf8(&pem).unwrap()).unwrap()
        }
    }
}

/// A certificate and its key.
pub struct Issued {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8 PEM.
    pub key_pem: String,
    pub serial: u64,
}

/// What a leaf certificate looks like.
#[derive(Clone)]
pub struct Leaf {
    pub cn: String,
    /// DNS names and IP addresses (as text).
    pub names: Vec<String>,
    pub key: KeyKind,
    pub server_auth: bool,
    pub client_auth: bool,
    /// (year, month, day) of not_before and not_after.
    pub validity: Option<(Ymd, Ymd)>,
    pub serial: u64,
}

impl Leaf {
    /// A server+client certificate for localhost and 127.0.0.1.
    pub fn localhost(serial: u64) -> Leaf {
        Leaf {
            cn: "localhost".into(),
            names: vec!["localhost".into(), "127.0.0.1".into()],
            key: KeyKind::Ec,
            server_auth: true,
            client_auth: true,
            validity: None,
            serial,
        }
    }

    pub fn client(cn: &str, serial: u64) -> Leaf {
        Leaf {
            cn: cn.into(),
            names: vec![],
            key: KeyKind::Ec,
            server_auth: false,
            client_auth: true,
            validity: None,
            serial,
        }
    }
}

pub struct Ca {
    key: KeyPair,
    cert: rcgen::Certificate,
    pub pem: String,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            key,
            cert,
        }
    }

    /// An intermediate CA signed by this one (its own `Ca`).
    pub fn intermediate(&self, cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            key,
            cert,
        }
    }

    pub fn issue(&self, leaf: &Leaf) -> Issued {
        let key = key_pair(leaf.key);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, leaf.cn.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = leaf
            .names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(n.clone().try_into().unwrap()),
            })
            .collect();
        params.extended_key_usages = [
            (leaf.server_auth, ExtendedKeyUsagePurpose::ServerAuth),
            (leaf.client_auth, ExtendedKeyUsagePurpose::ClientAuth),
        ]
        .into_iter()
        .filter_map(|(on, p)| on.then_some(p))
        .collect();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.serial_number = Some(SerialNumber::from(leaf.serial));
        if let Some(((y1, m1, d1), (y2, m2, d2))) = leaf.validity {
            params.not_before = rcgen::date_time_ymd(y1, m1, d1);
            params.not_after = rcgen::date_time_ymd(y2, m2, d2);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            serial: leaf.serial,
        }
    }

    /// A PEM CRL revoking `serials`.
    pub fn crl(&self, serials: &[u64]) -> String {
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2090, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.cert, &self.key)
            .unwrap()
            .pem()
            .unwrap()
    }
}

/// Writes a policy directory in Neo4j's layout under `base`: public.crt (the chain), private.key
/// (0600), trusted/ca.crt, and an empty revoked/. Returns `base`.
pub fn policy_dir(base: &Path, issued: &Issued, chain_rest: &[&str], trusted: &[&str]) -> PathBuf {
    let mut chain = issued.cert_pem.clone();
    for c in chain_rest {
        chain.push_str(c);
    }
    write(&base.join("public.crt"), chain, 0o644);
    write(&base.join("private.key"), &issued.key_pem, 0o600);
    std::fs::create_dir_all(base.join("trusted")).unwrap();
    std::fs::create_dir_all(base.join("revoked")).unwrap();
    for (i, t) in trusted.iter().enumerate() {
        write(&base.join(format!("trusted/ca{i}.crt")), t, 0o644);
    }
    base.to_path_buf()
}

/// The ten PKCS#5 v2 combinations of the manual (and this issue): (cipher, prf).
pub const ENCRYPTIONS: [(&str, &str); 10] = [
    ("aes-128-cbc", "hmacWithSHA1"),
    ("aes-128-cbc", "hmacWithSHA224"),
    ("aes-128-cbc", "hmacWithSHA256"),
    ("aes-128-cbc", "hmacWithSHA384"),
    ("aes-128-cbc", "hmacWithSHA512"),
    ("aes-256-cbc", "hmacWithSHA1"),
    ("aes-256-cbc", "hmacWithSHA224"),
    ("aes-256-cbc", "hmacWithSHA256"),
    ("aes-256-cbc", "hmacWithSHA384"),
    ("aes-256-cbc", "hmacWithSHA512"),
];

/// `openssl pkcs8 -topk8 -v2 CIPHER -v2prf PRF`: the key at `plain` encrypted to `out`.
pub fn encrypt_key(plain: &Path, out: &Path, cipher: &str, prf: &str, password: &str) {
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        cipher,
        "-v2prf",
        prf,
        "-in",
        plain.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
        "-passout",
        &format!("pass:{password}"),
    ]);
}

/// The key at `pkcs8` rewritten in its traditional form (PKCS#1 for RSA, SEC1 for EC).
pub fn traditional_key(pkcs8: &Path, out: &Path) {
    openssl(&[
        "pkey",
        "-in",
        pkcs8.to_str().unwrap(),
        "-traditional",
        "-out",
        out.to_str().unwrap(),
    ]);
}
