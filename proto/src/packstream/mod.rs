//! PackStream v1: the value model Bolt messages are made of.
//!
//! - [`Value`], [`Map`] (ordered, duplicates kept, last wins on lookup) and [`Structure`] (tag + fields,
//!   unknown tags kept as they are) model everything the wire can carry.
//! - [`decode`] / [`decode_prefix`] build values from a `&[u8]` with an index: no `Buf` trait object,
//!   no panics, recursion bounded by [`Limits::max_depth`], every length checked against the remaining
//!   input before anything is allocated, and the byte offset in every [`DecodeError`].
//! - [`encode`] writes the smallest marker for every value.
//! - [`Cursor`] reads headers, borrowed strings and skips values without allocating; the message
//!   views (`tx_view`, `summary`, …) are built on it so the proxy never decodes RECORD bodies.

mod cursor;
mod decode;
mod encode;
pub mod marker;
pub mod structs;
mod value;

pub use cursor::Cursor;
pub use decode::{decode, decode_prefix};
pub use encode::{encode, encode_to_vec, EncodeError};
pub(crate) use encode::{
    write_list_header, write_map, write_str, write_struct_header, write_value,
};
pub use marker::Marker;
pub use value::{Map, Structure, Value};

use thiserror::Error;

/// Bounds applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of lists, maps and structures accepted (the outermost value is depth 1).
    pub max_depth: usize,
    /// Largest length accepted for one string or byte array (bytes) or one list, map or structure
    /// (items). Independently of this, no length may exceed the bytes left in the input.
    pub max_len: usize,
}

impl Limits {
    /// Neo4j values rarely nest more than a handful of levels (a path in a list in a map); 64 leaves
    /// room for deep user data while keeping the decoder's stack use small and bounded.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_len: marker::MAX_LEN_32,
        }
    }
}

/// Why some bytes are not a PackStream value. Every variant carries the byte offset (from the start of
/// the input handed to the decoder or cursor) where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error(
        "PackStream truncated at byte {offset}: {what} needs {needed} byte(s), {available} left"
    )]
    Truncated {
        offset: usize,
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("PackStream reserved marker 0x{marker:02X} at byte {offset}: no value starts with it")]
    ReservedMarker { offset: usize, marker: u8 },
    #[error(
        "PackStream {what} at byte {offset} claims length {len}, but only {remaining} byte(s) remain"
    )]
    LengthExceedsInput {
        offset: usize,
        what: &'static str,
        len: u64,
        remaining: usize,
    },
    #[error("PackStream {what} at byte {offset} has length {len}, over the limit of {max}")]
    TooLong {
        offset: usize,
        what: &'static str,
        len: u64,
        max: usize,
    },
    #[error("PackStream value at byte {offset} nests deeper than the limit of {max_depth}")]
    TooDeep { offset: usize, max_depth: usize },
    #[error(
        "PackStream string at byte {offset} is not UTF-8 (valid up to byte {valid_up_to} of it)"
    )]
    InvalidUtf8 { offset: usize, valid_up_to: usize },
    #[error("PackStream map key at byte {offset} is a {found}; map keys must be strings")]
    NonStringKey { offset: usize, found: &'static str },
    #[error("expected a PackStream {expected} at byte {offset}, found a {found}")]
    Unexpected {
        offset: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{remaining} byte(s) left over after the PackStream value, at byte {offset}")]
    TrailingBytes { offset: usize, remaining: usize },
}

impl DecodeError {
    /// Byte offset of the problem, from the start of the decoded input.
    pub fn offset(&self) -> usize {
        match *self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::ReservedMarker { offset, .. }
            | DecodeError::LengthExceedsInput { offset, .. }
            | DecodeError::TooLong { offset, .. }
            | DecodeError::TooDeep { offset, .. }
            | DecodeError::InvalidUtf8 { offset, .. }
            | DecodeError::NonStringKey { offset, .. }
            | DecodeError::Unexpected { offset, .. }
            | DecodeError::TrailingBytes { offset, .. } => offset,
        }
    }
}
