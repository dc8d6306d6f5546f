//! Typed server responses: SUCCESS, RECORD, IGNORED, FAILURE (with both the `code` shape of ≤5.6
//! and the 5.7+ `neo4j_code`/`gql_status`/`description`/`diagnostic_record`/`cause` shape), plus the
//! builders for the responses the proxy writes itself.

use bytes::BytesMut;

use super::sig;
use super::{Fields, MessageError, RawMessage};
use crate::packstream::{
    write_list_header, write_map, write_struct_header, write_value, EncodeError, Map, Structure,
    Value,
};
use crate::Version;

/// GQLSTATUS for "general processing exception", what Neo4j reports for unexpected errors; the
/// proxy's own FAILUREs use it on 5.7+.
pub const GQL_STATUS_GENERAL_PROCESSING: &str = "50N42";

/// A server response.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Success(Success),
    Record(Record),
    Ignored,
    Failure(Failure),
    /// A signature that is not a response: kept whole.
    Unknown(Structure),
}

/// SUCCESS metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Success {
    pub metadata: Map,
}

/// RECORD: one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub data: Vec<Value>,
}

/// FAILURE metadata, kept whole; accessors read either version's shape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Failure {
    pub metadata: Map,
}

// === impl Response ===

impl Response {
    /// Decode a response. The shapes do not differ between versions; `version` is taken for symmetry
    /// with [`Request::decode`](super::Request::decode) and future changes.
    pub fn decode(_version: Version, raw: &RawMessage) -> Result<Response, MessageError> {
        Ok(match raw.signature() {
            sig::SUCCESS => {
                let mut f = Fields::open(raw, "SUCCESS", &[1], "1")?;
                let metadata = f.map("metadata")?;
                f.finish()?;
                Response::Success(Success { metadata })
            }
            sig::RECORD => {
                let mut f = Fields::open(raw, "RECORD", &[1], "1")?;
                let data = match f.value()? {
                    Value::List(l) => l,
                    other => {
                        return Err(MessageError::FieldType {
                            message: "RECORD",
                            field: "data",
                            expected: "list",
                            got: other.type_name(),
                        })
                    }
                };
                f.finish()?;
                Response::Record(Record { data })
            }
            sig::IGNORED => {
                Fields::open(raw, "IGNORED", &[0], "0")?.finish()?;
                Response::Ignored
            }
            sig::FAILURE => {
                let mut f = Fields::open(raw, "FAILURE", &[1], "1")?;
                let metadata = f.map("metadata")?;
                f.finish()?;
                Response::Failure(Failure { metadata })
            }
            other => Response::Unknown(Structure::new(
                other,
                raw.decode_fields(&Default::default())?,
            )),
        })
    }

    pub fn signature(&self) -> u8 {
        match self {
            Response::Success(_) => sig::SUCCESS,
            Response::Record(_) => sig::RECORD,
            Response::Ignored => sig::IGNORED,
            Response::Failure(_) => sig::FAILURE,
            Response::Unknown(s) => s.tag,
        }
    }

    /// Append the encoding (smallest markers) to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Response::Success(Success { metadata: m })
            | Response::Failure(Failure { metadata: m }) => {
                write_struct_header(self.signature(), 1, out)?;
                write_map(m, out)
            }
            Response::Record(r) => {
                write_struct_header(sig::RECORD, 1, out)?;
                write_list_header(r.data.len(), out)?;
                r.data.iter().try_for_each(|v| write_value(v, out))
            }
            Response::Ignored => write_struct_header(sig::IGNORED, 0, out),
            Response::Unknown(s) => write_value(&Value::Structure(s.clone()), out),
        }
    }

    pub fn to_raw(&self) -> Result<RawMessage, MessageError> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        RawMessage::new(out.freeze())
    }

    /// A FAILURE the proxy sends: `{code, message}` before 5.7; from 5.7 `{neo4j_code, message,
    /// gql_status: "50N42", description}` as Neo4j does (drivers read `neo4j_code` there).
    pub fn failure(version: Version, code: &str, message: &str) -> RawMessage {
        let mut m = Map::with_capacity(4);
        if version >= Version::V5_7 {
            m.push("neo4j_code", code);
            m.push("message", message);
            m.push("gql_status", GQL_STATUS_GENERAL_PROCESSING);
            m.push(
                "description",
                format!("error: general processing exception - unexpected error. {message}"),
            );
        } else {
            m.push("code", code);
            m.push("message", message);
        }
        built(Response::Failure(Failure { metadata: m }))
    }

    /// A SUCCESS with this metadata.
    pub fn success(metadata: Map) -> RawMessage {
        built(Response::Success(Success { metadata }))
    }

    /// IGNORED (`B0 7E`).
    pub fn ignored() -> RawMessage {
        built(Response::Ignored)
    }
}

/// Encode a response the proxy builds itself. Its maps come from the proxy, so the only possible
/// failure is a string over 2 GiB; that is reported as a FAILURE saying so rather than a panic.
fn built(r: Response) -> RawMessage {
    r.to_raw().unwrap_or_else(|e| {
        let mut m = Map::new();
        m.push("code", "Neo.DatabaseError.General.UnknownError");
        m.push(
            "message",
            format!("boltgate could not encode its own response: {e}"),
        );
        let mut out = BytesMut::new();
        // A two-entry map of short strings always encodes.
        let _ =
            write_struct_header(sig::FAILURE, 1, &mut out).and_then(|_| write_map(&m, &mut out));
        RawMessage::new(out.freeze()).unwrap_or_else(|_| unreachable_raw())
    })
}

fn unreachable_raw() -> RawMessage {
    // `B0 7E` is a valid header by construction.
    match RawMessage::new(bytes::Bytes::from_static(&[0xB0, sig::IGNORED])) {
        Ok(r) => r,
        Err(_) => unreachable!("B0 7E is a structure header"),
    }
}

// === impl Success ===

impl Success {
    /// `has_more` (4.0+); absent = false.
    pub fn has_more(&self) -> bool {
        self.metadata.get_bool("has_more").unwrap_or(false)
    }
    pub fn bookmark(&self) -> Option<&str> {
        self.metadata.get_str("bookmark")
    }
    pub fn db(&self) -> Option<&str> {
        self.metadata.get_str("db")
    }
    pub fn fields(&self) -> Option<&[Value]> {
        self.metadata.get("fields").and_then(Value::as_list)
    }
}

// === impl Failure ===

impl Failure {
    /// The Neo4j status code: `neo4j_code` (5.7+) or `code` (≤5.6), whichever is present.
    pub fn code(&self) -> Option<&str> {
        self.metadata
            .get_str("neo4j_code")
            .or_else(|| self.metadata.get_str("code"))
    }
    pub fn message(&self) -> Option<&str> {
        self.metadata.get_str("message")
    }
    /// GQLSTATUS (5.7+), e.g. `"08N06"`.
    pub fn gql_status(&self) -> Option<&str> {
        self.metadata.get_str("gql_status")
    }
    pub fn description(&self) -> Option<&str> {
        self.metadata.get_str("description")
    }
    pub fn diagnostic_record(&self) -> Option<&Map> {
        self.metadata.get_map("diagnostic_record")
    }
    /// The nested cause (5.7+), same shape minus the codes of ≤5.6.
    pub fn cause(&self) -> Option<Failure> {
        self.metadata.get_map("cause").map(|m| Failure {
            metadata: m.clone(),
        })
    }
}
