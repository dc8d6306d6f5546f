//! Finding whole messages in a chunked stream without moving a byte: the forwarding path.
//!
//! A proxy relaying a result stream needs, per message, only where it ends and its signature (a
//! RECORD changes no state; a summary is decoded). [`ChunkCodec`](crate::chunk::ChunkCodec)
//! de-chunks every message into its own buffer and the relay re-chunks it on the way out: one copy
//! and a handful of allocations and calls per message, which on 12-byte RECORDs is the whole cost.
//! [`Scanner`] instead walks the chunk headers of a read buffer in place and reports [`Span`]s:
//! the wire bytes of each whole message (headers and end marker included), so the caller can
//! forward the covered prefix as it arrived, in one write, and decode only the few spans it
//! cares about ([`Span::payload`]).
//!
//! The same limits as the codec: the maximum message size is checked as each chunk header
//! arrives, before its body is waited for; after an error the scanner stays failed.
//!
//! A message still incomplete at the end of the buffer is left there; the scanner remembers how
//! far it walked it, so a large multi-chunk message is not re-walked from its start on every read
//! (the caller must remove exactly the covered prefix before scanning again).

use bytes::{BufMut, Bytes, BytesMut};

use crate::chunk::ChunkError;

const HEADER_LEN: usize = 2;

/// One whole frame found by [`Scanner::scan`]: a message, or a NOOP (`payload_len == 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Offset of the frame's first byte (its first chunk header) in the scanned buffer.
    pub start: usize,
    /// Offset just past the frame's end marker.
    pub end: usize,
    /// Payload bytes: chunk headers and the end marker excluded; 0 for a NOOP.
    pub payload_len: usize,
    /// The message's signature (its second payload byte); 0 for a NOOP or a 1-byte message.
    pub signature: u8,
    /// Number of chunks the payload came in (0 for a NOOP).
    pub chunks: u32,
}

impl Span {
    pub fn is_noop(&self) -> bool {
        self.payload_len == 0
    }

    /// The de-chunked payload of this span of `wire` (the buffer it was scanned from, or the
    /// frozen prefix split off it): a slice of `wire`, no copy, when the message came in one
    /// chunk; one copy otherwise.
    pub fn payload(&self, wire: &Bytes) -> Bytes {
        if self.chunks == 1 {
            return wire.slice(self.start + HEADER_LEN..self.end - HEADER_LEN);
        }
        let mut out = BytesMut::with_capacity(self.payload_len);
        let mut at = self.start;
        loop {
            let n = usize::from(u16::from_be_bytes([wire[at], wire[at + 1]]));
            if n == 0 {
                break;
            }
            out.put_slice(&wire[at + HEADER_LEN..at + HEADER_LEN + n]);
            at += HEADER_LEN + n;
        }
        out.freeze()
    }
}

/// A frame of a run that is neither a RECORD nor a NOOP (a summary, in practice: what ends a
/// request), and how many messages and payload bytes of the run came before it. A forwarder
/// needs nothing else of a run: it sends everything up to a summary as one slice and reads the
/// summary, so it never walks the RECORDs between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub span: Span,
    /// Messages (NOOPs not counted) in the run before this frame.
    pub messages_before: u64,
    /// Their payload bytes.
    pub payload_before: u64,
}

/// Whole frames split off a scanned buffer, with their [`Mark`]s and totals.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub wire: Bytes,
    pub marks: Vec<Mark>,
    /// Messages in the run (NOOPs not counted).
    pub messages: u64,
    /// Their payload bytes.
    pub payload: u64,
}

impl Run {
    /// `wire`, which must hold only whole frames, scanned on its own (for tests and callers that
    /// did not read it through a [`Scanner`]). Bytes after the last whole frame are left out.
    pub fn scan(wire: Bytes, max_message_size: usize) -> Result<Run, ChunkError> {
        let mut scanner = Scanner::new(max_message_size);
        let covered = scanner.scan(&wire)?;
        Ok(scanner.run(wire.slice(..covered)))
    }
}

/// How far the scanner walked the incomplete frame at the front of the buffer.
#[derive(Debug, Default, Clone, Copy)]
struct Partial {
    /// Offset of the next chunk header, from the frame's start.
    at: usize,
    payload_len: usize,
    signature: Option<u8>,
    chunks: u32,
}

