//! What an operator sees from `boltgate check-config` (and from `boltgate` given a bad configuration):
//! the real binary, real files, exit codes and messages. Also: conf/boltgate.conf documents every
//! setting with its default, and loads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use boltgate::config::settings::{all_keys, SETTINGS};
use boltgate::config::{Config, LoadOptions, Scope};

const EXIT_CONFIG: i32 = 64;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_boltgate"))
        .args(args)
        .output()
        .expect("run boltgate");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A config file in a fresh temp dir (kept alive by the returned guard).
fn conf_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boltgate.conf");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn check(path: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["check-config", "--config", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn check_config_accepts_the_embedded_default() {
    let r = run(&["check-config"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("configuration OK: embedded:conf/boltgate.conf"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("upstream: bolt://127.0.0.1:7688 (plaintext)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("listener: 127.0.0.1:7687 (tls_level DISABLED)"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_config_names_the_file_it_checked() {
    let (_dir, path) = conf_file(
        "boltgate.upstream.uri=bolt+s://db.example.com\nserver.bolt.listen_address=:7000\n",
    );
    let r = check(&path, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("configuration OK: {}", path.display())),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("upstream: bolt+s://db.example.com:7687 (TLS, certificate verified)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("listener: 0.0.0.0:7000"), "{}", r.stdout);
}

#[test]
fn every_problem_in_a_file_is_reported_with_file_line_and_key() {
    let (_dir, path) = conf_file(
        "# several mistakes\n\
         boltgate.client.idle_timeout=ten seconds\n\
         server.bolt.listen_address=localhost\n\
         this line has no equals sign\n\
         boltgate.limits.max_message_size=16XB\n\
         boltgate.client.idle_timeout=5s\n\
         dbms.ssl.policy.client.enabled=true\n",
    );
    let r = check(&path, &[]);
    assert_eq!(r.code, Some(EXIT_CONFIG), "{}", r.stderr);
    let p = path.display();
    for expected in [
        format!("{p}:2: boltgate.client.idle_timeout: `ten seconds` is not a duration"),
        format!("{p}:3: server.bolt.listen_address: `localhost` has no port"),
        format!("{p}:4: `this line has no equals sign`: not a setting"),
        format!("{p}:5: boltgate.limits.max_message_size: `16XB` is not a size"),
        format!("{p}:6: boltgate.client.idle_timeout: set twice, first at {p}:2"),
        format!("{p}:7: dbms.ssl.policy.client.enabled: unknown SSL policy scope `client` (known scopes: bolt, cluster, https)"),
        "6 configuration problems".to_string(),
    ] {
        assert!(r.stderr.contains(&expected), "missing {expected:?} in:\n{}", r.stderr);
    }
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn serving_with_a_bad_configuration_exits_64_before_anything_starts() {
    let (_dir, path) = conf_file("server.bolt.tls_level=SOMETIMES\n");
    let r = run(&["--config", path.to_str().unwrap()]);
    assert_eq!(r.code, Some(EXIT_CONFIG), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`SOMETIMES` is not allowed (use one of DISABLED, OPTIONAL, REQUIRED)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was started"), "{}", r.stderr);
}

#[test]
fn an_unreadable_file_is_a_configuration_error() {
    let r = run(&["check-config", "--config", "/nonexistent/boltgate.conf"]);
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(
        r.stderr
            .contains("/nonexistent/boltgate.conf: cannot read the configuration file: "),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unknown_key_gets_the_closest_known_one() {
    let (_dir, path) = conf_file("boltgate.upstream.connect_timout=5s\nserver.bolt.tls=REQUIRED\n");
    let r = check(&path, &[]);
    assert_eq!(r.code, Some(EXIT_CONFIG));
    let p = path.display();
    assert!(
        r.stderr.contains(&format!(
            "{p}:1: boltgate.upstream.connect_timout: unknown setting; did you mean `boltgate.upstream.connect_timeout`?"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{p}:2: server.bolt.tls: unknown setting")),
        "{}",
        r.stderr
    );
    let r = run(&[
        "check-config",
        "--set",
        "dbms.connector.bolt.listen_address=:7687",
    ]);
    assert!(
        r.stderr
            .contains("Neo4j 5 and boltgate call it `server.bolt.listen_address`"),
        "{}",
        r.stderr
    );
}

#[test]
fn set_overrides_the_file() {
    let (_dir, path) = conf_file("boltgate.upstream.uri=bolt://a.example.com:7000\n");
    let r = check(
        &path,
        &[
            "--set",
            "boltgate.upstream.uri=bolt+ssc://b.example.com:7001",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("upstream: bolt+ssc://b.example.com:7001 (TLS, any certificate accepted)"),
        "{}",
        r.stdout
    );
}

#[test]
fn set_errors_are_numbered() {
    let r = run(&[
        "check-config",
        "--set",
        "boltgate.client.max_connections=12",
        "--set",
        "no-equals",
        "--set",
        "boltgate.client.max_conections=3",
        "--set",
        "boltgate.client.max_connections=13",
    ]);
    assert_eq!(r.code, Some(EXIT_CONFIG), "{}", r.stderr);
    for expected in [
        "--set:2: `no-equals`: --set expects key=value",
        "--set:3: boltgate.client.max_conections: unknown setting; did you mean `boltgate.client.max_connections`?",
        "--set:4: boltgate.client.max_connections: set twice, first at --set:1",
    ] {
        assert!(r.stderr.contains(expected), "missing {expected:?} in:\n{}", r.stderr);
    }
}

#[test]
fn command_expansion_is_refused_without_the_flag() {
    let (_dir, path) = conf_file("boltgate.upstream.uri=$(echo bolt://10.1.2.3:7000)\n");
    let r = check(&path, &[]);
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(
        r.stderr.contains(&format!(
            "{}:1: boltgate.upstream.uri: command expansion is disabled; start boltgate with --expand-commands",
            path.display()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn command_expansion_works_with_the_flag() {
    let (_dir, path) = conf_file("boltgate.upstream.uri=$(echo bolt://10.1.2.3:7000)\n");
    let r = check(&path, &["--expand-commands"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("upstream: bolt://10.1.2.3:7000"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_failing_command_names_the_key() {
    let (_dir, path) =
        conf_file("dbms.ssl.policy.bolt.private_key_password=$(cat /nonexistent/pass)\n");
    let r = check(&path, &["--expand-commands"]);
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(
        r.stderr.contains(&format!(
            "{}:1: dbms.ssl.policy.bolt.private_key_password: command `cat /nonexistent/pass` failed",
            path.display()
        )),
        "{}",
        r.stderr
    );
}

#[cfg(unix)]
#[test]
fn command_expansion_refuses_a_file_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = conf_file("boltgate.log.level=$(echo debug)\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = check(&path, &["--expand-commands"]);
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(
        r.stderr
            .contains("command expansion refused: the file is writable by group or others"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_upstream_uris_say_what_is_wrong() {
    let cases = [
        (
            "http://db:7474",
            "unknown scheme `http` (known: bolt, bolt+s, bolt+ssc, neo4j, neo4j+s, neo4j+ssc)",
        ),
        ("bolt+routing://db", "`bolt+routing` was renamed to `neo4j`"),
        (
            "bolt://db?region=eu",
            "a query string (routing context) is only allowed with neo4j:// schemes",
        ),
        ("bolt://db/neo4j", "a path (`/neo4j`) is not supported"),
        (
            "bolt://neo4j:secret@db",
            "credentials in the URI are not allowed",
        ),
        ("bolt://:7687", "the host is empty"),
        ("bolt://db:0", "port 0 is not allowed"),
        (
            "neo4j://db?address=x",
            "routing context key `address` is reserved",
        ),
    ];
    for (uri, message) in cases {
        let r = run(&[
            "check-config",
            "--set",
            &format!("boltgate.upstream.uri={uri}"),
        ]);
        assert_eq!(r.code, Some(EXIT_CONFIG), "{uri}");
        assert!(
            r.stderr.contains("--set:1: boltgate.upstream.uri: "),
            "{uri}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(message),
            "{uri}: expected {message:?} in:\n{}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("secret"),
            "a password in the URI is not printed: {}",
            r.stderr
        );
    }
    let r = run(&[
        "check-config",
        "--set",
        "boltgate.upstream.uri=bolt://[::1]:7690",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("upstream: bolt://[::1]:7690"),
        "{}",
        r.stdout
    );
}

#[test]
fn optional_tls_level_without_a_bolt_policy_names_both_settings() {
    let (_dir, path) = conf_file("server.bolt.tls_level=OPTIONAL\n");
    let r = check(&path, &[]);
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(
        r.stderr.contains(&format!(
            "{}:1: server.bolt.tls_level: OPTIONAL needs the bolt SSL policy, but dbms.ssl.policy.bolt.enabled is false (set dbms.ssl.policy.bolt.enabled=true)",
            path.display()
        )),
        "{}",
        r.stderr
    );
    // With the policy enabled the settings agree, and check-config goes on to the files, as
    // serve would: the default base_directory does not exist (tests/check_config.rs has more).
    let r = check(&path, &["--set", "dbms.ssl.policy.bolt.enabled=true"]);
    assert_eq!(r.code, Some(EXIT_CONFIG), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--set:1: dbms.ssl.policy.bolt.base_directory: "),
        "{}",
        r.stderr
    );
}

#[test]
fn version_flag() {
    let r = run(&["--version"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.stdout.trim(),
        format!("boltgate {}", env!("CARGO_PKG_VERSION"))
    );
}

fn shipped_conf() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/boltgate.conf"))
        .unwrap()
}

#[test]
fn the_shipped_conf_documents_every_setting_with_its_default() {
    let conf = shipped_conf();
    // Lines `key=value` or `#key=value` (no space after `#`: `# ...` is prose).
    let lines: Vec<(&str, &str)> = conf
        .lines()
        .map(|l| l.trim())
        .map(|l| l.strip_prefix('#').unwrap_or(l))
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    for setting in SETTINGS {
        // Templates are documented once, for the bolt scope; the other scopes' defaults in prose.
        let scope = setting.is_per_scope().then_some(Scope::Bolt);
        let key = setting.key(scope);
        let default = setting.default_for(scope).unwrap_or("");
        let documented: Vec<&str> = lines
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(
            documented,
            [default],
            "conf/boltgate.conf must show `{key}={default}` exactly once"
        );
        // The doc line above it exists (a comment, not just the assignment).
        let idx = conf
            .lines()
            .position(|l| {
                l.trim()
                    .trim_start_matches('#')
                    .starts_with(&format!("{key}="))
            })
            .unwrap();
        let above = conf.lines().nth(idx.saturating_sub(1)).unwrap_or("");
        assert!(
            above.starts_with("# "),
            "`{key}` has no explanation above it"
        );
    }
    for scope in ["cluster", "https"] {
        assert!(conf.contains(scope), "the conf explains the {scope} scope");
    }
    // Every key written in the file is a setting (no stale names).
    let known: Vec<String> = all_keys().into_iter().map(|(k, _)| k).collect();
    for (k, _) in &lines {
        if k.contains('.') && !k.contains(' ') {
            assert!(
                known.iter().any(|known| known == k),
                "conf/boltgate.conf mentions unknown `{k}`"
            );
        }
    }
}

#[test]
fn the_shipped_conf_loads_and_matches_the_embedded_one() {
    let conf = shipped_conf();
    assert_eq!(conf, boltgate::config::DEFAULT_CONF);
    Config::from_text(&conf, "conf/boltgate.conf", &[], LoadOptions::default()).unwrap();
}
