//! ChunkCodec on arbitrary bytes, fed in arbitrary pieces.
//!
//! Input layout: `[limit selector, piece-size seed, wire bytes...]`. Invariants checked:
//! - decoding in pieces gives exactly the frames and the error of decoding all at once;
//! - no message is empty or larger than the limit;
//! - re-encoding the decoded frames and decoding again gives the same frames, without error;
//! - the in-place `Scanner` (the forwarding path) finds the same frames, in the same pieces, with
//!   the same error kind, and the prefixes it covers are the input's bytes unchanged; walking a
//!   covered run again with `frame_at` finds the same spans; a scanner that keeps no spans (the
//!   relay's, with its own loop over RECORDs) covers the same prefixes with the same marks,
//!   message and payload counts, and errors.
#![no_main]

use boltgate_proto::chunk::{ChunkCodec, ChunkError, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use boltgate_proto::scan::{frame_at, Mark, Scanner};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

/// Frames decoded, then `Some(error text)` if decoding stopped on an error.
type Outcome = (Vec<Frame>, Option<String>);

fn decode_pieces(max: usize, wire: &[u8], mut piece_len: impl FnMut() -> usize) -> Outcome {
    let mut codec = ChunkCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let n = piece_len().clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(describe(&e))),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                assert!(
                    buf.is_empty(),
                    "decode_eof ended with {} bytes left",
                    buf.len()
                );
                return (frames, None);
            }
            Err(e) => return (frames, Some(describe(&e))),
        }
    }
}

/// What the scanner finds in `wire` fed in pieces: the frames (de-chunked), and the error kind
/// if it stopped on one ("truncated" for bytes of an unfinished frame left at the end).
fn scan_pieces(
    max: usize,
    wire: &[u8],
    mut piece_len: impl FnMut() -> usize,
) -> (Vec<Frame>, Option<&'static str>) {
    let mut scanner = Scanner::new(max).with_spans();
    let mut forwarding = Scanner::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut forwarded = Vec::new();
    let mut rest = wire;
    loop {
        // A piece, then scans until nothing more is covered (an error behind whole frames
        // surfaces on the scan after them).
        if !rest.is_empty() {
            let n = piece_len().clamp(1, rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        let fast = forwarding.scan(&buf).map_err(|e| kind(&e));
        let covered = match scanner.scan(&buf) {
            Ok(covered) => covered,
            Err(e) => {
                assert_eq!(fast, Err(kind(&e)), "the forwarding scanner differs");
                return (frames, Some(kind(&e)));
            }
        };
        assert_eq!(fast, Ok(covered), "the forwarding scanner covers another prefix");
        assert_eq!(forwarding.marks(), scanner.marks(), "its marks differ");
        let run = buf.split_to(covered).freeze();
        // The marks (what the forwarding path keeps) are the spans that are neither RECORDs
        // nor NOOPs, each with the messages and payload before it.
        let (mut messages, mut payload, mut marks) = (0u64, 0u64, Vec::new());
        for span in scanner.spans().iter().filter(|s| !s.is_noop()) {
            if span.signature != boltgate_proto::message::sig::RECORD {
                marks.push(Mark {
                    span: *span,
                    messages_before: messages,
                    payload_before: payload,
                });
            }
            messages += 1;
            payload += span.payload_len as u64;
        }
        assert_eq!(scanner.marks(), &marks[..], "marks differ from the spans");
        let totals = forwarding.run(bytes::Bytes::new());
        assert_eq!(
            (totals.messages, totals.payload),
            (messages, payload),
            "the forwarding scanner's counts differ"
        );
        let mut at = 0;
        for span in scanner.spans() {
            assert_eq!(span.start, at, "spans are contiguous");
            assert_eq!(frame_at(&run, at), Some(*span), "walking the run again differs");
            at = span.end;
            frames.push(if span.is_noop() {
                Frame::Noop
            } else {
                Frame::Message(span.payload(&run))
            });
        }
        assert_eq!(at, covered, "the spans cover the prefix");
        forwarded.extend_from_slice(&run);
        if rest.is_empty() && (covered == 0 || buf.is_empty()) {
            if buf.is_empty() {
                // One more scan: a pending error has no bytes left to hide behind.
                let fast = forwarding.scan(&buf).map_err(|e| kind(&e));
                if let Err(e) = scanner.scan(&buf) {
                    assert_eq!(fast, Err(kind(&e)), "the forwarding scanner differs");
                    return (frames, Some(kind(&e)));
                }
                assert_eq!(fast, Ok(0), "the forwarding scanner differs at the end");
            }
            break;
        }
    }
    assert_eq!(
        &forwarded[..],
        &wire[..forwarded.len()],
        "forwarded bytes differ from the input"
    );
    if buf.is_empty() {
        (frames, None)
    } else {
        (frames, Some(kind(&scanner.truncated(&buf))))
    }
}

fn kind(e: &ChunkError) -> &'static str {
    match e {
        ChunkError::MessageTooLarge { .. } => "too large",
        ChunkError::Truncated { .. } => "truncated",
        other => panic!("unexpected scanner error {other:?}"),
    }
}

fn describe(e: &ChunkError) -> String {
    assert!(!matches!(
        e,
        ChunkError::Poisoned | ChunkError::EmptyMessage | ChunkError::Io(_)
    ));
    e.to_string()
}

fuzz_target!(|data: &[u8]| {
    let [selector, seed, wire @ ..] = data else {
        return;
    };
    let max = match selector % 4 {
        0 => DEFAULT_MAX_MESSAGE_SIZE,
        1 => 65_535,
        // Small limits make MessageTooLarge reachable with small inputs.
        _ => usize::from(*selector / 4) * 3,
    };

    let whole = decode_pieces(max, wire, || usize::MAX);
    // Piece sizes from a small LCG seeded by the input: covers 1-byte feeds and odd splits.
    let mut state = u32::from(*seed) | 1;
    let pieces = decode_pieces(max, wire, || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        usize::from((state >> 16) as u8 % 24) + 1
    });
    assert_eq!(
        whole, pieces,
        "decoding depends on how the bytes were split"
    );

    let mut state = u32::from(*seed) | 1;
    let scanned = scan_pieces(max, wire, || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        usize::from((state >> 16) as u8 % 24) + 1
    });
    let codec_kind = whole.1.as_ref().map(|e| {
        if e.starts_with("message too large") {
            "too large"
        } else {
            "truncated"
        }
    });
    assert_eq!(
        (&scanned.0, scanned.1),
        (&whole.0, codec_kind),
        "the scanner and the codec disagree"
    );

    let (frames, _) = whole;
    let mut encoder = ChunkCodec::new(max);
    let mut wire2 = BytesMut::new();
    for frame in &frames {
        if let Frame::Message(body) = frame {
            assert!(!body.is_empty(), "empty message decoded");
            assert!(
                body.len() <= max,
                "message of {} over the limit {max}",
                body.len()
            );
        }
        encoder
            .encode(frame.clone(), &mut wire2)
            .expect("re-encoding a decoded frame");
    }
    let again = decode_pieces(max, &wire2, || usize::MAX);
    assert_eq!(
        again,
        (frames, None),
        "re-encoded frames decode differently"
    );
});
