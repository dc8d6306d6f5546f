//! The upstream URI, read the way the official Neo4j drivers read it.
//!
//! Six schemes: `bolt` (one server) and `neo4j` (routing), each plain, `+s` (TLS, system roots,
//! hostname checked) or `+ssc` (TLS, any certificate). The port defaults to 7687. A `neo4j` URI may
//! carry a routing context as its query string; the same rules as the drivers apply (no duplicate
//! keys, no empty values, no `address` key). Anything a driver would refuse (user:password in the
//! URI, a path, a query on `bolt`) is refused here too, with a message saying why.
//!
//! Hand-written rather than via the `url` crate: these URIs are tiny, and a hand-written parser can
//! name the exact problem (a driver-style message) instead of a generic "invalid URL".

use std::fmt;
use std::net::Ipv6Addr;

use thiserror::Error;

/// The port a URI without one means (Bolt's registered port).
pub const DEFAULT_PORT: u16 = 7687;

/// A URI scheme boltgate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Bolt,
    BoltS,
    BoltSsc,
    Neo4j,
    Neo4jS,
    Neo4jSsc,
}

impl Scheme {
    pub const ALL: [Scheme; 6] = [
        Scheme::Bolt,
        Scheme::BoltS,
        Scheme::BoltSsc,
        Scheme::Neo4j,
        Scheme::Neo4jS,
        Scheme::Neo4jSsc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bolt => "bolt",
            Scheme::BoltS => "bolt+s",
            Scheme::BoltSsc => "bolt+ssc",
            Scheme::Neo4j => "neo4j",
            Scheme::Neo4jS => "neo4j+s",
            Scheme::Neo4jSsc => "neo4j+ssc",
        }
    }

    /// Whether this is a `neo4j` (routing) scheme.
    pub fn routing(self) -> bool {
        matches!(self, Scheme::Neo4j | Scheme::Neo4jS | Scheme::Neo4jSsc)
    }

    pub fn tls(self) -> TlsMode {
        match self {
            Scheme::Bolt | Scheme::Neo4j => TlsMode::Plain,
            Scheme::BoltS | Scheme::Neo4jS => TlsMode::Verified,
            Scheme::BoltSsc | Scheme::Neo4jSsc => TlsMode::SelfSigned,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the connection to the upstream server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// No TLS (`bolt`, `neo4j`).
    Plain,
    /// TLS, the chain verified against the system roots and the host name checked (`+s`).
    Verified,
    /// TLS accepting any certificate, for self-signed servers (`+ssc`): encrypted, not authenticated.
    SelfSigned,
}

/// A parsed upstream URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    /// A host name or IP literal; IPv6 without brackets.
    pub host: String,
    pub port: u16,
    /// True for `neo4j` schemes.
    pub routing: bool,
    pub tls: TlsMode,
    /// The query string of a `neo4j` URI, decoded, in order; always empty for `bolt`.
    pub routing_context: Vec<(String, String)>,
}

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UriError {
    #[error("expected scheme://host[:port], e.g. bolt://localhost:7687")]
    NoScheme,
    #[error("`bolt+routing` was renamed to `neo4j`; use neo4j://")]
    BoltRouting,
    #[error("unknown scheme `{0}` (known: bolt, bolt+s, bolt+ssc, neo4j, neo4j+s, neo4j+ssc)")]
    UnknownScheme(String),
    #[error("credentials in the URI are not allowed; clients send their own with HELLO/LOGON")]
    UserInfo,
    #[error("the host is empty")]
    EmptyHost,
    #[error("`{0}` is not a valid host name")]
    BadHost(String),
    #[error("`{0}` is not an IPv6 address")]
    BadIpv6(String),
    #[error("an IPv6 address must be in brackets, e.g. bolt://[::1]:7687")]
    UnbracketedIpv6,
    #[error("`{0}` is not a port (1-65535)")]
    BadPort(String),
    #[error("port 0 is not allowed")]
    PortZero,
    #[error("a path (`{0}`) is not supported")]
    Path(String),
    #[error("a fragment (`#{0}`) is not supported")]
    Fragment(String),
    #[error("a query string (routing context) is only allowed with neo4j:// schemes, not {0}://")]
    QueryOnBolt(Scheme),
    #[error("routing context `{0}` is not key=value")]
    ContextNotPair(String),
    #[error("routing context key `{0}` appears more than once")]
    ContextDuplicate(String),
    #[error("routing context key `{0}` has an empty value")]
    ContextEmptyValue(String),
    #[error("routing context key `address` is reserved: the driver sets it")]
    ContextAddress,
    #[error("`{0}` has a bad percent-encoding")]
    PercentEncoding(String),
}

