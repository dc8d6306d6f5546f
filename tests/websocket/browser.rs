//! A real browser: Debian's headless Chromium loads a page (tests/browser/index.html) that uses
//! the JavaScript driver's browser build (npm neo4j-driver) to query FalkorDB through boltgate
//! over ws:// and wss://; Playwright (tests/browser/run.mjs) reads each page's result.
//!
//! Needs `tests/browser/setup.sh` (chromium, chromium-driver, the npm packages). Without them
//! the test says so and passes, except under CI (`CI` set), where it fails: there the setup
//! must have run.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::harness::{FalkorDb, Gateway, Pki};

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let dir = browser_dir();
    let need = [
        PathBuf::from(CHROMIUM),
        dir.join("node_modules/neo4j-driver/lib/browser/neo4j-web.min.js"),
        dir.join("node_modules/playwright-core/package.json"),
    ];
    let absent: Vec<String> = need
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    (!absent.is_empty()).then(|| absent.join(", "))
}

/// Serves the page and the driver's browser build on a loopback port, for as long as the
/// test's runtime lives.
async fn serve_page() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = browser_dir();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let dir = dir.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match tcp.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/");
                let (file, kind) = match path {
                    "/" | "/index.html" => (dir.join("index.html"), "text/html"),
                    "/neo4j-web.min.js" => (
                        dir.join("node_modules/neo4j-driver/lib/browser/neo4j-web.min.js"),
                        "text/javascript",
                    ),
                    _ => (PathBuf::new(), ""),
                };
                let response = match std::fs::read(&file) {
                    Ok(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend(body);
                        r
                    }
                    Err(_) => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = tcp.write_all(&response).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    port
}

/// Runs tests/browser/run.mjs on `urls`; each page's result, in order.
async fn run_pages(cert: &Path, urls: &[String]) -> Vec<serde_json::Value> {
    let mut child = tokio::process::Command::new("node")
        .arg(browser_dir().join("run.mjs"))
        .arg(cert)
        .args(urls)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let done = async {
        let _ = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        child.wait().await
    };
    // Chromium's start plus three pages; generous on a shared two-core machine.
    let status = tokio::time::timeout(std::time::Duration::from_secs(120), done)
        .await
        .expect("the browser run did not finish within 120s")
        .unwrap();
    assert!(status.success(), "run.mjs failed: {status}\n{err}\n{out}");
    let line = out.lines().last().unwrap_or("");
    serde_json::from_str::<Vec<serde_json::Value>>(line)
        .unwrap_or_else(|e| panic!("run.mjs printed no result ({e}):\n{out}\n{err}"))
}

#[tokio::test]
async fn chromium_runs_the_javascript_driver_over_ws_and_wss() {
    if let Some(absent) = missing() {
        let message = format!(
            "browser test skipped: {absent} missing; run tests/browser/setup.sh to install \
             chromium, chromium-driver and the npm packages"
        );
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("{message}");
        return;
    }
    let db = FalkorDb::start();
    let pki = Pki::new();
    let http_port = serve_page().await;
    let page_origin = format!("http://127.0.0.1:{http_port}");
    let gw = Gateway::start(
        db.bolt_port,
        Some(&pki),
        &[&format!("boltgate.websocket.allowed_origins={page_origin}")],
    )
    .await;
    let page = |host: &str, encrypted: u8| {
        format!(
            "http://{host}:{http_port}/?port={}&encrypted={encrypted}&graph=boltgate_browser",
            gw.addr.port()
        )
    };
    // The same page from http://localhost:… is another origin, not in the allow-list.
    let urls = [
        page("127.0.0.1", 0),
        page("127.0.0.1", 1),
        page("localhost", 0),
    ];
    let results = run_pages(&pki.cert_path, &urls).await;
    assert_eq!(results.len(), 3, "{results:?}");

    for (result, scheme) in results[..2].iter().zip(["ws://", "wss://"]) {
        assert_eq!(result["ok"], true, "{scheme}: {result}");
        assert_eq!(result["two"], 2, "{scheme}: {result}");
        assert_eq!(
            result["greeting"], "hello from chromium",
            "{scheme}: {result}"
        );
        assert_eq!(result["rows"], 500, "{scheme}: {result}");
        assert_eq!(result["last"], 500, "{scheme}: {result}");
        assert_eq!(result["origin"], page_origin.as_str(), "{scheme}: {result}");
    }
    assert_eq!(results[1]["encrypted"], true);
    let refused = &results[2];
    assert_eq!(
        refused["ok"], false,
        "a disallowed origin must not get through: {refused}"
    );
    eprintln!("chromium results: {results:?}");
}
