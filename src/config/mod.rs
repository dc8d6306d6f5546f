//! boltgate's configuration: a neo4j.conf-style file, `--set` overrides, then validation, giving one
//! typed, immutable [`Config`] (share it as `Arc<Config>`).
//!
//! The pipeline ([`Config::load`]): read the file (or the embedded `conf/boltgate.conf`), apply
//! `--set key=value` overrides, resolve every key against the settings table ([`settings::SETTINGS`]),
//! expand `$(command)` values when `--expand-commands` is given, parse each value to its type, then
//! check the rules between settings. Every problem is collected, so one run reports them all as
//! `file:line: key: problem (hint)`; nothing is half-applied.

mod build;
pub mod error;
pub mod file;
#[cfg(test)]
mod load_tests;
pub mod members;
pub mod neo4j;
pub mod settings;
pub mod socket;
pub mod ssl_policy;
pub mod uri;
pub mod value;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigErrors, Origin};
pub use ssl_policy::{Scope, Secret, SslPolicies, SslPolicyConfig};
pub use value::ListenAddress;

use crate::config::uri::Target;

/// The annotated default configuration, used when no `--config` is given.
pub const DEFAULT_CONF: &str = include_str!("../../conf/boltgate.conf");

/// How [`DEFAULT_CONF`] is named in messages.
pub const DEFAULT_CONF_LABEL: &str = "embedded:conf/boltgate.conf";

/// `server.bolt.tls_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    /// Plaintext Bolt only.
    Disabled,
    /// TLS or plaintext, decided per connection from its first byte.
    Optional,
    /// TLS only.
    Required,
}

impl TlsLevel {
    pub const VARIANTS: &'static [(&'static str, TlsLevel)] = &[
        ("DISABLED", TlsLevel::Disabled),
        ("OPTIONAL", TlsLevel::Optional),
        ("REQUIRED", TlsLevel::Required),
    ];
}

/// `dbms.ssl.policy.<scope>.client_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for and verified if sent.
    Optional,
    /// A verified client certificate is required (mutual TLS).
    Require,
}

impl ClientAuth {
    pub const VARIANTS: &'static [(&'static str, ClientAuth)] = &[
        ("NONE", ClientAuth::None),
        ("OPTIONAL", ClientAuth::Optional),
        ("REQUIRE", ClientAuth::Require),
    ];
}

/// `boltgate.log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub const VARIANTS: &'static [(&'static str, LogFormat)] =
        &[("text", LogFormat::Text), ("json", LogFormat::Json)];
}

/// `boltgate.upstream.translate`: whether boltgate translates between a client's Bolt version and
/// one the server speaks when they share none (Bolt 3 and 4.0-4.3 drivers against servers that
/// dropped those versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translate {
    Auto,
    Off,
}

impl Translate {
    pub const VARIANTS: &'static [(&'static str, Translate)] =
        &[("auto", Translate::Auto), ("off", Translate::Off)];
}

/// `boltgate.pool.mode`: how long a client holds a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// For its whole connection (one server connection per client): the default.
    Session,
    /// For one unit of work (an explicit transaction, or an auto-commit query and its results).
    Transaction,
}

impl PoolMode {
    pub const VARIANTS: &'static [(&'static str, PoolMode)] = &[
        ("session", PoolMode::Session),
        ("transaction", PoolMode::Transaction),
    ];
}

/// Names of an enum's variants as written in the configuration.
fn variant_name<T: PartialEq + Copy>(variants: &[(&'static str, T)], v: T) -> &'static str {
    variants
        .iter()
        .find(|(_, x)| *x == v)
        .map_or("?", |(n, _)| n)
}

macro_rules! display_from_variants {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(variant_name(Self::VARIANTS, *self))
            }
        }
    )*};
}
display_from_variants!(TlsLevel, ClientAuth, LogFormat, Translate, PoolMode);

/// The client-facing Bolt connector: `server.bolt.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoltConnector {
    /// `server.bolt.listen_address`.
    pub listen_address: ListenAddress,
    /// `server.bolt.tls_level`; OPTIONAL and REQUIRED imply `ssl.bolt.enabled`.
    pub tls_level: TlsLevel,
    /// `server.bolt.ocsp_stapling_enabled`.
    pub ocsp_stapling_enabled: bool,
}

/// `boltgate.upstream.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `boltgate.upstream.uri`; a `neo4j*` URI turns routing on (routers fetched from it).
    pub uri: Target,
    /// `boltgate.upstream.connect_timeout`; never zero.
    pub connect_timeout: Duration,
    /// `boltgate.upstream.ocsp_required`: refuse a TLS upstream that staples no OCSP response.
    pub ocsp_required: bool,
    /// `boltgate.upstream.forward_goodbye`: relay a client's GOODBYE (else close without it).
    pub forward_goodbye: bool,
    /// `boltgate.upstream.translate`: `auto` (default) or `off`.
    pub translate: Translate,
    /// `boltgate.upstream.tcp_keepalive` and `boltgate.upstream.tcp_user_timeout`.
    pub tcp: crate::net::tcp::TcpTuning,
}

