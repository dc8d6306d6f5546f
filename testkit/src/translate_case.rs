//! One fuzz case for a translated session's translator (`boltgate::session::translate`): a
//! client version and a server version, then an interleaving of client requests and server runs,
//! fed to one [`Translator`] as the relay feeds it. Shared by the `translate` fuzz target and
//! `tests/fuzz_regressions.rs`.
//!
//! Input layout: byte 0 picks the client version (3, 4.0-4.4), byte 1 the server version (4.4,
//! 5.1, 5.7); then records of `[kind, len_hi, len_lo, len bytes]`: kind even = a client request
//! (the bytes as one message), kind odd = a server run (the bytes split into messages at every
//! `0x00 0x00`-free chunking of up to 255-byte pieces, then chunked).
//!
//! Invariants: no panic; every run the translator returns is whole messages (it scans); the
//! client never gets more summaries than the server sent (merges and drops only, never an
//! invented answer), and never a RECORD the server did not send.

use boltgate::session::translate::Translator;
use boltgate_proto::message::{sig, RawMessage};
use boltgate_proto::scan::Run;
use boltgate_proto::Version;
use bytes::{BufMut, Bytes, BytesMut};

const CLIENTS: &[Version] = &[
    Version::V3,
    Version::V4_0,
    Version::V4_1,
    Version::V4_2,
    Version::V4_3,
    Version::V4_4,
];
const SERVERS: &[Version] = &[Version::V4_4, Version::V5_1, Version::V5_7];

/// Counts of what went through, for the regression test's sanity checks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub requests: usize,
    pub runs: usize,
}

pub fn run(data: &[u8]) -> Outcome {
    let mut outcome = Outcome::default();
    let [c, s, rest @ ..] = data else {
        return outcome;
    };
    let client = CLIENTS[usize::from(*c) % CLIENTS.len()];
    let server = SERVERS[usize::from(*s) % SERVERS.len()];
    let mut t = Translator::new(client, server, 1 << 20);
    let mut input = rest;
    while let [kind, hi, lo, tail @ ..] = input {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (body, next) = tail.split_at(len);
        input = next;
        if kind % 2 == 0 {
            outcome.requests += 1;
            if let Ok(raw) = RawMessage::new(Bytes::copy_from_slice(body)) {
                if let Ok(messages) = t.request(&raw) {
                    assert!(!messages.is_empty() && messages.len() <= 2);
                }
            }
        } else {
            outcome.runs += 1;
            let wire = chunked(body);
            let Ok(run) = Run::scan(wire.clone(), 1 << 20) else {
                continue;
            };
            let (summaries_in, records_in) = count(&run);
            let out = t.answers(run).expect("a translated run scans");
            let (summaries_out, records_out) = count(&out);
            assert!(
                summaries_out <= summaries_in,
                "{summaries_out} summaries out of {summaries_in}"
            );
            assert!(records_out <= records_in);
        }
    }
    outcome
}

/// `body` as messages of up to 255 bytes each (the first byte of each piece is its length),
/// each chunked and ended.
fn chunked(body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let mut rest = body;
    while let [n, tail @ ..] = rest {
        let n = usize::from(*n).min(tail.len());
        let (m, next) = tail.split_at(n);
        rest = next;
        if !m.is_empty() {
            out.put_u16(m.len() as u16);
            out.put_slice(m);
        }
        out.put_u16(0);
    }
    out.freeze()
}

/// Summaries and RECORDs in a run.
fn count(run: &Run) -> (usize, usize) {
    let mut summaries = 0;
    let mut records = 0;
    let mut at = 0;
    let wire = &run.wire;
    while at + 2 <= wire.len() {
        let mut first = None;
        let mut empty = true;
        loop {
            let n = usize::from(u16::from_be_bytes([wire[at], wire[at + 1]]));
            at += 2;
            if n == 0 {
                break;
            }
            if empty {
                first = wire.get(at + 1).copied();
                empty = false;
            }
            at += n;
        }
        match first {
            Some(sig::RECORD) => records += 1,
            Some(sig::SUCCESS | sig::FAILURE | sig::IGNORED) => summaries += 1,
            _ => {}
        }
    }
    (summaries, records)
}
