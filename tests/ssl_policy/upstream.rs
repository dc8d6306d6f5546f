//! The cluster scope: boltgate A dials boltgate B (TLS listener, client_auth=REQUIRE) with the
//! cluster policy; B forwards to FalkorDB. The Python driver is the client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::FalkorDb;
use crate::harness::{boltgate, free_port, py_query, Proc};
use crate::pki::{self, Leaf};
use crate::Setup;

/// B: a TLS-only boltgate requiring client certificates, in front of FalkorDB. `leaf` is its
/// certificate.
fn gate_b(s: &Setup, falkor: u16, leaf: &Leaf, name: &str) -> Proc {
    let issued = s.ca.issue(leaf);
    let base = s.path().join(format!("certificates/{name}"));
    pki::policy_dir(&base, &issued, &[], &[&s.ca.pem]);
    let port = free_port();
    let conf = s.conf(
        port,
        falkor,
        &format!(
            "dbms.ssl.policy.bolt.base_directory={}\ndbms.ssl.policy.bolt.client_auth=REQUIRE\n",
            base.display()
        ),
    );
    boltgate(&conf, port)
}

/// A cluster policy directory for A, with an optional CRL.
fn cluster_dir(s: &Setup, name: &str, crl_serials: &[u64]) -> PathBuf {
    let base = s.path().join(format!("certificates/{name}"));
    pki::policy_dir(
        &base,
        &s.ca.issue(&Leaf::localhost(3000)),
        &[],
        &[&s.ca.pem],
    );
    if !crl_serials.is_empty() {
        pki::write(&base.join("revoked/ca.crl"), s.ca.crl(crl_serials), 0o644);
    }
    base
}

/// A: plaintext listener, upstream `bolt://127.0.0.1:B` (a plain URI: the cluster policy makes
/// it TLS), cluster policy at `base`.
fn gate_a(b: u16, base: &Path, extra: &str) -> Proc {
    let port = free_port();
    let conf = format!(
        "server.bolt.listen_address=127.0.0.1:{port}\n\
         boltgate.upstream.uri=bolt://127.0.0.1:{b}\n\
         boltgate.upstream.connect_timeout=5s\n\
         dbms.ssl.policy.cluster.enabled=true\n\
         dbms.ssl.policy.cluster.base_directory={}\n{extra}",
        base.display()
    );
    boltgate(&conf, port)
}

#[test]
fn the_cluster_policy_gives_mutual_tls_upstream_and_refuses_a_revoked_upstream() {
    let s = Setup::default();
    let falkor = FalkorDb::start();
    let b = gate_b(&s, falkor.bolt_port, &Leaf::localhost(2000), "b");

    // The driver straight to B: REQUIRE refuses it without a certificate, accepts it with one.
    let uri_b = format!("bolt://localhost:{}", b.port);
    assert!(py_query(&uri_b, Some(&s.ca_file), None).is_err());
    let client = s.client(&s.ca, "driver", 77);
    py_query(&uri_b, Some(&s.ca_file), Some((&client.0, &client.1)))
        .expect("driver with a client certificate");

    // Through A: A presents its cluster certificate to B.
    let a = gate_a(b.port, &cluster_dir(&s, "cluster-ok", &[]), "");
    assert!(
        a.wait_log(
            "dbms.ssl.policy.cluster (mutual TLS)",
            Duration::from_secs(5)
        ),
        "{}",
        a.log()
    );
    py_query(&format!("bolt://localhost:{}", a.port), None, None)
        .unwrap_or_else(|e| panic!("{e}\nA:\n{}\nB:\n{}", a.log(), b.log()));

    // A whose revoked_dir has a CRL listing B's certificate (serial 2000 = 0x07d0).
    let a2 = gate_a(b.port, &cluster_dir(&s, "cluster-revoked", &[2000]), "");
    assert!(py_query(&format!("bolt://localhost:{}", a2.port), None, None).is_err());
    assert!(
        a2.wait_log("serial 07:d0", Duration::from_secs(5)),
        "{}",
        a2.log()
    );
    assert!(a2
        .log()
        .contains("peer refused: its certificate is revoked (subject CN=localhost"));
}

#[test]
fn verify_hostname_decides_about_a_wrong_host_certificate() {
    let s = Setup::default();
    let falkor = FalkorDb::start();
    let wrong = Leaf {
        names: vec!["wronghost.example".into()],
        ..Leaf::localhost(2001)
    };
    let b = gate_b(&s, falkor.bolt_port, &wrong, "b-wrong");
    let base = cluster_dir(&s, "cluster", &[]);

    let strict = gate_a(b.port, &base, "");
    assert!(py_query(&format!("bolt://localhost:{}", strict.port), None, None).is_err());
    assert!(
        strict.wait_log("upstream certificate refused", Duration::from_secs(5)),
        "{}",
        strict.log()
    );

    let relaxed = gate_a(
        b.port,
        &base,
        "dbms.ssl.policy.cluster.verify_hostname=false\n",
    );
    py_query(&format!("bolt://localhost:{}", relaxed.port), None, None)
        .unwrap_or_else(|e| panic!("{e}\n{}", relaxed.log()));
}

#[test]
fn client_auth_as_the_python_driver_sees_it() {
    let s = Setup::default();
    let falkor = FalkorDb::start();
    let trusted = s.client(&s.ca, "driver", 78);
    let stranger = s.client(&crate::pki::Ca::new("stranger CA"), "stranger", 79);
    for (client_auth, no_cert_ok, trusted_ok, stranger_ok) in [
        ("NONE", true, true, true),
        ("OPTIONAL", true, true, false),
        ("REQUIRE", false, true, false),
    ] {
        let port = free_port();
        let conf = s.conf(
            port,
            falkor.bolt_port,
            &format!("dbms.ssl.policy.bolt.client_auth={client_auth}\n"),
        );
        let bg = boltgate(&conf, port);
        let uri = format!("bolt://localhost:{port}");
        let ca = Some(s.ca_file.as_path());
        for (what, cert, expected) in [
            ("no certificate", None, no_cert_ok),
            (
                "trusted certificate",
                Some((&*trusted.0, &*trusted.1)),
                trusted_ok,
            ),
            (
                "untrusted certificate",
                Some((&*stranger.0, &*stranger.1)),
                stranger_ok,
            ),
        ] {
            let got = py_query(&uri, ca, cert);
            assert_eq!(
                got.is_ok(),
                expected,
                "client_auth={client_auth}, {what}: {got:?}\n{}",
                bg.log()
            );
        }
    }
}