/// In-place scanner of a chunked stream; see the module docs.
#[derive(Debug)]
pub struct Scanner {
    max_message_size: usize,
    /// Every frame is kept in `spans` only when asked ([`Scanner::with_spans`]): the forwarding
    /// path needs the marks alone, and a span per RECORD is most of a scan's cost.
    keep_spans: bool,
    spans: Vec<Span>,
    marks: Vec<Mark>,
    messages: u64,
    payload: u64,
    partial: Partial,
    /// An oversized message found behind whole frames: those are reported first, the error on
    /// the next scan (as the codec yields the frames before an error).
    too_large: Option<(usize, usize)>,
    poisoned: bool,
}

impl Scanner {
    /// A scanner that refuses any message over `max_message_size` payload bytes.
    pub fn new(max_message_size: usize) -> Scanner {
        Scanner {
            max_message_size,
            keep_spans: false,
            spans: Vec::new(),
            marks: Vec::new(),
            messages: 0,
            payload: 0,
            partial: Partial::default(),
            too_large: None,
            poisoned: false,
        }
    }

    /// Scans `buf` from its start: the whole frames at its front are then [`Scanner::spans`],
    /// and the returned length is the prefix they cover (0 when the first frame is incomplete).
    /// Before the next call the caller removes exactly that prefix from the buffer.
    pub fn scan(&mut self, buf: &[u8]) -> Result<usize, ChunkError> {
        self.spans.clear();
        self.marks.clear();
        self.messages = 0;
        self.payload = 0;
        if self.poisoned {
            return Err(ChunkError::Poisoned);
        }
        if let Some((size, max)) = self.too_large.take() {
            self.poisoned = true;
            return Err(ChunkError::MessageTooLarge { size, max });
        }
        let mut start = 0;
        loop {
            if self.partial.at == 0 {
                if !self.keep_spans {
                    start = self.skip_records(buf, start);
                }
                // The common case, in one step: a message in one chunk, whole in the buffer.
                // Anything else (a NOOP, several chunks, a short buffer, an oversized header)
                // takes the general step below, which decides exactly as before.
                if let Some(&[h0, h1]) = buf.get(start..start + HEADER_LEN) {
                    let n = usize::from(u16::from_be_bytes([h0, h1]));
                    let end = start + HEADER_LEN + n + HEADER_LEN;
                    if n > 0
                        && n <= self.max_message_size
                        && buf.get(end - HEADER_LEN..end) == Some(&[0, 0][..])
                    {
                        let signature = if n >= 2 { buf[start + 3] } else { 0 };
                        self.found(Span {
                            start,
                            end,
                            payload_len: n,
                            signature,
                            chunks: 1,
                        });
                        start = end;
                        continue;
                    }
                }
            }
            let p = &mut self.partial;
            let header = start + p.at;
            if buf.len() < header + HEADER_LEN {
                return Ok(start);
            }
            let n = usize::from(u16::from_be_bytes([buf[header], buf[header + 1]]));
            if n == 0 {
                let end = header + HEADER_LEN;
                let span = Span {
                    start,
                    end,
                    payload_len: p.payload_len,
                    signature: p.signature.unwrap_or(0),
                    chunks: p.chunks,
                };
                *p = Partial::default();
                self.found(span);
                start = end;
                continue;
            }
            let size = p.payload_len.saturating_add(n);
            if size > self.max_message_size {
                if start > 0 {
                    self.too_large = Some((size, self.max_message_size));
                    return Ok(start);
                }
                self.poisoned = true;
                return Err(ChunkError::MessageTooLarge {
                    size,
                    max: self.max_message_size,
                });
            }
            let body = header + HEADER_LEN;
            if buf.len() < body + n {
                return Ok(start);
            }
            if p.signature.is_none() && size >= 2 {
                // The payload's second byte, in this chunk (the first may have held one byte).
                p.signature = Some(buf[body + 1 - p.payload_len]);
            }
            p.payload_len = size;
            p.chunks += 1;
            p.at += HEADER_LEN + n;
        }
    }

