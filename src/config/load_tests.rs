//! Tests of the whole pipeline on configuration text: defaults, overrides, effective settings,
//! collected errors and the rules between settings. (tests/config.rs covers the binary.)

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::uri::{Scheme, TlsMode};

fn load(text: &str, overrides: &[&str]) -> Result<Config, ConfigErrors> {
    let overrides: Vec<String> = overrides.iter().map(ToString::to_string).collect();
    Config::from_text(text, "t.conf", &overrides, LoadOptions::default())
}

fn problems(text: &str, overrides: &[&str]) -> Vec<String> {
    load(text, overrides)
        .expect_err("should fail")
        .iter()
        .map(ConfigError::report)
        .collect()
}

#[test]
fn the_embedded_default_loads_with_the_documented_defaults() {
    let c = Config::load(None, &[], LoadOptions::default()).unwrap();
    assert_eq!(c.source, DEFAULT_CONF_LABEL);
    assert_eq!(c.bolt.listen_address.to_string(), "127.0.0.1:7687");
    assert_eq!(c.bolt.tls_level, TlsLevel::Disabled);
    assert!(!c.bolt.ocsp_stapling_enabled && !c.tls_reload_enabled);
    assert_eq!(c.neo4j_home, std::env::current_dir().unwrap());
    assert_eq!(
        (c.upstream.uri.scheme, c.upstream.uri.address().as_str()),
        (Scheme::Bolt, "127.0.0.1:7688")
    );
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(10));
    assert_eq!(c.client.handshake_timeout, Duration::from_secs(10));
    assert_eq!(c.client.idle_timeout, None);
    assert_eq!(c.client.max_connections, 10_000);
    assert_eq!(c.max_message_size, 16 << 20);
    assert_eq!(c.shutdown_grace_period, Duration::from_secs(30));
    assert_eq!(
        (
            c.log.format,
            c.log.level.as_str(),
            c.log.tls_handshake_debug
        ),
        (LogFormat::Text, "info", false)
    );

    let bolt = &c.ssl.bolt;
    assert!(!bolt.enabled);
    assert_eq!(bolt.base_directory, c.neo4j_home.join("certificates/bolt"));
    assert_eq!(
        bolt.private_key,
        c.neo4j_home.join("certificates/bolt/private.key")
    );
    assert_eq!(
        bolt.public_certificate,
        c.neo4j_home.join("certificates/bolt/public.crt")
    );
    assert_eq!(
        bolt.trusted_dir,
        c.neo4j_home.join("certificates/bolt/trusted")
    );
    assert_eq!(
        bolt.revoked_dir,
        c.neo4j_home.join("certificates/bolt/revoked")
    );
    assert_eq!(
        (bolt.client_auth, bolt.verify_hostname, bolt.trust_all),
        (ClientAuth::Optional, true, false)
    );
    assert_eq!(bolt.ciphers, None);
    assert_eq!(bolt.tls_versions, ["TLSv1.2", "TLSv1.3"]);
    assert_eq!(bolt.private_key_password, None);
    assert_eq!(
        (c.ssl.cluster.client_auth, c.ssl.cluster.verify_hostname),
        (ClientAuth::Require, true)
    );
    assert_eq!(c.ssl.https.client_auth, ClientAuth::Optional);
    assert_eq!(
        c.ssl.get(Scope::Https).base_directory,
        c.neo4j_home.join("certificates/https")
    );
}

