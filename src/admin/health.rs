//! The upstream probes behind `boltgate.upstream.probe_interval`; what they find is kept in
//! [`crate::metrics::health`], which `/ready` and `boltgate_upstream_up` read.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::metrics::health::UpstreamHealth;

/// Probes every tracked member once: a TCP connect within `timeout`, closed at once.
pub async fn probe_all(health: &UpstreamHealth, timeout: Duration) {
    let members: Vec<String> = health.snapshot().into_iter().map(|(k, _)| k).collect();
    for member in members {
        let result = match tokio::time::timeout(timeout, TcpStream::connect(&member)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("probe: cannot connect to {member}: {e}")),
            Err(_) => Err(format!(
                "probe: connecting to {member} timed out after {timeout:?}"
            )),
        };
        health.report(&member, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probe_sees_a_listener_and_its_absence() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = UpstreamHealth::default();
        h.track(&addr);
        probe_all(&h, Duration::from_secs(2)).await;
        assert!(h.any_usable(false));
        drop(l);
        probe_all(&h, Duration::from_secs(2)).await;
        assert!(!h.any_usable(false));
    }
}
