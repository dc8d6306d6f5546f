//! Chunked transport: the framing every Bolt message travels in after the handshake.
//!
//! A message is sent as one or more chunks, each a big-endian `u16` length followed by that many
//! bytes (1..=65 535), and ends with an empty chunk `00 00`. A `00 00` arriving when no message is
//! in progress is a NOOP keep-alive (Bolt 4.1+): it is surfaced as [`Frame::Noop`] so the proxy can
//! forward it and keep the peer's idle-timeout hints meaningful, and it is never turned into a message.
//!
//! [`ChunkCodec`] is a `tokio_util::codec` decoder/encoder but holds no I/O of its own. It is the
//! proxy's hot path, so:
//! - a message that arrived as a single chunk is split off the read buffer without copying
//!   (`BytesMut::split_to` + `freeze`);
//! - a multi-chunk message is copied exactly once, chunk by chunk, into one buffer;
//! - the maximum message size is checked against the running total as each chunk *header* arrives,
//!   before any of that chunk's body is waited for, so a peer can never make us buffer past the limit.
//!
//! Once the decoder has returned an error the stream is out of sync; it stays failed
//! ([`ChunkError::Poisoned`]) and the connection must be closed.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

/// Largest payload one chunk can carry: the header is a `u16`.
pub const MAX_CHUNK_SIZE: usize = u16::MAX as usize;

/// Default limit on one de-chunked message: 16 MiB, the default of `boltgate.limits.max_message_size`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Size of a chunk header, and of the `00 00` end-of-message marker.
const HEADER_LEN: usize = 2;

/// One unit of the chunked stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole de-chunked message (never empty).
    Message(Bytes),
    /// A `00 00` keep-alive seen between messages.
    Noop,
}

/// Errors of the chunk layer. Every one of them leaves the stream out of sync: close the connection.
#[derive(Debug, Error)]
pub enum ChunkError {
    /// The chunks announced so far already add up to more than the configured maximum.
    #[error(
        "message too large: chunk headers announce at least {size} bytes, the maximum is {max} \
         (boltgate.limits.max_message_size)"
    )]
    MessageTooLarge { size: usize, max: usize },
    /// The peer closed the connection in the middle of a message or chunk.
    #[error(
        "connection closed mid-message: {message_bytes} byte(s) of the message received and \
         {buffered} more buffered while waiting for {waiting_for}"
    )]
    Truncated {
        /// Bytes of complete chunks of the unfinished message.
        message_bytes: usize,
        /// Bytes left in the read buffer that do not form a complete chunk.
        buffered: usize,
        /// What was expected next: a chunk header, a chunk body, or the end marker.
        waiting_for: &'static str,
    },
    /// An empty message cannot be encoded: its only bytes would be `00 00`, a NOOP.
    #[error(
        "cannot encode an empty message: it would be sent as 00 00, which the peer reads as a NOOP"
    )]
    EmptyMessage,
    /// `decode` was called again after it had failed.
    #[error("the chunk stream already failed and is out of sync; the connection must be closed")]
    Poisoned,
    /// Reading from or writing to the transport failed (tokio-util's framed types need this).
    #[error("I/O error on the chunked stream")]
    Io(#[from] std::io::Error),
}

/// Decoder and encoder for Bolt's chunked framing. See the module docs.
#[derive(Debug)]
pub struct ChunkCodec {
    max_message_size: usize,
    /// Complete chunks of a multi-chunk message in progress; empty between messages.
    partial: BytesMut,
    /// Whether a multi-chunk message is in progress (its first chunk is in `partial`).
    in_message: bool,
    /// Set once decoding has failed; every later call returns [`ChunkError::Poisoned`].
    poisoned: bool,
}

// === impl ChunkCodec ===

impl ChunkCodec {
    /// A codec that refuses (with [`ChunkError::MessageTooLarge`]) any message over
    /// `max_message_size` bytes of payload (chunk headers and the end marker are not counted).
    pub fn new(max_message_size: usize) -> Self {
        ChunkCodec {
            max_message_size,
            partial: BytesMut::new(),
            in_message: false,
            poisoned: false,
        }
    }

    /// The configured maximum message size.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Whether a multi-chunk message has started but not ended.
    pub fn is_mid_message(&self) -> bool {
        self.in_message
    }

    fn check_size(&self, size: usize) -> Result<(), ChunkError> {
        if size > self.max_message_size {
            return Err(ChunkError::MessageTooLarge {
                size,
                max: self.max_message_size,
            });
        }
        Ok(())
    }

