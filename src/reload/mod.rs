//! `dbms.security.tls_reload_enabled`: new certificates, keys, trusted certificates, CRLs and
//! `dbms.ssl.policy.*` settings without a restart.
//!
//! A reload ([`TlsReloader::reload`]) reads the config file again (with the same `--set`
//! overrides and options as at start), validates it whole, builds every enabled policy
//! ([`build`], the same code start-up uses) and only then swaps: the bolt listener's acceptor
//! through a `tokio::sync::watch` (the listener takes the current one per connection), the
//! upstream's TLS connector through [`Upstream::reload_tls`]. Connections already open keep the
//! config they were accepted or dialled with. Anything that fails, from a typo in the file to a
//! key that does not match its certificate, changes nothing and is returned (and logged).
//!
//! Who calls it:
//! - SIGHUP (`crate::signals`);
//! - `CALL dbms.security.reloadTLS()` from a client ([`crate::session::procedures`]);
//! - the admin endpoint: `server.reloader().reload().await` gives `Ok(ReloadReport)` (say what
//!   changed) or `Err(ReloadError)` (its `Display` is the reason, for a 409/500 body).
//!
//! Settings applied by a reload: `dbms.ssl.policy.*`, `server.bolt.ocsp_stapling_enabled`,
//! `boltgate.ocsp.*`, `boltgate.upstream.ocsp_required`. Any other changed setting is named in a
//! warning as needing a restart, and not applied.

pub mod preflight;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use thiserror::Error;
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ConfigErrors, LoadOptions, TlsLevel, DEFAULT_CONF_LABEL};
use crate::metrics::Metrics;
use crate::tls::ocsp::{self, StapleSource, Stapler};
use crate::tls::resolver::StapledCert;
use crate::tls::{TlsError, TlsPolicy};
use crate::upstream::connect::Upstream;

/// Where the running configuration came from, so a reload reads the same thing again.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// None: the embedded default (a reload then only re-reads the policies' files).
    pub path: Option<PathBuf>,
    /// `--set key=value`, applied again on every reload.
    pub overrides: Vec<String>,
    pub opts: LoadOptions,
}

impl ConfigSource {
    /// The file a config was loaded from, if its label names one (no overrides).
    pub fn of(config: &Config) -> ConfigSource {
        let path = PathBuf::from(&config.source);
        ConfigSource {
            path: (config.source != DEFAULT_CONF_LABEL && path.is_file()).then_some(path),
            ..ConfigSource::default()
        }
    }

    fn load(&self, running: &Config) -> Result<Config, ReloadError> {
        match &self.path {
            Some(path) => Config::load(Some(path), &self.overrides, self.opts.clone())
                .map_err(ReloadError::Config),
            None => Ok(running.clone()),
        }
    }
}

/// Why a reload changed nothing.
#[derive(Debug, Error)]
pub enum ReloadError {
    #[error("dbms.security.tls_reload_enabled=false: TLS material is read at start only; set it to true and restart boltgate to allow reloads")]
    Disabled,
    #[error("the configuration file does not validate: {}", .0.to_string().replace('\n', "; "))]
    Config(ConfigErrors),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Incompatible(String),
}

/// What a Bolt client calling `dbms.security.reloadTLS()` learns about a reload that did not
/// happen: whether reloads are off, or that it failed. Never why (file paths, key errors): that
/// is in the log.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ClientReloadError {
    #[error("dbms.security.tls_reload_enabled=false: TLS material is read at start only")]
    Disabled,
    #[error("the TLS reload failed; the certificates in service are kept (the reason is in boltgate's log)")]
    Failed,
}

/// Calls from clients within this long of the last finished reload share its outcome instead
/// of reloading again: a client in a loop cannot make boltgate re-read its files (and log)
/// hundreds of times a second.
pub const CLIENT_RELOAD_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// What a successful reload did, one line per policy.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    pub lines: Vec<String>,
}

/// The bolt listener's TLS, built from one config.
pub struct BoltTls {
    pub acceptor: TlsAcceptor,
    pub cert: Arc<StapledCert>,
    pub policy: TlsPolicy,
    /// Some when `server.bolt.ocsp_stapling_enabled=true`.
    pub staple: Option<StapleSource>,
}

/// Every enabled policy, built and checked.
pub struct TlsMaterial {
    pub bolt: Option<BoltTls>,
    pub cluster: Option<TlsPolicy>,
}

