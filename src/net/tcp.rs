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

impl Keepalive {
    fn params(&self) -> socket2::TcpKeepalive {
        socket2::TcpKeepalive::new()
            .with_time(self.idle)
            .with_interval(self.interval)
            .with_retries(self.count)
    }
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
        self.apply_to(socket2::SockRef::from(tcp), side);
    }

    /// Sets TCP_NODELAY and these settings on a listening socket, whose accepted connections
    /// inherit them on Linux (the kernel clones the listener's socket for each): that is six
    /// system calls saved per accepted connection, of about fifty a short session made
    /// (strace). True when the accepted sockets need nothing more: elsewhere, or when
    /// a setting failed (it is logged), [`TcpTuning::apply`] runs on each connection as before.
    pub fn apply_to_listener(&self, listener: &tokio::net::TcpListener) -> bool {
        if !cfg!(any(target_os = "linux", target_os = "android")) {
            return false;
        }
        let sock = socket2::SockRef::from(listener);
        sock.set_tcp_nodelay(true).is_ok() && self.apply_to(sock, "client")
    }

    /// True when every setting took.
    fn apply_to(&self, sock: socket2::SockRef<'_>, side: &str) -> bool {
        let mut all = true;
        if let Some(k) = self.keepalive {
            if let Err(e) = sock.set_tcp_keepalive(&k.params()) {
                tracing::warn!(error = %e, "cannot enable TCP keepalive (boltgate.{side}.tcp_keepalive)");
                all = false;
            }
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(t) = self.user_timeout {
            if let Err(e) = sock.set_tcp_user_timeout(Some(t)) {
                tracing::warn!(error = %e, "cannot set TCP_USER_TIMEOUT (boltgate.{side}.tcp_user_timeout)");
                all = false;
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `Listener` relies on to skip the per-connection calls: an accepted socket carries
    /// the listener's settings.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_sockets_inherit_the_listeners_settings() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tuning = TcpTuning {
            keepalive: Some(Keepalive {
                idle: Duration::from_secs(41),
                interval: Duration::from_secs(7),
                count: 5,
            }),
            user_timeout: Some(Duration::from_secs(33)),
        };
        assert!(tuning.apply_to_listener(&listener));
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let sock = socket2::SockRef::from(&accepted);
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(41));
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(7)
        );
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 5);
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(33))
        );
    }

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
