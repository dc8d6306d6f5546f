//! ChunkCodec on arbitrary bytes, fed in arbitrary pieces.
//!
//! Input layout: `[limit selector, piece-size seed, wire bytes...]`. Invariants checked:
//! - decoding in pieces gives exactly the frames and the error of decoding all at once;
//! - no message is empty or larger than the limit;
//! - re-encoding the decoded frames and decoding again gives the same frames, without error.
#![no_main]

use boltgate_proto::chunk::{ChunkCodec, ChunkError, Frame, DEFAULT_MAX_MESSAGE_SIZE};
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