/// Loads and builds every enabled policy of `config`; nothing is started or swapped.
pub fn build(config: &Config) -> Result<TlsMaterial, TlsError> {
    let cluster = if config.ssl.cluster.enabled {
        Some(TlsPolicy::load(&config.ssl.cluster)?)
    } else {
        None
    };
    let bolt = if config.ssl.bolt.enabled {
        let policy = TlsPolicy::load(&config.ssl.bolt)?;
        let (server_config, cert) = policy.server_config_stapled()?;
        let staple = if config.bolt.ocsp_stapling_enabled {
            Some(staple_source(config, &policy)?)
        } else {
            None
        };
        Some(BoltTls {
            acceptor: TlsAcceptor::from(server_config),
            cert,
            policy,
            staple,
        })
    } else {
        if config.bolt.ocsp_stapling_enabled {
            tracing::warn!("server.bolt.ocsp_stapling_enabled=true has no effect: dbms.ssl.policy.bolt.enabled=false");
        }
        None
    };
    if config.ssl.https.enabled {
        // Checked so a bad policy is found now; served once the admin endpoint exists.
        TlsPolicy::load(&config.ssl.https)?.server_config()?;
    }
    Ok(TlsMaterial { bolt, cluster })
}

/// Where the staple comes from: the issuer (after the leaf in public_certificate, or in
/// trusted_dir) and the responder URL. Either missing is a setup error, found at start.
fn staple_source(config: &Config, policy: &TlsPolicy) -> Result<StapleSource, TlsError> {
    let leaf = policy.chain[0].clone();
    let candidates: Vec<&CertificateDer<'static>> = policy
        .chain
        .iter()
        .skip(1)
        .chain(policy.trusted.files.iter().flat_map(|(_, certs)| certs))
        .collect();
    let issuer = ocsp::find_issuer(&leaf, candidates, &policy.provider).ok_or_else(|| {
        TlsError::Setting {
            setting: "server.bolt.ocsp_stapling_enabled".into(),
            problem: format!(
                "the issuer of the bolt certificate ({}) is needed to ask for and check its OCSP \
                 response; put the issuer's certificate after the leaf in {} or in {}",
                crate::tls::pem::subject(&leaf),
                policy.config.public_certificate.display(),
                policy.config.trusted_dir.display()
            ),
        }
    })?;
    let url = match (&config.ocsp.responder_url, ocsp::aia_url(&leaf)) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) if url.scheme() == "http" => url,
        (None, Some(url)) => {
            return Err(TlsError::Setting {
                setting: "server.bolt.ocsp_stapling_enabled".into(),
                problem: format!(
                    "the bolt certificate's OCSP responder {} is not http://; set \
                     boltgate.ocsp.responder_url",
                    crate::config::value::redact_userinfo(url.as_str())
                ),
            })
        }
        (None, None) => {
            return Err(TlsError::Setting {
                setting: "server.bolt.ocsp_stapling_enabled".into(),
                problem: format!(
                    "the bolt certificate ({}) names no OCSP responder (Authority Information \
                     Access); set boltgate.ocsp.responder_url",
                    crate::tls::pem::subject(&leaf)
                ),
            })
        }
    };
    Ok(StapleSource {
        leaf,
        issuer,
        url,
        refresh_margin: config.ocsp.refresh_margin,
        provider: policy.provider.clone(),
    })
}

/// The acceptor new connections use; None when the bolt policy is disabled.
#[derive(Clone)]
pub struct CurrentAcceptor(tokio::sync::watch::Receiver<Option<TlsAcceptor>>);

impl CurrentAcceptor {
    /// An acceptor that never changes (for embedders and tests without a reloader).
    pub fn fixed(acceptor: Option<TlsAcceptor>) -> CurrentAcceptor {
        CurrentAcceptor(tokio::sync::watch::channel(acceptor).1)
    }

    pub fn get(&self) -> Option<TlsAcceptor> {
        self.0.borrow().clone()
    }
}

/// What is running now.
struct Running {
    config: Config,
    /// The bolt certificate's OCSP task; replaced (and so stopped) by a reload.
    stapler: Option<Stapler>,
    bolt_cert: Option<Arc<StapledCert>>,
}

