//! THE settings table: every setting boltgate reads, with its type, default and a one-line doc.
//!
//! The table drives the whole config layer: which keys are known (anything else is an error with a
//! "did you mean" hint), what the default of an unset key is, which values are secrets (redacted in
//! print-config), and the test that conf/boltgate.conf documents every setting. Names are Neo4j's where
//! Neo4j has the setting, else they start with `boltgate.`.
//!
//! The SSL policy settings are templates: `dbms.ssl.policy.<scope>.<suffix>`, one set per scope in
//! [`Scope::ALL`], with per-scope defaults where Neo4j has them.

use super::ssl_policy::Scope;
use super::value::{self, ValueError};
use super::{ClientAuth, LogFormat, PoolMode, TlsLevel, Translate};

/// The value syntax of a setting; [`Kind::check`] validates a value against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// `500ms`, `10s`, `5m`, `1h`, `1d`, or a bare number of seconds.
    Duration,
    /// `512`, `64KiB`, `16MiB`, `1GiB`.
    Size,
    /// A positive whole number.
    Count,
    /// `host:port`, `[ipv6]:port`, `:port`.
    ListenAddress,
    /// A file or directory path; relative ones are resolved (see the setting's doc).
    Path,
    /// A secret string, redacted wherever settings are printed.
    Secret,
    /// Comma-separated values.
    List,
    TlsLevel,
    ClientAuth,
    LogFormat,
    /// `auto` or `off` (`boltgate.upstream.translate`).
    Translate,
    /// `session` or `transaction`.
    PoolMode,
    /// A tracing filter: a level (`info`) or directives (`boltgate=debug,info`).
    LogFilter,
    /// An upstream URI: bolt, bolt+s, bolt+ssc, neo4j, neo4j+s, neo4j+ssc.
    Uri,
    /// An `http://` URL (an OCSP responder).
    HttpUrl,
}

impl Kind {
    /// Whether `value` is well-formed for this kind (range rules are checked when the Config is built).
    pub fn check(self, value: &str) -> Result<(), ValueError> {
        match self {
            Kind::Bool => value::parse_bool(value).map(drop),
            Kind::Duration => value::parse_duration(value).map(drop),
            Kind::Size => value::parse_size(value).map(drop),
            Kind::Count => value
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .map(drop)
                .ok_or_else(|| {
                    ValueError::with_hint(format!("`{value}` is not a whole number"), "e.g. 10000")
                }),
            Kind::ListenAddress => value::parse_listen_address(value).map(drop),
            Kind::Path | Kind::Secret => Ok(()),
            Kind::List => value::parse_list(value).map(drop),
            Kind::TlsLevel => value::parse_enum(value, TlsLevel::VARIANTS).map(drop),
            Kind::ClientAuth => value::parse_enum(value, ClientAuth::VARIANTS).map(drop),
            Kind::LogFormat => value::parse_enum(value, LogFormat::VARIANTS).map(drop),
            Kind::Translate => value::parse_enum(value, Translate::VARIANTS).map(drop),
            Kind::PoolMode => value::parse_enum(value, PoolMode::VARIANTS).map(drop),
            Kind::LogFilter => tracing_subscriber::EnvFilter::builder()
                .parse(value)
                .map(drop)
                .map_err(|e| {
                    ValueError::with_hint(
                        format!("`{value}` is not a log filter: {e}"),
                        "e.g. info or boltgate=debug,info",
                    )
                }),
            Kind::Uri => crate::config::uri::Target::parse(value)
                .map(drop)
                .map_err(|e| ValueError::new(e.to_string())),
            Kind::HttpUrl => value::parse_http_url(value).map(drop),
        }
    }
}

