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

use std::io::Write;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_never_fail() {
        let mut w = LossyStderr;
        assert_eq!(w.write(b"").unwrap(), 0);
        assert!(w.flush().is_ok());
    }
}