/// `boltgate.ocsp.*`: how the bolt certificate's staple is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ocsp {
    /// `boltgate.ocsp.responder_url`; None: the certificate's AIA OCSP URL.
    pub responder_url: Option<url::Url>,
    /// `boltgate.ocsp.refresh_margin`; never zero.
    pub refresh_margin: Duration,
}

/// `boltgate.routing.*`: routing across cluster members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// `boltgate.routing.members`: a static topology; empty when unset (never set together with
    /// a `neo4j*` upstream URI).
    pub members: Vec<crate::config::members::Member>,
    /// `boltgate.routing.advertised_addresses`, each `host:port`; never empty (defaults to the
    /// listen address, `localhost` standing for a wildcard host).
    pub advertised_addresses: Vec<String>,
    /// `boltgate.routing.ttl`; never zero.
    pub ttl: Duration,
    /// `boltgate.routing.ban_time`.
    pub ban_time: Duration,
}

/// `boltgate.client.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `boltgate.client.handshake_timeout`; never zero.
    pub handshake_timeout: Duration,
    /// `boltgate.client.idle_timeout`; None when set to 0.
    pub idle_timeout: Option<Duration>,
    /// `boltgate.client.max_connections`; at least 1.
    pub max_connections: usize,
    /// `boltgate.client.tcp_keepalive` and `boltgate.client.tcp_user_timeout`.
    pub tcp: crate::net::tcp::TcpTuning,
}

/// `boltgate.websocket.*`: Bolt over WebSocket on the Bolt listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocket {
    /// `boltgate.websocket.allowed_origins`, each normalised as browsers send `Origin`
    /// (`https://app.example.com`); None for `*` (any origin).
    pub allowed_origins: Option<Vec<String>>,
    /// `boltgate.websocket.max_frame_size` in bytes; 1KiB..=64MiB.
    pub max_frame_size: usize,
}

/// `boltgate.proxy_protocol.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    pub enabled: bool,
    /// `boltgate.proxy_protocol.trusted_networks`.
    pub trusted_networks: Vec<ipnet::IpNet>,
}

/// `server.http.*` or `server.https.*`: one admin endpoint connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConnector {
    pub enabled: bool,
    pub listen_address: ListenAddress,
}

/// The admin endpoint (see `crate::admin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// `server.http.*`: plain HTTP.
    pub http: HttpConnector,
    /// `server.https.*`: TLS with `dbms.ssl.policy.https` (enabled implies the policy is).
    pub https: HttpConnector,
    /// `boltgate.upstream.probe_interval`; None when 0.
    pub probe_interval: Option<Duration>,
}

/// `boltgate.pool.*`: transaction pooling (`crate::pool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub mode: PoolMode,
    /// `boltgate.pool.max_size`: server connections per upstream member; at least 1.
    pub max_size: usize,
    /// `boltgate.pool.min_idle`: idle connections kept past `idle_timeout`.
    pub min_idle: usize,
    /// `boltgate.pool.acquire_timeout`; never zero.
    pub acquire_timeout: Duration,
    /// `boltgate.pool.idle_timeout`; None when 0.
    pub idle_timeout: Option<Duration>,
    /// `boltgate.pool.max_lifetime`; None when 0.
    pub max_lifetime: Option<Duration>,
}

/// `boltgate.log.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive string, already checked to parse.
    pub level: String,
    pub tls_handshake_debug: bool,
}

/// The hardening settings of issue 15: structural limits on client input, bounds on per-database
/// state, who may reload TLS, the admin endpoint's credentials and Host names, log aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardening {
    /// `boltgate.client.max_nesting_depth`; at least 1.
    pub max_nesting_depth: usize,
    /// `boltgate.routing.max_databases`; at least 1.
    pub max_databases: usize,
    /// `boltgate.procedures.reload_tls_allowed_users`; empty: nobody.
    pub reload_tls_allowed_users: Vec<String>,
    /// `boltgate.admin.token_file`, resolved against neo4j_home; read at start and on reload.
    pub admin_token_file: Option<PathBuf>,
    /// `boltgate.admin.allowed_hosts`, lower-cased.
    pub admin_allowed_hosts: Vec<String>,
    /// `boltgate.log.repeat_interval`; never zero.
    pub log_repeat_interval: Duration,
    /// `boltgate.log.repeat_burst`.
    pub log_repeat_burst: usize,
}

