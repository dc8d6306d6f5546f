//! The server side's staple: a task per bolt certificate that fetches, checks, staples a `good`
//! answer and fetches again before it goes stale, on a schedule ([`refresh_at`]) that copes with
//! responders handing out short or half-spent answers. While the responder is unreachable the
//! last good answer is served until its nextUpdate, never past it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;

use super::fetch::{cert_id, fetch, parse_cert, request};
use super::validate::{check, show};
use super::{Checked, OcspError, Status};
use crate::config::value::redact_userinfo;
use crate::config::Scope;
use crate::metrics::Metrics;
use crate::tls::resolver::StapledCert;

/// Wait before asking again after a failed fetch (capped by the cached staple's expiry).
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Everything the stapler needs for one certificate.
#[derive(Debug, Clone)]
pub struct StapleSource {
    pub leaf: CertificateDer<'static>,
    pub issuer: CertificateDer<'static>,
    pub url: url::Url,
    pub refresh_margin: Duration,
    pub provider: Arc<CryptoProvider>,
}

/// A staple already obtained (carried over a reload that kept the same certificate).
#[derive(Debug, Clone)]
pub struct Cached {
    pub der: Vec<u8>,
    pub checked: Checked,
}

/// The background task keeping one [`StapledCert`]'s staple fresh; stopped on Drop.
#[derive(Debug)]
pub struct Stapler {
    task: tokio::task::JoinHandle<()>,
    cached: Arc<std::sync::Mutex<Option<Cached>>>,
    source: StapleSource,
}

impl Drop for Stapler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stapler {
    /// Starts fetching at once (or, with `cached` still fresh, when it is due for refresh). The
    /// staple's age is kept in `metrics` (`boltgate_ocsp_staple_age_seconds{scope="bolt"}`).
    pub fn spawn(
        cert: Arc<StapledCert>,
        source: StapleSource,
        cached: Option<Cached>,
        metrics: Metrics,
    ) -> Stapler {
        let cached = Arc::new(std::sync::Mutex::new(cached));
        let task = tokio::spawn(run(cert, source.clone(), cached.clone(), metrics));
        Stapler {
            task,
            cached,
            source,
        }
    }

