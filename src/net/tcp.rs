//! TCP keepalive and TCP_USER_TIMEOUT for boltgate's sockets (upstream and client side).
//!
//! Without them a peer that vanishes without a RST (a host that loses power, a firewall that
//! starts dropping, a cable pulled) is noticed only when the kernel gives up retransmitting, about
//! 15 minutes on Linux, and never on a connection that is only waiting to read: a session would
//! wait for ever for the answer to a request the server will never send. Keepalive probes find a
//! dead peer on an idle connection; the user timeout bounds how long sent data may stay
//! unacknowledged (and, on Linux, also ends a connection whose keepalive probes go unanswered
//! that long). Neither limits a long-running query: a live server's kernel answers both.

use std::time::Duration;

use tokio::net::TcpStream;

/// `boltgate.<side>.tcp_keepalive`: probe after `idle` quiet, every `interval`, give up after
/// `count` unanswered probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub idle: Duration,
    pub interval: Duration,
    pub count: u32,
}

/// How boltgate tunes one side's TCP sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTuning {
    /// None: keepalive off (`boltgate.<side>.tcp_keepalive=0`).
    pub keepalive: Option<Keepalive>,
    /// None: the system default (`boltgate.<side>.tcp_user_timeout=0`).
    pub user_timeout: Option<Duration>,
}

impl Default for TcpTuning {
    /// The settings' defaults: a dead idle peer is found within 30 s + 3 × 10 s, unacknowledged
    /// data is given up on after 60 s.
    fn default() -> Self {
        TcpTuning {
            keepalive: Some(Keepalive {
                idle: Duration::from_secs(30),
                interval: Duration::from_secs(10),
                count: 3,
            }),
            user_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl TcpTuning {
    /// Leaves every socket as the system made it (the in-memory test sessions, and `=0` for both).
    pub const OFF: TcpTuning = TcpTuning {
        keepalive: None,
        user_timeout: None,
    };

    /// Applies the settings to `tcp`. A failure is logged, not returned: the connection still
    /// works, it only loses the bound on noticing a dead peer.
    pub fn apply(&self, tcp: &TcpStream, side: &str) {
        let sock = socket2::SockRef::from(tcp);
        if let Some(k) = self.keepalive {
            let params = socket2::TcpKeepalive::new()
                .with_time(k.idle)
                .with_interval(k.interval)
                .with_retries(k.count);
            if let Err(e) = sock.set_tcp_keepalive(&params) {
                tracing::warn!(error = %e, "cannot enable TCP keepalive (boltgate.{side}.tcp_keepalive)");
            }
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(t) = self.user_timeout {
            if let Err(e) = sock.set_tcp_user_timeout(Some(t)) {
                tracing::warn!(error = %e, "cannot set TCP_USER_TIMEOUT (boltgate.{side}.tcp_user_timeout)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn applied_to_a_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        TcpTuning::default().apply(&tcp, "upstream");
        let sock = socket2::SockRef::from(&tcp);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(30));
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 3);
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(60))
        );
    }
}
