//! Byte-exact chunking vectors (bolt-reference.md §2), fed to the decoder split at every possible
//! byte boundary, so no assumption that reads align with chunks or messages can hide.

use boltgate_proto::chunk::{ChunkCodec, ChunkError, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// `RUN "RETURN 1" {} {}` (v3+).
const RUN_BODY: &[u8] = &[
    0xB3, 0x10, 0x88, 0x52, 0x45, 0x54, 0x55, 0x52, 0x4E, 0x20, 0x31, 0xA0, 0xA0,
];
const RUN_WIRE: &[u8] = &[
    0x00, 0x0D, 0xB3, 0x10, 0x88, 0x52, 0x45, 0x54, 0x55, 0x52, 0x4E, 0x20, 0x31, 0xA0, 0xA0, 0x00,
    0x00,
];
/// `PULL {n: -1}`.
const PULL_BODY: &[u8] = &[0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0xFF];
const PULL_WIRE: &[u8] = &[0x00, 0x06, 0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0xFF, 0x00, 0x00];
/// `RESET`.
const RESET_BODY: &[u8] = &[0xB0, 0x0F];
const RESET_WIRE: &[u8] = &[0x00, 0x02, 0xB0, 0x0F, 0x00, 0x00];
/// `SUCCESS {}`.
const SUCCESS_BODY: &[u8] = &[0xB1, 0x70, 0xA0];
const SUCCESS_WIRE: &[u8] = &[0x00, 0x03, 0xB1, 0x70, 0xA0, 0x00, 0x00];

const VECTORS: &[(&[u8], &[u8])] = &[
    (RUN_BODY, RUN_WIRE),
    (PULL_BODY, PULL_WIRE),
    (RESET_BODY, RESET_WIRE),
    (SUCCESS_BODY, SUCCESS_WIRE),
];

fn msg(body: &[u8]) -> Frame {
    Frame::Message(Bytes::copy_from_slice(body))
}

/// Feeds `parts` one after another into one read buffer, decoding after each, then signals EOF.
fn decode_parts(codec: &mut ChunkCodec, parts: &[&[u8]]) -> Result<Vec<Frame>, ChunkError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        while let Some(frame) = codec.decode(&mut buf)? {
            out.push(frame);
        }
    }
    while let Some(frame) = codec.decode_eof(&mut buf)? {
        out.push(frame);
    }
    Ok(out)
}