#[test]
fn a_tls_configuration() {
    let text = "server.directories.neo4j_home=/opt/bg\n\
                server.bolt.tls_level=required\n\
                server.bolt.listen_address=[::]:7687\n\
                dbms.ssl.policy.bolt.enabled=true\n\
                dbms.ssl.policy.bolt.base_directory=tls\n\
                dbms.ssl.policy.bolt.private_key=/secrets/key.pem\n\
                dbms.ssl.policy.bolt.private_key_password=hunter2\n\
                dbms.ssl.policy.bolt.ciphers=TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256\n\
                dbms.ssl.policy.bolt.tls_versions=tlsv1.3\n\
                dbms.ssl.policy.bolt.client_auth=require\n\
                boltgate.upstream.uri=bolt+ssc://db:7687\n\
                boltgate.client.idle_timeout=5m\n\
                boltgate.log.level=boltgate=debug,info\n";
    let c = load(text, &[]).unwrap();
    assert_eq!(c.bolt.tls_level, TlsLevel::Required);
    assert_eq!(
        c.bolt.listen_address.socket_addr(),
        Some("[::]:7687".parse().unwrap())
    );
    let bolt = &c.ssl.bolt;
    assert_eq!(bolt.base_directory, Path::new("/opt/bg/tls"));
    assert_eq!(bolt.private_key, Path::new("/secrets/key.pem"));
    assert_eq!(bolt.public_certificate, Path::new("/opt/bg/tls/public.crt"));
    assert_eq!(
        bolt.private_key_password.as_ref().map(Secret::expose),
        Some("hunter2")
    );
    assert_eq!(
        bolt.ciphers.as_deref(),
        Some(
            &[
                "TLS_AES_256_GCM_SHA384".to_string(),
                "TLS_CHACHA20_POLY1305_SHA256".to_string()
            ][..]
        )
    );
    assert_eq!(bolt.tls_versions, ["TLSv1.3"]);
    assert_eq!(bolt.client_auth, ClientAuth::Require);
    assert_eq!(c.upstream.uri.tls, TlsMode::SelfSigned);
    assert_eq!(c.client.idle_timeout, Some(Duration::from_secs(300)));
    assert_eq!(c.log.level, "boltgate=debug,info");

    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "password in Debug: {debug}");
    let effective = c.effective_settings();
    let find = |k: &str| {
        effective
            .iter()
            .find(|(key, _, _)| key == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        find("dbms.ssl.policy.bolt.private_key_password").1,
        "<redacted>"
    );
    assert!(!format!("{effective:?}").contains("hunter2"));
}

