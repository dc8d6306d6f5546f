//! The admin endpoint as a scraper sees it: plain HTTP/1.1 requests and Prometheus text parsed
//! with a real parser (`prometheus-parse`), so a test reads metrics the way Prometheus would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GET or POST over plain HTTP/1.1 (Connection: close); the status code and body.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    exchange(&mut s, method, path).expect("HTTP exchange")
}

/// As [`http`], with extra request headers (a `Host` among them replaces `localhost`).
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    exchange_with(&mut s, method, path, headers).expect("HTTP exchange")
}

/// One request over any stream (plain or TLS); the status code and body.
pub fn exchange(
    s: &mut (impl Read + Write),
    method: &str,
    path: &str,
) -> std::io::Result<(u16, String)> {
    exchange_with(s, method, path, &[])
}

/// [`exchange`] with extra request headers.
pub fn exchange_with(
    s: &mut (impl Read + Write),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str("Host: localhost\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}Content-Length: 0\r\nConnection: close\r\n\r\n")?;
    s.flush()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// GET /metrics, parsed; panics unless it answers 200 with valid Prometheus text.
pub fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, body) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("the metrics parse as Prometheus text")
}

/// The samples of `metric` whose labels include `labels`.
pub fn samples<'a>(
    s: &'a prometheus_parse::Scrape,
    metric: &'a str,
    labels: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = &'a prometheus_parse::Sample> + 'a {
    s.samples
        .iter()
        .filter(move |x| x.metric == metric)
        .filter(move |x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
}

/// The sum of the samples of `metric` whose labels include `labels` (0 when there are none).
pub fn value(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value as V;
    samples(s, metric, labels)
        .map(|x| match x.value {
            V::Counter(v) | V::Gauge(v) | V::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}
