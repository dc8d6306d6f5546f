//! Everything `boltgate` (serve) checks before it binds a port, run without binding: what
//! `check-config` reports and what makes serve exit 64. Each enabled SSL policy is loaded (keys
//! decrypted, certificates matched to keys, chains, trusted and revoked directories, ciphers and
//! versions), its rustls configuration built, then the TLS material and the upstream connector
//! exactly as serve builds them. Every problem is collected, one per policy at least, each as
//! `file:line: setting: problem`, the line being where the setting (or the policy's `enabled`)
//! was set.

use std::collections::HashMap;

use crate::config::{Config, Scope, SslPolicyConfig};
use crate::tls::{suites, TlsError, TlsPolicy};

/// What a dry run of serve's start-up found.
#[derive(Debug, Default)]
pub struct Report {
    /// Problems that stop serve, each `origin: setting: problem`.
    pub problems: Vec<String>,
    /// What serve would log as warnings while loading the policies.
    pub warnings: Vec<String>,
}

/// Runs serve's start-up checks on `config`.
pub fn check(config: &Config) -> Report {
    let origins: HashMap<String, String> = config
        .effective_settings()
        .into_iter()
        .map(|(key, _, source)| (key, source))
        .collect();
    let mut report = Report::default();
    let problem = |problems: &mut Vec<String>, e: &TlsError, scope: Option<Scope>| {
        let line = format!("{}: {e}", origin(config, &origins, e, scope));
        if !problems.contains(&line) {
            problems.push(line);
        }
    };
    for policy in [&config.ssl.bolt, &config.ssl.cluster, &config.ssl.https] {
        if !policy.enabled {
            continue;
        }
        let scope = Some(policy.scope);
        // Checked apart from the files, so a bad cipher list shows next to a bad key.
        let mut policy = policy.clone();
        if let Err(e) = select_suites(&policy) {
            problem(&mut report.problems, &e, scope);
            // The files are checked with the default suites, so their problems show too.
            policy.ciphers = None;
        }
        match TlsPolicy::load(&policy) {
            Err(e) => problem(&mut report.problems, &e, scope),
            Ok(loaded) => {
                report.warnings.extend(loaded.warnings().iter().cloned());
                let built = match policy.scope {
                    Scope::Cluster => loaded.client_config().map(drop),
                    Scope::Bolt | Scope::Https => loaded.server_config().map(drop),
                };
                if let Err(e) = built {
                    problem(&mut report.problems, &e, scope);
                }
            }
        }
    }
    if report.problems.is_empty() {
        // Then what serve itself builds, by the same functions: the bolt acceptor with its
        // OCSP staple source, the cluster client, the upstream's TLS (system roots for bolt+s).
        let built = super::build(config).and_then(|material| {
            crate::upstream::connect::Upstream::with_ocsp(
                config.upstream.uri.clone(),
                config.upstream.connect_timeout,
                material.cluster.as_ref(),
                config.upstream.ocsp_required,
            )
        });
        if let Err(e) = built {
            problem(&mut report.problems, &e, None);
        }
    }
    report
}

fn select_suites(policy: &SslPolicyConfig) -> Result<(), TlsError> {
    let s = |suffix: &str| crate::tls::policy::setting(policy, suffix);
    suites::select(
        &s("ciphers"),
        &s("tls_versions"),
        policy.ciphers.as_deref(),
        &policy.tls_versions,
        &mut Vec::new(),
    )
    .map(drop)
}

/// Where the setting an error names was set; for a default value (a missing default
/// `base_directory`, say), where the policy was enabled; else the configuration's name.
fn origin(
    config: &Config,
    origins: &HashMap<String, String>,
    e: &TlsError,
    scope: Option<Scope>,
) -> String {
    let setting = match e {
        TlsError::Read { setting, .. }
        | TlsError::File { setting, .. }
        | TlsError::Setting { setting, .. } => Some(setting.as_str()),
        TlsError::Rustls { .. } => None,
    };
    let set = |key: &str| origins.get(key).filter(|s| *s != "default").cloned();
    setting
        .and_then(set)
        .or_else(|| {
            let scope = scope.or_else(|| {
                let rest = setting?.strip_prefix("dbms.ssl.policy.")?;
                Scope::from_name(rest.split('.').next()?)
            })?;
            set(&format!("dbms.ssl.policy.{scope}.enabled"))
        })
        .unwrap_or_else(|| config.source.clone())
}
