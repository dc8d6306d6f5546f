//! One builder per part of the [`Config`] (the bolt connector, TLS reload, OCSP, the upstream,
//! routing, clients, WebSocket, PROXY protocol, logging, admin, hardening), each reading all of
//! its settings before failing so every problem is reported; then the rules between parts.

use std::path::PathBuf;
use std::time::Duration;

use super::super::error::ConfigError;
use super::super::settings;
use super::super::ssl_policy::{RawPolicy, Scope, Secret, SslPolicies};
use super::super::uri::Target;
use super::super::value::{self, redact_userinfo, ValueError};
use super::super::{
    Admin, BoltConnector, Client, ClientAuth, Config, Hardening, HttpConnector, Log, LogFormat,
    Ocsp, Pool, PoolMode, ProxyProtocol, Routing, TlsLevel, Upstream, WebSocket,
};
use super::parse::{
    absolute, default_advertised, parse_advertised, parse_max_connections, parse_max_frame_size,
    parse_max_message_size, parse_member_list, parse_origins, parse_tls_versions,
    parse_trusted_networks,
};
use super::{Builder, MEMBERS, TLS_LEVEL, UPSTREAM_URI, WATCH};

impl Builder {
    fn policy(&mut self, scope: Scope) -> Option<RawPolicy> {
        let key = |suffix: &str| format!("dbms.ssl.policy.{scope}.{suffix}");
        let enabled = self.bool(&key("enabled"));
        let base_directory = self.path(&key("base_directory"));
        let private_key = self.path(&key("private_key"));
        let private_key_password =
            self.optional(&key("private_key_password"), |s| Ok(Secret::new(s)));
        let public_certificate = self.path(&key("public_certificate"));
        let trusted_dir = self.path(&key("trusted_dir"));
        let revoked_dir = self.path(&key("revoked_dir"));
        let verify_hostname = self.bool(&key("verify_hostname"));
        let ciphers = self.optional(&key("ciphers"), value::parse_words);
        let tls_versions = self.get(&key("tls_versions"), parse_tls_versions);
        let client_auth = self.get(&key("client_auth"), |s| {
            value::parse_enum(s, ClientAuth::VARIANTS)
        });
        let trust_all = self.bool(&key("trust_all"));
        Some(RawPolicy {
            enabled: enabled?,
            base_directory: base_directory?,
            private_key: private_key?,
            private_key_password: private_key_password?,
            public_certificate: public_certificate?,
            trusted_dir: trusted_dir?,
            revoked_dir: revoked_dir?,
            verify_hostname: verify_hostname?,
            ciphers: ciphers?,
            tls_versions: tls_versions?,
            client_auth: client_auth?,
            trust_all: trust_all?,
        })
    }

    fn upstream_uri(&mut self) -> Option<Target> {
        let (value, at) = self.raw(UPSTREAM_URI)?;
        let uri = value.unwrap_or_default();
        let target = match Target::parse(&uri) {
            Ok(target) => target,
            Err(source) => {
                self.failed.insert(UPSTREAM_URI.to_string());
                self.errors.push(ConfigError::Uri {
                    at,
                    key: UPSTREAM_URI.to_string(),
                    uri: redact_userinfo(&uri),
                    source,
                });
                return None;
            }
        };
        Some(target)
    }

