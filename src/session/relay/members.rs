//! The member connections of a routed session: opening one (dialling and replaying the
//! client's HELLO and LOGON), finding the one a connection-level message goes to, and what a
//! member connection reports ([`Event`]), all driven from the session's one loop
//! ([`poll_members`]).

use bytes::{Bytes, BytesMut};

use super::backend::{Backend, Event};
use super::Session;
use crate::net::Stream;
use crate::session::core::{Death, Expect, Loss, Why};
use crate::upstream::connect::{Offer, UpstreamError};
use crate::upstream::discovery::hello_for_member;
use std::task::{Context, Poll};

impl Session<'_> {
    pub(super) fn adopt(&mut self, address: String, stream: Stream, rest: BytesMut) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let who = match self.routing {
            Some(_) => format!("cluster member {address}").into(),
            None => self.ctx.upstream.name_of(&address),
        };
        let metrics = self.ctx.metrics.session(&address);
        // As in `adopt_backend`: only placement (Cluster) looks members up by address.
        let key = self.routing.is_some().then(|| address.clone());
        let backend = Backend::new(
            who,
            address,
            stream,
            rest,
            self.ctx.max_message_size,
            metrics,
        );
        tracing::debug!(member = %backend.address, backend = id, "backend connection open");
        if let Some(key) = key {
            self.by_address.insert(key, id);
        }
        self.backends.insert(id, Box::new(backend));
        id
    }

    /// Pool policy: a pooled connection lent to this session for a unit of work. Boxed all the
    /// way from the pool: a `Backend` is several hundred bytes, and it changes hands twice per
    /// unit of work.
    pub(super) fn adopt_backend(&mut self, backend: Box<Backend>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.routing.is_some() {
            // Placement looks members up by address; one upstream needs no lookup.
            self.by_address.insert(backend.address.clone(), id);
        }
        self.backends.insert(id, backend);
        id
    }

    /// Dials `address` and replays the client's HELLO (and LOGON).
    pub(super) async fn open(&mut self, address: &str) -> Result<u64, UpstreamError> {
        let started = std::time::Instant::now();
        let connected = self
            .ctx
            .upstream
            .connect_to(address, &Offer::version(self.version))
            .await;
        let (stream, _, rest) = match connected {
            Ok(c) => {
                self.ctx
                    .metrics
                    .upstream_connected(address, started.elapsed());
                c
            }
            Err(e) => {
                self.ctx.metrics.upstream_connect_failed(address, &e);
                return Err(e);
            }
        };
        let id = self.adopt(address.to_string(), stream, rest);
        let hello = self.hello.as_ref().map(|h| self.member_hello(h, address));
        let b = self.backends.get_mut(&id).expect("just adopted");
        if let Some(h) = hello {
            b.send(h, Expect::Swallow("HELLO"));
        }
        if let Some(l) = &self.logon {
            b.send(l.clone(), Expect::Swallow("LOGON"));
        }
        Ok(id)
    }

    pub(super) fn alive(&self, id: u64) -> bool {
        self.backends.get(&id).is_some_and(|b| b.is_alive())
    }

    /// The client's HELLO as `member` gets it: with boltgate's upstream routing context naming
    /// the member (see [`hello_for_member`]).
    pub(super) fn member_hello(&self, hello: &Bytes, member: &str) -> Bytes {
        match self.routing {
            Some(routing) => hello_for_member(hello, self.version, &routing.context, member),
            None => hello.clone(),
        }
    }

    /// A member has so much unwritten that the client must wait (backend.rs, "Backpressure").
    pub(super) fn blocked(&self) -> bool {
        self.backends.values().any(|b| b.is_blocked())
    }

    /// Where connection-level messages go (HELLO, LOGON, LOGOFF, unknown ones): the current
    /// member, else any live backend.
    pub(super) fn control(&self) -> Option<u64> {
        if let Some(id) = self.units.current().filter(|id| self.alive(*id)) {
            return Some(id);
        }
        let mut ids: Vec<u64> = self
            .backends
            .iter()
            .filter(|(_, b)| b.is_alive())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.first().copied()
    }

    pub(super) fn on_event(&mut self, id: u64, event: Event) {
        match event {
            Event::Room => {}
            Event::Run(run) => {
                if let Some(b) = self.backends.get_mut(&id) {
                    b.owed.arrived(run);
                }
            }
            Event::Closed(why) => {
                let Some(b) = self.backends.get_mut(&id) else {
                    return;
                };
                if !b.owed.is_alive() {
                    return;
                }
                let busy = b.owed.is_owed();
                let address = b.address.clone();
                tracing::debug!(upstream = %address, error = %why, "upstream connection ended");
                b.owed.die(why);
                let Some(routing) = self.routing else {
                    // Direct: what it owes the client goes out, then the session ends (the
                    // loop's check after each drain).
                    return;
                };
                if self.by_address.get(&address) == Some(&id) {
                    self.by_address.remove(&address);
                }
                let cause = match b.owed.death() {
                    Some(Death {
                        why: Why::Lost(cause),
                        ..
                    }) => cause.clone(),
                    _ => return,
                };
                match self.units.on_closed(id, busy) {
                    Loss::WithWork => {
                        tracing::warn!(member = %address, error = %cause, "cluster member lost with work in flight");
                        routing.registry.on_member_failure(&address);
                    }
                    Loss::InTransaction => {
                        tracing::warn!(member = %address, error = %cause, "cluster member lost inside the client's transaction");
                        routing.registry.on_member_failure(&address);
                        self.backends.remove(&id);
                        self.lost_tx = Some((address, cause));
                    }
                    Loss::Idle => {
                        tracing::debug!(member = %address, error = %cause, "idle backend connection closed");
                        self.backends.remove(&id);
                    }
                }
            }
        }
    }
}

/// Progress on every member connection: writes first (all of them, so a member that streams
/// cannot starve another's requests), then the first run read, when `read`.
pub(super) fn poll_members(
    backends: &mut super::Backends,
    read: bool,
    cx: &mut Context<'_>,
) -> Poll<(u64, Event)> {
    for (id, b) in backends.iter_mut() {
        if let Poll::Ready(event) = b.poll_write(cx) {
            return Poll::Ready((*id, event));
        }
    }
    if read {
        for (id, b) in backends.iter_mut() {
            if let Poll::Ready(event) = b.poll_read(cx) {
                return Poll::Ready((*id, event));
            }
        }
    }
    Poll::Pending
}