/// The default of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// No value (an optional setting: no password, the platform's cipher list).
    Unset,
    Is(&'static str),
    /// Differs per SSL policy scope: the value for bolt, cluster and https, in [`Scope::ALL`] order.
    PerScope([&'static str; 3]),
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The key, with `<scope>` standing for the SSL policy scope in `dbms.ssl.policy.<scope>.*`.
    pub name: &'static str,
    pub kind: Kind,
    pub default: DefaultValue,
    /// One line: what it does, in which unit.
    pub doc: &'static str,
    /// Older (Neo4j 4.x) names, refused with a hint naming this setting.
    pub renamed_from: &'static [&'static str],
}

/// The prefix of the per-scope SSL policy templates.
pub const SSL_POLICY_PREFIX: &str = "dbms.ssl.policy.";

impl Setting {
    /// Whether this is a `dbms.ssl.policy.<scope>.*` template.
    pub fn is_per_scope(&self) -> bool {
        self.name.contains("<scope>")
    }

    /// The suffix after `dbms.ssl.policy.<scope>.` for a template.
    pub fn suffix(&self) -> Option<&'static str> {
        self.name.strip_prefix("dbms.ssl.policy.<scope>.")
    }

    /// The concrete key for a scope (the name itself for a setting that is not per scope).
    pub fn key(&self, scope: Option<Scope>) -> String {
        match scope {
            Some(scope) => self.name.replace("<scope>", scope.as_str()),
            None => self.name.to_string(),
        }
    }

    /// The default value's text for a scope, or None when unset.
    pub fn default_for(&self, scope: Option<Scope>) -> Option<&'static str> {
        match self.default {
            DefaultValue::Unset => None,
            DefaultValue::Is(v) => Some(v),
            DefaultValue::PerScope(values) => Some(values[scope.map_or(0, Scope::index)]),
        }
    }

    pub fn is_secret(&self) -> bool {
        self.kind == Kind::Secret
    }
}

macro_rules! setting {
    ($name:literal, $kind:ident, $default:expr, $doc:literal $(, renamed_from = $renamed:expr)?) => {
        Setting {
            name: $name,
            kind: Kind::$kind,
            default: $default,
            doc: $doc,
            renamed_from: setting!(@renamed $($renamed)?),
        }
    };
    (@renamed $renamed:expr) => { $renamed };
    (@renamed) => { &[] };
}

use DefaultValue::{Is, PerScope, Unset};

