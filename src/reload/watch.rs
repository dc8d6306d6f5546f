//! `boltgate.tls_reload.watch_interval`: reload when the TLS files change.
//!
//! Polling, not inotify: a stat() of a handful of files per interval costs nothing, and it sees
//! what inotify on a file misses: a Kubernetes secret volume swaps a `..data` symlink, a bind
//! mount or NFS changes files under the watcher, an editor replaces a file by rename. What is
//! compared is each file's length, modification time and inode (following symlinks), for the
//! config file and, per enabled policy, its private key, certificate and every file in its
//! trusted_dir and revoked_dir.
//!
//! Debounced: a change is acted on once two polls in a row agree, so a certificate manager that
//! writes the key and then the certificate is not caught between the two (that reload would fail
//! and change nothing, but it would log an error for a rotation that was going fine). After a
//! reload, whatever its outcome, the new state is the baseline: a broken file is not reloaded
//! again and again, the next change is.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::TlsReloader;

/// What is known of one path: None when it cannot be read (missing, no permission).
type Stamp = Option<(u64, Option<SystemTime>, u64)>;

/// The files behind the TLS material, as seen at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot(BTreeMap<PathBuf, Stamp>);

fn stamp(path: &std::path::Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok(), m.ino()))
}

impl Snapshot {
    /// Stamps of `paths`; a directory stands for itself and every entry in it (one level, as
    /// Neo4j reads trusted_dir and revoked_dir).
    pub fn take(paths: &[PathBuf]) -> Snapshot {
        let mut out = BTreeMap::new();
        for path in paths {
            out.insert(path.clone(), stamp(path));
            if let Ok(entries) = std::fs::read_dir(path) {
                for entry in entries.flatten() {
                    let p = entry.path();
                    out.insert(p.clone(), stamp(&p));
                }
            }
        }
        Snapshot(out)
    }
}

/// Polls every `interval` and calls [`TlsReloader::reload`] with trigger "file change" when the
/// files changed and then held still for one interval. Runs until aborted.
pub async fn run(reloader: Arc<TlsReloader>, interval: Duration) {
    let look = |paths: Vec<PathBuf>| async move {
        tokio::task::spawn_blocking(move || Snapshot::take(&paths))
            .await
            .unwrap_or_default()
    };
    let paths = reloader.watched_paths().await;
    tracing::info!(every = %crate::config::value::format_duration(interval), paths = paths.len(), "watching the TLS files for changes");
    let mut baseline = look(paths).await;
    let mut pending: Option<Snapshot> = None;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        ticks.tick().await;
        let now = look(reloader.watched_paths().await).await;
        if now == baseline {
            pending = None;
        } else if pending.as_ref() == Some(&now) {
            tracing::info!("TLS files changed: reloading");
            // The outcome is logged by reload itself.
            let _ = reloader.reload("file change").await;
            // A reload may name other files (a changed base_directory): look again.
            baseline = look(reloader.watched_paths().await).await;
            pending = None;
        } else {
            pending = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sees_a_rewrite_a_new_file_in_a_directory_and_a_removal() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("private.key");
        let trusted = dir.path().join("trusted");
        std::fs::create_dir(&trusted).unwrap();
        std::fs::write(&key, "one").unwrap();
        let paths = vec![key.clone(), trusted.clone()];
        let first = Snapshot::take(&paths);
        assert_eq!(first, Snapshot::take(&paths), "nothing changed");

        std::fs::write(&key, "three").unwrap(); // another length, whatever the mtime granularity
        let rewritten = Snapshot::take(&paths);
        assert_ne!(first, rewritten);

        std::fs::write(trusted.join("ca.crt"), "x").unwrap();
        let added = Snapshot::take(&paths);
        assert_ne!(rewritten, added);

        std::fs::remove_file(&key).unwrap();
        assert_ne!(added, Snapshot::take(&paths));
    }
}
