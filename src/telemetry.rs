//! Logging: tracing with one span per connection, text or JSON, an env-filter.
//!
//! Naming rules: the connection span is `conn` with dotted fields (`client.addr`, `conn.id`,
//! `tls.version`, `tls.cipher`, `tls.sni`, `client.cert`, `bolt.version`, `upstream`), recorded
//! once known. Levels: error = an operator must act; warn = degraded; info = lifecycle and
//! refused connections; debug = a connection opened or closed; trace = one message (its
//! signature only, never its values). Credentials and query parameters are never logged.
//!
//! A log sink that goes away (`boltgate | head`, a crashed log shipper) must never stop the
//! proxy: writes to stderr never fail from tracing's point of view, and tracing-subscriber's
//! own fallback (`eprintln!`, which panics on a closed stderr) is switched off.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
/// `tls_handshake_debug` is boltgate's `javax.net.debug=ssl:handshake`: rustls's own handshake
/// log at trace, plus boltgate's TLS events at debug.
pub fn init(format: LogFormat, level: &str, tls_handshake_debug: bool) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    if tls_handshake_debug {
        for directive in [
            "rustls=trace",
            "tokio_rustls=trace",
            "boltgate::listener=debug",
        ] {
            if let Ok(d) = directive.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    // Colour codes only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .log_internal_errors(false)
        .with_writer(|| LossyStderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// stderr that drops what it cannot write (EPIPE, EBADF, a full disk) instead of failing: a
/// log line is worth less than the connections the proxy is serving.
pub struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// `eprintln!` that cannot panic: for messages printed before logging is set up.
pub fn eprint_line(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Lines that one connection each can cause, so a flood of connections (a scanner, a fuzzer, a
/// client retrying in a loop) would otherwise write a flood of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repeated {
    /// A connection closed before its Bolt session: refused by tls_level, PROXY header,
    /// handshake timeout, failed TLS or WebSocket handshake, not Bolt.
    Refused,
    /// A connection refused at `boltgate.client.max_connections`.
    MaxConnections,
    /// `accept` itself failed (out of file descriptors).
    AcceptFailed,
    /// A session ended because the upstream failed.
    UpstreamFailed,
}

impl Repeated {
    fn what(self) -> &'static str {
        match self {
            Repeated::Refused => "refused or failed connection",
            Repeated::MaxConnections => "connection refused at boltgate.client.max_connections",
            Repeated::AcceptFailed => "failed accept",
            Repeated::UpstreamFailed => "session ended by an upstream problem",
        }
    }

    fn is_warning(self) -> bool {
        !matches!(self, Repeated::Refused)
    }
}

#[derive(Debug, Default)]
struct Window {
    start: Option<Instant>,
    logged: usize,
    suppressed: u64,
}

/// Per kind of [`Repeated`] line: the first `burst` lines of each `interval` are logged, the rest
/// counted and reported as one summary line when the interval is over.
#[derive(Debug)]
pub struct Repeats {
    interval: Duration,
    burst: usize,
    windows: Mutex<HashMap<Repeated, Window>>,
}

static REPEATS: OnceLock<Repeats> = OnceLock::new();

/// `boltgate.log.repeat_interval` and `boltgate.log.repeat_burst`; the first call wins (the
/// defaults apply when it is never called, e.g. in an embedding).
pub fn configure_repeats(interval: Duration, burst: usize) {
    let _ = REPEATS.set(Repeats::new(interval, burst));
}

fn repeats() -> &'static Repeats {
    REPEATS.get_or_init(|| Repeats::new(Duration::from_secs(10), 5))
}

/// Whether to log one more line of `kind` now; false means it was counted for the summary.
pub fn allow(kind: Repeated) -> bool {
    repeats().allow(kind, Instant::now())
}

/// Logs the summaries of every interval that is over; run periodically (see [`crate::serve`])
/// so a flood that stops is still reported.
pub fn flush_repeats() {
    repeats().flush(Instant::now());
}

/// Logs every pending summary at once (at shutdown).
pub fn flush_all_repeats() {
    let r = repeats();
    r.flush(Instant::now() + r.interval);
}

/// How often [`flush_repeats`] should run.
pub fn repeat_interval() -> Duration {
    repeats().interval
}

impl Repeats {
    pub fn new(interval: Duration, burst: usize) -> Repeats {
        Repeats {
            interval: interval.max(Duration::from_millis(100)),
            burst,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether to log a line of `kind` at `now`.
    pub fn allow(&self, kind: Repeated, now: Instant) -> bool {
        let mut summary = None;
        let allowed = {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            let w = windows.entry(kind).or_default();
            match w.start {
                Some(start) if now.duration_since(start) < self.interval => {}
                _ => {
                    summary = Some(std::mem::take(&mut w.suppressed)).filter(|n| *n > 0);
                    w.start = Some(now);
                    w.logged = 0;
                }
            }
            if w.logged < self.burst {
                w.logged += 1;
                true
            } else {
                w.suppressed += 1;
                false
            }
        };
        if let Some(n) = summary {
            self.report(kind, n);
        }
        allowed
    }

    /// Reports and resets every window whose interval is over.
    pub fn flush(&self, now: Instant) {
        let due: Vec<(Repeated, u64)> = {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            windows
                .iter_mut()
                .filter(|(_, w)| {
                    w.start
                        .is_some_and(|s| now.duration_since(s) >= self.interval)
                })
                .filter_map(|(kind, w)| {
                    let n = std::mem::take(&mut w.suppressed);
                    w.start = None;
                    w.logged = 0;
                    (n > 0).then_some((*kind, n))
                })
                .collect()
        };
        for (kind, n) in due {
            self.report(kind, n);
        }
    }

    fn report(&self, kind: Repeated, n: u64) {
        let secs = self.interval.as_secs_f64();
        let what = kind.what();
        if kind.is_warning() {
            tracing::warn!(
                suppressed = n,
                "{n} more lines like this suppressed in the last {secs}s: {what}"
            );
        } else {
            tracing::info!(
                suppressed = n,
                "{n} more lines like this suppressed in the last {secs}s: {what}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_never_fail() {
        let mut w = LossyStderr;
        assert_eq!(w.write(b"").unwrap(), 0);
        assert!(w.flush().is_ok());
    }

    #[test]
    fn the_first_lines_of_an_interval_pass_the_rest_are_counted() {
        let r = Repeats::new(Duration::from_secs(10), 3);
        let t0 = Instant::now();
        let passed = (0..300).filter(|_| r.allow(Repeated::Refused, t0)).count();
        assert_eq!(passed, 3);
        // Another kind has its own budget.
        assert!(r.allow(Repeated::MaxConnections, t0));
        let suppressed = |r: &Repeats| r.windows.lock().unwrap()[&Repeated::Refused].suppressed;
        assert_eq!(suppressed(&r), 297);
        // Not yet over: nothing reported, nothing reset.
        r.flush(t0 + Duration::from_secs(5));
        assert_eq!(suppressed(&r), 297);
        r.flush(t0 + Duration::from_secs(10));
        assert_eq!(suppressed(&r), 0);
        // A new interval: lines pass again.
        assert!(r.allow(Repeated::Refused, t0 + Duration::from_secs(11)));
    }
}
