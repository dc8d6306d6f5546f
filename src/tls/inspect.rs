//! `boltgate certs check`: per scope, what the Neo4j manual does with `openssl x509 -text` and
//! `openssl rsa -check`: each certificate's subject, SANs, issuer, validity and usages, the key's
//! format and whether it matches, the trusted and revoked directories, whether the chain
//! verifies against the trusted certificates, and the verdict of loading the policy as boltgate
//! does at start.

use std::fmt::Write as _;
use std::net::IpAddr;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::ParsedCertificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use super::{pem, TlsPolicy};
use crate::config::{Config, Scope, SslPolicyConfig};

/// Checks the enabled policies (or `only`, enabled or not) and writes a report. Returns whether
/// every checked policy is fine.
pub fn check(config: &Config, only: Option<Scope>, out: &mut String) -> bool {
    let mut ok = true;
    let mut checked = 0;
    for scope in Scope::ALL {
        if only.is_some_and(|s| s != scope) {
            continue;
        }
        let policy = config.ssl.get(scope);
        if !policy.enabled && only.is_none() {
            let _ = writeln!(
                out,
                "dbms.ssl.policy.{scope}: not enabled (not checked; --scope {scope} checks it anyway)\n"
            );
            continue;
        }
        checked += 1;
        ok &= check_policy(policy, out);
        out.push('\n');
    }
    if checked == 0 {
        let _ = writeln!(out, "no SSL policy is enabled: nothing to check");
    }
    let _ = writeln!(
        out,
        "{}",
        if ok {
            "certs check: OK"
        } else {
            "certs check: PROBLEMS FOUND (see above)"
        }
    );
    ok
}

/// One policy's section of the report: its files as found, then (when it loads) what boltgate
/// made of them and whether it can be used as boltgate uses it.
fn check_policy(policy: &SslPolicyConfig, out: &mut String) -> bool {
    let scope = policy.scope;
    write_files(policy, out);
    let loaded = match TlsPolicy::load(policy) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(out, "PROBLEM: {e}");
            let _ = writeln!(out, "result: dbms.ssl.policy.{scope} cannot be used");
            return false;
        }
    };
    write_loaded(policy, &loaded, out);
    let ok = check_usable(policy, &loaded, out);
    for w in loaded.warnings() {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "result: dbms.ssl.policy.{scope} {}",
        if ok { "OK" } else { "has problems" }
    );
    ok
}

