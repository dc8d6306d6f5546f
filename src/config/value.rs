//! Parsers for the value syntaxes neo4j.conf uses, one function per syntax.
//!
//! Each parser takes the trimmed text of one value and returns either the typed value or a
//! [`ValueError`] that says what was expected; the caller adds the file, line and setting. They never
//! panic, whatever the input (the config fuzz target relies on that).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why one value could not be parsed: the problem, and optionally how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub problem: String,
    pub hint: Option<String>,
}

impl ValueError {
    pub fn new(problem: impl Into<String>) -> Self {
        ValueError {
            problem: problem.into(),
            hint: None,
        }
    }

    pub fn with_hint(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        ValueError {
            problem: problem.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// `true` or `false`, case-insensitive (Neo4j accepts exactly these two words).
pub fn parse_bool(s: &str) -> Result<bool, ValueError> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ValueError::with_hint(
            format!("`{s}` is not a boolean"),
            "use true or false",
        )),
    }
}

/// A duration as Neo4j writes it: `500ms`, `10s`, `5m`, `1h`, `1d`, or a bare number of seconds;
/// also `100us` (or `100µs`), for `boltgate.runtime.busy_polling_window`.
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    const HINT: &str = "use a whole number with a unit: us, ms, s, m, h or d, e.g. 500ms or 10s; a bare number is seconds";
    let bad = || ValueError::with_hint(format!("`{s}` is not a duration"), HINT);
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits_end == 0 {
        return Err(bad());
    }
    let n: u64 = s[..digits_end].parse().map_err(|_| bad())?;
    // Seconds per unit; `us` (or `µs`) and `ms` are handled apart, being under a second.
    let unit = s[digits_end..].trim();
    let secs_per_unit: u64 = match unit {
        "us" | "µs" => return Ok(Duration::from_micros(n)),
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(bad()),
    };
    n.checked_mul(secs_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| ValueError::new(format!("`{s}` is too long a duration")))
}

/// Formats a duration the way [`parse_duration`] reads it, with the largest exact unit.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return if d.subsec_nanos().is_multiple_of(1_000_000) {
            format!("{}ms", d.as_millis())
        } else {
            format!("{}us", d.as_micros())
        };
    }
    let s = d.as_secs();
    if s == 0 {
        return "0s".to_string();
    }
    // The largest unit that divides the duration exactly.
    for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s / secs * secs == s {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

/// A size in bytes: `512`, `64KiB`, `16MiB`, `1GiB`; also `k`, `m`, `g` (binary units, as Neo4j reads
/// them) and a `B` suffix. Units are case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    const HINT: &str = "use a number of bytes with an optional unit: KiB, MiB, GiB (or k, m, g), e.g. 64KiB or 16MiB";
    let bad = || ValueError::with_hint(format!("`{s}` is not a size"), HINT);
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits_end == 0 {
        return Err(bad());
    }
    let n: u64 = s[..digits_end].parse().map_err(|_| bad())?;
    let multiplier: u64 = match s[digits_end..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(multiplier)
        .ok_or_else(|| ValueError::new(format!("`{s}` is too large a size")))
}

/// A comma-separated list; items are trimmed. An empty value is an empty list; an empty item
/// (`a,,b` or a trailing comma) is an error, since it is almost always a typo.
pub fn parse_list(s: &str) -> Result<Vec<String>, ValueError> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<String> = s.split(',').map(|item| item.trim().to_string()).collect();
    if items.iter().any(String::is_empty) {
        return Err(ValueError::with_hint(
            format!("`{s}` has an empty item"),
            "separate items with single commas, e.g. TLSv1.2,TLSv1.3",
        ));
    }
    Ok(items)
}

/// A list separated by commas, whitespace or both: the manual writes `ciphers` and
/// `tls_versions` either way (`TLSv1.2 TLSv1.3`, `TLSv1.2,TLSv1.3`).
pub fn parse_words(s: &str) -> Result<Vec<String>, ValueError> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<String> = s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    if items.is_empty() || s.split(',').any(|item| item.trim().is_empty()) {
        return Err(ValueError::with_hint(
            format!("`{s}` has an empty item"),
            "separate items with commas or spaces, e.g. TLSv1.2,TLSv1.3",
        ));
    }
    Ok(items)
}

/// A listen address: `host:port`, `[ipv6]:port`, or `:port` for all interfaces (as in Neo4j).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddress {
    /// An IP literal (without brackets) or a host name.
    pub host: String,
    pub port: u16,
}

