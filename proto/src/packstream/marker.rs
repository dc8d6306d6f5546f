//! Every PackStream marker byte as a named constant, and the one table that classifies them.
//!
//! The decoder, the encoder and the zero-allocation [`Cursor`](super::Cursor) all dispatch on
//! [`Marker::of`], so the marker layout (bolt-reference §3.1) lives in exactly one place.

/// `C0`: null.
pub const NULL: u8 = 0xC0;
/// `C1`: 64-bit IEEE-754 float, big-endian.
pub const FLOAT_64: u8 = 0xC1;
/// `C2`: false.
pub const FALSE: u8 = 0xC2;
/// `C3`: true.
pub const TRUE: u8 = 0xC3;
/// `C8`..`CB`: integers of 1, 2, 4 and 8 bytes.
pub const INT_8: u8 = 0xC8;
pub const INT_16: u8 = 0xC9;
pub const INT_32: u8 = 0xCA;
pub const INT_64: u8 = 0xCB;
/// `CC`..`CE`: byte arrays with a u8, u16 or u32 length (there is no tiny form).
pub const BYTES_8: u8 = 0xCC;
pub const BYTES_16: u8 = 0xCD;
pub const BYTES_32: u8 = 0xCE;
/// `80`..`8F`: string of 0..15 bytes; `D0`..`D2`: u8, u16, u32 length.
pub const TINY_STRING: u8 = 0x80;
pub const STRING_8: u8 = 0xD0;
pub const STRING_16: u8 = 0xD1;
pub const STRING_32: u8 = 0xD2;
/// `90`..`9F`: list of 0..15 items; `D4`..`D6`: u8, u16, u32 count.
pub const TINY_LIST: u8 = 0x90;
pub const LIST_8: u8 = 0xD4;
pub const LIST_16: u8 = 0xD5;
pub const LIST_32: u8 = 0xD6;
/// `A0`..`AF`: map of 0..15 entries; `D8`..`DA`: u8, u16, u32 count.
pub const TINY_MAP: u8 = 0xA0;
pub const MAP_8: u8 = 0xD8;
pub const MAP_16: u8 = 0xD9;
pub const MAP_32: u8 = 0xDA;
/// `B0`..`BF`: structure of 0..15 fields; `DC`/`DD`: legacy u8/u16 field count (decoded, never emitted).
pub const TINY_STRUCT: u8 = 0xB0;
pub const STRUCT_8: u8 = 0xDC;
pub const STRUCT_16: u8 = 0xDD;

/// The PackStream spec caps every `*_32` length at i32::MAX (bolt-reference §3.1).
pub const MAX_LEN_32: usize = i32::MAX as usize;

/// What a marker byte announces, with any size carried in the marker itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Null,
    False,
    True,
    /// `00`..`7F` and `F0`..`FF`: the value is in the marker.
    TinyInt(i8),
    /// `C8`..`CB`: this many bytes follow.
    Int(u8),
    Float,
    /// Byte array; the length is in the next `u8`/`u16`/`u32` (width in bytes).
    Bytes(u8),
    /// String of this many bytes, the length is in the marker.
    TinyString(u8),
    /// String whose length is in the next 1, 2 or 4 bytes.
    String(u8),
    TinyList(u8),
    List(u8),
    TinyMap(u8),
    Map(u8),
    TinyStruct(u8),
    /// Legacy `DC`/`DD`: the field count is in the next 1 or 2 bytes.
    Struct(u8),
    /// `C4`..`C7`, `CF`, `D3`, `D7`, `DB`, `DE`..`EF`.
    Reserved(u8),
}

impl Marker {
    /// Classify a marker byte. Total: every byte maps to something.
    #[inline]
    pub const fn of(b: u8) -> Marker {
        match b {
            0x00..=0x7F | 0xF0..=0xFF => Marker::TinyInt(b as i8),
            0x80..=0x8F => Marker::TinyString(b & 0x0F),
            0x90..=0x9F => Marker::TinyList(b & 0x0F),
            0xA0..=0xAF => Marker::TinyMap(b & 0x0F),
            0xB0..=0xBF => Marker::TinyStruct(b & 0x0F),
            NULL => Marker::Null,
            FLOAT_64 => Marker::Float,
            FALSE => Marker::False,
            TRUE => Marker::True,
            INT_8 => Marker::Int(1),
            INT_16 => Marker::Int(2),
            INT_32 => Marker::Int(4),
            INT_64 => Marker::Int(8),
            BYTES_8 => Marker::Bytes(1),
            BYTES_16 => Marker::Bytes(2),
            BYTES_32 => Marker::Bytes(4),
            STRING_8 => Marker::String(1),
            STRING_16 => Marker::String(2),
            STRING_32 => Marker::String(4),
            LIST_8 => Marker::List(1),
            LIST_16 => Marker::List(2),
            LIST_32 => Marker::List(4),
            MAP_8 => Marker::Map(1),
            MAP_16 => Marker::Map(2),
            MAP_32 => Marker::Map(4),
            STRUCT_8 => Marker::Struct(1),
            STRUCT_16 => Marker::Struct(2),
            _ => Marker::Reserved(b),
        }
    }

    /// A short name of the type this marker starts, for error messages.
    pub const fn type_name(self) -> &'static str {
        match self {
            Marker::Null => "null",
            Marker::False | Marker::True => "boolean",
            Marker::TinyInt(_) | Marker::Int(_) => "integer",
            Marker::Float => "float",
            Marker::Bytes(_) => "bytes",
            Marker::TinyString(_) | Marker::String(_) => "string",
            Marker::TinyList(_) | Marker::List(_) => "list",
            Marker::TinyMap(_) | Marker::Map(_) => "map",
            Marker::TinyStruct(_) | Marker::Struct(_) => "structure",
            Marker::Reserved(_) => "reserved marker",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_classifies_and_reserved_ones_are_exactly_the_spec_gaps() {
        let reserved: Vec<u8> = (0..=255u8)
            .filter(|b| matches!(Marker::of(*b), Marker::Reserved(_)))
            .collect();
        let mut expected = vec![0xC4, 0xC5, 0xC6, 0xC7, 0xCF, 0xD3, 0xD7, 0xDB];
        expected.extend(0xDE..=0xEF);
        assert_eq!(reserved, expected);
        assert_eq!(Marker::of(0xF0), Marker::TinyInt(-16));
        assert_eq!(Marker::of(0x7F), Marker::TinyInt(127));
    }
}
