//! Bolt messages: raw (what the proxy forwards), viewed (the few fields it acts on, read without
//! decoding values it does not need) and typed (every request and response, for tests, fuzzing and
//! the messages the proxy writes itself).
//!
//! A message is a PackStream structure whose tag is the signature (bolt-reference §4).
//! [`RawMessage`] keeps the de-chunked bytes as they arrived, so forwarding is byte-exact whatever
//! encoding the peer chose; [`Request`] and [`Response`] decode them fully when asked.

mod request;
mod response;
pub mod sig;
mod view;

use std::fmt;

use bytes::{Bytes, BytesMut};
use thiserror::Error;

use crate::packstream::{Cursor, DecodeError, EncodeError, Limits, Map, Value};

pub use request::{Begin, Hello, Logon, PullDiscard, Request, Route, RouteTarget, Run, Telemetry};
pub use response::{Failure, Record, Response, Success, GQL_STATUS_GENERAL_PROCESSING};
pub use sig::RequestKind;
pub use view::{AccessMode, HelloView, RouteView, RoutingServers, RoutingTable, Summary, TxView};

/// Why some bytes are not the message they should be.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MessageError {
    #[error("empty message: a Bolt message is a structure, marker B0..BF then a signature")]
    Empty,
    #[error("message starts with 0x{marker:02X}, not a structure marker (B0..BF, DC, DD)")]
    NotAStructure { marker: u8 },
    #[error("invalid message body: {0}")]
    PackStream(#[from] DecodeError),
    #[error("{message} has {got} field(s), expected {expected}")]
    FieldCount {
        message: &'static str,
        expected: &'static str,
        got: usize,
    },
    #[error("{message} field `{field}` is a {got}, expected {expected}")]
    FieldType {
        message: &'static str,
        field: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    #[error("expected {expected}, got {} (0x{got:02X})", sig::name(*got))]
    WrongMessage { expected: &'static str, got: u8 },
    #[error("cannot encode message: {0}")]
    Encode(#[from] EncodeError),
}

/// One whole message as it came off the wire: cheap to clone (a `Bytes`), forwarded untouched.
#[derive(Clone, PartialEq, Eq)]
pub struct RawMessage {
    bytes: Bytes,
    signature: u8,
    field_count: u16,
    /// Bytes before the first field: marker, any legacy size bytes, signature.
    header_len: u8,
}

impl RawMessage {
    /// Check the structure header (marker `B0`..`BF`, `DC` or `DD`, and a signature byte) of a whole
    /// de-chunked message. The fields are not decoded.
    pub fn new(bytes: Bytes) -> Result<RawMessage, MessageError> {
        let first = *bytes.first().ok_or(MessageError::Empty)?;
        if !matches!(first, 0xB0..=0xBF | 0xDC | 0xDD) {
            return Err(MessageError::NotAStructure { marker: first });
        }
        let mut c = Cursor::new(&bytes);
        let (fields, signature) = c.read_struct_header()?;
        let header_len = c.position() as u8;
        Ok(RawMessage {
            signature,
            // The legacy markers carry at most a u16 count.
            field_count: fields as u16,
            header_len,
            bytes,
        })
    }

    pub fn signature(&self) -> u8 {
        self.signature
    }

    pub fn field_count(&self) -> usize {
        usize::from(self.field_count)
    }

    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The request kind of this message under `version`.
    pub fn kind(&self, version: crate::Version) -> RequestKind {
        RequestKind::of(version, self.signature)
    }

    /// A cursor on the first field; offsets in its errors count from the message's first byte.
    pub fn fields(&self) -> Cursor<'_> {
        let mut c = Cursor::new(&self.bytes);
        // Re-reading the header cannot fail: `new` checked it on these very bytes.
        let _ = c.read_struct_header();
        debug_assert_eq!(c.position(), usize::from(self.header_len));
        c
    }

    /// Checks, without decoding or allocating per value, that every field is within `limits`
    /// (nesting depth, lengths) and nothing trails the last field: the structural limits the
    /// decoder enforces, for messages relayed as raw bytes.
    pub fn check_structure(&self, limits: &Limits) -> Result<(), MessageError> {
        let mut c = Cursor::with_limits(&self.bytes, *limits);
        let (n, _) = c.read_struct_header()?;
        for _ in 0..n {
            c.skip_value_checked()?;
        }
        if !c.is_empty() {
            return Err(DecodeError::TrailingBytes {
                offset: c.position(),
                remaining: c.remaining(),
            }
            .into());
        }
        Ok(())
    }

    /// Decode every field (full values). For tests and rare paths; views are cheaper.
    pub fn decode_fields(&self, limits: &Limits) -> Result<Vec<Value>, MessageError> {
        let mut c = Cursor::with_limits(&self.bytes, *limits);
        let (n, _) = c.read_struct_header()?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(c.read_value()?);
        }
        if !c.is_empty() {
            return Err(DecodeError::TrailingBytes {
                offset: c.position(),
                remaining: c.remaining(),
            }
            .into());
        }
        Ok(fields)
    }

    /// Build a message from a signature and fields (smallest encoding).
    pub fn from_fields(signature: u8, fields: &[Value]) -> Result<RawMessage, MessageError> {
        let mut out = BytesMut::new();
        crate::packstream::write_struct_header(signature, fields.len(), &mut out)?;
        for f in fields {
            crate::packstream::encode(f, &mut out)?;
        }
        RawMessage::new(out.freeze())
    }
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(0x{:02X}, {} field(s), {} bytes)",
            sig::name(self.signature),
            self.signature,
            self.field_count,
            self.bytes.len()
        )
    }
}