    fn decode_inner(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ChunkError> {
        loop {
            if src.len() < HEADER_LEN {
                return Ok(None);
            }
            let n = usize::from(u16::from_be_bytes([src[0], src[1]]));

            if !self.in_message {
                if n == 0 {
                    src.advance(HEADER_LEN);
                    return Ok(Some(Frame::Noop));
                }
                self.check_size(n)?;
                // The first chunk plus either the end marker or the next chunk's header.
                let needed = HEADER_LEN + n + HEADER_LEN;
                if src.len() < needed {
                    src.reserve(needed - src.len());
                    return Ok(None);
                }
                if src[HEADER_LEN + n] == 0 && src[HEADER_LEN + n + 1] == 0 {
                    // Single-chunk message: hand out the read buffer's own bytes, no copy.
                    src.advance(HEADER_LEN);
                    let body = src.split_to(n).freeze();
                    src.advance(HEADER_LEN);
                    return Ok(Some(Frame::Message(body)));
                }
                // Multi-chunk: start the message buffer with this chunk; the next header is in src.
                self.partial
                    .reserve(n.saturating_mul(2).min(self.max_message_size));
                self.partial
                    .extend_from_slice(&src[HEADER_LEN..HEADER_LEN + n]);
                src.advance(HEADER_LEN + n);
                self.in_message = true;
                continue;
            }

            if n == 0 {
                src.advance(HEADER_LEN);
                self.in_message = false;
                let body = std::mem::take(&mut self.partial).freeze();
                return Ok(Some(Frame::Message(body)));
            }
            // Checked as soon as the header is here, before waiting for (or buffering) the body.
            self.check_size(self.partial.len().saturating_add(n))?;
            let needed = HEADER_LEN + n;
            if src.len() < needed {
                // Room for this chunk and the header after it.
                src.reserve(needed + HEADER_LEN - src.len());
                return Ok(None);
            }
            self.partial.extend_from_slice(&src[HEADER_LEN..needed]);
            src.advance(needed);
        }
    }

    fn truncated(&self, src: &BytesMut) -> ChunkError {
        let waiting_for = if src.len() < HEADER_LEN {
            "a chunk header"
        } else {
            let n = usize::from(u16::from_be_bytes([src[0], src[1]]));
            if src.len() < HEADER_LEN + n {
                "the rest of a chunk body"
            } else {
                "the end-of-message marker 00 00"
            }
        };
        ChunkError::Truncated {
            message_bytes: self.partial.len(),
            buffered: src.len(),
            waiting_for,
        }
    }
}

impl Default for ChunkCodec {
    fn default() -> Self {
        ChunkCodec::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Decoder for ChunkCodec {
    type Item = Frame;
    type Error = ChunkError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ChunkError> {
        if self.poisoned {
            return Err(ChunkError::Poisoned);
        }
        let result = self.decode_inner(src);
        if result.is_err() {
            self.poisoned = true;
            self.partial = BytesMut::new();
            self.in_message = false;
        }
        result
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ChunkError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && !self.in_message => Ok(None),
            None => {
                let err = self.truncated(src);
                self.poisoned = true;
                Err(err)
            }
        }
    }
}

impl Encoder<Bytes> for ChunkCodec {
    type Error = ChunkError;

    /// Writes one message: chunks of at most 65 535 bytes, then `00 00`.
    fn encode(&mut self, message: Bytes, dst: &mut BytesMut) -> Result<(), ChunkError> {
        encode_message(&message, dst)
    }
}

impl Encoder<Frame> for ChunkCodec {
    type Error = ChunkError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), ChunkError> {
        match frame {
            Frame::Message(body) => encode_message(&body, dst),
            Frame::Noop => {
                dst.put_u16(0);
                Ok(())
            }
        }
    }
}

/// Chunk `message` into `dst`: the encoding half of the codec, usable without a codec value.
pub fn encode_message(message: &[u8], dst: &mut BytesMut) -> Result<(), ChunkError> {
    if message.is_empty() {
        return Err(ChunkError::EmptyMessage);
    }
    let chunks = message.len().div_ceil(MAX_CHUNK_SIZE);
    dst.reserve(message.len() + chunks * HEADER_LEN + HEADER_LEN);
    for chunk in message.chunks(MAX_CHUNK_SIZE) {
        // chunks() guarantees chunk.len() <= MAX_CHUNK_SIZE, so the cast cannot truncate.
        dst.put_u16(chunk.len() as u16);
        dst.put_slice(chunk);
    }
    dst.put_u16(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut ChunkCodec, bytes: &[u8]) -> Result<Vec<Frame>, ChunkError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode_eof(&mut buf)? {
            out.push(frame);
        }
        Ok(out)
    }

    #[test]
    fn single_chunk_message_is_not_copied() {
        let mut codec = ChunkCodec::default();
        let mut buf = BytesMut::from(&[0x00, 0x02, 0xB0, 0x0F, 0x00, 0x00, 0x00][..]);
        let base = buf.as_ptr() as usize;
        let Some(Frame::Message(body)) = codec.decode(&mut buf).unwrap() else {
            panic!("expected a message");
        };
        assert_eq!(&body[..], &[0xB0, 0x0F]);
        // The body points into the original read buffer, two bytes in (after the header).
        assert_eq!(body.as_ptr() as usize, base + 2);
        assert_eq!(&buf[..], &[0x00]);
    }

