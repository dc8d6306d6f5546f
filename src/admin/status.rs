//! `boltgate status`: reads the admin endpoint named by the configuration (`/health`, `/ready`,
//! `/metrics`) and prints a one-screen summary.
//!
//! Over HTTPS (`server.https.enabled`, preferred when both are on) it verifies the endpoint's
//! certificate against the https policy's `trusted_dir` (and its name against the host it
//! connects to), and presents `--client-cert`/`--client-key` when given, as the policy's
//! `client_auth=REQUIRE` needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Config, ListenAddress};

/// Exit codes: ready, reachable but not ready, not reachable (or no endpoint configured).
pub const EXIT_READY: u8 = 0;
pub const EXIT_NOT_READY: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 2;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to reach the endpoint.
pub struct Endpoint {
    pub url: String,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Whether `--client-cert` was given, for the hint when the endpoint wants one.
    client_cert: bool,
}

impl Endpoint {
    /// The endpoint the configuration enables (https first); an unspecified listen address
    /// (`0.0.0.0`, `::`) is reached on loopback.
    pub fn from_config(
        config: &Config,
        client_cert: Option<(&Path, &Path)>,
    ) -> Result<Endpoint, String> {
        let a = &config.admin;
        let (scheme, addr, tls) = if a.https.enabled {
            let client = tls_client(config, client_cert)?;
            ("https", &a.https.listen_address, Some(client))
        } else if a.http.enabled {
            ("http", &a.http.listen_address, None)
        } else {
            return Err(
                "no admin endpoint is enabled: set server.http.enabled=true (or \
                 server.https.enabled=true) in the configuration boltgate runs with"
                    .into(),
            );
        };
        let host = reachable_host(addr);
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(Endpoint {
            url: format!("{scheme}://{shown}:{}", addr.port),
            host,
            port: addr.port,
            tls,
            client_cert: client_cert.is_some(),
        })
    }

    /// GET `path`: the status and body.
    pub async fn get(&self, path: &str) -> Result<(StatusCode, String), String> {
        tokio::time::timeout(TIMEOUT, self.get_inner(path))
            .await
            .map_err(|_| format!("{}{path}: no answer within {TIMEOUT:?}", self.url))?
            .map_err(|e| self.with_hint(e))
    }

    /// With TLS 1.3 a server that wants a client certificate refuses it after the handshake,
    /// so the failure surfaces as an alert in the request; say which flags are missing.
    fn with_hint(&self, e: String) -> String {
        let refused = ["CertificateRequired", "HandshakeFailure", "BadCertificate"]
            .iter()
            .any(|alert| e.contains(alert));
        if self.tls.is_some() && !self.client_cert && refused {
            format!(
                "{e}\nThe endpoint wants a client certificate (dbms.ssl.policy.https.client_auth): \
                 pass --client-cert FILE --client-key FILE (a certificate its trusted_dir accepts)"
            )
        } else {
            e
        }
    }

    async fn get_inner(&self, path: &str) -> Result<(StatusCode, String), String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.url))?;
        match &self.tls {
            None => self.request(tcp, path).await,
            Some(config) => {
                let name = match self.host.parse::<IpAddr>() {
                    Ok(ip) => ServerName::IpAddress(ip.into()),
                    Err(_) => ServerName::try_from(self.host.clone())
                        .map_err(|e| format!("`{}` is not a TLS server name: {e}", self.host))?,
                };
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {} failed: {e}", self.url))?;
                self.request(tls, path).await
            }
        }
    }

    async fn request<S>(&self, stream: S, path: &str) -> Result<(StatusCode, String), String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // With its causes: hyper's own text ("connection error") hides the TLS alert.
        let err = |e: hyper::Error| format!("{}{path}: {}", self.url, crate::error::chain(&e));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(err)?;
        let conn = tokio::spawn(conn);
        let req = Request::get(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let res = sender.send_request(req).await.map_err(err)?;
        let status = res.status();
        let body = res.into_body().collect().await.map_err(err)?.to_bytes();
        conn.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Trusts the https policy's `trusted_dir`; presents the client certificate when given.
fn tls_client(
    config: &Config,
    client_cert: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use crate::tls::{pem, trust};
    let policy = &config.ssl.https;
    let trusted = trust::load_trusted_dir(
        "dbms.ssl.policy.https.trusted_dir",
        &policy.trusted_dir,
        &Default::default(),
        &mut Vec::new(),
    )
    .map_err(|e| e.to_string())?;
    let builder = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(trusted.store.clone());
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = pem::load_certificates("--client-cert", cert).map_err(|e| e.to_string())?;
            let (key, _) =
                pem::load_private_key("--client-key", "--client-key", key, None, &mut Vec::new())
                    .map_err(|e| e.to_string())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("--client-cert and --client-key: {e}"))?
        }
    };
    Ok(Arc::new(config))
}

