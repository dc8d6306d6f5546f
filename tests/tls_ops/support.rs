//! What the TLS operations tests share: a PKI whose leaves name an OCSP responder, an
//! `openssl ocsp` responder on loopback (killed on Drop), and a TLS probe that reports the
//! certificate and the OCSP staple a server presents.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::common::{self, Boltgate, ChildGuard};

/// A CA whose key is on disk (for `openssl ocsp -rkey`).
pub struct Ca {
    pub dir: tempfile::TempDir,
    cert: rcgen::Certificate,
    key: KeyPair,
    pub pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// A leaf certificate with its key.
#[derive(Clone)]
pub struct Leaf {
    pub serial: u64,
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
    pub cert_path: PathBuf,
}

/// DER of an Authority Information Access extension with one OCSP URL.
fn aia(url: &str) -> Vec<u8> {
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128, "short form lengths only");
        let mut v = vec![tag, body.len() as u8];
        v.extend_from_slice(body);
        v
    }
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1
    let oid = tlv(0x06, &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    let location = tlv(0x86, url.as_bytes());
    let desc = tlv(0x30, &[oid, location].concat());
    tlv(0x30, &desc)
}

static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(5000);

impl Ca {
    pub fn new() -> Ca {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "boltgate OCSP test CA");
        p.distinguished_name = dn;
        let cert = p.self_signed(&key).unwrap();
        let pem = cert.pem();
        let cert_path = dir.path().join("ca.crt");
        let key_path = dir.path().join("ca.key");
        std::fs::write(&cert_path, &pem).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Ca {
            dir,
            cert,
            key,
            pem,
            cert_path,
            key_path,
        }
    }

    /// Issues `p` under a fresh serial and key; the certificate is also written to `<name>.crt`.
    fn sign(&self, name: &str, mut p: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let serial = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        p.serial_number = Some(SerialNumber::from(serial));
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let cert_path = self.dir.path().join(format!("{name}.crt"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        Leaf {
            serial,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
            cert_path,
        }
    }

    /// A leaf naming a responder on a free loopback port (start it with [`Responder`] on that
    /// port): the leaf, the port and the responder's URL.
    pub fn leaf_with_responder(&self, name: &str) -> (Leaf, u16, String) {
        let port = common::free_port();
        let url = format!("http://127.0.0.1:{port}");
        (self.leaf(name, Some(&url)), port, url)
    }

    /// A localhost server certificate naming `ocsp_url` (when given) as its OCSP responder.
    pub fn leaf(&self, name: &str, ocsp_url: Option<&str>) -> Leaf {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("boltgate-{name}"));
        p.distinguished_name = dn;
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.use_authority_key_identifier_extension = true;
        if let Some(url) = ocsp_url {
            p.custom_extensions = vec![CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                aia(url),
            )];
        }
        self.sign(name, p)
    }

    /// A delegated OCSP responder certificate (RFC 6960 4.2.2.2) issued by this CA: with the
    /// OCSPSigning extended key usage when `ocsp_signing`, which is what makes it a delegate.
    pub fn ocsp_signer(&self, name: &str, ocsp_signing: bool) -> Leaf {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("boltgate-{name}"));
        p.distinguished_name = dn;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = if ocsp_signing {
            vec![ExtendedKeyUsagePurpose::OcspSigning]
        } else {
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        };
        p.use_authority_key_identifier_extension = true;
        self.sign(name, p)
    }

    /// Writes the Neo4j policy layout for `leaf` under `base`: private.key, public.crt (leaf,
    /// then CA), trusted/ca.crt, revoked/.
    pub fn policy_dir(&self, base: &Path, leaf: &Leaf) {
        std::fs::create_dir_all(base.join("trusted")).unwrap();
        std::fs::create_dir_all(base.join("revoked")).unwrap();
        std::fs::write(base.join("trusted/ca.crt"), &self.pem).unwrap();
        install(base, leaf, &self.pem);
    }
}

/// boltgate with `leaf` as its bolt certificate (policy under `<ca dir>/<leaf serial>`) and
/// OCSP stapling on, forwarding to `upstream`, plus `extra` settings.
pub fn stapling(ca: &Ca, leaf: &Leaf, upstream: &str, extra: &[(&str, &str)]) -> Boltgate {
    let base = ca.dir.path().join(format!("policy-{}", leaf.serial));
    ca.policy_dir(&base, leaf);
    let mut s = crate::settings(
        &base,
        upstream,
        &[("server.bolt.ocsp_stapling_enabled", "true")],
    );
    s.extend_from_slice(extra);
    Boltgate::start(&s)
}

/// Overwrites the key and certificate of the policy at `base` (a rotation in place).
pub fn install(base: &Path, leaf: &Leaf, ca_pem: &str) {
    std::fs::write(base.join("private.key"), &leaf.key_pem).unwrap();
    std::fs::write(
        base.join("public.crt"),
        format!("{}{}", leaf.cert_pem, ca_pem),
    )
    .unwrap();
}

/// `openssl ocsp` on 127.0.0.1, answering from an index of issued (`V`) and revoked (`R`)
/// certificates, signed by the CA itself. Killed on Drop.
pub struct Responder {
    pub url: String,
    _child: ChildGuard,
}

/// The index line serial: the certificate's serial in upper-case hex, whole bytes.
fn serial_hex(serial: u64) -> String {
    let h = format!("{serial:X}");
    if h.len() % 2 == 1 {
        format!("0{h}")
    } else {
        h
    }
}