    /// Past the whole single-chunk RECORDs at `start`: what a result stream mostly is, counted
    /// with neither a span nor a mark each, in a loop of its own that keeps its counts in
    /// registers. Anything else (another message, a NOOP, several chunks, a short buffer, an
    /// oversized header) stops it, for the steps of [`Scanner::scan`] to take. This loop is
    /// the proxy's cost per forwarded RECORD: 41 instructions through the general step, 19 here
    /// (`examples/record_cost.sh`).
    #[inline]
    fn skip_records(&mut self, buf: &[u8], start: usize) -> usize {
        let mut messages = 0u64;
        // 2 <= n <= max in one comparison (n < 2 wraps around to a huge value).
        let above_two = self.max_message_size.saturating_sub(2);
        // Walking a shrinking slice lets the compiler drop the bounds checks of the indexing.
        let mut rest = &buf[start..];
        // The header, then the payload's marker and signature.
        while let &[h0, h1, _, signature, ..] = rest {
            let n = usize::from(u16::from_be_bytes([h0, h1]));
            if signature != crate::message::sig::RECORD || n.wrapping_sub(2) > above_two {
                break;
            }
            // The end marker 00 00, compared as one u16.
            match rest.get(HEADER_LEN + n..HEADER_LEN + n + HEADER_LEN) {
                Some(&[a, b]) if u16::from_ne_bytes([a, b]) == 0 => {
                    rest = &rest[HEADER_LEN + n + HEADER_LEN..]
                }
                _ => break,
            }
            messages += 1;
        }
        let end = buf.len() - rest.len();
        self.messages += messages;
        // Each of these messages is one chunk: its payload is its bytes but a header and an end.
        self.payload += (end - start) as u64 - messages * (2 * HEADER_LEN) as u64;
        end
    }

    /// A whole frame: counted, marked unless it is a RECORD or a NOOP, kept if asked.
    #[inline]
    fn found(&mut self, span: Span) {
        if span.payload_len > 0 {
            if span.signature != crate::message::sig::RECORD {
                self.marks.push(Mark {
                    span,
                    messages_before: self.messages,
                    payload_before: self.payload,
                });
            }
            self.messages += 1;
            self.payload += span.payload_len as u64;
        }
        if self.keep_spans {
            self.spans.push(span);
        }
    }

    /// A scanner that also keeps every frame's span ([`Scanner::spans`]), for callers that look
    /// at each message.
    pub fn with_spans(mut self) -> Scanner {
        self.keep_spans = true;
        self
    }

    /// The non-RECORD frames found by the last [`Scanner::scan`] (see [`Mark`]).
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// The last scan's result as a [`Run`] of `wire`, the covered prefix split off the buffer.
    pub fn run(&mut self, wire: Bytes) -> Run {
        Run {
            wire,
            marks: std::mem::take(&mut self.marks),
            messages: self.messages,
            payload: self.payload,
        }
    }

    /// The whole frames found by the last [`Scanner::scan`], in order; empty unless the scanner
    /// was made [`Scanner::with_spans`].
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Gives back the spans' memory (a run of small messages needs thousands of them): for a
    /// connection going idle.
    pub fn release(&mut self) {
        self.spans = Vec::new();
        self.marks = Vec::new();
    }

    /// The error for a connection that closed with `leftover` (non-empty) bytes of an
    /// unfinished frame at the front of its buffer.
    pub fn truncated(&self, leftover: &[u8]) -> ChunkError {
        let header = self.partial.at;
        let waiting_for = if leftover.len() < header + HEADER_LEN {
            if header == 0 {
                "a chunk header"
            } else {
                "the next chunk header or the end-of-message marker 00 00"
            }
        } else {
            "the rest of a chunk body"
        };
        ChunkError::Truncated {
            message_bytes: self.partial.payload_len,
            buffered: leftover.len() - header.min(leftover.len()),
            waiting_for,
        }
    }

    /// Bytes the incomplete frame at the front needs before the next scan can make progress: at
    /// least its next chunk header and body. A hint for sizing the read buffer.
    pub fn wanted(&self, buf: &[u8]) -> usize {
        let header = self.partial.at;
        if buf.len() < header + HEADER_LEN {
            return header + HEADER_LEN;
        }
        let n = usize::from(u16::from_be_bytes([buf[header], buf[header + 1]]));
        header + HEADER_LEN + n + HEADER_LEN
    }
}