/// Rebuilds and swaps the TLS material; see the module docs.
pub struct TlsReloader {
    enabled: bool,
    source: ConfigSource,
    /// `server.bolt.tls_level` at start: a reload cannot take TLS away from a listener that needs it.
    tls_level: TlsLevel,
    bolt: tokio::sync::watch::Sender<Option<TlsAcceptor>>,
    upstream: Arc<Upstream>,
    /// Also serialises reloads: two at once would race on the swap.
    running: Mutex<Running>,
    /// Where reloads are counted (`boltgate_reloads_total`), whatever triggered them, with the
    /// bolt certificate's expiry and its OCSP staple's age.
    metrics: Metrics,
    /// The last reload a client caused: when it finished and its outcome. Locked for the whole
    /// reload, so concurrent callers wait for it and then share its outcome.
    client: Mutex<Option<(std::time::Instant, Result<(), ClientReloadError>)>>,
}

impl TlsReloader {
    /// Takes over `material` built from `config` at start: starts its OCSP stapler, if any.
    /// Must run inside the Tokio runtime.
    pub fn start(
        config: &Config,
        source: ConfigSource,
        material: TlsMaterial,
        upstream: Arc<Upstream>,
        metrics: Metrics,
    ) -> (Arc<TlsReloader>, CurrentAcceptor) {
        let (acceptor, stapler, bolt_cert) = take_bolt(material.bolt, None, &metrics);
        let (tx, rx) = tokio::sync::watch::channel(acceptor);
        let reloader = TlsReloader {
            enabled: config.tls_reload_enabled,
            source,
            tls_level: config.bolt.tls_level,
            bolt: tx,
            upstream,
            running: Mutex::new(Running {
                config: config.clone(),
                stapler,
                bolt_cert,
            }),
            metrics,
            client: Mutex::new(None),
        };
        (Arc::new(reloader), CurrentAcceptor(rx))
    }