/// Decodes `wire` whole, split once at every boundary, and one byte at a time; all must agree.
fn assert_decodes_everywhere(wire: &[u8], expected: &[Frame], max: usize) {
    let whole = decode_parts(&mut ChunkCodec::new(max), &[wire]).unwrap();
    assert_eq!(whole, expected, "whole");
    for cut in 0..=wire.len() {
        let (a, b) = wire.split_at(cut);
        let got = decode_parts(&mut ChunkCodec::new(max), &[a, b]).unwrap();
        assert_eq!(got, expected, "split at {cut}");
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    let got = decode_parts(&mut ChunkCodec::new(max), &bytes).unwrap();
    assert_eq!(got, expected, "byte by byte");
}

fn encode(frames: &[Frame]) -> BytesMut {
    let mut codec = ChunkCodec::default();
    let mut dst = BytesMut::new();
    for frame in frames {
        codec.encode(frame.clone(), &mut dst).unwrap();
    }
    dst
}

#[test]
fn reference_examples_encode_byte_exact() {
    for (body, wire) in VECTORS {
        assert_eq!(&encode(&[msg(body)])[..], *wire, "{body:02X?}");
    }
}

#[test]
fn reference_examples_decode_at_every_split() {
    for (body, wire) in VECTORS {
        assert_decodes_everywhere(wire, &[msg(body)], DEFAULT_MAX_MESSAGE_SIZE);
    }
}

#[test]
fn pipelined_messages_with_noops_between() {
    // RUN, PULL pipelined; the server side sends NOOPs while busy, then SUCCESS; a RESET.
    let mut wire = Vec::new();
    wire.extend_from_slice(&[0, 0]);
    wire.extend_from_slice(RUN_WIRE);
    wire.extend_from_slice(PULL_WIRE);
    wire.extend_from_slice(&[0, 0, 0, 0]);
    wire.extend_from_slice(SUCCESS_WIRE);
    wire.extend_from_slice(&[0, 0]);
    wire.extend_from_slice(RESET_WIRE);
    let expected = vec![
        Frame::Noop,
        msg(RUN_BODY),
        msg(PULL_BODY),
        Frame::Noop,
        Frame::Noop,
        msg(SUCCESS_BODY),
        Frame::Noop,
        msg(RESET_BODY),
    ];
    assert_decodes_everywhere(&wire, &expected, DEFAULT_MAX_MESSAGE_SIZE);
    assert_eq!(&encode(&expected)[..], &wire[..]);
}

#[test]
fn multi_chunk_message_as_senders_split_it() {
    // RUN split into chunks of 4, 4, 5 bytes, as a sender with a tiny chunk size would.
    let mut wire = Vec::new();
    for part in [&RUN_BODY[..4], &RUN_BODY[4..8], &RUN_BODY[8..]] {
        wire.extend_from_slice(&(part.len() as u16).to_be_bytes());
        wire.extend_from_slice(part);
    }
    wire.extend_from_slice(&[0, 0]);
    wire.extend_from_slice(RESET_WIRE);
    assert_decodes_everywhere(&wire, &[msg(RUN_BODY), msg(RESET_BODY)], 13);
    // One-byte chunks too.
    let mut wire = Vec::new();
    for b in PULL_BODY {
        wire.extend_from_slice(&[0, 1, *b]);
    }
    wire.extend_from_slice(&[0, 0, 0, 0]);
    assert_decodes_everywhere(&wire, &[msg(PULL_BODY), Frame::Noop], 6);
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn sizes_at_the_chunk_limit() {
    for (len, headers) in [
        (65_535usize, vec![0xFFFFu16]),
        (65_536, vec![0xFFFF, 1]),
        (131_070, vec![0xFFFF, 0xFFFF]),
        (131_071, vec![0xFFFF, 0xFFFF, 1]),
    ] {
        let body = pattern(len);
        let wire = encode(&[msg(&body)]);
        assert_eq!(wire.len(), len + 2 * headers.len() + 2, "len {len}");
        let mut expected = BytesMut::new();
        let mut rest = &body[..];
        for h in &headers {
            expected.put_u16(*h);
            let (chunk, tail) = rest.split_at(usize::from(*h));
            expected.extend_from_slice(chunk);
            rest = tail;
        }
        expected.put_u16(0);
        assert_eq!(wire, expected, "len {len}");

        // Decode whole, at a few awkward boundaries (inside headers and at chunk edges),
        // and with the limit exactly at the size.
        for cut in [1, 2, 3, 65_536, 65_537, 65_538, 65_539, wire.len() - 1] {
            let cut = cut.min(wire.len());
            let (a, b) = wire.split_at(cut);
            let got = decode_parts(&mut ChunkCodec::new(len), &[a, b]).unwrap();
            assert_eq!(got, vec![msg(&body)], "len {len} split at {cut}");
        }
        let err = decode_parts(&mut ChunkCodec::new(len - 1), &[&wire]).unwrap_err();
        assert!(
            matches!(err, ChunkError::MessageTooLarge { max, .. } if max == len - 1),
            "len {len}: {err}"
        );
    }
}

#[test]
fn max_size_exceeded_before_the_body_arrives() {
    // A 4 KiB limit; the peer announces 65 535 bytes and sends only the header.
    let mut codec = ChunkCodec::new(4096);
    let mut buf = BytesMut::from(&[0xFF, 0xFF][..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        ChunkError::MessageTooLarge {
            size: 65_535,
            max: 4096
        }
    ));
    assert!(err.to_string().contains("boltgate.limits.max_message_size"));

    // Running total: three 2000-byte chunks against a 5000-byte limit fail at the third header,
    // before its body is sent.
    let mut codec = ChunkCodec::new(5000);
    let mut wire = Vec::new();
    for _ in 0..2 {
        wire.extend_from_slice(&2000u16.to_be_bytes());
        wire.extend_from_slice(&[1; 2000]);
    }
    wire.extend_from_slice(&2000u16.to_be_bytes());
    let mut buf = BytesMut::from(&wire[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(
        matches!(
            err,
            ChunkError::MessageTooLarge {
                size: 6000,
                max: 5000
            }
        ),
        "{err}"
    );
    // The codec stays failed.
    assert!(matches!(codec.decode(&mut buf), Err(ChunkError::Poisoned)));
}

#[test]
fn never_buffers_an_announced_body_past_the_limit() {
    // Feeding a huge message byte by byte must fail once the limit is crossed, not at the end.
    let body = pattern(70_000);
    let wire = encode(&[msg(&body)]);
    let mut codec = ChunkCodec::new(65_535);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let err = loop {
        buf.extend_from_slice(&wire[fed..fed + 1]);
        fed += 1;
        match codec.decode(&mut buf) {
            Ok(None) => continue,
            Ok(Some(f)) => panic!("unexpected frame {f:?}"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, ChunkError::MessageTooLarge { size: 70_000, .. }),
        "{err}"
    );
    // Failed at the second chunk's header: first chunk (2 + 65 535) + the next header (2).
    assert_eq!(fed, 2 + 65_535 + 2);
}

#[test]
fn truncated_at_every_point_of_a_message() {
    // Cutting a message anywhere but at its very end (or before it starts) is Truncated at EOF.
    let mut wire = Vec::new();
    wire.extend_from_slice(&[0, 4]);
    wire.extend_from_slice(&RUN_BODY[..4]);
    wire.extend_from_slice(&[0, 9]);
    wire.extend_from_slice(&RUN_BODY[4..]);
    wire.extend_from_slice(&[0, 0]);
    for cut in 1..wire.len() {
        let err = decode_parts(&mut ChunkCodec::default(), &[&wire[..cut]]).unwrap_err();
        assert!(
            matches!(err, ChunkError::Truncated { .. }),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().contains("closed mid-message"));
    }
    assert!(decode_parts(&mut ChunkCodec::default(), &[&[]])
        .unwrap()
        .is_empty());
    assert_eq!(
        decode_parts(&mut ChunkCodec::default(), &[&wire]).unwrap(),
        vec![msg(RUN_BODY)]
    );
}

#[test]
fn truncated_reports_progress() {
    let err = decode_parts(&mut ChunkCodec::default(), &[&[0, 2, 1, 2, 0, 5, 1]]).unwrap_err();
    match err {
        ChunkError::Truncated {
            message_bytes,
            buffered,
            waiting_for,
        } => {
            assert_eq!(message_bytes, 2);
            assert_eq!(buffered, 3);
            assert_eq!(waiting_for, "the rest of a chunk body");
        }
        other => panic!("{other}"),
    }
}