fn reachable_host(addr: &ListenAddress) -> String {
    match addr.host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() && ip.is_ipv6() => "::1".into(),
        Ok(ip) if ip.is_unspecified() => "127.0.0.1".into(),
        _ => addr.host.clone(),
    }
}

/// `boltgate status`: prints the summary, returns the exit code.
pub fn run(config: &Config, client_cert: Option<(&Path, &Path)>) -> u8 {
    let endpoint = match Endpoint::from_config(config, client_cert) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("boltgate status: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("boltgate status: cannot start the async runtime: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    runtime.block_on(async {
        let ready = endpoint.get("/ready").await;
        let metrics = endpoint.get("/metrics").await;
        match (ready, metrics) {
            (Ok(ready), Ok((_, metrics))) => {
                print!("{}", summary(&endpoint.url, &ready, &metrics));
                if ready.0 == StatusCode::OK {
                    EXIT_READY
                } else {
                    EXIT_NOT_READY
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("boltgate status: {e}");
                EXIT_UNREACHABLE
            }
        }
    })
}

/// One sample of the exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Reads the samples of an OpenMetrics / Prometheus text exposition (comments skipped; a line
/// that does not parse is skipped, since this only feeds a summary).
pub fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(mut r) = rest.strip_prefix('{') {
        loop {
            r = r.trim_start_matches(',');
            if let Some(after) = r.strip_prefix('}') {
                break after;
            }
            let (key, after) = r.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.insert(key.to_string(), value);
            r = &after[end + 1..];
        }
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The summary screen from `/ready`'s answer and `/metrics`' text: one line (or one per member,
/// per certificate) for each part an operator checks, in the order they check them.
pub fn summary(url: &str, ready: &(StatusCode, String), metrics: &str) -> String {
    let samples = Samples(parse_samples(metrics));
    let mut out = String::new();
    write_header(&mut out, url, ready, &samples);
    write_clients(&mut out, &samples);
    write_traffic(&mut out, &samples);
    write_upstreams(&mut out, &samples);
    write_tls(&mut out, &samples);
    out
}

/// The parsed scrape, with the two ways the summary reads it.
struct Samples(Vec<Sample>);

impl Samples {
    /// The total of `name`'s samples that `filter` keeps.
    fn sum(&self, name: &str, filter: &dyn Fn(&Sample) -> bool) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name && filter(s))
            .map(|s| s.value)
            .sum()
    }

    /// `name`'s samples added up per value of `label` (missing label: "").
    fn by(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in self.0.iter().filter(|s| s.name == name) {
            let k = s.labels.get(label).cloned().unwrap_or_default();
            *out.entry(k).or_insert(0.0) += s.value;
        }
        out
    }
}

fn all(_: &Sample) -> bool {
    true
}

/// "k1 n1, k2 n2", or "none".
fn list(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {}", *v as u64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which boltgate, where, for how long, and whether it is ready (with `/ready`'s reasons when not).
fn write_header(out: &mut String, url: &str, ready: &(StatusCode, String), samples: &Samples) {
    let version = samples
        .0
        .iter()
        .find(|s| s.name == "boltgate_build_info")
        .and_then(|s| s.labels.get("version").cloned())
        .unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "boltgate {version} at {url}, up {}",
        human_duration(samples.sum("boltgate_uptime_seconds", &all))
    );
    let ready_line = if ready.0 == StatusCode::OK {
        "yes".to_string()
    } else {
        format!(
            "NO ({}) {}",
            ready.0.as_u16(),
            ready.1.trim().replace('\n', "\n              ")
        )
    };
    let _ = writeln!(out, "ready:        {ready_line}");
}

fn write_clients(out: &mut String, samples: &Samples) {
    let _ = writeln!(
        out,
        "connections:  {} open, {} accepted; refused: {}",
        samples.sum("boltgate_client_connections_open", &all) as u64,
        samples.sum("boltgate_client_connections_accepted_total", &all) as u64,
        list(&samples.by("boltgate_client_connections_refused_total", "reason"))
    );
    let _ = writeln!(
        out,
        "bolt:         sessions by version: {}",
        list(&samples.by("boltgate_bolt_sessions_total", "version"))
    );
}

fn write_traffic(out: &mut String, samples: &Samples) {
    let dir = |d: &'static str| {
        move |s: &Sample| s.labels.get("direction").map(String::as_str) == Some(d)
    };
    let _ = writeln!(
        out,
        "traffic:      client→upstream {} msgs, {}; upstream→client {} msgs, {}",
        samples.sum("boltgate_bolt_messages_total", &dir("client_to_upstream")) as u64,
        human_bytes(samples.sum(
            "boltgate_bolt_message_bytes_total",
            &dir("client_to_upstream")
        )),
        samples.sum("boltgate_bolt_messages_total", &dir("upstream_to_client")) as u64,
        human_bytes(samples.sum(
            "boltgate_bolt_message_bytes_total",
            &dir("upstream_to_client")
        )),
    );
    let _ = writeln!(
        out,
        "work:         queries {}; transactions {}",
        list(&samples.by("boltgate_queries_total", "mode")),
        list(&samples.by("boltgate_transactions_total", "mode"))
    );
}

/// One line per upstream member: up or down, connects with their average time, failures.
fn write_upstreams(out: &mut String, samples: &Samples) {
    let members = samples.by("boltgate_upstream_up", "member");
    if members.is_empty() {
        let _ = writeln!(out, "upstream:     no member known yet");
    }
    for (member, up) in &members {
        let of = |s: &Sample| s.labels.get("member") == Some(member);
        let n = samples.sum("boltgate_upstream_connect_seconds_count", &of);
        let total = samples.sum("boltgate_upstream_connect_seconds_sum", &of);
        let avg = if n > 0.0 {
            format!(", avg connect {:.1} ms", total / n * 1000.0)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "upstream:     {member} {} ({} connects{avg}, {} failed)",
            if *up > 0.0 { "up" } else { "DOWN" },
            n as u64,
            samples.sum("boltgate_upstream_connect_failures_total", &of) as u64,
        );
    }
}

/// Handshakes and their failures, each certificate's time left (flagged within 14 days), and
/// reloads; lines with nothing to say are left out.
fn write_tls(out: &mut String, samples: &Samples) {
    let handshakes = samples.by("boltgate_tls_handshakes_total", "scope");
    let failures = samples.by("boltgate_tls_handshake_failures_total", "reason");
    if !handshakes.is_empty() || !failures.is_empty() {
        let _ = writeln!(
            out,
            "tls:          handshakes {}; failed: {}",
            list(&handshakes),
            list(&failures)
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    for s in samples
        .0
        .iter()
        .filter(|s| s.name == "boltgate_certificate_expiry_timestamp_seconds")
    {
        let left = s.value - now;
        let _ = writeln!(
            out,
            "certificate:  {} expires in {}{}",
            s.labels.get("scope").map_or("?", String::as_str),
            human_duration(left.max(0.0)),
            if left < 0.0 {
                " (EXPIRED)"
            } else if left < 14.0 * 86400.0 {
                " (soon)"
            } else {
                ""
            }
        );
    }
    let reloads = samples.by("boltgate_reloads_total", "result");
    if !reloads.is_empty() {
        let _ = writeln!(out, "reloads:      {}", list(&reloads));
    }
}

fn human_duration(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{} B", b as u64)
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_with_escaped_labels() {
        let text = "# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"uote\"} 3\nup 1\n# EOF\n";
        let s = parse_samples(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(s[0].labels["b"], "q\"uote");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].name, "up");
    }

    #[test]
    fn summary_of_real_metrics() {
        let m = super::super::Metrics::new();
        let _c = m.connection_accepted();
        m.upstream_connected("127.0.0.1:7688", Duration::from_millis(2));
        m.session("127.0.0.1:7688").to_client(2, 2048);
        let text = summary(
            "http://127.0.0.1:7474",
            &(StatusCode::OK, "ready\n".into()),
            &m.render(true),
        );
        assert!(text.contains("ready:        yes"), "{text}");
        assert!(text.contains("1 open, 1 accepted"), "{text}");
        assert!(text.contains("upstream→client 2 msgs, 2.0 KiB"), "{text}");
        assert!(text.contains("127.0.0.1:7688 up (1 connects"), "{text}");
        assert!(text.lines().count() <= 24, "{text}");
    }
}