impl ListenAddress {
    /// The socket address, when the host is an IP literal (it is for `:port` and for the default).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The host used for `:port`: every IPv4 interface, as Neo4j's `0.0.0.0` default listen address.
pub const ALL_INTERFACES: &str = "0.0.0.0";

pub fn parse_listen_address(s: &str) -> Result<ListenAddress, ValueError> {
    const HINT: &str = "use host:port, [ipv6]:port, or :port for all interfaces";
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(ValueError::with_hint(
                format!("`{s}` has no closing `]`"),
                HINT,
            ));
        };
        let ip: Ipv6Addr = inside.parse().map_err(|_| {
            ValueError::with_hint(format!("`{inside}` is not an IPv6 address"), HINT)
        })?;
        let Some(port) = after.strip_prefix(':') else {
            return Err(ValueError::with_hint(format!("`{s}` has no port"), HINT));
        };
        (ip.to_string(), port)
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(ValueError::with_hint(format!("`{s}` has no port"), HINT));
        };
        if host.contains(':') {
            return Err(ValueError::with_hint(
                format!("`{s}`: an IPv6 address must be in brackets"),
                "e.g. [::1]:7687",
            ));
        }
        let host = if host.is_empty() {
            ALL_INTERFACES.to_string()
        } else {
            host.to_string()
        };
        if !is_host_name(&host) {
            return Err(ValueError::with_hint(
                format!("`{host}` is not a host name or IP address"),
                HINT,
            ));
        }
        (host, port)
    };
    Ok(ListenAddress {
        host,
        port: parse_port(port).map_err(|mut e| {
            e.hint = Some(HINT.to_string());
            e
        })?,
    })
}

/// A TCP port, 1..=65535 (port 0, "any free port", is refused: a proxy must be reachable at a known port).
pub fn parse_port(s: &str) -> Result<u16, ValueError> {
    match s.parse::<u16>() {
        Ok(0) => Err(ValueError::new("port 0 is not allowed")),
        Ok(port) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(ValueError::new(format!("`{s}` is not a port (1-65535)"))),
    }
}

/// Letters, digits, `-`, `_` and `.`: a DNS name or an IPv4 literal. Anything else (spaces, `/`, `@`)
/// is a typo that name resolution would only report later and less clearly.
pub fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Matches `s` case-insensitively against the variants' names; the error lists them.
pub fn parse_enum<T: Copy>(s: &str, variants: &[(&str, T)]) -> Result<T, ValueError> {
    variants
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = variants.iter().map(|(n, _)| *n).collect();
            ValueError::with_hint(
                format!("`{s}` is not allowed"),
                format!("use one of {}", names.join(", ")),
            )
        })
}