/// The frame starting at offset `at` of `run`, a run of whole frames that a [`Scanner`] covered
/// (so sizes were checked): for walking a run again later without keeping its spans. None past
/// the end (or if `run` was not such a run).
pub fn frame_at(run: &[u8], at: usize) -> Option<Span> {
    let mut p = Partial::default();
    loop {
        let header = at + p.at;
        let n = usize::from(u16::from_be_bytes([
            *run.get(header)?,
            *run.get(header + 1)?,
        ]));
        if n == 0 {
            return Some(Span {
                start: at,
                end: header + HEADER_LEN,
                payload_len: p.payload_len,
                signature: p.signature.unwrap_or(0),
                chunks: p.chunks,
            });
        }
        let body = header + HEADER_LEN;
        if run.len() < body + n {
            return None;
        }
        if p.signature.is_none() && p.payload_len + n >= 2 {
            p.signature = Some(run[body + 1 - p.payload_len]);
        }
        p.payload_len += n;
        p.chunks += 1;
        p.at += HEADER_LEN + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{encode_message, ChunkCodec, Frame};
    use tokio_util::codec::Decoder;

    fn wire(messages: &[&[u8]]) -> BytesMut {
        let mut out = BytesMut::new();
        for m in messages {
            if m.is_empty() {
                out.put_u16(0);
            } else {
                encode_message(m, &mut out).unwrap();
            }
        }
        out
    }

    /// The marks are the spans that are neither RECORDs nor NOOPs, each with the messages and
    /// payload before it.
    fn check_marks(s: &Scanner) {
        let (mut messages, mut payload, mut want) = (0u64, 0u64, Vec::new());
        for span in s.spans() {
            if span.is_noop() {
                continue;
            }
            if span.signature != crate::message::sig::RECORD {
                want.push(Mark {
                    span: *span,
                    messages_before: messages,
                    payload_before: payload,
                });
            }
            messages += 1;
            payload += span.payload_len as u64;
        }
        assert_eq!(s.marks(), &want[..]);
        assert_eq!((s.messages, s.payload), (messages, payload));
    }

    #[test]
    fn a_run_of_records_has_no_marks_and_a_summary_is_marked_with_what_came_before() {
        let input = wire(&[
            &[0xB1, 0x71, 0x91, 0x01],
            &[],
            &[0xB1, 0x71, 0x91, 0x02],
            &[0xB1, 0x70, 0xA0],
        ]);
        let run = Run::scan(input.freeze(), 1024).unwrap();
        assert_eq!((run.messages, run.payload), (3, 11));
        assert_eq!(run.marks.len(), 1);
        let m = run.marks[0];
        assert_eq!((m.messages_before, m.payload_before), (2, 8));
        assert_eq!(m.span.signature, 0x70);
        assert_eq!(m.span.end, run.wire.len());
        assert_eq!(m.span.payload(&run.wire).as_ref(), &[0xB1, 0x70, 0xA0]);
    }

    /// Feeds `input` in `step`-byte pieces, splitting off what each scan covers; returns every
    /// span's payload (empty for NOOPs) and the bytes forwarded, which must be the input.
    fn scan_in_pieces(input: &[u8], step: usize, max: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut s = Scanner::new(max).with_spans();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut forwarded = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            let n = s.scan(&buf).unwrap();
            check_marks(&s);
            let run = buf.split_to(n).freeze();
            for span in s.spans() {
                out.push(span.payload(&run).to_vec());
            }
            let r = s.run(run.clone());
            assert_eq!(r.wire, run);
            forwarded.extend_from_slice(&run);
        }
        assert!(buf.is_empty(), "everything whole was covered");
        (out, forwarded)
    }

    #[test]
    fn finds_the_same_frames_as_the_codec_in_any_pieces() {
        let big = vec![0xB1u8; 200_000];
        let input = wire(&[
            &[0xB1, 0x71, 0x01],
            &[],
            &big,
            &[0xB0, 0x7E],
            &[0xB1, 0x70, 0xA0],
        ]);
        let mut codec = ChunkCodec::new(1 << 20);
        let mut b = input.clone();
        let mut want = Vec::new();
        while let Some(f) = codec.decode(&mut b).unwrap() {
            want.push(match f {
                Frame::Message(m) => m.to_vec(),
                Frame::Noop => Vec::new(),
            });
        }
        for step in [1, 2, 3, 7, 1000, 65_537, input.len()] {
            let (got, forwarded) = scan_in_pieces(&input, step, 1 << 20);
            assert_eq!(got, want, "step {step}");
            assert_eq!(
                forwarded,
                input.to_vec(),
                "forwarded as it arrived, step {step}"
            );
        }
    }

    /// The relay's scanner keeps no spans and walks RECORDs in a loop of its own: on streams
    /// of RECORDs broken every way that loop stops at (another message, a NOOP, a RECORD in two
    /// chunks, a 1-byte message, an oversized or unfinished one), fed in every piece size, it
    /// covers what the span-keeping scanner covers, with the same marks, counts and errors.
    #[test]
    fn the_record_loop_agrees_with_the_general_steps() {
        let record = |i: u8| vec![0xB1, 0x71, 0x91, i];
        let mut input = Vec::new();
        for i in 0..40u8 {
            match i % 8 {
                0 => input.extend_from_slice(&wire(&[&[0xB1, 0x70, 0xA0]])),
                1 => input.extend_from_slice(&[0, 0]),
                // A RECORD in two chunks, and a 1-byte message whose end marker follows.
                2 => input.extend_from_slice(&[0, 2, 0xB1, 0x71, 0, 2, 0x91, i, 0, 0]),
                3 => input.extend_from_slice(&[0, 1, 0x71, 0, 0]),
                _ => input.extend_from_slice(&wire(&[&record(i)])),
            }
        }
        // An oversized RECORD (32 bytes, the limit is 30), or an unfinished one.
        let mut oversized = vec![0, 32, 0xB1, 0x71];
        oversized.extend_from_slice(&[0x91; 30]);
        oversized.extend_from_slice(&[0, 0]);
        let unfinished = vec![0, 4, 0xB1, 0x71];
        for tail in [Vec::new(), oversized, unfinished] {
            let mut all = input.clone();
            all.extend_from_slice(&tail);
            for step in [1, 2, 3, 4, 5, 7, 11, all.len()] {
                let (mut slow, mut fast) = (Scanner::new(30).with_spans(), Scanner::new(30));
                let mut buf = BytesMut::new();
                for piece in all.chunks(step).chain([&[][..]]) {
                    buf.extend_from_slice(piece);
                    let (a, b) = (slow.scan(&buf), fast.scan(&buf));
                    match (&a, &b) {
                        (Ok(x), Ok(y)) => assert_eq!(x, y, "step {step}"),
                        (Err(x), Err(y)) => {
                            assert_eq!(x.to_string(), y.to_string(), "step {step}");
                            break;
                        }
                        _ => panic!("step {step}: {a:?} and {b:?}"),
                    }
                    assert_eq!(slow.marks(), fast.marks(), "step {step}");
                    assert_eq!(
                        (slow.messages, slow.payload),
                        (fast.messages, fast.payload),
                        "step {step}"
                    );
                    let _ = buf.split_to(a.unwrap());
                }
            }
        }
    }

    #[test]
    fn reports_signatures_chunk_counts_and_payload_lengths() {
        let mut input = wire(&[&[0xB1, 0x71, 0x01]]);
        // A message whose first chunk holds only the marker: the signature is in the second.
        input.extend_from_slice(&[0, 1, 0xB1, 0, 2, 0x70, 0xA0, 0, 0]);
        input.extend_from_slice(&[0, 0]);
        let mut s = Scanner::new(1024).with_spans();
        assert_eq!(s.scan(&input).unwrap(), input.len());
        let spans = s.spans();
        assert_eq!(spans.len(), 3);
        assert_eq!(
            (spans[0].signature, spans[0].chunks, spans[0].payload_len),
            (0x71, 1, 3)
        );
        assert_eq!(
            (spans[1].signature, spans[1].chunks, spans[1].payload_len),
            (0x70, 2, 3)
        );
        assert!(spans[2].is_noop());
        let spans = spans.to_vec();
        let run = input.freeze();
        assert_eq!(spans[1].payload(&run).as_ref(), &[0xB1, 0x70, 0xA0]);
        // Walking the run again finds the same frames.
        let mut at = 0;
        for span in &spans {
            assert_eq!(frame_at(&run, at), Some(*span));
            at = span.end;
        }
        assert_eq!(frame_at(&run, at), None);
    }

    #[test]
    fn refuses_an_oversized_message_at_its_header_and_stays_failed() {
        let mut s = Scanner::new(10).with_spans();
        // Two chunks of 6: the second header already announces 12 > 10.
        let input = [0, 6, 1, 2, 3, 4, 5, 6, 0, 6];
        assert!(matches!(
            s.scan(&input),
            Err(ChunkError::MessageTooLarge { size: 12, max: 10 })
        ));
        assert!(matches!(s.scan(&[0, 0]), Err(ChunkError::Poisoned)));

        // Behind a whole frame: the frame first, the error on the next scan.
        let mut s = Scanner::new(10).with_spans();
        let input = [0, 0, 0, 11];
        assert_eq!(s.scan(&input).unwrap(), 2);
        assert!(s.spans()[0].is_noop());
        assert!(matches!(
            s.scan(&input[2..]),
            Err(ChunkError::MessageTooLarge { size: 11, max: 10 })
        ));
    }

    #[test]
    fn an_unfinished_frame_is_reported_as_truncated() {
        let mut s = Scanner::new(1024).with_spans();
        let input = [0, 3, 0xB1, 0x71];
        assert_eq!(s.scan(&input).unwrap(), 0);
        assert!(matches!(
            s.truncated(&input),
            ChunkError::Truncated {
                waiting_for: "the rest of a chunk body",
                ..
            }
        ));
    }
}
