//! Logging: tracing with one span per connection, text or JSON, an env-filter.
//!
//! Naming rules: the connection span is `conn` with dotted fields (`client.addr`, `conn.id`,
//! `tls.version`, `tls.cipher`, `tls.sni`, `client.cert`, `bolt.version`, `upstream`), recorded
//! once known. Levels: error = an operator must act; warn = degraded; info = lifecycle and
//! refused connections; debug = a connection opened or closed; trace = one message (its
//! signature only, never its values). Credentials and query parameters are never logged.

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
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