    /// Parses every setting, then checks the rules between them. None if anything failed.
    /// Parses every setting, then checks the rules between them. None if anything failed.
    pub(super) fn config(&mut self, label: &str) -> Option<Config> {
        let listen_address = self.get("server.bolt.listen_address", value::parse_listen_address);
        let tls_level = self.get(TLS_LEVEL, |s| value::parse_enum(s, TlsLevel::VARIANTS));
        let ocsp_stapling_enabled = self.bool("server.bolt.ocsp_stapling_enabled");
        let tls_reload = self.tls_reload();
        let ocsp_required = self.bool("boltgate.upstream.ocsp_required");
        let forward_goodbye = self.bool("boltgate.upstream.forward_goodbye");
        let translate = self.get("boltgate.upstream.translate", |s| {
            value::parse_enum(s, crate::config::Translate::VARIANTS)
        });
        let ocsp = self.ocsp();
        let neo4j_home = self.path("server.directories.neo4j_home").map(absolute);
        let policies = Scope::ALL.map(|scope| self.policy(scope));
        let uri = self.upstream_uri();
        let connect_timeout = self.duration("boltgate.upstream.connect_timeout", false);
        let upstream_tcp = self.tcp_tuning("upstream");
        let routing = self.routing(uri.as_ref(), listen_address.as_ref());
        let client = self.client();
        let max_message_size = self.get("boltgate.limits.max_message_size", parse_max_message_size);
        let websocket = self.websocket();
        let proxy_protocol = self.proxy_protocol();
        let grace_period = self.duration("boltgate.shutdown.grace_period", true);
        let busy_polling = self.bool("boltgate.runtime.busy_polling");
        let busy_polling_window = self.duration("boltgate.runtime.busy_polling_window", true);
        let log = self.log();
        let admin = self.admin();
        let hardening = self.hardening();
        let pool = self.pool();

        // Rules between settings.
        // Checked on `enabled` alone, so a bad value elsewhere in the bolt policy does not hide it.
        let bolt_enabled = self
            .raw("dbms.ssl.policy.bolt.enabled")
            .and_then(|(v, _)| value::parse_bool(v.as_deref().unwrap_or("")).ok());
        if let (Some(level), Some(enabled)) = (tls_level, bolt_enabled) {
            if level != TlsLevel::Disabled && !enabled {
                self.errors.push(ConfigError::Conflict {
                    at: self.origin(TLS_LEVEL),
                    key: TLS_LEVEL.to_string(),
                    other: "dbms.ssl.policy.bolt.enabled=true".to_string(),
                    problem: format!("{level} needs the bolt SSL policy, but dbms.ssl.policy.bolt.enabled is false"),
                });
            }
        }

        let neo4j_home = neo4j_home?;
        let [bolt, cluster, https] = policies;
        let ssl = SslPolicies {
            bolt: bolt?.resolve(Scope::Bolt, &neo4j_home),
            cluster: cluster?.resolve(Scope::Cluster, &neo4j_home),
            https: https?.resolve(Scope::Https, &neo4j_home),
        };
        let (tls_reload_enabled, tls_reload_watch) = tls_reload?;
        Some(Config {
            source: label.to_string(),
            bolt: BoltConnector {
                listen_address: listen_address?,
                tls_level: tls_level?,
                ocsp_stapling_enabled: ocsp_stapling_enabled?,
            },
            tls_reload_enabled,
            tls_reload_watch,
            ocsp: ocsp?,
            neo4j_home,
            ssl,
            upstream: Upstream {
                uri: uri?,
                connect_timeout: connect_timeout?,
                ocsp_required: ocsp_required?,
                forward_goodbye: forward_goodbye?,
                translate: translate?,
                tcp: upstream_tcp?,
            },
            routing: routing?,
            client: client?,
            websocket: websocket?,
            proxy_protocol: proxy_protocol?,
            max_message_size: max_message_size?,
            shutdown_grace_period: grace_period?,
            busy_polling: busy_polling?,
            busy_polling_window: busy_polling_window?,
            log: log?,
            admin: admin?,
            ignored: self.ignored.clone(),
            hardening: hardening?,
            pool: pool?,
            effective: self.effective(),
        })
    }

    /// `dbms.security.tls_reload_enabled` and the watch interval (None when not watching), which
    /// only means something while reloads are on.
    fn tls_reload(&mut self) -> Option<(bool, Option<Duration>)> {
        let tls_reload_enabled = self.bool("dbms.security.tls_reload_enabled");
        let watch = self.duration(WATCH, true);
        if let (Some(false), Some(w)) = (tls_reload_enabled, watch) {
            if !w.is_zero() {
                self.errors.push(ConfigError::Conflict {
                    at: self.origin(WATCH),
                    key: WATCH.to_string(),
                    other: "dbms.security.tls_reload_enabled=true".to_string(),
                    problem: "watching the files is a way to trigger a reload, but reloads are off"
                        .into(),
                });
            }
        }
        Some((tls_reload_enabled?, Some(watch?).filter(|d| !d.is_zero())))
    }

