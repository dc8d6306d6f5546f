//! Building [`Value`]s from bytes: a recursive descent over [`Cursor`] whose depth is bounded by
//! [`Limits::max_depth`], so hostile nesting ends in [`DecodeError::TooDeep`], never a stack overflow.
//!
//! Strings are validated and copied straight from the input slice (one allocation per string, none
//! per scalar); containers are allocated only after their length passed the remaining-input check.

use bytes::Bytes;

use super::cursor::Cursor;
use super::marker::Marker;
use super::value::{Map, Structure, Value};
use super::{DecodeError, Limits};

/// Decode exactly one value that spans all of `buf`; trailing bytes are an error.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    let mut c = Cursor::with_limits(buf, *limits);
    let v = c.read_value()?;
    if !c.is_empty() {
        return Err(DecodeError::TrailingBytes {
            offset: c.position(),
            remaining: c.remaining(),
        });
    }
    Ok(v)
}

/// Decode one value from the start of `buf`; returns it and the number of bytes it used.
pub fn decode_prefix(buf: &[u8], limits: &Limits) -> Result<(Value, usize), DecodeError> {
    let mut c = Cursor::with_limits(buf, *limits);
    let v = c.read_value()?;
    Ok((v, c.position()))
}

impl<'a> Cursor<'a> {
    /// Decode the next value, allocating as needed, within this cursor's [`Limits`].
    pub fn read_value(&mut self) -> Result<Value, DecodeError> {
        self.value(0)
    }

    fn enter(&self, at: usize, depth: usize) -> Result<usize, DecodeError> {
        let depth = depth + 1;
        if depth > self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                offset: at,
                max_depth: self.limits.max_depth,
            });
        }
        Ok(depth)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        let m = self.read_marker()?;
        Ok(match m {
            Marker::TinyInt(i) => Value::Integer(i64::from(i)),
            Marker::Null => Value::Null,
            Marker::True => Value::Boolean(true),
            Marker::False => Value::Boolean(false),
            Marker::Int(_) => Value::Integer(self.int_body(at, m)?),
            Marker::Float => Value::Float(f64::from_be_bytes(
                self.take(8, "FLOAT_64")?.try_into().unwrap_or_default(),
            )),
            Marker::TinyString(_) | Marker::String(_) => {
                Value::String(self.str_body(at, m, "string")?.to_owned())
            }
            Marker::Bytes(_) => Value::Bytes(Bytes::copy_from_slice(self.bytes_body(at, m)?)),
            Marker::TinyList(_) | Marker::List(_) => {
                self.pos = at;
                let n = self.read_list_header()?;
                let depth = self.enter(at, depth)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth)?);
                }
                Value::List(items)
            }
            Marker::TinyMap(_) | Marker::Map(_) => {
                self.pos = at;
                let n = self.read_map_header()?;
                let depth = self.enter(at, depth)?;
                Value::Map(self.map_entries(n, depth)?)
            }
            Marker::TinyStruct(_) | Marker::Struct(_) => {
                self.pos = at;
                let (n, tag) = self.read_struct_header()?;
                let depth = self.enter(at, depth)?;
                let mut fields = Vec::with_capacity(n);
                for _ in 0..n {
                    fields.push(self.value(depth)?);
                }
                Value::Structure(Structure { tag, fields })
            }
            Marker::Reserved(marker) => {
                return Err(DecodeError::ReservedMarker { offset: at, marker })
            }
        })
    }

    fn map_entries(&mut self, n: usize, depth: usize) -> Result<Map, DecodeError> {
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let at = self.pos;
            let m = self.read_marker()?;
            let key = match m {
                Marker::TinyString(_) | Marker::String(_) => self.str_body(at, m, "string")?,
                Marker::Reserved(marker) => {
                    return Err(DecodeError::ReservedMarker { offset: at, marker })
                }
                other => {
                    return Err(DecodeError::NonStringKey {
                        offset: at,
                        found: other.type_name(),
                    })
                }
            };
            let value = self.value(depth)?;
            entries.push((key.to_owned(), value));
        }
        Ok(Map::from(entries))
    }

    /// Decode a map (after checking its header), keys borrowed only until copied.
    pub fn read_map(&mut self) -> Result<Map, DecodeError> {
        let at = self.pos;
        let n = self.read_map_header()?;
        let depth = self.enter(at, 0)?;
        self.map_entries(n, depth)
    }
}