/// One line of [`Config::effective_settings`]: key, value (secrets redacted), source.
pub type EffectiveSetting = (String, String, String);

/// The validated configuration. Immutable once built; every field is checked, so consumers need not
/// re-validate. Debug never shows a secret.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the settings came from, or [`DEFAULT_CONF_LABEL`].
    pub source: String,
    pub bolt: BoltConnector,
    /// `dbms.security.tls_reload_enabled`.
    pub tls_reload_enabled: bool,
    /// `boltgate.tls_reload.watch_interval`; None when 0 (no file watch). Only set together with
    /// `tls_reload_enabled`.
    pub tls_reload_watch: Option<Duration>,
    pub ocsp: Ocsp,
    /// `server.directories.neo4j_home`, made absolute against the working directory.
    pub neo4j_home: PathBuf,
    /// `dbms.ssl.policy.<scope>.*`, paths resolved.
    pub ssl: SslPolicies,
    pub upstream: Upstream,
    pub routing: Routing,
    pub client: Client,
    pub websocket: WebSocket,
    pub proxy_protocol: ProxyProtocol,
    /// `boltgate.limits.max_message_size` in bytes; 1KiB..=2GiB.
    pub max_message_size: usize,
    /// `boltgate.shutdown.grace_period`.
    pub shutdown_grace_period: Duration,
    /// `boltgate.runtime.busy_polling`.
    pub busy_polling: bool,
    /// `boltgate.runtime.busy_polling_window`: zero when off.
    pub busy_polling_window: Duration,
    pub log: Log,
    pub admin: Admin,
    /// Neo4j settings in the file that boltgate does not use (refused with `--strict`), in file
    /// order; listed once at start-up.
    pub ignored: Vec<IgnoredSetting>,
    pub hardening: Hardening,
    /// `boltgate.pool.*`.
    pub pool: Pool,
    effective: Vec<EffectiveSetting>,
}

/// A Neo4j setting boltgate accepted but does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredSetting {
    pub key: String,
    pub at: Origin,
    /// What boltgate does instead, when it has an equivalent.
    pub equivalent: Option<&'static str>,
}

impl std::fmt::Display for IgnoredSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.key)?;
        match self.equivalent {
            Some(e) => write!(f, " (boltgate: {e})"),
            None => Ok(()),
        }
    }
}

impl Config {
    /// Whether sessions route across cluster members (a `neo4j*` URI or a static member list)
    /// rather than relaying to the one upstream server.
    pub fn routing_enabled(&self) -> bool {
        self.upstream.uri.routing || !self.routing.members.is_empty()
    }
}

/// How to load: the switches that come from the command line rather than the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `--expand-commands`: run `$(command)` values through `sh -c`, as Neo4j does.
    pub expand_commands: bool,
    /// `--strict`: a Neo4j setting boltgate does not use is an error instead of being ignored.
    pub strict: bool,
}

impl Config {
    /// Loads `path` (or the embedded default when None), applies `overrides` (`key=value` each, from
    /// `--set`) and validates. On error, every problem found.
    pub fn load(
        path: Option<&Path>,
        overrides: &[String],
        opts: LoadOptions,
    ) -> Result<Config, ConfigErrors> {
        let Some(path) = path else {
            return build::build(DEFAULT_CONF, DEFAULT_CONF_LABEL, false, overrides, &opts);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        build::build(
            &text,
            &path.display().to_string(),
            writable_by_others(path),
            overrides,
            &opts,
        )
    }

    /// Builds from configuration text (for embedding boltgate and for tests); `label` names the text
    /// in messages.
    pub fn from_text(
        text: &str,
        label: &str,
        overrides: &[String],
        opts: LoadOptions,
    ) -> Result<Config, ConfigErrors> {
        build::build(text, label, false, overrides, &opts)
    }

    /// Every setting's effective value and where it came from (`default`, `file:line` or `--set:N`),
    /// sorted by key, secrets redacted. For print-config and the admin /config endpoint.
    pub fn effective_settings(&self) -> Vec<EffectiveSetting> {
        self.effective.clone()
    }
}

/// Whether group or others may write the file: then `$(command)` values are refused, as a value
/// anyone could edit would be a way to run commands as boltgate's user.
#[cfg(unix)]
fn writable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o022 != 0)
}

#[cfg(not(unix))]
fn writable_by_others(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + std::fmt::Debug>() {}

    #[test]
    fn config_is_send_sync_clone_debug() {
        assert_send_sync_clone::<Config>();
    }

    #[test]
    fn display_uses_configuration_names() {
        assert_eq!(TlsLevel::Optional.to_string(), "OPTIONAL");
        assert_eq!(ClientAuth::Require.to_string(), "REQUIRE");
        assert_eq!(LogFormat::Json.to_string(), "json");
    }
}
