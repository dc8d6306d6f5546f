//! A zero-allocation reader over a PackStream byte slice.
//!
//! [`Cursor`] is the single primitive every decoding path uses: the full [`decode`](super::decode)
//! builds [`Value`](super::Value)s on top of it, and the message views read headers, borrow `&str`s
//! and [`skip_value`](Cursor::skip_value) whatever they do not need. It works on `&[u8]` with an
//! index, so bounds checks are plain slice arithmetic and nothing is copied until a caller asks.
//!
//! Every length read from the wire is checked against the bytes still unread *before* the caller can
//! allocate for it: a list of `n` items needs at least `n` bytes, a map `2n`.

use super::marker::{self, Marker};
use super::{DecodeError, Limits};

/// A position in a PackStream byte slice. Offsets in errors count from the slice's start.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
    pub(super) limits: Limits,
}

type Result<T> = std::result::Result<T, DecodeError>;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`, with default [`Limits`].
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor::with_limits(buf, Limits::default())
    }

    pub fn with_limits(buf: &'a [u8], limits: Limits) -> Self {
        Cursor {
            buf,
            pos: 0,
            limits,
        }
    }

    /// Bytes consumed so far (the offset of the next marker).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The unread rest of the input.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    // === primitives ===

    #[inline]
    pub(super) fn byte(&mut self, what: &'static str) -> Result<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.truncated(what, 1)),
        }
    }

    #[inline]
    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.truncated(what, n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn truncated(&self, what: &'static str, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            offset: self.pos,
            what,
            needed,
            available: self.remaining(),
        }
    }

    /// Read a big-endian unsigned length of `width` bytes (1, 2 or 4).
    #[inline]
    fn be_len(&mut self, width: u8, what: &'static str) -> Result<u64> {
        Ok(match width {
            1 => u64::from(self.byte(what)?),
            2 => u64::from(u16::from_be_bytes(self.array(what)?)),
            _ => u64::from(u32::from_be_bytes(self.array(what)?)),
        })
    }

    /// Check a claimed length: against the spec's cap and [`Limits::max_len`], then against what the
    /// input can still hold (`len * per_item` bytes at least).
    #[inline]
    fn check_len(&self, at: usize, what: &'static str, len: u64, per_item: u64) -> Result<usize> {
        let max = self.limits.max_len.min(marker::MAX_LEN_32);
        if len > max as u64 {
            return Err(DecodeError::TooLong {
                offset: at,
                what,
                len,
                max,
            });
        }
        let remaining = self.remaining();
        if len.saturating_mul(per_item) > remaining as u64 {
            return Err(DecodeError::LengthExceedsInput {
                offset: at,
                what,
                len,
                remaining,
            });
        }
        Ok(len as usize)
    }

    fn unexpected(at: usize, expected: &'static str, found: Marker) -> DecodeError {
        match found {
            Marker::Reserved(marker) => DecodeError::ReservedMarker { offset: at, marker },
            _ => DecodeError::Unexpected {
                offset: at,
                expected,
                found: found.type_name(),
            },
        }
    }

    // === markers and headers ===

    /// The next marker, without consuming it.
    pub fn peek_marker(&self) -> Result<Marker> {
        match self.buf.get(self.pos) {
            Some(&b) => Ok(Marker::of(b)),
            None => Err(self.truncated("marker", 1)),
        }
    }

    /// Consume one marker byte. Sizes carried in following bytes are not read.
    #[inline]
    pub fn read_marker(&mut self) -> Result<Marker> {
        Ok(Marker::of(self.byte("marker")?))
    }

    /// Read a structure header: `(field count, tag)`. Accepts `B0`..`BF` and the legacy `DC`/`DD`.
    #[inline]
    pub fn read_struct_header(&mut self) -> Result<(usize, u8)> {
        // Every Bolt message starts with a tiny structure, and a relayed request's header is read
        // by several checks: without the general path's error plumbing it costs a few
        // instructions. Anything else, errors included, takes the general path.
        if let [m @ 0xB0..=0xBF, tag, ..] = self.buf[self.pos.min(self.buf.len())..] {
            let n = usize::from(m & 0x0F);
            if n <= self.limits.max_len && n <= self.remaining() - 2 {
                self.pos += 2;
                return Ok((n, tag));
            }
        }
        self.read_struct_header_general()
    }

    fn read_struct_header_general(&mut self) -> Result<(usize, u8)> {
        let at = self.pos;
        let n = match self.read_marker()? {
            Marker::TinyStruct(n) => u64::from(n),
            Marker::Struct(w) => self.be_len(w, "structure size")?,
            m => return Err(Self::unexpected(at, "structure", m)),
        };
        let tag = self.byte("structure tag")?;
        let n = self.check_len(at, "structure", n, 1)?;
        Ok((n, tag))
    }

    /// Read a list header: the item count.
    pub fn read_list_header(&mut self) -> Result<usize> {
        let at = self.pos;
        let n = match self.read_marker()? {
            Marker::TinyList(n) => u64::from(n),
            Marker::List(w) => self.be_len(w, "list size")?,
            m => return Err(Self::unexpected(at, "list", m)),
        };
        self.check_len(at, "list", n, 1)
    }

    /// Read a map header: the entry count.
    pub fn read_map_header(&mut self) -> Result<usize> {
        let at = self.pos;
        let n = match self.read_marker()? {
            Marker::TinyMap(n) => u64::from(n),
            Marker::Map(w) => self.be_len(w, "map size")?,
            m => return Err(Self::unexpected(at, "map", m)),
        };
        self.check_len(at, "map", n, 2)
    }

    // === scalars ===

    /// Read a string, borrowed from the input.
    #[inline]
    pub fn read_str(&mut self) -> Result<&'a str> {
        let at = self.pos;
        let m = self.read_marker()?;
        self.str_body(at, m, "string")
    }

    /// A string whose marker was already read at `at`.
    #[inline]
    pub(super) fn str_body(
        &mut self,
        at: usize,
        m: Marker,
        expected: &'static str,
    ) -> Result<&'a str> {
        let bytes = self.str_bytes_body(at, m, expected)?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
            offset: self.pos - bytes.len(),
            valid_up_to: e.valid_up_to(),
        })
    }

    /// A string's bytes, its marker already read at `at`, unchecked for UTF-8.
    #[inline]
    fn str_bytes_body(&mut self, at: usize, m: Marker, expected: &'static str) -> Result<&'a [u8]> {
        let n = match m {
            Marker::TinyString(n) => self.check_len(at, "string", u64::from(n), 1)?,
            Marker::String(w) => {
                let n = self.be_len(w, "string size")?;
                self.check_len(at, "string", n, 1)?
            }
            m => return Err(Self::unexpected(at, expected, m)),
        };
        self.take(n, "string")
    }

    /// Read a string's bytes without checking that they are UTF-8: for map keys compared with
    /// known ASCII names, where a key that is not valid UTF-8 simply matches none of them.
    pub fn read_str_bytes(&mut self) -> Result<&'a [u8]> {
        let at = self.pos;
        let m = self.read_marker()?;
        self.str_bytes_body(at, m, "string")
    }

    /// Read a string or null (`None`).
    pub fn read_opt_str(&mut self) -> Result<Option<&'a str>> {
        if self.peek_marker()? == Marker::Null {
            self.pos += 1;
            return Ok(None);
        }
        self.read_str().map(Some)
    }

    /// Read an integer of any width.
    #[inline]
    pub fn read_int(&mut self) -> Result<i64> {
        let at = self.pos;
        let m = self.read_marker()?;
        self.int_body(at, m)
    }

    #[inline]
    pub(super) fn int_body(&mut self, at: usize, m: Marker) -> Result<i64> {
        Ok(match m {
            Marker::TinyInt(i) => i64::from(i),
            Marker::Int(1) => i64::from(self.byte("INT_8")? as i8),
            Marker::Int(2) => i64::from(i16::from_be_bytes(self.array("INT_16")?)),
            Marker::Int(4) => i64::from(i32::from_be_bytes(self.array("INT_32")?)),
            Marker::Int(_) => i64::from_be_bytes(self.array("INT_64")?),
            m => return Err(Self::unexpected(at, "integer", m)),
        })
    }

    pub fn read_bool(&mut self) -> Result<bool> {
        let at = self.pos;
        match self.read_marker()? {
            Marker::True => Ok(true),
            Marker::False => Ok(false),
            m => Err(Self::unexpected(at, "boolean", m)),
        }
    }

    pub fn read_float(&mut self) -> Result<f64> {
        let at = self.pos;
        match self.read_marker()? {
            Marker::Float => Ok(f64::from_be_bytes(self.array("FLOAT_64")?)),
            m => Err(Self::unexpected(at, "float", m)),
        }
    }

    /// Read a byte array, borrowed from the input.
    pub fn read_bytes(&mut self) -> Result<&'a [u8]> {
        let at = self.pos;
        let m = self.read_marker()?;
        self.bytes_body(at, m)
    }

    pub(super) fn bytes_body(&mut self, at: usize, m: Marker) -> Result<&'a [u8]> {
        match m {
            Marker::Bytes(w) => {
                let n = self.be_len(w, "bytes size")?;
                let n = self.check_len(at, "bytes", n, 1)?;
                self.take(n, "bytes")
            }
            m => Err(Self::unexpected(at, "bytes", m)),
        }
    }

    /// Consume a null; error on anything else.
    pub fn read_null(&mut self) -> Result<()> {
        let at = self.pos;
        match self.read_marker()? {
            Marker::Null => Ok(()),
            m => Err(Self::unexpected(at, "null", m)),
        }
    }

    // === skipping ===

    /// Skip one whole value without allocating or recursing: a counter of values still to skip
    /// replaces the call stack, so nesting depth costs nothing. Map keys are not type-checked here.
    /// Lengths are checked against [`Limits::max_len`]; depth is not (see
    /// [`Cursor::skip_value_checked`]).
    pub fn skip_value(&mut self) -> Result<()> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            if let Some(children) = self.skip_header()? {
                pending += children;
            }
            // Every pending value needs at least one byte: fail now rather than at the end.
            if pending > self.remaining() as u64 {
                return Err(self.truncated("value", pending as usize));
            }
        }
        Ok(())
    }

    /// [`Cursor::skip_value`] with every limit the decoder enforces, nesting depth included
    /// ([`Limits::max_depth`], counted as the decoder does: the outermost list, map or
    /// structure is depth 1, empty ones too). For bytes that are relayed without being decoded:
    /// what the proxy forwards must be what its own decoder would accept. Memory is bounded by
    /// the depth limit, not by the input.
    pub fn skip_value_checked(&mut self) -> Result<()> {
        let max_depth = self.limits.max_depth;
        // Values still to skip at each open level; its length is the depth of the next container.
        // Inline up to 16 levels: every forwarded message passes here, most of them shallow.
        let mut levels: smallvec::SmallVec<[u64; 16]> = smallvec::smallvec![1];
        let mut pending: u64 = 1;
        while let Some(top) = levels.last_mut() {
            if *top == 0 {
                levels.pop();
                continue;
            }
            *top -= 1;
            pending -= 1;
            let at = self.pos;
            if let Some(children) = self.skip_header()? {
                if levels.len() > max_depth {
                    return Err(DecodeError::TooDeep {
                        offset: at,
                        max_depth,
                    });
                }
                if children > 0 {
                    levels.push(children);
                    pending += children;
                }
            }
            if pending > self.remaining() as u64 {
                return Err(self.truncated("value", pending as usize));
            }
        }
        Ok(())
    }

    /// Reads one marker and skips what it owns: a scalar whole (None), or a list, map or
    /// structure header, returning how many values follow as its contents.
    fn skip_header(&mut self) -> Result<Option<u64>> {
        let at = self.pos;
        let children = match self.read_marker()? {
            Marker::Null | Marker::True | Marker::False | Marker::TinyInt(_) => return Ok(None),
            Marker::Int(n) => {
                self.take(usize::from(n), "integer")?;
                return Ok(None);
            }
            Marker::Float => {
                self.take(8, "FLOAT_64")?;
                return Ok(None);
            }
            Marker::Bytes(w) => {
                let n = self.be_len(w, "bytes size")?;
                let n = self.check_len(at, "bytes", n, 1)?;
                self.take(n, "bytes")?;
                return Ok(None);
            }
            Marker::TinyString(n) => {
                self.take(usize::from(n), "string")?;
                return Ok(None);
            }
            Marker::String(w) => {
                let n = self.be_len(w, "string size")?;
                let n = self.check_len(at, "string", n, 1)?;
                self.take(n, "string")?;
                return Ok(None);
            }
            Marker::TinyList(n) => u64::from(n),
            Marker::List(w) => {
                let n = self.be_len(w, "list size")?;
                self.check_len(at, "list", n, 1)? as u64
            }
            Marker::TinyMap(n) => 2 * u64::from(n),
            Marker::Map(w) => {
                let n = self.be_len(w, "map size")?;
                2 * self.check_len(at, "map", n, 2)? as u64
            }
            Marker::TinyStruct(n) => {
                self.byte("structure tag")?;
                u64::from(n)
            }
            Marker::Struct(w) => {
                let n = self.be_len(w, "structure size")?;
                self.byte("structure tag")?;
                self.check_len(at, "structure", n, 1)? as u64
            }
            Marker::Reserved(marker) => {
                return Err(DecodeError::ReservedMarker { offset: at, marker })
            }
        };
        Ok(Some(children))
    }
}