/// Every setting boltgate knows.
pub static SETTINGS: &[Setting] = &[
    // --- listener (Neo4j names) ---
    setting!("server.bolt.listen_address", ListenAddress, Is("127.0.0.1:7687"),
        "Where boltgate accepts Bolt clients: host:port, [ipv6]:port, or :port for all interfaces.",
        renamed_from = &["dbms.connector.bolt.listen_address"]),
    setting!("server.bolt.tls_level", TlsLevel, Is("DISABLED"),
        "TLS for clients: DISABLED (plaintext only), OPTIONAL (either), REQUIRED (TLS only; needs dbms.ssl.policy.bolt.enabled=true).",
        renamed_from = &["dbms.connector.bolt.tls_level"]),
    setting!("server.bolt.ocsp_stapling_enabled", Bool, Is("false"),
        "Staple an OCSP response for the bolt certificate to the TLS handshake (fetched from the certificate's OCSP responder, refreshed in the background)."),
    setting!("dbms.security.tls_reload_enabled", Bool, Is("false"),
        "Take on new certificates, keys, trusted certificates, CRLs and dbms.ssl.policy.* settings without a restart: on SIGHUP or CALL dbms.security.reloadTLS(). Read at start only."),
    setting!("boltgate.tls_reload.watch_interval", Duration, Is("0s"),
        "With dbms.security.tls_reload_enabled=true, look at the config file and every enabled policy's key, certificate, trusted_dir and revoked_dir this often, and reload once a change has stayed unchanged for one more interval; 0 means never. Read at start only."),
    setting!("server.directories.neo4j_home", Path, Is("."),
        "Directory that relative SSL policy base directories resolve against; default the working directory.",
        renamed_from = &["dbms.directories.neo4j_home"]),
    // --- admin HTTP endpoint (Neo4j's connector names) ---
    setting!("server.http.enabled", Bool, Is("false"),
        "Serve the admin endpoint (/metrics, /health, /ready, /config, POST /reload) over plain HTTP.",
        renamed_from = &["dbms.connector.http.enabled"]),
    setting!("server.http.listen_address", ListenAddress, Is("127.0.0.1:7474"),
        "Where the plain HTTP admin endpoint listens: host:port, [ipv6]:port, or :port for all interfaces.",
        renamed_from = &["dbms.connector.http.listen_address"]),
    setting!("server.https.enabled", Bool, Is("false"),
        "Serve the admin endpoint over TLS with dbms.ssl.policy.https (mutual TLS when its client_auth=REQUIRE).",
        renamed_from = &["dbms.connector.https.enabled"]),
    setting!("server.https.listen_address", ListenAddress, Is("127.0.0.1:7473"),
        "Where the HTTPS admin endpoint listens: host:port, [ipv6]:port, or :port for all interfaces.",
        renamed_from = &["dbms.connector.https.listen_address"]),
    // --- SSL policies (Neo4j names and defaults), for each scope ---
    setting!("dbms.ssl.policy.<scope>.enabled", Bool, Is("false"),
        "Enable this scope's SSL policy; cluster: every upstream connection uses TLS with it (mutual TLS), whatever the URI scheme."),
    setting!("dbms.ssl.policy.<scope>.base_directory", Path,
        PerScope(["certificates/bolt", "certificates/cluster", "certificates/https"]),
        "Directory of this policy's keys and certificates; relative to server.directories.neo4j_home."),
    setting!("dbms.ssl.policy.<scope>.private_key", Path, Is("private.key"),
        "PEM private key (PKCS#8, optionally encrypted; PKCS#1 and SEC1 load with a warning); relative to base_directory."),
    setting!("dbms.ssl.policy.<scope>.private_key_password", Secret, Unset,
        "Passphrase of an encrypted private key; unset for an unencrypted key."),
    setting!("dbms.ssl.policy.<scope>.public_certificate", Path, Is("public.crt"),
        "PEM certificate chain, leaf first; relative to base_directory."),
    setting!("dbms.ssl.policy.<scope>.trusted_dir", Path, Is("trusted"),
        "Directory of trusted CA certificates (PEM); relative to base_directory."),
    setting!("dbms.ssl.policy.<scope>.revoked_dir", Path, Is("revoked"),
        "Directory of certificate revocation lists (PEM or DER) and revoked certificates; relative to base_directory."),
    setting!("dbms.ssl.policy.<scope>.verify_hostname", Bool, Is("true"),
        "As a TLS client (cluster scope), check that the peer's certificate names the host connected to (DNS or IP SAN)."),
    setting!("dbms.ssl.policy.<scope>.ciphers", List, Unset,
        "Allowed cipher suites, IANA names separated by commas or spaces; unset means the TLS library's defaults."),
    setting!("dbms.ssl.policy.<scope>.tls_versions", List, Is("TLSv1.2,TLSv1.3"),
        "Allowed TLS versions, separated by commas or spaces: TLSv1.2, TLSv1.3."),
    setting!("dbms.ssl.policy.<scope>.client_auth", ClientAuth, PerScope(["OPTIONAL", "REQUIRE", "OPTIONAL"]),
        "Client certificates: NONE (not asked), OPTIONAL (checked if sent), REQUIRE (mutual TLS)."),
    setting!("dbms.ssl.policy.<scope>.trust_all", Bool, Is("false"),
        "Trust every peer certificate and ignore trusted_dir; for debugging only, it offers no security."),
    // --- boltgate's own ---
    setting!("boltgate.upstream.uri", Uri, Is("bolt://127.0.0.1:7688"),
        "The server boltgate forwards to: bolt://, bolt+s:// (verified TLS), bolt+ssc:// (any certificate); neo4j://, neo4j+s://, neo4j+ssc:// route across a cluster."),
    setting!("boltgate.upstream.ocsp_required", Bool, Is("false"),
        "Refuse an upstream TLS server that staples no OCSP response; a stapled response is always checked and `revoked` is always refused."),
    setting!("boltgate.ocsp.responder_url", HttpUrl, Unset,
        "OCSP responder for the bolt certificate's staple (http://...); unset means the one named in the certificate (Authority Information Access)."),
    setting!("boltgate.ocsp.refresh_margin", Duration, Is("1h"),
        "Fetch a new staple this long before the cached one's nextUpdate (or halfway through its validity, if sooner); also the refresh period of a response without nextUpdate."),
    setting!("boltgate.upstream.connect_timeout", Duration, Is("10s"),
        "Time allowed to connect to the upstream server, TLS and Bolt handshake included."),
    setting!("boltgate.upstream.forward_goodbye", Bool, Is("true"),
        "Relay a client's GOODBYE to the server before closing both sides, as a direct client would; false closes the upstream connection without it (FalkorDB 4.16 never serves the connection it accepts after one that ended with GOODBYE)."),
    setting!("boltgate.upstream.translate", Translate, Is("auto"),
        "auto: when a client's Bolt versions (3, 4.0-4.3) are all refused by the server, negotiate 4.4 or 5.1 with the server and translate messages both ways; off: refuse such clients, as the server would."),
    setting!("boltgate.upstream.tcp_keepalive", List, Is("30s,10s,3"),
        "TCP keepalive on upstream connections: idle,interval,count (probe after idle, every interval, drop after count unanswered); 0 turns it off."),
    setting!("boltgate.upstream.tcp_user_timeout", Duration, Is("60s"),
        "Drop an upstream connection whose sent data (or keepalive probes) stay unacknowledged this long (TCP_USER_TIMEOUT); 0 means the system default (about 15 minutes)."),
    setting!("boltgate.upstream.probe_interval", Duration, Is("5s"),
        "With the admin endpoint on, how often a TCP connect probes the upstream for /ready; 0 means never (connect results only)."),
    setting!("boltgate.routing.members", List, Unset,
        "Static cluster topology for servers that cannot answer ROUTE: role=host:port, comma-separated, role writer or reader; routing is on when set."),
    setting!("boltgate.routing.advertised_addresses", List, Unset,
        "host:port list boltgate puts in every role of the routing tables it gives clients; unset means the listen address (localhost for a wildcard)."),
    setting!("boltgate.routing.ttl", Duration, Is("300s"),
        "Time to live of the routing tables boltgate gives clients (as Neo4j's dbms.routing_ttl)."),
    setting!("boltgate.routing.ban_time", Duration, Is("30s"),
        "How long a cluster member that refused a connection or died is left out of routing."),
    setting!("boltgate.pool.mode", PoolMode, Is("session"),
        "session: each client holds one server connection for its whole connection; transaction: a client holds a pooled server connection only for one transaction or auto-commit query."),
    setting!("boltgate.pool.max_size", Count, Is("16"),
        "In transaction mode, most server connections open at once to each upstream member (the one upstream, or each cluster member with routing), all clients together."),
    setting!("boltgate.pool.min_idle", Count, Is("0"),
        "In transaction mode, idle server connections kept open past boltgate.pool.idle_timeout."),
    setting!("boltgate.pool.acquire_timeout", Duration, Is("5s"),
        "In transaction mode, how long a client's transaction waits for a pooled connection before it gets a FAILURE."),
    setting!("boltgate.pool.idle_timeout", Duration, Is("10m"),
        "In transaction mode, close a pooled connection idle this long (beyond min_idle); 0 means never."),
    setting!("boltgate.pool.max_lifetime", Duration, Is("1h"),
        "In transaction mode, replace a pooled connection this old when it is next released; 0 means never."),
    setting!("boltgate.client.handshake_timeout", Duration, Is("10s"),
        "Time a client has to complete its TLS and Bolt handshake, and then, until it has logged in, to send each HELLO/LOGON it owes."),
    setting!("boltgate.client.idle_timeout", Duration, Is("0"),
        "Close a client connection idle for this long; 0 means never."),
    setting!("boltgate.client.tcp_keepalive", List, Is("30s,10s,3"),
        "TCP keepalive on client connections: idle,interval,count, as boltgate.upstream.tcp_keepalive; 0 turns it off."),
    setting!("boltgate.client.tcp_user_timeout", Duration, Is("60s"),
        "Drop a client connection whose sent data (or keepalive probes) stay unacknowledged this long (TCP_USER_TIMEOUT); 0 means the system default."),
    setting!("boltgate.client.max_connections", Count, Is("10000"),
        "Most client connections open at once; one beyond it is closed at once with a log line."),
    setting!("boltgate.limits.max_message_size", Size, Is("16MiB"),
        "Largest Bolt message accepted in either direction (bytes, KiB, MiB, GiB)."),
    setting!("boltgate.websocket.allowed_origins", List, Is("*"),
        "Origins (scheme://host[:port]) whose web pages may use Bolt over WebSocket; * allows any, empty allows none."),
    setting!("boltgate.websocket.max_frame_size", Size, Is("64KiB"),
        "Largest WebSocket frame, and largest message reassembled from fragments, a client may send (1KiB..64MiB)."),
    setting!("boltgate.proxy_protocol.enabled", Bool, Is("false"),
        "Require a PROXY protocol (v1 or v2) header on every connection, from trusted_networks only."),
    setting!("boltgate.proxy_protocol.trusted_networks", List, Is("127.0.0.1/32,::1/128"),
        "Networks (CIDR, comma-separated) of the load balancers allowed to send the PROXY protocol header."),
    setting!("boltgate.runtime.busy_polling", Bool, Is("false"),
        "Keep every runtime worker polling instead of sleeping (a CPU each, always busy) for lower latency where waking up is slow, as in VMs; HAProxy's busy-polling."),
    setting!("boltgate.runtime.busy_polling_window", Duration, Is("0s"),
        "After each write to a socket, keep the runtime workers polling instead of sleeping for this long (e.g. 100us), so a quick answer finds them awake; 0s: off. Costs up to the window in CPU, per worker, per write."),
    setting!("boltgate.shutdown.grace_period", Duration, Is("30s"),
        "On shutdown, time sessions get to reach a safe point before they are closed."),
    setting!("boltgate.log.format", LogFormat, Is("text"),
        "Log line format: text or json."),
    setting!("boltgate.log.level", LogFilter, Is("info"),
        "Log filter: a level or tracing directives; the RUST_LOG environment variable overrides it."),
    setting!("boltgate.log.tls_handshake_debug", Bool, Is("false"),
        "Log each TLS handshake step at debug level (like javax.net.debug=ssl:handshake)."),
    // Hardening (issue 15).
    setting!("boltgate.client.max_nesting_depth", Count, Is("200"),
        "Deepest nesting of lists, maps and structures in a client message; a deeper one gets a FAILURE (Neo.ClientError.Request.Invalid) and is never forwarded."),
    setting!("boltgate.routing.max_databases", Count, Is("1000"),
        "Most databases (routing mode) with a kept routing table and their own metric series; the least recently used table is dropped beyond it, further series are counted as db=\"other\"."),
    setting!("boltgate.procedures.reload_tls_allowed_users", List, Is(""),
        "Users (the principal of their HELLO/LOGON) who may CALL dbms.security.reloadTLS(); empty means nobody."),
    setting!("boltgate.admin.token_file", Path, Unset,
        "File holding the bearer token that POST /reload on the admin endpoint must carry (Authorization: Bearer <token>); unset: only HTTPS clients with a trusted certificate may reload."),
    setting!("boltgate.admin.allowed_hosts", List, Is(""),
        "Host header names the admin endpoint answers besides loopback names and its listen addresses (DNS-rebinding guard)."),
    setting!("boltgate.log.repeat_interval", Duration, Is("10s"),
        "Per-connection log lines (refused connections, failed handshakes, max_connections) are summarised per this interval."),
    setting!("boltgate.log.repeat_burst", Count, Is("5"),
        "How many per-connection lines of one kind are logged per repeat_interval; the rest are counted in one summary line."),
];

