//! boltgate started in-process on a free loopback port, for tests and the load tool.
//!
//! `server.bolt.listen_address` refuses port 0 (a proxy must be reachable at a known port), so a
//! free port is found by binding `127.0.0.1:0` and closing it; another process may take it in
//! between, so binding is retried a few times on a fresh port.

use std::net::SocketAddr;
use std::time::Duration;

use boltgate::config::{Config, LoadOptions};
use boltgate::shutdown::Shutdown;
use boltgate::{Error, Server};

/// Attempts at finding a port nobody else took in the meantime.
const BIND_ATTEMPTS: usize = 5;

/// How long [`RunningProxy::stop`] waits for the server task.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// A running in-process boltgate.
pub struct RunningProxy {
    addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

/// A loopback port that was free a moment ago.
pub fn free_loopback_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl RunningProxy {
    /// Builds a configuration from `settings` (neo4j.conf-style lines, without
    /// `server.bolt.listen_address`, which is added here) and serves it on the current runtime.
    pub async fn start(
        settings: &str,
    ) -> Result<RunningProxy, Box<dyn std::error::Error + Send + Sync>> {
        let mut last_bind_error = None;
        for _ in 0..BIND_ATTEMPTS {
            let port = free_loopback_port()?;
            let text = format!("{settings}\nserver.bolt.listen_address=127.0.0.1:{port}\n");
            let config = Config::from_text(&text, "testkit", &[], LoadOptions::default())
                .map_err(|e| e.to_string())?;
            match RunningProxy::serve(&config).await {
                Ok(proxy) => return Ok(proxy),
                Err(e) if matches!(e.downcast_ref(), Some(Error::Bind { .. })) => {
                    last_bind_error = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_bind_error.unwrap_or_else(|| "no free port".into()))
    }

    /// Serves `config` as it is on the current runtime: the one way tests and examples start
    /// boltgate in-process ([`RunningProxy::start`] builds the config and picks the port).
    pub async fn serve(
        config: &Config,
    ) -> Result<RunningProxy, Box<dyn std::error::Error + Send + Sync>> {
        let shutdown = Shutdown::new();
        let server = Server::bind(config, &shutdown).await?;
        let addr = server.local_addr()?;
        let task = tokio::spawn(server.run(shutdown.clone()));
        Ok(RunningProxy {
            addr,
            shutdown,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every session at once, without waiting (e.g. from a `Drop`).
    pub fn close_now(&self) {
        self.shutdown.close_now();
    }

    /// Starts a graceful drain (as SIGTERM does): no new clients; sessions end at their next
    /// idle moment, or at the grace period.
    pub fn begin_drain(&self) {
        self.shutdown.begin_drain();
    }

    /// Waits (bounded) for a drain begun with [`RunningProxy::begin_drain`] to finish.
    pub async fn wait_stopped(self) -> bool {
        tokio::time::timeout(STOP_WAIT, self.task).await.is_ok()
    }

    /// Closes every session at once and waits (bounded) for the server to stop.
    pub async fn stop(self) {
        self.shutdown.begin_drain();
        self.shutdown.close_now();
        let _ = tokio::time::timeout(STOP_WAIT, self.task).await;
    }
}