    /// `boltgate.ocsp.*`.
    fn ocsp(&mut self) -> Option<Ocsp> {
        let responder_url = self.optional("boltgate.ocsp.responder_url", value::parse_http_url);
        let refresh_margin = self.duration("boltgate.ocsp.refresh_margin", false);
        Some(Ocsp {
            responder_url: responder_url?,
            refresh_margin: refresh_margin?,
        })
    }

    /// `boltgate.routing.*`. `uri` is checked against the static members (one topology source),
    /// and the listen address stands in for unset advertised addresses.
    fn routing(
        &mut self,
        uri: Option<&Target>,
        listen_address: Option<&value::ListenAddress>,
    ) -> Option<Routing> {
        let members = self.get(MEMBERS, parse_member_list);
        let advertised = self.get("boltgate.routing.advertised_addresses", parse_advertised);
        let routing_ttl = self.duration("boltgate.routing.ttl", false);
        let ban_time = self.duration("boltgate.routing.ban_time", true);
        if let (Some(target), Some(members)) = (uri, &members) {
            if target.routing && !members.is_empty() {
                self.errors.push(ConfigError::Conflict {
                    at: self.origin(MEMBERS),
                    key: MEMBERS.to_string(),
                    other: format!("{UPSTREAM_URI}={target}"),
                    problem: "a static member list and a neo4j:// URI both describe the topology; \
                              keep one (the URI's scheme only sets TLS for static members: use \
                              bolt://, bolt+s:// or bolt+ssc://)"
                        .to_string(),
                });
            }
        }
        let advertised_addresses = match (advertised?, listen_address) {
            (list, _) if !list.is_empty() => list,
            (_, Some(listen)) => vec![default_advertised(listen)],
            (_, None) => return None,
        };
        Some(Routing {
            members: members?,
            advertised_addresses,
            ttl: routing_ttl?,
            ban_time: ban_time?,
        })
    }

    /// `boltgate.client.*`: what each client connection gets.
    fn client(&mut self) -> Option<Client> {
        let client_tcp = self.tcp_tuning("client");
        let handshake_timeout = self.duration("boltgate.client.handshake_timeout", false);
        let idle_timeout = self.duration("boltgate.client.idle_timeout", true);
        let max_connections = self.get("boltgate.client.max_connections", parse_max_connections);
        Some(Client {
            handshake_timeout: handshake_timeout?,
            idle_timeout: Some(idle_timeout?).filter(|d| !d.is_zero()),
            max_connections: max_connections?,
            tcp: client_tcp?,
        })
    }

    /// `boltgate.pool.*`.
    fn pool(&mut self) -> Option<Pool> {
        let mode = self.get("boltgate.pool.mode", |s| {
            value::parse_enum(s, PoolMode::VARIANTS)
        });
        let max_size = self.get("boltgate.pool.max_size", parse_max_connections);
        let min_idle = self.get("boltgate.pool.min_idle", |s| {
            s.parse::<usize>().map_err(|_| {
                ValueError::with_hint(format!("`{s}` is not a whole number"), "e.g. 0")
            })
        });
        let acquire_timeout = self.duration("boltgate.pool.acquire_timeout", false);
        let idle_timeout = self.duration("boltgate.pool.idle_timeout", true);
        let max_lifetime = self.duration("boltgate.pool.max_lifetime", true);
        Some(Pool {
            mode: mode?,
            max_size: max_size?,
            min_idle: min_idle?,
            acquire_timeout: acquire_timeout?,
            idle_timeout: Some(idle_timeout?).filter(|d| !d.is_zero()),
            max_lifetime: Some(max_lifetime?).filter(|d| !d.is_zero()),
        })
    }

    /// `boltgate.websocket.*`.
    fn websocket(&mut self) -> Option<WebSocket> {
        let allowed_origins = self.get("boltgate.websocket.allowed_origins", parse_origins);
        let max_frame_size = self.get("boltgate.websocket.max_frame_size", parse_max_frame_size);
        Some(WebSocket {
            allowed_origins: allowed_origins?,
            max_frame_size: max_frame_size?,
        })
    }