/// A key resolved against the table.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub setting: &'static Setting,
    pub scope: Option<Scope>,
}

/// Why a key is not a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknown {
    /// `dbms.ssl.policy.<scope>.*` with a scope other than bolt, cluster, https.
    Scope(String),
    /// A Neo4j 4.x name for a setting that has a new one.
    Renamed(&'static str),
    /// Not a setting; the closest known key, when one is close.
    Key { suggestion: Option<String> },
}

/// Finds a key in the table.
pub fn lookup(key: &str) -> Result<Known, Unknown> {
    if let Some(rest) = key.strip_prefix(SSL_POLICY_PREFIX) {
        if let Some((scope_name, suffix)) = rest.split_once('.') {
            match Scope::from_name(scope_name) {
                Some(scope) => {
                    if let Some(setting) = SETTINGS.iter().find(|s| s.suffix() == Some(suffix)) {
                        return Ok(Known {
                            setting,
                            scope: Some(scope),
                        });
                    }
                }
                None if !scope_name.is_empty() => {
                    return Err(Unknown::Scope(scope_name.to_string()))
                }
                None => {}
            }
        }
    } else if let Some(setting) = SETTINGS.iter().find(|s| s.name == key && !s.is_per_scope()) {
        return Ok(Known {
            setting,
            scope: None,
        });
    }
    if let Some(setting) = SETTINGS.iter().find(|s| s.renamed_from.contains(&key)) {
        return Err(Unknown::Renamed(setting.name));
    }
    Err(Unknown::Key {
        suggestion: suggest(key),
    })
}