impl Responder {
    /// `good` and `revoked` leaves go in the index; `extra` goes on the command line (e.g.
    /// `-ndays 1`).
    pub fn start(
        ca: &Ca,
        port: u16,
        good: &[&Leaf],
        revoked: &[&Leaf],
        extra: &[&str],
    ) -> Responder {
        Responder::start_signed_by(ca, None, port, good, revoked, extra)
    }

    /// As [`Responder::start`], with responses signed by `signer` (a delegated responder, which
    /// openssl includes in each response) instead of the CA when given.
    pub fn start_signed_by(
        ca: &Ca,
        signer: Option<&Leaf>,
        port: u16,
        good: &[&Leaf],
        revoked: &[&Leaf],
        extra: &[&str],
    ) -> Responder {
        let dir = ca.dir.path();
        let (signer_cert, signer_key) = match signer {
            None => (ca.cert_path.clone(), ca.key_path.clone()),
            Some(s) => {
                let key = dir.join(format!("signer-{port}.key"));
                std::fs::write(&key, &s.key_pem).unwrap();
                (s.cert_path.clone(), key)
            }
        };
        let mut index = String::new();
        for l in good {
            index.push_str(&format!(
                "V\t300101000000Z\t\t{}\tunknown\t/CN=x\n",
                serial_hex(l.serial)
            ));
        }
        for l in revoked {
            index.push_str(&format!(
                "R\t300101000000Z\t200101000000Z,keyCompromise\t{}\tunknown\t/CN=x\n",
                serial_hex(l.serial)
            ));
        }
        let index_path = dir.join(format!("index-{port}.txt"));
        std::fs::write(&index_path, index).unwrap();
        let log = dir.join(format!("ocsp-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new("openssl");
        cmd.args(["ocsp", "-index"])
            .arg(&index_path)
            // OpenSSL 3.0 takes a bare port here (it listens on every interface; clients use 127.0.0.1).
            .args(["-port", &port.to_string(), "-rsigner"])
            .arg(&signer_cert)
            .arg("-rkey")
            .arg(&signer_key)
            .arg("-CA")
            .arg(&ca.cert_path)
            .arg("-ignore_err")
            .args(extra)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        let child = ChildGuard::spawn("openssl ocsp", &mut cmd).expect("start openssl ocsp");
        // Not a connection probe: openssl ocsp serves one connection at a time, and a probe that
        // sends nothing would hold it. Its log says when it accepts.
        assert!(
            common::wait_until(Duration::from_secs(10), || common::read_log(&log)
                .contains("waiting for OCSP client connections")),
            "openssl ocsp did not start: {}",
            common::read_log(&log)
        );
        Responder {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }
}

/// What a TLS server presented: its leaf and its OCSP staple (empty when none).
#[derive(Debug, Default, Clone)]
pub struct Presented {
    pub leaf: Vec<u8>,
    pub staple: Vec<u8>,
}

/// Accepts any certificate and remembers what was presented.
#[derive(Debug)]
struct Capture {
    seen: Arc<Mutex<Presented>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Presented {
            leaf: end_entity.to_vec(),
            staple: ocsp_response.to_vec(),
        };
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Opens a TLS connection to `addr` (rustls asks for a staple) and returns the stream with
/// what the server presented.
pub async fn tls_connect(
    addr: SocketAddr,
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Presented,
) {
    tls_connect_with(addr, rustls::DEFAULT_VERSIONS)
        .await
        .expect("TLS handshake")
}

/// [`tls_connect`] offering only `versions`; the handshake's error when it fails.
pub async fn tls_connect_with(
    addr: SocketAddr,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> std::io::Result<(
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Presented,
)> {
    let seen = Arc::new(Mutex::new(Presented::default()));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(capturing(versions, seen.clone())));
    let tcp = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect timeout")?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .expect("TLS handshake timeout")?;
    let presented = seen.lock().unwrap().clone();
    Ok((tls, presented))
}

/// A client offering `versions` that accepts any server certificate and records what it was
/// shown in `seen`.
fn capturing(
    versions: &[&'static rustls::SupportedProtocolVersion],
    seen: Arc<Mutex<Presented>>,
) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture { seen, provider }))
        .with_no_client_auth()
}

/// A TLS client that keeps the sessions it is given (rustls' default cache), to see whether a
/// server resumes them.
pub struct Resuming(tokio_rustls::TlsConnector);

impl Resuming {
    pub fn new() -> Resuming {
        let config = capturing(&[&rustls::version::TLS13], Arc::default());
        Resuming(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// Connects and does the Bolt handshake (its answer is read after the server's session
    /// tickets, which the client then keeps); true when the TLS session was a resumed one.
    pub async fn handshake_resumed(&self, addr: SocketAddr) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut tls = tokio::time::timeout(
            Duration::from_secs(10),
            self.0
                .connect(ServerName::try_from("localhost").unwrap(), tcp),
        )
        .await
        .expect("TLS handshake timeout")
        .expect("TLS handshake");
        let offer = [
            0x60, 0x60, 0xb0, 0x17, 0, 0, 8, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        tls.write_all(&offer).await.expect("Bolt handshake");
        let mut version = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(10), tls.read_exact(&mut version))
            .await
            .expect("Bolt handshake answer timeout")
            .expect("Bolt handshake answer");
        tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }
}

/// Whether a client offering TLS 1.2 only completes a handshake with `addr`.
pub fn tls12_handshake(addr: SocketAddr) -> bool {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tls_connect_with(addr, &[&rustls::version::TLS12])
                .await
                .is_ok()
        })
}

/// What a new TLS client is shown by `addr` (the connection is then closed).
pub fn presented(addr: SocketAddr) -> Presented {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { tls_connect(addr).await.1 })
}