/// An `http://` URL: OCSP responders are plain HTTP (RFC 6960 A.1; the response is signed, and a
/// TLS responder would need its own revocation check).
/// `value` with the userinfo (`user:password@`) of every URL or `host:port` in it replaced by
/// `<redacted>`, for any message or listing that shows a URL-valued setting. An `@` anywhere in
/// an item hides everything before it (after `scheme://` or `role=`): a password may hold `/`,
/// `?` or `#`, so where the authority ends cannot be known.
pub fn redact_userinfo(value: &str) -> String {
    value
        .split(',')
        .map(|item| {
            let Some(at) = item.rfind('@') else {
                return item.to_string();
            };
            let start = item
                .find("://")
                .map(|i| i + 3)
                .or_else(|| item.find('=').map(|i| i + 1))
                .filter(|&i| i <= at)
                .unwrap_or_else(|| item.len() - item.trim_start().len());
            format!(
                "{}{}{}",
                &item[..start],
                super::ssl_policy::REDACTED,
                &item[at..]
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn parse_http_url(s: &str) -> Result<url::Url, ValueError> {
    let shown = redact_userinfo(s);
    let url = url::Url::parse(s.trim()).map_err(|e| {
        ValueError::with_hint(
            format!("`{shown}` is not a URL: {e}"),
            "e.g. http://ocsp.example.com:8080",
        )
    })?;
    if url.scheme() != "http" || url.host_str().is_none() {
        return Err(ValueError::with_hint(
            format!("`{shown}` is not an http:// URL with a host"),
            "OCSP is fetched over plain HTTP, e.g. http://ocsp.example.com",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_even_with_url_delimiters_in_the_password() {
        for (raw, shown) in [
            (
                "bolt://neo4j:secret@db:7687/x",
                "bolt://<redacted>@db:7687/x",
            ),
            (
                "bolt://neo4j:se/cr?et#x@db:7687",
                "bolt://<redacted>@db:7687",
            ),
            ("http://u:p@ss@ocsp:8080/", "http://<redacted>@ocsp:8080/"),
            (
                "writer=u:s/ecret@a:7687,reader=b:7687",
                "writer=<redacted>@a:7687,reader=b:7687",
            ),
            ("u:pw@h:1", "<redacted>@h:1"),
            ("bolt://db:7687", "bolt://db:7687"),
            ("no scheme", "no scheme"),
        ] {
            assert_eq!(redact_userinfo(raw), shown, "{raw}");
        }
        let e = parse_http_url("http://u:se cret@/x").unwrap_err();
        assert!(!e.problem.contains("se cret"), "{}", e.problem);
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool("FALSE"), Ok(false));
        assert!(parse_bool("yes").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("200us"), Ok(Duration::from_micros(200)));
        assert_eq!(parse_duration("200µs"), Ok(Duration::from_micros(200)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(
            parse_duration("30"),
            Ok(Duration::from_secs(30)),
            "bare number = seconds"
        );
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("10 s"), Ok(Duration::from_secs(10)));
        for bad in [
            "",
            "s",
            "1.5s",
            "-1s",
            "10x",
            "10S",
            "ten",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
        assert!(parse_duration("18446744073709551615d")
            .unwrap_err()
            .problem
            .contains("too long"));
    }

    #[test]
    fn durations_round_trip_through_format() {
        for s in [
            "500ms", "10s", "5m", "1h", "1d", "0s", "90s", "1500ms", "200us", "1500us",
        ] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64 * 1024));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_size("100B"), Ok(100));
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "-1",
            "16MB?",
            "16TiB",
            "99999999999999999999",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should fail");
        }
        assert!(parse_size("18446744073709551615GiB")
            .unwrap_err()
            .problem
            .contains("too large"));
    }

    #[test]
    fn words_separated_by_commas_spaces_or_both() {
        for text in [
            "TLSv1.2 TLSv1.3",
            "TLSv1.2,TLSv1.3",
            " TLSv1.2 ,  TLSv1.3 ",
            "TLSv1.2\tTLSv1.3",
        ] {
            assert_eq!(
                parse_words(text).unwrap(),
                ["TLSv1.2", "TLSv1.3"],
                "{text:?}"
            );
        }
        assert!(parse_words("").unwrap().is_empty());
        assert!(parse_words("TLSv1.2,,TLSv1.3").is_err());
        assert!(parse_words("TLSv1.2, ,TLSv1.3").is_err());
    }

    #[test]
    fn lists() {
        assert_eq!(
            parse_list("TLSv1.2, TLSv1.3"),
            Ok(vec!["TLSv1.2".into(), "TLSv1.3".into()])
        );
        assert_eq!(parse_list("one"), Ok(vec!["one".into()]));
        assert_eq!(parse_list(""), Ok(vec![]));
        assert!(parse_list("a,,b").is_err());
        assert!(parse_list("a,").is_err());
    }

    #[test]
    fn listen_addresses() {
        let a = parse_listen_address("127.0.0.1:7687").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 7687));
        assert_eq!(a.socket_addr(), Some("127.0.0.1:7687".parse().unwrap()));
        let a = parse_listen_address(":7687").unwrap();
        assert_eq!(a.host, ALL_INTERFACES);
        let a = parse_listen_address("[::1]:7687").unwrap();
        assert_eq!(a.host, "::1");
        assert_eq!(a.to_string(), "[::1]:7687");
        assert_eq!(a.socket_addr(), Some("[::1]:7687".parse().unwrap()));
        let a = parse_listen_address("localhost:7687").unwrap();
        assert_eq!(a.socket_addr(), None);
        assert_eq!(a.to_string(), "localhost:7687");
        for bad in [
            "",
            "7687",
            "::1:7687",
            "[::1]",
            "[::1:7687",
            "[nope]:1",
            "h:0",
            "h:65536",
            "h:",
            "a b:1",
            "h:+1",
        ] {
            assert!(parse_listen_address(bad).is_err(), "{bad:?} should fail");
        }
        assert!(parse_listen_address("::1:7687")
            .unwrap_err()
            .problem
            .contains("brackets"));
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Level {
        Disabled,
        Required,
    }

    #[test]
    fn enums_are_case_insensitive_and_list_choices() {
        let v = [("DISABLED", Level::Disabled), ("REQUIRED", Level::Required)];
        assert_eq!(parse_enum("required", &v), Ok(Level::Required));
        assert_eq!(parse_enum("Disabled", &v), Ok(Level::Disabled));
        let e = parse_enum("REQUIRE", &v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`REQUIRE` is not allowed (use one of DISABLED, REQUIRED)"
        );
    }
}
