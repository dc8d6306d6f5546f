//! Parsers for values particular to one setting (shared ones live in `config::value`), and the
//! defaults derived from other settings. Pure functions, so each is testable alone.

use std::path::PathBuf;

use ipnet::IpNet;

use super::super::members::Member;
use super::super::ssl_policy::TLS_VERSIONS;
use super::super::value::{self, ValueError};

/// Smallest accepted `boltgate.limits.max_message_size`: anything below is surely a unit missing
/// (`16` meant as MiB), and a HELLO with credentials needs a few hundred bytes.
const MIN_MESSAGE_SIZE: u64 = 1 << 10;
/// Largest accepted: beyond 2GiB one message could exhaust the proxy's memory.
const MAX_MESSAGE_SIZE: u64 = 2 << 30;

/// The address clients are told to use when none is configured: the listen address, with
/// `localhost` for a wildcard host (as Neo4j's `server.default_advertised_address`).
pub(super) fn default_advertised(listen: &value::ListenAddress) -> String {
    let host = match listen.host.as_str() {
        "" | "0.0.0.0" | "::" => "localhost",
        h => h,
    };
    crate::config::members::normalise_address(&format!(
        "{}:{}",
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        },
        listen.port
    ))
    .unwrap_or_else(|_| format!("localhost:{}", listen.port))
}

/// Relative to the working directory, as the process sees it at load time.
pub(super) fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        return path;
    }
    match std::env::current_dir() {
        Ok(cwd) if path == std::path::Path::new(".") => cwd,
        Ok(cwd) => cwd.join(path),
        Err(_) => path,
    }
}

/// `TLSv1.2`, `TLSv1.3`, case-insensitive, normalised to those spellings; at least one.
pub(super) fn parse_tls_versions(s: &str) -> Result<Vec<String>, ValueError> {
    let items = value::parse_words(s)?;
    if items.is_empty() {
        return Err(ValueError::with_hint(
            "no TLS version allowed",
            "e.g. TLSv1.2,TLSv1.3",
        ));
    }
    items
        .iter()
        .map(|item| {
            TLS_VERSIONS
                .iter()
                .find(|v| v.eq_ignore_ascii_case(item))
                .map(|v| v.to_string())
                .ok_or_else(|| {
                    ValueError::with_hint(
                        format!("`{item}` is not a supported TLS version"),
                        format!(
                            "use {}; older versions are insecure and not implemented",
                            TLS_VERSIONS.join(" or ")
                        ),
                    )
                })
        })
        .collect()
}

pub(super) fn parse_max_connections(s: &str) -> Result<usize, ValueError> {
    match s.parse::<usize>() {
        Ok(0) => Err(ValueError::new("must be at least 1")),
        Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ValueError::with_hint(
            format!("`{s}` is not a whole number"),
            "e.g. 10000",
        )),
    }
}

pub(super) fn parse_max_message_size(s: &str) -> Result<usize, ValueError> {
    let n = value::parse_size(s)?;
    if !(MIN_MESSAGE_SIZE..=MAX_MESSAGE_SIZE).contains(&n) {
        return Err(ValueError::with_hint(
            format!("`{s}` is out of range"),
            "use 1KiB to 2GiB; a number without a unit is bytes",
        ));
    }
    usize::try_from(n)
        .map_err(|_| ValueError::new(format!("`{s}` does not fit this platform's memory")))
}

/// `*` alone: any origin (None). Else each item an http(s) origin, normalised as browsers send it.
pub(super) fn parse_origins(s: &str) -> Result<Option<Vec<String>>, ValueError> {
    let items = value::parse_list(s)?;
    if items.iter().any(|i| i == "*") {
        if items.len() > 1 {
            return Err(ValueError::with_hint(
                "`*` (any origin) cannot be combined with other origins",
                "use * alone, or list the origins",
            ));
        }
        return Ok(None);
    }
    items
        .iter()
        .map(|item| {
            crate::net::websocket::normalise_origin(item).ok_or_else(|| {
                ValueError::with_hint(
                    format!("`{item}` is not an origin"),
                    "write scheme://host[:port] with no path, e.g. https://browser.example.com",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Below 1KiB even a HELLO may not fit one frame; above 64MiB one frame could exhaust memory.
pub(super) fn parse_max_frame_size(s: &str) -> Result<usize, ValueError> {
    let n = value::parse_size(s)?;
    if !(1 << 10..=64 << 20).contains(&n) {
        return Err(ValueError::with_hint(
            format!("`{s}` is out of range"),
            "use 1KiB to 64MiB; a number without a unit is bytes",
        ));
    }
    usize::try_from(n)
        .map_err(|_| ValueError::new(format!("`{s}` does not fit this platform's memory")))
}

/// `boltgate.routing.members`: empty means no static members.
pub(super) fn parse_member_list(s: &str) -> Result<Vec<Member>, ValueError> {
    match value::parse_list(s)? {
        items if items.is_empty() => Ok(Vec::new()),
        items => crate::config::members::parse_members(&items),
    }
}

pub(super) fn parse_advertised(s: &str) -> Result<Vec<String>, ValueError> {
    value::parse_list(s)?
        .iter()
        .map(|a| {
            crate::config::members::normalise_address(a).map_err(|p| {
                ValueError::with_hint(p, "e.g. proxy1.example.com:7687,proxy2.example.com:7687")
            })
        })
        .collect::<Result<Vec<_>, _>>()
}

pub(super) fn parse_trusted_networks(s: &str) -> Result<Vec<IpNet>, ValueError> {
    value::parse_list(s)?
        .iter()
        .map(|item| {
            crate::config::socket::parse_network(item)
                .map_err(|p| ValueError::with_hint(p, "e.g. 10.0.0.0/8,192.168.1.10/32,::1/128"))
        })
        .collect::<Result<Vec<_>, _>>()
}
