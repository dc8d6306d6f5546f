//! Writing [`Value`]s: always the smallest marker (bolt-reference §3.1), never the legacy `DC`/`DD`
//! structure markers. Sizes PackStream cannot express are an [`EncodeError`], not a truncation.

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use super::marker::{self, MAX_LEN_32};
use super::value::{Map, Value};

/// A value PackStream cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("{what} of length {len} is too long for PackStream (the maximum is {MAX_LEN_32})")]
    TooLong { what: &'static str, len: usize },
    #[error(
        "structure 0x{tag:02X} has {fields} fields; PackStream structures carry at most 15 \
         (the legacy 8/16-bit struct markers are never emitted)"
    )]
    TooManyFields { tag: u8, fields: usize },
}

/// Append the encoding of `value` to `out`.
pub fn encode(value: &Value, out: &mut BytesMut) -> Result<(), EncodeError> {
    write_value(value, out)
}

/// Encode into a fresh buffer.
pub fn encode_to_vec(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = BytesMut::new();
    encode(value, &mut out)?;
    Ok(out.to_vec())
}

pub(crate) fn write_value<B: BufMut>(value: &Value, out: &mut B) -> Result<(), EncodeError> {
    match value {
        Value::Null => out.put_u8(marker::NULL),
        Value::Boolean(true) => out.put_u8(marker::TRUE),
        Value::Boolean(false) => out.put_u8(marker::FALSE),
        Value::Integer(i) => write_int(*i, out),
        Value::Float(f) => {
            out.put_u8(marker::FLOAT_64);
            out.put_f64(*f);
        }
        Value::Bytes(b) => {
            write_size(
                b.len(),
                None,
                [marker::BYTES_8, marker::BYTES_16, marker::BYTES_32],
                "bytes",
                out,
            )?;
            out.put_slice(b);
        }
        Value::String(s) => write_str(s, out)?,
        Value::List(items) => {
            write_list_header(items.len(), out)?;
            for v in items {
                write_value(v, out)?;
            }
        }
        Value::Map(m) => write_map(m, out)?,
        Value::Structure(s) => {
            write_struct_header(s.tag, s.fields.len(), out)?;
            for v in &s.fields {
                write_value(v, out)?;
            }
        }
    }
    Ok(())
}

/// The smallest integer form: tiny, then 8, 16, 32, 64 bits.
pub(crate) fn write_int<B: BufMut>(i: i64, out: &mut B) {
    if (-16..=127).contains(&i) {
        out.put_i8(i as i8);
    } else if (-128..=-17).contains(&i) {
        out.put_u8(marker::INT_8);
        out.put_i8(i as i8);
    } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&i) {
        out.put_u8(marker::INT_16);
        out.put_i16(i as i16);
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&i) {
        out.put_u8(marker::INT_32);
        out.put_i32(i as i32);
    } else {
        out.put_u8(marker::INT_64);
        out.put_i64(i);
    }
}

pub(crate) fn write_str<B: BufMut>(s: &str, out: &mut B) -> Result<(), EncodeError> {
    write_size(
        s.len(),
        Some(marker::TINY_STRING),
        [marker::STRING_8, marker::STRING_16, marker::STRING_32],
        "string",
        out,
    )?;
    out.put_slice(s.as_bytes());
    Ok(())
}

pub(crate) fn write_list_header<B: BufMut>(n: usize, out: &mut B) -> Result<(), EncodeError> {
    write_size(
        n,
        Some(marker::TINY_LIST),
        [marker::LIST_8, marker::LIST_16, marker::LIST_32],
        "list",
        out,
    )
}

pub(crate) fn write_map_header<B: BufMut>(n: usize, out: &mut B) -> Result<(), EncodeError> {
    write_size(
        n,
        Some(marker::TINY_MAP),
        [marker::MAP_8, marker::MAP_16, marker::MAP_32],
        "map",
        out,
    )
}

pub(crate) fn write_map<B: BufMut>(m: &Map, out: &mut B) -> Result<(), EncodeError> {
    write_map_header(m.len(), out)?;
    for (k, v) in m.iter() {
        write_str(k, out)?;
        write_value(v, out)?;
    }
    Ok(())
}

pub(crate) fn write_struct_header<B: BufMut>(
    tag: u8,
    fields: usize,
    out: &mut B,
) -> Result<(), EncodeError> {
    if fields > 15 {
        return Err(EncodeError::TooManyFields { tag, fields });
    }
    out.put_u8(marker::TINY_STRUCT | fields as u8);
    out.put_u8(tag);
    Ok(())
}

fn write_size<B: BufMut>(
    n: usize,
    tiny: Option<u8>,
    sized: [u8; 3],
    what: &'static str,
    out: &mut B,
) -> Result<(), EncodeError> {
    match tiny {
        Some(t) if n <= 15 => out.put_u8(t | n as u8),
        _ if n <= usize::from(u8::MAX) => {
            out.put_u8(sized[0]);
            out.put_u8(n as u8);
        }
        _ if n <= usize::from(u16::MAX) => {
            out.put_u8(sized[1]);
            out.put_u16(n as u16);
        }
        _ if n <= MAX_LEN_32 => {
            out.put_u8(sized[2]);
            out.put_u32(n as u32);
        }
        _ => return Err(EncodeError::TooLong { what, len: n }),
    }
    Ok(())
}
