//! The PackStream value model: what a decoded value is, independent of how it was encoded.

use std::fmt;

use bytes::Bytes;

use super::structs;

/// One PackStream value.
///
/// Equality is the derived one, so `NaN != NaN`; use [`Value::bits_eq`] where floats must compare by
/// their bits (round-trip checks).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Bytes(Bytes),
    String(String),
    List(Vec<Value>),
    Map(Map),
    Structure(Structure),
}

/// A structure: a tag byte and its fields. Tags the crate does not know are kept as they are, so
/// they survive decode → encode.
#[derive(Clone, PartialEq)]
pub struct Structure {
    pub tag: u8,
    pub fields: Vec<Value>,
}

/// A PackStream map: entries in wire order. Duplicate keys are legal on the wire; they are kept in
/// order (so re-encoding is faithful) and [`Map::get`] returns the last one, as the spec says.
#[derive(Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

// === impl Value ===

impl Value {
    /// The PackStream type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Bytes(_) => "bytes",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Structure(_) => "structure",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_structure(&self) -> Option<&Structure> {
        match self {
            Value::Structure(s) => Some(s),
            _ => None,
        }
    }

    /// Equality where floats compare by their bit patterns (so NaN equals the same NaN, and 0.0 and
    /// -0.0 differ): what "survives a round trip unchanged" means.
    pub fn bits_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.bits_eq(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.bits_eq(vb))
            }
            (Value::Structure(a), Value::Structure(b)) => {
                a.tag == b.tag
                    && a.fields.len() == b.fields.len()
                    && a.fields.iter().zip(&b.fields).all(|(x, y)| x.bits_eq(y))
            }
            _ => self == other,
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<Bytes> for Value {
    fn from(v: Bytes) -> Self {
        Value::Bytes(v)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}
impl From<Map> for Value {
    fn from(v: Map) -> Self {
        Value::Map(v)
    }
}
impl From<Structure> for Value {
    fn from(v: Structure) -> Self {
        Value::Structure(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

// === impl Structure ===

impl Structure {
    pub fn new(tag: u8, fields: Vec<Value>) -> Self {
        Structure { tag, fields }
    }
}

impl fmt::Debug for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match structs::name(self.tag) {
            Some(name) => write!(f, "{name}")?,
            None => write!(f, "Structure(0x{:02X})", self.tag)?,
        }
        f.debug_list().entries(&self.fields).finish()
    }
}

// === impl Map ===

impl Map {
    pub fn new() -> Self {
        Map::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Map {
            entries: Vec::with_capacity(n),
        }
    }

    /// Number of entries on the wire (duplicates counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`; the last one if the key appears more than once.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// `key` as a string; `None` when absent, null or another type.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_int)
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    pub fn get_map(&self, key: &str) -> Option<&Map> {
        self.get(key).and_then(Value::as_map)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Append an entry, keeping any earlier one with the same key (as the wire would).
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.entries.push((key.into(), value.into()));
    }

    /// Set `key`: replace its last occurrence, or append it.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().rev().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Remove every entry with `key`, returning the last value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut last = None;
        let mut i = 0;
        while i < self.entries.len() {
            if self.entries[i].0 == key {
                last = Some(self.entries.remove(i).1);
            } else {
                i += 1;
            }
        }
        last
    }

    /// Entries in wire order, duplicates included.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }

    pub fn into_entries(self) -> Vec<(String, Value)> {
        self.entries
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Map {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl From<Vec<(String, Value)>> for Map {
    fn from(entries: Vec<(String, Value)>) -> Self {
        Map { entries }
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_last_wins_and_insert_replaces_last() {
        let mut m = Map::new();
        m.push("a", 1);
        m.push("a", 2);
        assert_eq!(m.get_int("a"), Some(2));
        m.insert("a", 3);
        assert_eq!(m.len(), 2);
        assert_eq!(m.entries()[0].1, Value::Integer(1));
        assert_eq!(m.get_int("a"), Some(3));
        assert_eq!(m.remove("a"), Some(Value::Integer(3)));
        assert!(m.is_empty());
    }

    #[test]
    fn bits_eq_treats_nan_as_equal_to_itself() {
        let v = Value::List(vec![Value::Float(f64::NAN)]);
        assert!(v.bits_eq(&v.clone()));
        assert_ne!(v, v.clone());
        assert!(!Value::Float(0.0).bits_eq(&Value::Float(-0.0)));
    }
}