    /// Whether `dbms.security.tls_reload_enabled=true`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The bolt certificate served to new connections now, leaf first (for tests and /config).
    pub async fn bolt_chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        let running = self.running.lock().await;
        running.bolt_cert.as_ref().map(|c| c.chain())
    }

    /// The files a reload reads now: the config file (when there is one) and, per enabled
    /// policy, its key, certificate, trusted_dir and revoked_dir (for [`watch`]).
    pub async fn watched_paths(&self) -> Vec<PathBuf> {
        let running = self.running.lock().await;
        let ssl = &running.config.ssl;
        let mut paths: Vec<PathBuf> = self.source.path.iter().cloned().collect();
        for p in [&ssl.bolt, &ssl.cluster, &ssl.https] {
            if p.enabled {
                paths.extend([
                    p.private_key.clone(),
                    p.public_certificate.clone(),
                    p.trusted_dir.clone(),
                    p.revoked_dir.clone(),
                ]);
            }
        }
        paths
    }

    /// `CALL dbms.security.reloadTLS()`: one reload at a time, and calls within
    /// [`CLIENT_RELOAD_WINDOW`] of the last one (including those that waited for it) share its
    /// outcome. The outcome is logged by [`TlsReloader::reload`]; the caller gets only a
    /// [`ClientReloadError`].
    pub async fn reload_for_client(&self) -> Result<(), ClientReloadError> {
        let mut last = self.client.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < CLIENT_RELOAD_WINDOW {
                return outcome.clone();
            }
        }
        let outcome = match self.reload("CALL dbms.security.reloadTLS()").await {
            Ok(_) => Ok(()),
            Err(ReloadError::Disabled) => Err(ClientReloadError::Disabled),
            Err(_) => Err(ClientReloadError::Failed),
        };
        *last = Some((std::time::Instant::now(), outcome.clone()));
        outcome
    }

    /// Reads the configuration again and swaps in the new TLS material, or changes nothing and
    /// says why. The outcome is logged either way.
    pub async fn reload(&self, trigger: &str) -> Result<ReloadReport, ReloadError> {
        let result = self.try_reload().await;
        if !matches!(result, Err(ReloadError::Disabled)) {
            self.metrics.reload(result.is_ok());
        }
        if let Some(chain) = self.bolt_chain().await {
            self.metrics.certificate(crate::config::Scope::Bolt, &chain);
        }
        match &result {
            Ok(report) => tracing::info!(trigger, "TLS reloaded: {}", report.lines.join("; ")),
            Err(ReloadError::Disabled) => {
                tracing::warn!(trigger, "TLS reload refused: {}", ReloadError::Disabled)
            }
            Err(e) => tracing::error!(
                trigger,
                "TLS reload failed; the certificates in service are kept: {}",
                crate::error::chain(e)
            ),
        }
        result
    }

    async fn try_reload(&self) -> Result<ReloadReport, ReloadError> {
        if !self.enabled {
            return Err(ReloadError::Disabled);
        }
        let mut running = self.running.lock().await;
        let source = self.source.clone();
        let current = running.config.clone();
        // File reads, key decryption and `$(command)` expansion block: keep them off the workers.
        let (config, material) = tokio::task::spawn_blocking(move || {
            let config = source.load(&current)?;
            let material = build(&config)?;
            Ok::<_, ReloadError>((config, material))
        })
        .await
        .map_err(|e| ReloadError::Incompatible(format!("the reload task failed: {e}")))??;
        if self.tls_level != TlsLevel::Disabled && material.bolt.is_none() {
            return Err(ReloadError::Incompatible(format!(
                "server.bolt.tls_level={} needs the bolt SSL policy, but the new configuration \
                 disables it (dbms.ssl.policy.bolt.enabled=false)",
                self.tls_level
            )));
        }
        // The last fallible step goes first, so a failure leaves both sides as they were.
        self.upstream
            .reload_tls(material.cluster.as_ref(), config.upstream.ocsp_required)?;

        let mut lines = Vec::new();
        for (key, old, new) in restart_only_changes(&running.config, &config) {
            tracing::warn!(
                "{key} changed ({old} -> {new}) but is read at start only; restart boltgate \
                 to apply it"
            );
        }
        match &material.bolt {
            Some(bolt) => lines.push(format!(
                "bolt: {} (SHA-256 {})",
                crate::tls::pem::subject(&bolt.policy.chain[0]),
                fingerprint(&bolt.policy.chain[0])
            )),
            None => lines.push("bolt: disabled".into()),
        }
        match &material.cluster {
            Some(p) => lines.push(format!(
                "cluster: {} (SHA-256 {})",
                crate::tls::pem::subject(&p.chain[0]),
                fingerprint(&p.chain[0])
            )),
            None if config.ssl.cluster.enabled => {}
            None => lines.push("cluster: disabled".into()),
        }
        let (acceptor, stapler, bolt_cert) =
            take_bolt(material.bolt, running.stapler.as_ref(), &self.metrics);
        if stapler.is_none() {
            // Stapling is off now (or the bolt policy is): no staple, so no age either.
            self.metrics.ocsp_staple(crate::config::Scope::Bolt, None);
        }
        self.bolt.send_replace(acceptor);
        running.stapler = stapler;
        running.bolt_cert = bolt_cert;
        running.config = config;
        Ok(ReloadReport { lines })
    }
}

/// Starts the stapler for new bolt material (carrying over the previous staple when the leaf is
/// the same, so a reload while the responder is down keeps stapling).
fn take_bolt(
    bolt: Option<BoltTls>,
    previous: Option<&Stapler>,
    metrics: &Metrics,
) -> (
    Option<TlsAcceptor>,
    Option<Stapler>,
    Option<Arc<StapledCert>>,
) {
    let Some(bolt) = bolt else {
        return (None, None, None);
    };
    let stapler = bolt.staple.map(|source| {
        let cached = previous.and_then(|p| p.cached_for(&source.leaf));
        Stapler::spawn(bolt.cert.clone(), source, cached, metrics.clone())
    });
    (Some(bolt.acceptor), stapler, Some(bolt.cert))
}

/// Settings a reload does not apply: changed ones are reported so the operator is not misled.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<(String, String, String)> {
    let applied = |key: &str| {
        key.starts_with("dbms.ssl.policy.")
            || key.starts_with("boltgate.ocsp.")
            || key == "server.bolt.ocsp_stapling_enabled"
            || key == "boltgate.upstream.ocsp_required"
    };
    let old: std::collections::HashMap<String, String> = old
        .effective_settings()
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect();
    new.effective_settings()
        .into_iter()
        .filter(|(k, _, _)| !applied(k))
        .filter_map(|(k, v, _)| {
            let before = old.get(&k).cloned().unwrap_or_default();
            (before != v).then_some((k, before, v))
        })
        .collect()
}

/// SHA-256 of a certificate's DER, upper-case hex with colons (as `openssl x509 -fingerprint`).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    ring::digest::digest(&ring::digest::SHA256, cert.as_ref())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