#[test]
fn effective_settings_are_sorted_complete_and_say_where_each_came_from() {
    let c = load(
        "boltgate.client.max_connections=5\n",
        &["boltgate.log.format=json"],
    )
    .unwrap();
    let effective = c.effective_settings();
    assert_eq!(effective.len(), settings::all_keys().len());
    assert!(effective.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    let find = |k: &str| {
        effective
            .iter()
            .find(|(key, _, _)| key == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        find("boltgate.client.max_connections"),
        (
            "boltgate.client.max_connections".into(),
            "5".into(),
            "t.conf:1".into()
        )
    );
    assert_eq!(find("boltgate.log.format").2, "--set:1");
    assert_eq!(
        find("boltgate.log.level"),
        ("boltgate.log.level".into(), "info".into(), "default".into())
    );
    assert_eq!(find("dbms.ssl.policy.cluster.client_auth").1, "REQUIRE");
    assert_eq!(find("dbms.ssl.policy.bolt.private_key_password").1, "");
}

#[test]
fn overrides_win_over_the_file() {
    let c = load(
        "boltgate.client.max_connections=5\n",
        &["boltgate.client.max_connections=7"],
    )
    .unwrap();
    assert_eq!(c.client.max_connections, 7);
}

#[test]
fn every_problem_is_reported_in_file_then_set_order() {
    let text = "boltgate.client.max_connections=0\n\
                boltgate.upstream.connect_timeout=0\n\
                server.bolt.tls_levle=REQUIRED\n\
                dbms.ssl.policy.bolt.verify_hostname=maybe\n";
    let got = problems(
        text,
        &[
            "boltgate.limits.max_message_size=3GiB",
            "boltgate.log.format=xml",
        ],
    );
    assert_eq!(
        got,
        [
            "t.conf:1: boltgate.client.max_connections: must be at least 1",
            "t.conf:2: boltgate.upstream.connect_timeout: must be more than 0",
            "t.conf:3: server.bolt.tls_levle: unknown setting; did you mean `server.bolt.tls_level`?",
            "t.conf:4: dbms.ssl.policy.bolt.verify_hostname: `maybe` is not a boolean (use true or false)",
            "--set:1: boltgate.limits.max_message_size: `3GiB` is out of range (use 1KiB to 2GiB; a number without a unit is bytes)",
            "--set:2: boltgate.log.format: `xml` is not allowed (use one of text, json)",
        ]
    );
}

#[test]
fn watching_the_tls_files_needs_reload_enabled() {
    let got = problems("boltgate.tls_reload.watch_interval=10s\n", &[]);
    assert_eq!(
        got,
        ["t.conf:1: boltgate.tls_reload.watch_interval: watching the files is a way to trigger a reload, but reloads are off (set dbms.security.tls_reload_enabled=true)"]
    );
    let c = load(
        "boltgate.tls_reload.watch_interval=10s\ndbms.security.tls_reload_enabled=true\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.tls_reload_watch, Some(Duration::from_secs(10)));
    let c = load("boltgate.tls_reload.watch_interval=0\n", &[]).unwrap();
    assert_eq!(
        c.tls_reload_watch, None,
        "0 means no watch, with or without reload"
    );
}

#[test]
fn tls_level_needs_the_bolt_policy() {
    let got = problems("server.bolt.tls_level=OPTIONAL\n", &[]);
    assert_eq!(
        got,
        ["t.conf:1: server.bolt.tls_level: OPTIONAL needs the bolt SSL policy, but dbms.ssl.policy.bolt.enabled is false (set dbms.ssl.policy.bolt.enabled=true)"]
    );
    // Also when the bolt policy has another problem, which is reported too.
    let got = problems(
        "server.bolt.tls_level=REQUIRED\ndbms.ssl.policy.bolt.client_auth=ALWAYS\n",
        &[],
    );
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(load(
        "server.bolt.tls_level=OPTIONAL\n",
        &["dbms.ssl.policy.bolt.enabled=true"]
    )
    .is_ok());
}

#[test]
fn routing_settings_load_and_conflicts_are_named() {
    let c = load(
        "boltgate.upstream.uri=neo4j+s://cluster.example.com?region=eu\n",
        &[],
    )
    .unwrap();
    assert!(c.routing_enabled());
    assert_eq!(
        c.upstream.uri.routing_context,
        [("region".into(), "eu".into())]
    );
    assert_eq!(c.routing.ttl, std::time::Duration::from_secs(300));
    assert_eq!(c.routing.ban_time, std::time::Duration::from_secs(30));
    // Default advertised address: the listen address.
    assert_eq!(c.routing.advertised_addresses, ["127.0.0.1:7687"]);

    let c = load(
        "boltgate.routing.members=writer=a:1,reader=b\nserver.bolt.listen_address=:7000\n\
         boltgate.routing.advertised_addresses=p1:7687,p2\n",
        &[],
    )
    .unwrap();
    assert!(c.routing_enabled());
    assert_eq!(c.routing.members.len(), 2);
    assert_eq!(c.routing.advertised_addresses, ["p1:7687", "p2:7687"]);
    let c = load("server.bolt.listen_address=:7000\n", &[]).unwrap();
    assert!(!c.routing_enabled());
    assert_eq!(c.routing.advertised_addresses, ["localhost:7000"]);

    let got = problems(
        "boltgate.upstream.uri=neo4j://r:7687\nboltgate.routing.members=writer=a:1\n",
        &[],
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("t.conf:2: boltgate.routing.members: "),
        "{got:?}"
    );
    let got = problems("boltgate.routing.members=leader=a:1\n", &[]);
    assert!(
        got[0].contains("`leader` is not a role (writer or reader)"),
        "{got:?}"
    );
    let got = problems("boltgate.upstream.uri=bolt://u:p@h\n", &[]);
    assert_eq!(
        got,
        ["t.conf:1: boltgate.upstream.uri: invalid upstream URI `bolt://<redacted>@h`: credentials in the URI are not allowed; clients send their own with HELLO/LOGON"]
    );
}

#[test]
fn command_expansion_needs_the_option() {
    let text = "dbms.ssl.policy.bolt.private_key_password=$(printf ' s3cret ')\n";
    assert_eq!(
        problems(text, &[]),
        ["t.conf:1: dbms.ssl.policy.bolt.private_key_password: command expansion is disabled; start boltgate with --expand-commands"]
    );
    let c = Config::from_text(
        text,
        "t.conf",
        &[],
        LoadOptions {
            expand_commands: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        c.ssl.bolt.private_key_password.as_ref().map(Secret::expose),
        Some("s3cret")
    );
    let err = Config::from_text(
        "boltgate.log.level=$(exit 7)\n",
        "t.conf",
        &[],
        LoadOptions {
            expand_commands: true,
            ..LoadOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("t.conf:1: boltgate.log.level: command `exit 7` failed ("),
        "{err}"
    );
}

#[test]
fn empty_optional_values_mean_unset() {
    let c = load(
        "dbms.ssl.policy.bolt.ciphers=\ndbms.ssl.policy.bolt.private_key_password=\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.ssl.bolt.ciphers, None);
    assert_eq!(c.ssl.bolt.private_key_password, None);
    let got = problems(
        "dbms.ssl.policy.bolt.private_key=\nboltgate.client.idle_timeout=\n",
        &[],
    );
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].ends_with("a path is required"), "{got:?}");
}

#[test]
fn unreadable_file() {
    let err = Config::load(
        Some(Path::new("/nonexistent/boltgate.conf")),
        &[],
        LoadOptions::default(),
    )
    .unwrap_err();
    let report: Vec<String> = err.iter().map(ConfigError::report).collect();
    assert_eq!(report.len(), 1);
    assert!(
        report[0].starts_with("/nonexistent/boltgate.conf: cannot read the configuration file: "),
        "{report:?}"
    );
}