/// The settings and the files they name, read on their own so that they are shown even when
/// loading the policy fails.
fn write_files(policy: &SslPolicyConfig, out: &mut String) {
    let scope = policy.scope;
    let _ = writeln!(
        out,
        "== dbms.ssl.policy.{scope} ({}) ==",
        if policy.enabled {
            "enabled"
        } else {
            "NOT enabled; checked as asked"
        }
    );
    let _ = writeln!(out, "base_directory: {}", policy.base_directory.display());
    let _ = writeln!(
        out,
        "client_auth: {}   verify_hostname: {}   trust_all: {}",
        policy.client_auth, policy.verify_hostname, policy.trust_all
    );

    // The certificate file, shown even when something else is wrong.
    let _ = writeln!(
        out,
        "public_certificate: {}",
        policy.public_certificate.display()
    );
    let setting = format!("dbms.ssl.policy.{scope}.public_certificate");
    match pem::load_certificates(&setting, &policy.public_certificate) {
        Ok(chain) => {
            for (i, der) in chain.iter().enumerate() {
                let _ = writeln!(out, "  certificate {} of {}:", i + 1, chain.len());
                describe(der, "    ", out);
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  cannot read it: {e}");
        }
    }
    let _ = writeln!(out, "private_key: {}", policy.private_key.display());
    if let Some(w) = pem::mode_warning(&policy.private_key) {
        let _ = writeln!(out, "  {w}");
    }
    let _ = writeln!(out, "trusted_dir: {}", policy.trusted_dir.display());
    let _ = writeln!(out, "revoked_dir: {}", policy.revoked_dir.display());
}

/// What loading made of the files: the key, the trusted and revoked certificates, the TLS
/// versions and ciphers.
fn write_loaded(policy: &SslPolicyConfig, loaded: &TlsPolicy, out: &mut String) {
    let _ = writeln!(
        out,
        "  key: {}, {:?}; matches the certificate: yes",
        loaded.key_format,
        loaded.signing_key.algorithm()
    );
    for (path, certs) in &loaded.trusted.files {
        let _ = writeln!(
            out,
            "  trusted: {}: {}",
            path.display(),
            certs
                .iter()
                .map(|c| pem::subject(c))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    if loaded.trusted.files.is_empty() && !policy.trust_all {
        let _ = writeln!(out, "  trusted: (none)");
    }
    for f in &loaded.revoked.files {
        for d in &f.descriptions {
            let _ = writeln!(out, "  revoked: {}: {d}", f.path.display());
        }
    }
    if loaded.revoked.files.is_empty() {
        let _ = writeln!(out, "  revoked: (none)");
    }
    let _ = writeln!(out, "tls_versions: {}", loaded.version_names().join(", "));
    let _ = writeln!(out, "ciphers: {}", loaded.cipher_names().join(", "));
}

/// Whether the loaded policy works as boltgate uses it: its rustls configuration builds, and
/// (with trusted certificates) its own chain verifies against them.
fn check_usable(policy: &SslPolicyConfig, loaded: &TlsPolicy, out: &mut String) -> bool {
    let scope = policy.scope;
    let mut ok = true;
    // As boltgate uses it: bolt and https are served, cluster is dialled.
    let built = if scope == Scope::Cluster {
        loaded.client_config().map(|_| ())
    } else {
        loaded.server_config().map(|_| ())
    };
    if let Err(e) = built {
        let _ = writeln!(out, "PROBLEM: {e}");
        ok = false;
    }
    if !policy.trust_all && !loaded.trusted.store.is_empty() {
        let as_server = verify_as_server(loaded);
        let _ = writeln!(
            out,
            "chain verifies against trusted_dir as a server certificate: {}",
            as_server.as_deref().map_or("yes", |e| e)
        );
        let as_client = verify_as_client(loaded);
        let _ = writeln!(
            out,
            "chain verifies against trusted_dir as a client certificate: {}",
            as_client.as_deref().map_or("yes", |e| e)
        );
        // Cluster members trust one another through the same trusted certificates, so there a
        // certificate the own trusted_dir does not vouch for is a problem; for bolt and https,
        // trusted_dir holds the clients' CAs and says nothing about the server's own certificate.
        if scope == Scope::Cluster && (as_server.is_some() || as_client.is_some()) {
            let _ = writeln!(
                out,
                "PROBLEM: dbms.ssl.policy.{scope}.public_certificate: peers sharing this \
                 trusted_dir would refuse this certificate"
            );
            ok = false;
        }
    }
    ok
}

/// `None` when the chain verifies as a TLS server certificate (name not checked).
fn verify_as_server(p: &TlsPolicy) -> Option<String> {
    if p.trusted.directly_trusts(&p.chain[0]) {
        return None;
    }
    let parsed = match ParsedCertificate::try_from(&p.chain[0]) {
        Ok(c) => c,
        Err(e) => return Some(format!("no ({e})")),
    };
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &p.trusted.store,
        &p.chain[1..],
        UnixTime::now(),
        p.provider.signature_verification_algorithms.all,
    )
    .err()
    .map(|e| format!("NO ({e})"))
}

/// `None` when the chain verifies as a TLS client certificate.
fn verify_as_client(p: &TlsPolicy) -> Option<String> {
    if p.trusted.directly_trusts(&p.chain[0]) {
        return None;
    }
    let verifier = match rustls::server::WebPkiClientVerifier::builder_with_provider(
        p.trusted.store.clone(),
        p.provider.clone(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => return Some(format!("NO ({e})")),
    };
    verifier
        .verify_client_cert(&p.chain[0], &p.chain[1..], UnixTime::now())
        .err()
        .map(|e| format!("NO ({e})"))
}

/// `openssl x509 -text`, the parts an operator checks.
pub fn describe(der: &CertificateDer<'_>, indent: &str, out: &mut String) {
    let Some(cert) = pem::parse(der) else {
        let _ = writeln!(out, "{indent}<not a valid X.509 certificate>");
        return;
    };
    let v = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    let status = if v.not_after < now {
        "EXPIRED".to_string()
    } else if v.not_before > now {
        "NOT YET VALID".to_string()
    } else {
        let days = v.time_to_expiration().map_or(0, |d| d.whole_days());
        format!("valid, {days} days left")
    };
    let _ = writeln!(out, "{indent}subject: {}", cert.subject());
    let _ = writeln!(out, "{indent}issuer:  {}", cert.issuer());
    let _ = writeln!(out, "{indent}serial:  {}", cert.raw_serial_as_string());
    let _ = writeln!(
        out,
        "{indent}validity: {} to {} ({status})",
        v.not_before, v.not_after
    );
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => format!("DNS:{d}"),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => format!("IP:{}", IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                    16 => format!("IP:{}", IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
                    _ => "IP:<invalid>".to_string(),
                },
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => "(none: no host name can be verified against it)".to_string(),
    };
    let _ = writeln!(out, "{indent}subject alternative names: {sans}");
    let key = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(k)) => format!("RSA {} bits", k.key_size()),
        Ok(PublicKey::EC(k)) => format!("EC {} bits", k.key_size()),
        Ok(other) => format!("{other:?}")
            .split('(')
            .next()
            .unwrap_or("?")
            .to_string(),
        Err(_) => cert.public_key().algorithm.algorithm.to_id_string(),
    };
    let _ = writeln!(out, "{indent}public key: {key}");
    let _ = writeln!(
        out,
        "{indent}CA: {}",
        if cert.is_ca() { "yes" } else { "no" }
    );
    match cert.key_usage() {
        Ok(Some(ku)) => {
            let _ = writeln!(out, "{indent}key usage: {}", ku.value);
        }
        _ => {
            let _ = writeln!(out, "{indent}key usage: (not restricted)");
        }
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let e = eku.value;
            let mut names = Vec::new();
            for (set, name) in [
                (e.any, "any"),
                (e.server_auth, "serverAuth (TLS Web Server Authentication)"),
                (e.client_auth, "clientAuth (TLS Web Client Authentication)"),
                (e.code_signing, "codeSigning"),
                (e.email_protection, "emailProtection"),
                (e.time_stamping, "timeStamping"),
                (e.ocsp_signing, "OCSPSigning"),
            ] {
                if set {
                    names.push(name.to_string());
                }
            }
            names.extend(e.other.iter().map(|o| o.to_id_string()));
            let _ = writeln!(out, "{indent}extended key usage: {}", names.join(", "));
        }
        _ => {
            let _ = writeln!(out, "{indent}extended key usage: (not restricted)");
        }
    }
}
