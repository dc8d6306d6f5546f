//! A counting TCP tap: a plain byte relay put between boltgate and a server, that counts the
//! connections the server has open at once, exactly.
//!
//! Why not `ss`: its socket dump is not a snapshot. It walks the kernel's socket tables while
//! connections open and close, so one dump can show a connection that closed during the walk
//! together with one opened after it: three connections that never existed at the same time.
//! Session 9 caught this on a pool of 2 in front of FalkorDB: a single dump held a server-side
//! socket not yet accepted by FalkorDB (so from before boltgate's probe on it had finished)
//! beside two connections that boltgate dialled only after that probe was closed.
//!
//! The tap sees the order of events instead. A connection counts from the moment the tap
//! accepts it until the tap has read the server's end of it (its FIN, or an error), and the
//! tap passes that end on to boltgate only after the count has dropped. boltgate frees a pool
//! place only once it has read that end, so a connection dialled into a freed place is always
//! counted after the one it replaces has been uncounted: the peak is the pool's real bound, and
//! a place freed too early (a bug) shows as one more.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
}

/// See the module docs. Dropping it stops accepting; relayed connections run until either
/// side closes.
pub struct Tap {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Tap {
    /// A tap on a free loopback port in front of `server`.
    pub fn start(server: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("tap: bind");
        let addr = listener.local_addr().expect("tap: address");
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (counts, stop) = (counts.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
                    counts.peak.fetch_max(open, Ordering::SeqCst);
                    counts.total.fetch_add(1, Ordering::SeqCst);
                    let counts = counts.clone();
                    std::thread::spawn(move || relay(client, server, &counts));
                }
            })
        };
        Tap {
            addr,
            counts,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// Where boltgate should dial instead of the server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `bolt://<addr>`.
    pub fn bolt_uri(&self) -> String {
        format!("bolt://{}", self.addr)
    }

    /// The most connections the server had open at once so far.
    pub fn peak(&self) -> usize {
        self.counts.peak.load(Ordering::SeqCst)
    }

    /// Connections the server has open now.
    pub fn open(&self) -> usize {
        self.counts.open.load(Ordering::SeqCst)
    }

    /// Connections made through the tap so far.
    pub fn total(&self) -> usize {
        self.counts.total.load(Ordering::SeqCst)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Copies both ways; the connection is uncounted when the server's side ends, before that end
/// is passed on to the client (see the module docs).
fn relay(client: TcpStream, server: SocketAddr, counts: &Counts) {
    let uncount = || {
        counts.open.fetch_sub(1, Ordering::SeqCst);
    };
    let Ok(upstream) = TcpStream::connect_timeout(&server, Duration::from_secs(5)) else {
        uncount();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(mut client_in), Ok(mut upstream_out)) = (client.try_clone(), upstream.try_clone())
    else {
        uncount();
        return;
    };
    let to_server = std::thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Write);
    });
    let (mut upstream_in, mut client_out) = (upstream, client);
    let _ = io::copy(&mut upstream_in, &mut client_out);
    uncount();
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = to_server.join();
}
