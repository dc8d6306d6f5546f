//! Who may ask the admin endpoint what: the `Host` and `Origin` checks every request passes,
//! and the credentials `POST /reload` needs.
//!
//! Why: a web page the operator's browser opens can make it send requests to a loopback admin
//! endpoint; with DNS rebinding it can even read the answers (the page's own name resolves to
//! 127.0.0.1 later). Such requests carry the page's name in `Host` and its origin in `Origin`,
//! so both are checked. A state-changing request needs more than reachability: a client
//! certificate the https policy trusts, or a bearer token read from a file (never from the
//! configuration text, which `/config` shows and people paste into tickets).

use std::net::IpAddr;
use std::path::Path;

use hyper::header::{AUTHORIZATION, HOST, ORIGIN};
use hyper::{Method, Request, StatusCode};

use crate::config::Config;
use crate::Error;

/// The checks of one admin endpoint, built once at start.
#[derive(Debug, Default)]
pub struct Guard {
    /// Lower-case host names (no port) accepted in `Host` and `Origin` besides loopback names
    /// and IP literals.
    hosts: Vec<String>,
    /// `boltgate.admin.token_file`'s contents, trimmed.
    token: Option<String>,
}

/// Whether `host` (a listen address host, `Host` header host) only reaches this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.to_ascii_lowercase().ends_with(".localhost")
        || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of a `Host` header value or an origin's authority: without port and brackets,
/// lower-case.
fn host_of(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        a.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(a, |(h, _)| h)
    };
    host.to_ascii_lowercase()
}

fn read_token(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Setup(format!(
            "boltgate.admin.token_file: cannot read {}: {e} (create it with the token on one line, \
             readable by boltgate's user only)",
            path.display()
        ))
    })?;
    let token = text.trim().to_string();
    if token.len() < 16 || token.chars().any(char::is_whitespace) {
        return Err(Error::Setup(format!(
            "boltgate.admin.token_file: {} must hold one token of at least 16 characters without \
             spaces (e.g. from `openssl rand -hex 32`)",
            path.display()
        )));
    }
    Ok(token)
}

/// Equal without telling, by its timing, how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Guard {
    pub fn from_config(config: &Config) -> Result<Guard, Error> {
        let mut hosts = config.hardening.admin_allowed_hosts.clone();
        for listen in [&config.admin.http, &config.admin.https] {
            if listen.enabled && !listen.listen_address.host.is_empty() {
                hosts.push(host_of(&format!("[{}]", listen.listen_address.host)));
            }
        }
        let token = match &config.hardening.admin_token_file {
            Some(path) => Some(read_token(&config.neo4j_home.join(path))?),
            None => None,
        };
        Ok(Guard { hosts, token })
    }

    fn host_allowed(&self, host: &str) -> bool {
        !host.is_empty()
            && (is_loopback_host(host)
                || host.parse::<IpAddr>().is_ok()
                || self.hosts.iter().any(|h| h == host))
    }

    /// Ok, or the status and reason to refuse `req` with. `client_cert`: the connection came
    /// with a client certificate the https policy trusts.
    pub fn check<B>(
        &self,
        req: &Request<B>,
        client_cert: bool,
    ) -> Result<(), (StatusCode, String)> {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        // HTTP/1.1 requires Host; a request without one comes from no browser.
        if let Some(host) = header(HOST) {
            let host = host_of(host);
            if !self.host_allowed(&host) {
                return Err((
                    StatusCode::FORBIDDEN,
                    format!(
                        "Host `{host}` is not a name of this endpoint (add it to \
                         boltgate.admin.allowed_hosts)"
                    ),
                ));
            }
        }
        if let Some(origin) = header(ORIGIN) {
            let host = origin
                .split_once("://")
                .map(|(_, rest)| host_of(rest.split('/').next().unwrap_or("")))
                .unwrap_or_default();
            if !self.host_allowed(&host) {
                return Err((
                    StatusCode::FORBIDDEN,
                    format!("cross-origin requests (Origin `{origin}`) are refused"),
                ));
            }
        }
        if req.method() != Method::POST || client_cert {
            return Ok(());
        }
        let Some(token) = &self.token else {
            return Err((
                StatusCode::FORBIDDEN,
                "POST needs a client certificate (server.https with dbms.ssl.policy.https) or a \
                 bearer token (boltgate.admin.token_file); neither was presented"
                    .into(),
            ));
        };
        let offered = header(AUTHORIZATION)
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match offered {
            Some(t) if same(t.as_bytes(), token.as_bytes()) => Ok(()),
            _ => Err((
                StatusCode::UNAUTHORIZED,
                "POST needs `Authorization: Bearer <the token in boltgate.admin.token_file>` or a \
                 client certificate"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri("/reload");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn hosts_and_origins() {
        let g = Guard {
            hosts: vec!["admin.example.com".into()],
            token: None,
        };
        for host in [
            "localhost:7474",
            "127.0.0.1:1",
            "[::1]:80",
            "10.1.2.3",
            "ADMIN.example.com:9",
        ] {
            assert!(
                g.check(&req(Method::GET, &[("host", host)]), false).is_ok(),
                "{host}"
            );
        }
        for host in ["evil.example:7474", "localhost.evil.example", ""] {
            assert!(
                g.check(&req(Method::GET, &[("host", host)]), false)
                    .is_err(),
                "{host}"
            );
        }
        let cross = [("host", "localhost"), ("origin", "http://evil.example")];
        assert_eq!(
            g.check(&req(Method::GET, &cross), false).unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        let same_origin = [("host", "localhost:1"), ("origin", "http://localhost:1")];
        assert!(g.check(&req(Method::GET, &same_origin), false).is_ok());
        assert!(g
            .check(&req(Method::GET, &[("origin", "null")]), false)
            .is_err());
    }

    #[test]
    fn post_needs_a_certificate_or_the_token() {
        let none = Guard::default();
        assert!(none.check(&req(Method::POST, &[]), false).is_err());
        assert!(none.check(&req(Method::POST, &[]), true).is_ok());
        let g = Guard {
            hosts: vec![],
            token: Some("0123456789abcdef".into()),
        };
        assert_eq!(
            g.check(&req(Method::POST, &[]), false).unwrap_err().0,
            StatusCode::UNAUTHORIZED
        );
        let wrong = [("authorization", "Bearer 0123456789abcdeX")];
        assert!(g.check(&req(Method::POST, &wrong), false).is_err());
        let right = [("authorization", "Bearer 0123456789abcdef")];
        assert!(g.check(&req(Method::POST, &right), false).is_ok());
        assert!(g.check(&req(Method::GET, &[]), false).is_ok());
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["0.0.0.0", "", "10.0.0.1", "::", "example.com"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