impl Target {
    /// Parses an upstream URI (surrounding whitespace ignored).
    pub fn parse(uri: &str) -> Result<Target, UriError> {
        let uri = uri.trim();
        let (scheme, rest) = uri.split_once("://").ok_or(UriError::NoScheme)?;
        let scheme = parse_scheme(scheme)?;
        // Checked before splitting off path, query and fragment: a password may hold `/`, `?`
        // or `#`, and a later error quoting "the path" would then print part of it.
        if rest.contains('@') {
            return Err(UriError::UserInfo);
        }
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(UriError::UserInfo);
        }
        let (host, port) = parse_authority(authority)?;
        // A lone `/` is an empty path (`bolt://host:7687/`), which drivers accept.
        if !path.is_empty() && path != "/" {
            return Err(UriError::Path(path.to_string()));
        }
        if let Some(fragment) = fragment {
            return Err(UriError::Fragment(fragment.to_string()));
        }
        let routing_context = match query {
            Some(_) if !scheme.routing() => return Err(UriError::QueryOnBolt(scheme)),
            Some(query) => parse_routing_context(query)?,
            None => Vec::new(),
        };
        Ok(Target {
            scheme,
            host,
            port,
            routing: scheme.routing(),
            tls: scheme.tls(),
            routing_context,
        })
    }

    /// `host:port` to dial, IPv6 in brackets.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The name for SNI and certificate verification: the host as written (an IP literal for an
    /// address, which rustls verifies against the certificate's IP SANs).
    pub fn server_name(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for Target {
    /// The canonical URI: scheme, address, and the routing context re-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.address())?;
        for (i, (k, v)) in self.routing_context.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{}={}", percent_encode(k), percent_encode(v))?;
        }
        Ok(())
    }
}

fn parse_scheme(s: &str) -> Result<Scheme, UriError> {
    let lower = s.to_ascii_lowercase();
    if lower == "bolt+routing" {
        return Err(UriError::BoltRouting);
    }
    Scheme::ALL
        .into_iter()
        .find(|sc| sc.as_str() == lower)
        .ok_or_else(|| UriError::UnknownScheme(s.to_string()))
}

fn parse_authority(authority: &str) -> Result<(String, u16), UriError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| UriError::BadIpv6(authority.to_string()))?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| UriError::BadIpv6(inside.to_string()))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| UriError::BadPort(after.to_string()))?,
            ),
        };
        (ip.to_string(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err(UriError::UnbracketedIpv6);
        }
        if host.is_empty() {
            return Err(UriError::EmptyHost);
        }
        if !crate::config::value::is_host_name(host) {
            return Err(UriError::BadHost(host.to_string()));
        }
        (host.to_string(), port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(UriError::BadPort(p.to_string()))
        }
        Some(p) => match p.parse::<u16>() {
            Ok(0) => return Err(UriError::PortZero),
            Ok(port) => port,
            Err(_) => return Err(UriError::BadPort(p.to_string())),
        },
    };
    Ok((host, port))
}

fn parse_routing_context(query: &str) -> Result<Vec<(String, String)>, UriError> {
    let mut context: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| UriError::ContextNotPair(pair.to_string()))?;
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        if k.is_empty() {
            return Err(UriError::ContextNotPair(pair.to_string()));
        }
        if k == "address" {
            return Err(UriError::ContextAddress);
        }
        if v.is_empty() {
            return Err(UriError::ContextEmptyValue(k));
        }
        if context.iter().any(|(existing, _)| *existing == k) {
            return Err(UriError::ContextDuplicate(k));
        }
        context.push((k, v));
    }
    Ok(context)
}

