//! What every connection of one server shares: the options, the counters and records tests read
//! back, and every fixed response encoded once at start, so serving a row is a copy and an
//! 8-byte patch rather than a PackStream encode (the load tool measures the proxy, not this).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

use boltgate_proto::chunk::encode_message;
use boltgate_proto::handshake::CLIENT_HELLO_LEN;
use boltgate_proto::message::{RawMessage, Record, Response};
use boltgate_proto::packstream::{Map, Value};
use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;

use super::{Options, Received, BOOKMARK};

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) opts: Options,
    /// Stops the whole server (see [`Options::crash_on`]).
    pub(super) cancel: CancellationToken,
    pub(super) addr: SocketAddr,
    pub(super) received: Mutex<Vec<Received>>,
    pub(super) handshakes: Mutex<Vec<[u8; CLIENT_HELLO_LEN]>>,
    pub(super) goodbyes: AtomicU64,
    pub(super) accepted: AtomicU64,
    /// Connections open now, and the most ever open at once.
    pub(super) open: AtomicU64,
    pub(super) max_open: AtomicU64,
    /// False once the accept loop has closed the listening socket.
    pub(super) listening: AtomicBool,
    pub(super) runs: AtomicU64,
    /// The wide row, chunked, with id 0: `00 LL B1 71 93 CB <8 id bytes> …`.
    pub(super) wide_row: Bytes,
    /// `RECORD [id]`, chunked, id an INT_64 at the same offset as in `wide_row`.
    pub(super) small_row: Bytes,
    /// The `RECORD [1]` answer, chunked.
    pub(super) one_row: Bytes,
    pub(super) run_success_wide: Bytes,
    pub(super) run_success_small: Bytes,
    pub(super) run_success_one: Bytes,
    pub(super) pull_done: Bytes,
    pub(super) pull_done_tx: Bytes,
    pub(super) pull_has_more: Bytes,
    pub(super) success_empty: Bytes,
    pub(super) ignored: Bytes,
}

/// The column names of a wide row.
pub(super) const WIDE_FIELDS: &[&str] = &["id", "payload", "props"];

/// Where the id's 8 bytes start in the chunked wide row: chunk header (2), `B1 71` (2), the list
/// marker `93` (1) and the INT_64 marker `CB` (1).
pub(super) const WIDE_ID_OFFSET: usize = 6;

fn chunked(raw: &RawMessage) -> Bytes {
    let mut out = BytesMut::new();
    // Only the server's own small messages are chunked here; they are never empty.
    encode_message(raw.as_bytes(), &mut out).expect("a message is never empty");
    out.freeze()
}

pub(super) fn success(entries: Vec<(&str, Value)>) -> Bytes {
    chunked(&Response::success(entries.into_iter().collect()))
}

pub(super) fn fields(names: &[&str]) -> Value {
    Value::List(names.iter().map(|n| Value::from(*n)).collect())
}

impl Shared {
    pub(super) fn new(opts: Options, addr: SocketAddr, cancel: CancellationToken) -> Shared {
        let props: Map = [("kind", Value::from("synthetic")), ("n", Value::from(1))]
            .into_iter()
            .collect();
        let wide = Response::Record(Record {
            // i64::MAX takes the INT_64 form, so every id fits the same 8 bytes.
            data: vec![
                Value::Integer(i64::MAX),
                Value::String("x".repeat(opts.payload_len)),
                Value::Map(props),
            ],
        });
        let wide_row = chunked(&wide.to_raw().expect("the wide row encodes"));
        assert_eq!(
            wide_row[WIDE_ID_OFFSET - 1],
            0xCB,
            "the wide row's id must be an INT_64 at a fixed offset"
        );
        let small = Response::Record(Record {
            data: vec![Value::Integer(i64::MAX)],
        });
        let small_row = chunked(&small.to_raw().expect("the small row encodes"));
        assert_eq!(
            small_row.len(),
            2 + 12 + 2,
            "a small row is a 12-byte message"
        );
        assert_eq!(
            small_row[WIDE_ID_OFFSET - 1],
            0xCB,
            "the small row's id is an INT_64"
        );
        let one = Response::Record(Record {
            data: vec![Value::Integer(1)],
        });
        Shared {
            addr,
            cancel,
            received: Mutex::new(Vec::new()),
            handshakes: Mutex::new(Vec::new()),
            goodbyes: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            max_open: AtomicU64::new(0),
            listening: AtomicBool::new(true),
            runs: AtomicU64::new(0),
            wide_row,
            small_row,
            one_row: chunked(&one.to_raw().expect("RECORD [1] encodes")),
            run_success_wide: success(vec![("fields", fields(WIDE_FIELDS)), ("t_first", 0.into())]),
            run_success_small: success(vec![("fields", fields(&["id"])), ("t_first", 0.into())]),
            run_success_one: success(vec![("fields", fields(&["1"])), ("t_first", 0.into())]),
            // As Neo4j: `has_more` is sent only when true; a finished result leaves it out.
            pull_done: success(vec![
                (
                    "bookmark",
                    opts.bookmark.as_deref().unwrap_or(BOOKMARK).into(),
                ),
                ("t_last", 0.into()),
                ("type", "r".into()),
                ("db", "neo4j".into()),
            ]),
            pull_done_tx: success(vec![
                ("t_last", 0.into()),
                ("type", "r".into()),
                ("db", "neo4j".into()),
            ]),
            pull_has_more: success(vec![("has_more", true.into())]),
            success_empty: success(vec![]),
            ignored: chunked(&Response::ignored()),
            opts,
        }
    }
}

#[cfg(test)]
mod tests {
    use boltgate_proto::message::sig;

    use super::*;

    #[test]
    fn wide_row_is_about_a_kibibyte_and_patchable() {
        let shared = Shared::new(
            Options::default(),
            "127.0.0.1:1".parse().unwrap(),
            CancellationToken::new(),
        );
        let row = &shared.wide_row;
        assert!((1000..=1100).contains(&row.len()), "{} bytes", row.len());
        assert_eq!(&row[2..6], &[0xB1, sig::RECORD, 0x93, 0xCB]);
    }
}
