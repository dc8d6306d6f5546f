//! Requests the client pipelined behind one that must wait for the answers before it (a GOODBYE,
//! a request boltgate answers itself, a Cluster unit of work that starts while the previous one
//! is still answering): kept in order until their turn.
//!
//! The client is always read while something is held, so a client that leaves while the server
//! is silent ends the session (the server may never answer). What it may make boltgate hold
//! meanwhile is capped at one maximum message size; past that the client is refused, not waited
//! for: a client no longer read could leave unnoticed, and the session would be held for ever
//! (found twice by the session fuzzer: with a refused message, then on the one loop, where the
//! client stopped being read once the cap was reached).

use std::collections::VecDeque;

use boltgate_proto::message::RawMessage;
use thiserror::Error;

/// The client sent more than the cap while requests were held.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "the client sent more than {cap} bytes (boltgate.limits.max_message_size) while boltgate \
     waited for the server to answer the requests before one it must answer in order"
)]
pub struct HeldTooMuch {
    pub cap: usize,
}

/// The held requests, oldest first, and their size.
#[derive(Debug)]
pub struct Held {
    queue: VecDeque<RawMessage>,
    bytes: usize,
    cap: usize,
}

impl Held {
    /// `cap`: `boltgate.limits.max_message_size`, so one message of the largest size a client
    /// may send can always be held.
    pub fn new(cap: usize) -> Held {
        Held {
            queue: VecDeque::new(),
            bytes: 0,
            cap,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Holds a request the client sent, after those already held.
    pub fn push(&mut self, raw: RawMessage) -> Result<(), HeldTooMuch> {
        let bytes = self.bytes + raw.as_bytes().len();
        if bytes > self.cap {
            return Err(HeldTooMuch { cap: self.cap });
        }
        self.bytes = bytes;
        self.queue.push_back(raw);
        Ok(())
    }

    /// The oldest held request, for its turn.
    pub fn pop(&mut self) -> Option<RawMessage> {
        let raw = self.queue.pop_front()?;
        self.bytes -= raw.as_bytes().len();
        Some(raw)
    }

    /// Puts back the request [`Held::pop`] gave, whose turn has not come after all. It was held
    /// before, so it fits.
    pub fn put_back(&mut self, raw: RawMessage) {
        self.bytes += raw.as_bytes().len();
        self.queue.push_front(raw);
    }

    /// Whether any held request satisfies `f`.
    pub fn any(&self, f: impl Fn(&RawMessage) -> bool) -> bool {
        self.queue.iter().any(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A message of `len` bytes (RawMessage checks only its marker and signature).
    fn message(len: usize) -> RawMessage {
        assert!(len >= 2);
        let mut bytes = vec![0xB0, 0x10];
        bytes.resize(len, 0);
        RawMessage::new(Bytes::from(bytes)).expect("a structure marker and a signature")
    }

    #[test]
    fn holds_up_to_the_cap_in_order() {
        let mut held = Held::new(100);
        held.push(message(60)).unwrap();
        held.push(message(40)).unwrap();
        assert_eq!(held.pop().unwrap().as_bytes().len(), 60);
        assert_eq!(held.pop().unwrap().as_bytes().len(), 40);
        assert!(held.pop().is_none());
        assert!(held.is_empty());
    }

    #[test]
    fn one_byte_past_the_cap_is_refused_and_nothing_is_held_for_it() {
        let mut held = Held::new(100);
        held.push(message(60)).unwrap();
        assert_eq!(held.push(message(41)), Err(HeldTooMuch { cap: 100 }));
        // Refused: still room for what fits.
        held.push(message(40)).unwrap();
    }

    #[test]
    fn a_message_of_the_largest_size_fits_alone() {
        let mut held = Held::new(100);
        held.push(message(100)).unwrap();
        assert!(held.push(message(2)).is_err());
    }

    #[test]
    fn what_is_popped_and_put_back_stays_first_and_counted() {
        let mut held = Held::new(100);
        held.push(message(50)).unwrap();
        held.push(message(30)).unwrap();
        let first = held.pop().unwrap();
        // Popped: its bytes are free while it is out.
        held.push(message(20)).unwrap();
        held.put_back(first);
        assert!(held.push(message(2)).is_err(), "50 + 30 + 20 held");
        assert_eq!(held.pop().unwrap().as_bytes().len(), 50);
    }
}