    /// `boltgate.proxy_protocol.*`.
    fn proxy_protocol(&mut self) -> Option<ProxyProtocol> {
        let proxy_enabled = self.bool("boltgate.proxy_protocol.enabled");
        let trusted_networks = self.get(
            "boltgate.proxy_protocol.trusted_networks",
            parse_trusted_networks,
        );
        Some(ProxyProtocol {
            enabled: proxy_enabled?,
            trusted_networks: trusted_networks?,
        })
    }

    /// `boltgate.log.format`, `level` and `tls_handshake_debug` (the repeat limits are hardening).
    fn log(&mut self) -> Option<Log> {
        let log_format = self.get("boltgate.log.format", |s| {
            value::parse_enum(s, LogFormat::VARIANTS)
        });
        let log_level = self.get("boltgate.log.level", |s| {
            settings::Kind::LogFilter.check(s).map(|()| s.to_string())
        });
        let tls_handshake_debug = self.bool("boltgate.log.tls_handshake_debug");
        Some(Log {
            format: log_format?,
            level: log_level?,
            tls_handshake_debug: tls_handshake_debug?,
        })
    }

    /// `boltgate.client.max_nesting_depth`, `boltgate.routing.max_databases`,
    /// `boltgate.procedures.*`, `boltgate.admin.*`, `boltgate.log.repeat_*`.
    fn hardening(&mut self) -> Option<Hardening> {
        let at_least_one = |s: &str| match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ValueError::with_hint(
                format!("`{s}` is not a whole number of at least 1"),
                "e.g. 200",
            )),
        };
        let max_nesting_depth = self.get("boltgate.client.max_nesting_depth", at_least_one);
        let max_databases = self.get("boltgate.routing.max_databases", at_least_one);
        let users = self.get(
            "boltgate.procedures.reload_tls_allowed_users",
            value::parse_list,
        );
        let token_file = self.optional("boltgate.admin.token_file", |s| Ok(PathBuf::from(s)));
        let hosts = self.get("boltgate.admin.allowed_hosts", |s| {
            Ok(value::parse_list(s)?
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect())
        });
        let interval = self.duration("boltgate.log.repeat_interval", false);
        let burst = self.get("boltgate.log.repeat_burst", |s| {
            s.parse::<usize>().map_err(|_| {
                ValueError::with_hint(format!("`{s}` is not a whole number"), "e.g. 5")
            })
        });
        Some(Hardening {
            max_nesting_depth: max_nesting_depth?,
            max_databases: max_databases?,
            reload_tls_allowed_users: users?,
            admin_token_file: token_file?,
            admin_allowed_hosts: hosts?,
            log_repeat_interval: interval?,
            log_repeat_burst: burst?,
        })
    }

    /// `server.http.*`, `server.https.*` and the probe interval; https needs its SSL policy.
    fn admin(&mut self) -> Option<Admin> {
        let http_enabled = self.bool("server.http.enabled");
        let http_address = self.get("server.http.listen_address", value::parse_listen_address);
        let https_enabled = self.bool("server.https.enabled");
        let https_address = self.get("server.https.listen_address", value::parse_listen_address);
        let probe_interval = self.duration("boltgate.upstream.probe_interval", true);
        let policy_enabled = self
            .raw("dbms.ssl.policy.https.enabled")
            .and_then(|(v, _)| value::parse_bool(v.as_deref().unwrap_or("")).ok());
        if https_enabled == Some(true) && policy_enabled == Some(false) {
            self.errors.push(ConfigError::Conflict {
                at: self.origin("server.https.enabled"),
                key: "server.https.enabled".to_string(),
                other: "dbms.ssl.policy.https.enabled=true".to_string(),
                problem: "the HTTPS endpoint needs the https SSL policy, but \
                          dbms.ssl.policy.https.enabled is false"
                    .to_string(),
            });
            return None;
        }
        Some(Admin {
            http: HttpConnector {
                enabled: http_enabled?,
                listen_address: http_address?,
            },
            https: HttpConnector {
                enabled: https_enabled?,
                listen_address: https_address?,
            },
            probe_interval: Some(probe_interval?).filter(|d| !d.is_zero()),
        })
    }
}