    #[test]
    fn noop_between_messages_and_not_inside() {
        let mut codec = ChunkCodec::default();
        let frames = decode_all(
            &mut codec,
            &[0, 0, 0, 1, 0xAA, 0, 1, 0xBB, 0, 0, 0, 0, 0, 0],
        )
        .unwrap();
        assert_eq!(
            frames,
            vec![
                Frame::Noop,
                Frame::Message(Bytes::from_static(&[0xAA, 0xBB])),
                Frame::Noop,
                Frame::Noop,
            ]
        );
    }

    #[test]
    fn size_checked_on_header_before_body() {
        let mut codec = ChunkCodec::new(10);
        // Header announces 11 bytes, none of which have arrived yet.
        let mut buf = BytesMut::from(&[0x00, 0x0B][..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            ChunkError::MessageTooLarge { size: 11, max: 10 }
        ));
        assert!(matches!(codec.decode(&mut buf), Err(ChunkError::Poisoned)));
    }

    #[test]
    fn size_checked_on_running_total() {
        let mut codec = ChunkCodec::new(10);
        let mut buf = BytesMut::from(&[0, 6, 1, 2, 3, 4, 5, 6, 0, 5][..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, ChunkError::MessageTooLarge { size: 11, max: 10 }),
            "{err}"
        );
        // The message buffer held only the first chunk; nothing of the second was waited for.
    }

    #[test]
    fn exactly_max_is_accepted() {
        let mut codec = ChunkCodec::new(4);
        let frames = decode_all(&mut codec, &[0, 2, 1, 2, 0, 2, 3, 4, 0, 0]).unwrap();
        assert_eq!(
            frames,
            vec![Frame::Message(Bytes::from_static(&[1, 2, 3, 4]))]
        );
    }

    #[test]
    fn eof_cases() {
        for (input, waiting) in [
            (&[0u8][..], "a chunk header"),
            (&[0, 3, 1][..], "the rest of a chunk body"),
            (&[0, 1, 1][..], "the end-of-message marker 00 00"),
            (&[0, 1, 1, 0, 2, 9][..], "the rest of a chunk body"),
            (&[0, 1, 1, 0, 1, 9][..], "a chunk header"),
        ] {
            let mut codec = ChunkCodec::default();
            let err = decode_all(&mut codec, input).unwrap_err();
            match err {
                ChunkError::Truncated { waiting_for, .. } => {
                    assert_eq!(waiting_for, waiting, "input {input:02X?}")
                }
                other => panic!("{input:02X?}: {other}"),
            }
        }
        let mut codec = ChunkCodec::default();
        assert!(decode_all(&mut codec, &[]).unwrap().is_empty());
        assert_eq!(decode_all(&mut codec, &[0, 0]).unwrap(), vec![Frame::Noop]);
    }

    #[test]
    fn encode_splits_and_terminates() {
        let mut codec = ChunkCodec::default();
        let mut dst = BytesMut::new();
        codec.encode(Frame::Noop, &mut dst).unwrap();
        codec
            .encode(Bytes::from_static(&[0xB0, 0x0F]), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], &[0, 0, 0, 2, 0xB0, 0x0F, 0, 0]);

        let big = Bytes::from(vec![7u8; MAX_CHUNK_SIZE + 1]);
        let mut dst = BytesMut::new();
        codec.encode(Frame::Message(big.clone()), &mut dst).unwrap();
        assert_eq!(dst.len(), big.len() + 3 * HEADER_LEN);
        assert_eq!(&dst[..2], &[0xFF, 0xFF]);
        assert_eq!(&dst[2 + MAX_CHUNK_SIZE..4 + MAX_CHUNK_SIZE], &[0, 1]);
        assert_eq!(&dst[dst.len() - 2..], &[0, 0]);
        assert_eq!(
            decode_all(&mut codec, &dst).unwrap(),
            vec![Frame::Message(big)]
        );
    }

    #[test]
    fn empty_message_is_refused_on_encode() {
        let mut dst = BytesMut::new();
        let err = ChunkCodec::default()
            .encode(Bytes::new(), &mut dst)
            .unwrap_err();
        assert!(matches!(err, ChunkError::EmptyMessage));
        assert!(dst.is_empty());
    }

    #[test]
    fn io_error_keeps_its_cause() {
        use std::error::Error as _;
        let err = ChunkError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset by peer",
        ));
        assert_eq!(err.source().unwrap().to_string(), "reset by peer");
    }
}