/// Every concrete key: the plain settings, and each template once per scope.
pub fn all_keys() -> Vec<(String, Known)> {
    let mut keys = Vec::new();
    for setting in SETTINGS {
        if setting.is_per_scope() {
            for scope in Scope::ALL {
                keys.push((
                    setting.key(Some(scope)),
                    Known {
                        setting,
                        scope: Some(scope),
                    },
                ));
            }
        } else {
            keys.push((
                setting.key(None),
                Known {
                    setting,
                    scope: None,
                },
            ));
        }
    }
    keys
}

/// The known key closest to `key`: a near-certain typo (edit distance 1 or 2) first; else the only key
/// with the same last segment (`boltgate.tls_level` → `server.bolt.tls_level`); else a key within a
/// quarter of the key's length in edits.
pub fn suggest(key: &str) -> Option<String> {
    let keys = all_keys();
    let (distance, closest) = keys
        .iter()
        .map(|(k, _)| (edit_distance(key, k), k))
        .min_by_key(|(d, _)| *d)?;
    if distance <= 2 {
        return Some(closest.clone());
    }
    let last = key.rsplit('.').next()?;
    let mut same_last = keys
        .iter()
        .filter(|(k, _)| k.rsplit('.').next() == Some(last));
    if let (Some((k, _)), None) = (same_last.next(), same_last.next()) {
        return Some(k.clone());
    }
    (distance <= key.len() / 4).then(|| closest.clone())
}