/// Debug helper: a map whose listed keys print as `<redacted>`.
pub(crate) struct Redacted<'a> {
    pub map: &'a Map,
    pub keys: &'a [&'a str],
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        for (k, v) in self.map.iter() {
            if self.keys.contains(&k) {
                d.entry(&k, &format_args!("<redacted>"));
            } else {
                d.entry(&k, v);
            }
        }
        d.finish()
    }
}

/// Reads typed fields of one message in order, naming the message and field in errors.
pub(crate) struct Fields<'a> {
    pub cursor: Cursor<'a>,
    pub message: &'static str,
}

impl<'a> Fields<'a> {
    /// Start reading `raw`, checking its field count is one of `allowed`.
    pub fn open(
        raw: &'a RawMessage,
        message: &'static str,
        allowed: &[usize],
        expected: &'static str,
    ) -> Result<Fields<'a>, MessageError> {
        if !allowed.contains(&raw.field_count()) {
            return Err(MessageError::FieldCount {
                message,
                expected,
                got: raw.field_count(),
            });
        }
        Ok(Fields {
            cursor: raw.fields(),
            message,
        })
    }

    fn mismatch(&self, field: &'static str, expected: &'static str) -> MessageError {
        let got = self
            .cursor
            .peek_marker()
            .map(|m| m.type_name())
            .unwrap_or("nothing");
        MessageError::FieldType {
            message: self.message,
            field,
            expected,
            got,
        }
    }

    pub fn value(&mut self) -> Result<Value, MessageError> {
        Ok(self.cursor.read_value()?)
    }

    pub fn map(&mut self, field: &'static str) -> Result<Map, MessageError> {
        match self.cursor.read_value()? {
            Value::Map(m) => Ok(m),
            other => Err(MessageError::FieldType {
                message: self.message,
                field,
                expected: "map",
                got: other.type_name(),
            }),
        }
    }

    pub fn string(&mut self, field: &'static str) -> Result<String, MessageError> {
        match self.cursor.peek_marker()?.type_name() {
            "string" => Ok(self.cursor.read_str()?.to_owned()),
            _ => Err(self.mismatch(field, "string")),
        }
    }

    pub fn int(&mut self, field: &'static str) -> Result<i64, MessageError> {
        match self.cursor.peek_marker()?.type_name() {
            "integer" => Ok(self.cursor.read_int()?),
            _ => Err(self.mismatch(field, "integer")),
        }
    }

    pub fn string_list(&mut self, field: &'static str) -> Result<Vec<String>, MessageError> {
        if self.cursor.peek_marker()?.type_name() != "list" {
            return Err(self.mismatch(field, "list of strings"));
        }
        let n = self.cursor.read_list_header()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if self.cursor.peek_marker()?.type_name() != "string" {
                return Err(self.mismatch(field, "list of strings"));
            }
            out.push(self.cursor.read_str()?.to_owned());
        }
        Ok(out)
    }

    /// The message must end here.
    pub fn finish(self) -> Result<(), MessageError> {
        if self.cursor.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                offset: self.cursor.position(),
                remaining: self.cursor.remaining(),
            }
            .into())
        }
    }
}