/// `%XX` decoding (and `+` as space, as in form-encoded query strings); the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, UriError> {
    let bad = || UriError::PercentEncoding(s.to_string());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(uri: &str) -> Target {
        Target::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    fn err(uri: &str) -> UriError {
        Target::parse(uri).expect_err(uri)
    }

    #[test]
    fn the_six_schemes() {
        let cases = [
            ("bolt://h", Scheme::Bolt, false, TlsMode::Plain),
            ("bolt+s://h", Scheme::BoltS, false, TlsMode::Verified),
            ("bolt+ssc://h", Scheme::BoltSsc, false, TlsMode::SelfSigned),
            ("neo4j://h", Scheme::Neo4j, true, TlsMode::Plain),
            ("neo4j+s://h", Scheme::Neo4jS, true, TlsMode::Verified),
            ("NEO4J+SSC://h", Scheme::Neo4jSsc, true, TlsMode::SelfSigned),
        ];
        for (uri, scheme, routing, tls) in cases {
            let t = ok(uri);
            assert_eq!(
                (t.scheme, t.routing, t.tls, t.port),
                (scheme, routing, tls, DEFAULT_PORT),
                "{uri}"
            );
        }
    }

    #[test]
    fn hosts_ports_and_addresses() {
        let t = ok("bolt://db.example.com:7688");
        assert_eq!((t.host.as_str(), t.port), ("db.example.com", 7688));
        assert_eq!(t.address(), "db.example.com:7688");
        assert_eq!(t.server_name(), "db.example.com");
        let t = ok("bolt+s://[::1]:7690/");
        assert_eq!(t.host, "::1");
        assert_eq!(t.address(), "[::1]:7690");
        assert_eq!(t.server_name(), "::1");
        assert_eq!(ok("bolt://[::1]").port, DEFAULT_PORT);
        assert_eq!(ok(" bolt://127.0.0.1:1 ").address(), "127.0.0.1:1");
    }

    #[test]
    fn routing_context() {
        let t = ok("neo4j://h:7687?policy=europe&region=eu%2Dwest+1");
        assert_eq!(
            t.routing_context,
            [
                ("policy".to_string(), "europe".to_string()),
                ("region".to_string(), "eu-west 1".to_string())
            ]
        );
        assert_eq!(
            t.to_string(),
            "neo4j://h:7687?policy=europe&region=eu-west%201"
        );
        assert_eq!(
            err("neo4j://h?a=1&a=2"),
            UriError::ContextDuplicate("a".into())
        );
        assert_eq!(err("neo4j://h?a="), UriError::ContextEmptyValue("a".into()));
        assert_eq!(err("neo4j://h?address=x:1"), UriError::ContextAddress);
        assert_eq!(
            err("neo4j://h?flag"),
            UriError::ContextNotPair("flag".into())
        );
        assert_eq!(
            err("neo4j://h?a=%zz"),
            UriError::PercentEncoding("%zz".into())
        );
        assert_eq!(
            err("neo4j://h?a=%e2%28"),
            UriError::PercentEncoding("%e2%28".into())
        );
        assert!(ok("neo4j://h?").routing_context.is_empty());
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(err("localhost:7687"), UriError::NoScheme);
        assert_eq!(err("bolt+routing://h"), UriError::BoltRouting);
        assert!(err("bolt+routing://h")
            .to_string()
            .contains("renamed to `neo4j`"));
        let unknown = err("http://h:7474").to_string();
        assert!(
            unknown.contains("unknown scheme `http`") && unknown.contains("neo4j+ssc"),
            "{unknown}"
        );
        assert_eq!(
            err("bolt://h?region=eu"),
            UriError::QueryOnBolt(Scheme::Bolt)
        );
        assert_eq!(err("bolt://h/db"), UriError::Path("/db".into()));
        assert_eq!(err("bolt://h#x"), UriError::Fragment("x".into()));
        assert_eq!(err("bolt://neo4j:secret@h"), UriError::UserInfo);
        for password in ["se/cret", "se?cret", "se#cret"] {
            assert_eq!(
                err(&format!("bolt://neo4j:{password}@h")),
                UriError::UserInfo
            );
        }
        assert_eq!(err("bolt://"), UriError::EmptyHost);
        assert_eq!(err("bolt://:7687"), UriError::EmptyHost);
        assert_eq!(err("bolt://h:0"), UriError::PortZero);
        assert_eq!(err("bolt://h:65536"), UriError::BadPort("65536".into()));
        assert_eq!(err("bolt://h:"), UriError::BadPort("".into()));
        assert_eq!(err("bolt://h:+1"), UriError::BadPort("+1".into()));
        assert_eq!(err("bolt://::1:7687"), UriError::UnbracketedIpv6);
        assert_eq!(err("bolt://[::g]:1"), UriError::BadIpv6("::g".into()));
        assert_eq!(err("bolt://[::1]x"), UriError::BadPort("x".into()));
        assert_eq!(err("bolt://ho st"), UriError::BadHost("ho st".into()));
    }
}