/// Levenshtein distance over bytes (keys are ASCII), in O(len) memory.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_valid_for_its_kind() {
        for (key, known) in all_keys() {
            if let Some(default) = known.setting.default_for(known.scope) {
                assert!(known.setting.kind.check(default).is_ok(), "{key}={default}");
            }
        }
    }

    #[test]
    fn names_are_unique_and_docs_are_one_line() {
        let keys = all_keys();
        let mut names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), keys.len());
        for s in SETTINGS {
            assert!(!s.doc.is_empty() && !s.doc.contains('\n'), "{}", s.name);
        }
    }

    #[test]
    fn lookup_plain_and_per_scope_keys() {
        let k = lookup("server.bolt.tls_level").unwrap();
        assert_eq!(k.setting.name, "server.bolt.tls_level");
        let k = lookup("dbms.ssl.policy.cluster.client_auth").unwrap();
        assert_eq!(k.scope, Some(Scope::Cluster));
        assert_eq!(k.setting.default_for(k.scope), Some("REQUIRE"));
        assert_eq!(
            lookup("dbms.ssl.policy.bolt.base_directory")
                .unwrap()
                .setting
                .default_for(Some(Scope::Bolt)),
            Some("certificates/bolt")
        );
        // The template itself is not a key.
        assert!(lookup("dbms.ssl.policy.<scope>.enabled").is_err());
    }

    #[test]
    fn unknown_scope_renamed_and_typos() {
        assert_eq!(
            lookup("dbms.ssl.policy.backup.enabled").unwrap_err(),
            Unknown::Scope("backup".into())
        );
        assert_eq!(
            lookup("dbms.connector.bolt.tls_level").unwrap_err(),
            Unknown::Renamed("server.bolt.tls_level")
        );
        let suggestion = |k: &str| match lookup(k) {
            Err(Unknown::Key { suggestion }) => suggestion,
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(
            suggestion("server.bolt.tls_levle").as_deref(),
            Some("server.bolt.tls_level")
        );
        assert_eq!(
            suggestion("boltgate.upstream.url").as_deref(),
            Some("boltgate.upstream.uri")
        );
        assert_eq!(
            suggestion("dbms.ssl.policy.bolt.privatekey").as_deref(),
            Some("dbms.ssl.policy.bolt.private_key")
        );
        assert_eq!(
            suggestion("boltgate.tls_level").as_deref(),
            Some("server.bolt.tls_level")
        );
        assert_eq!(
            suggestion("boltgate.client.grace_period").as_deref(),
            Some("boltgate.shutdown.grace_period")
        );
        assert_eq!(suggestion("server.memory.heap.initial_size"), None);
        assert_eq!(suggestion("x"), None);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