    /// The last good response, for carrying over to a reloaded config with the same leaf.
    pub fn cached_for(&self, leaf: &CertificateDer<'_>) -> Option<Cached> {
        if self.source.leaf.as_ref() != leaf.as_ref() {
            return None;
        }
        self.cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The shortest wait between two fetches after a good answer: a responder that hands out short
/// (or already half-spent) responses must not be asked every second forever.
const MIN_REFRESH: Duration = Duration::from_secs(5);

/// When to fetch again after a good response obtained at `now`: halfway through its validity
/// or `margin` before its nextUpdate, whichever is sooner. A margin at least as long as the
/// validity would mean "now" after every answer; then halfway is used and `true` says the
/// margin was too long (for a warning). Never sooner than [`MIN_REFRESH`] from `now`.
fn refresh_at(checked: &Checked, margin: Duration, now: SystemTime) -> (SystemTime, bool) {
    let floor = now + MIN_REFRESH;
    match checked.next_update {
        None => ((now + margin).max(floor), false),
        Some(next) => {
            let validity = next.duration_since(checked.this_update).unwrap_or_default();
            let half = checked.this_update + validity / 2;
            if margin >= validity {
                return (half.max(floor), true);
            }
            (half.min(next - margin).max(floor), false)
        }
    }
}

async fn sleep_until(t: SystemTime) {
    let d = t.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(d).await;
}

async fn run(
    cert: Arc<StapledCert>,
    source: StapleSource,
    cached: Arc<std::sync::Mutex<Option<Cached>>>,
    metrics: Metrics,
) {
    let url = redact_userinfo(source.url.as_str());
    let lock = || cached.lock().unwrap_or_else(|e| e.into_inner());
    let staple = |der: Option<Vec<u8>>, this_update: Option<SystemTime>| {
        cert.set_ocsp(der);
        metrics.ocsp_staple(Scope::Bolt, this_update);
    };
    let mut next_fetch = SystemTime::now();
    let mut margin_warned = false;
    if let Some(c) = lock().clone() {
        if c.checked.servable_at(SystemTime::now()) {
            staple(Some(c.der.clone()), Some(c.checked.this_update));
            next_fetch = refresh_at(&c.checked, source.refresh_margin, c.checked.this_update).0;
        }
    }
    loop {
        // Wake for the fetch, or earlier to drop a staple that expires first.
        let expiry = lock().as_ref().and_then(|c| c.checked.next_update);
        let wake = expiry.map_or(next_fetch, |e| e.min(next_fetch));
        sleep_until(wake).await;
        let now = SystemTime::now();
        if now < next_fetch {
            let mut guard = lock();
            if guard.as_ref().is_some_and(|c| !c.checked.servable_at(now)) {
                *guard = None;
                staple(None, None);
                tracing::warn!(scope = "bolt", responder = %url,
                    "OCSP staple expired and the responder could not be reached: stapling stopped until a fresh response is obtained");
            }
            continue;
        }
        match fetch_checked(&source).await {
            Ok((der, checked)) => match &checked.status {
                Status::Good => {
                    tracing::info!(scope = "bolt", responder = %url,
                        this_update = %show(checked.this_update),
                        next_update = %checked.next_update.map_or("none".into(), show),
                        "OCSP staple obtained");
                    let (at, margin_too_long) =
                        refresh_at(&checked, source.refresh_margin, SystemTime::now());
                    if margin_too_long && !margin_warned {
                        margin_warned = true;
                        let validity = checked
                            .next_update
                            .and_then(|n| n.duration_since(checked.this_update).ok())
                            .unwrap_or_default();
                        tracing::warn!(scope = "bolt", responder = %url,
                            validity_secs = validity.as_secs(),
                            refresh_margin_secs = source.refresh_margin.as_secs(),
                            "OCSP: the responder's answers are valid for no longer than boltgate.ocsp.refresh_margin; refreshing halfway through each answer instead (set a shorter boltgate.ocsp.refresh_margin)");
                    }
                    next_fetch = at;
                    staple(Some(der.clone()), Some(checked.this_update));
                    *lock() = Some(Cached { der, checked });
                }
                Status::Revoked { at, reason } => {
                    tracing::error!(scope = "bolt", responder = %url, revoked_at = %at,
                        reason = reason.as_deref().unwrap_or("unspecified"),
                        "OCSP: the bolt certificate is REVOKED; it is not stapled (replace the certificate and reload)");
                    staple(None, None);
                    *lock() = None;
                    next_fetch = SystemTime::now() + source.refresh_margin.min(RETRY_AFTER * 10);
                }
                Status::Unknown => {
                    tracing::warn!(scope = "bolt", responder = %url,
                        "OCSP: the responder does not know the bolt certificate (status unknown); not stapled, the last good staple (if any) is kept");
                    next_fetch = SystemTime::now() + RETRY_AFTER;
                }
            },
            Err(e) => {
                let serving = lock().is_some();
                tracing::warn!(scope = "bolt", responder = %url, error = %e,
                    "OCSP fetch failed; {}; retrying in {RETRY_AFTER:?}",
                    if serving { "still serving the cached staple until its nextUpdate" } else { "no staple is served" });
                next_fetch = SystemTime::now() + RETRY_AFTER;
            }
        }
    }
}

async fn fetch_checked(source: &StapleSource) -> Result<(Vec<u8>, Checked), OcspError> {
    let leaf = parse_cert(source.leaf.as_ref(), "the certificate")?;
    let issuer = parse_cert(source.issuer.as_ref(), "the issuer's certificate")?;
    let body = request(cert_id(&leaf, &issuer)?)?;
    let der = fetch(&source.url, body).await?;
    let checked = check(
        &der,
        &source.leaf,
        &source.issuer,
        &source.provider,
        SystemTime::now(),
    )?;
    Ok((der, checked))
}

#[cfg(test)]
mod tests {
    use super::super::tests::checked;
    use super::*;

    #[test]
    fn refresh_is_halfway_or_margin_before_next_update_whichever_is_sooner() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let hour = Duration::from_secs(3600);
        // A week of validity: halfway comes first.
        let c = checked(0, Some(7 * 86_400));
        assert_eq!(refresh_at(&c, hour, at(10)), (at(7 * 86_400 / 2), false));
        // 90 minutes of validity, one hour margin: the margin comes first.
        let c = checked(0, Some(5400));
        assert_eq!(refresh_at(&c, hour, at(10)), (at(1800), false));
        // Without nextUpdate: every margin.
        let c = checked(0, None);
        assert_eq!(refresh_at(&c, hour, at(10)), (at(3610), false));
    }

    #[test]
    fn a_margin_as_long_as_the_validity_does_not_mean_fetching_every_second() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let hour = Duration::from_secs(3600);
        // One minute of validity (what `openssl ocsp -nmin 1` gives), the default one-hour
        // margin: halfway, and the caller is told to warn.
        let c = checked(0, Some(60));
        assert_eq!(refresh_at(&c, hour, at(1)), (at(30), true));
        // Validity exactly the margin: the same.
        let c = checked(0, Some(3600));
        assert_eq!(refresh_at(&c, hour, at(1)), (at(1800), true));
        // A response whose halfway (or whole validity) is already past: the floor, not 1 s.
        let c = checked(0, Some(100));
        assert_eq!(refresh_at(&c, hour, at(500)), (at(505), true));
        let c = checked(0, Some(7200));
        assert_eq!(refresh_at(&c, hour, at(5000)), (at(5005), false));
    }
}
