//! Typed client requests for Bolt 3, 4.0–4.4, 5.0–5.8 and 6.0, decoded from and encoded to
//! [`RawMessage`]s. Each keeps its metadata maps whole (keys the crate does not know survive), with
//! typed accessors for the keys it does. Credentials and query parameters never appear in `Debug`.

use std::fmt;

use bytes::BytesMut;

use super::sig::{self, RequestKind};
use super::{Fields, MessageError, RawMessage, Redacted};
use crate::packstream::{
    write_list_header, write_map, write_str, write_struct_header, write_value, EncodeError, Map,
    Structure, Value,
};
use crate::Version;

/// A client request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Hello(Hello),
    Logon(Logon),
    Logoff,
    Goodbye,
    Reset,
    Run(Run),
    Begin(Begin),
    Commit,
    Rollback,
    /// DISCARD (4.0+).
    Discard(PullDiscard),
    /// DISCARD_ALL (Bolt 3): no fields.
    DiscardAll,
    /// PULL (4.0+).
    Pull(PullDiscard),
    /// PULL_ALL (Bolt 3): no fields.
    PullAll,
    Route(Route),
    Telemetry(Telemetry),
    /// A signature this version does not define: kept whole so it re-encodes as it came.
    Unknown(Structure),
}

/// HELLO `extra`: user_agent, routing, bolt_agent, notification settings, and (≤5.0) the auth token.
#[derive(Clone, PartialEq)]
pub struct Hello {
    pub extra: Map,
}

/// LOGON (5.1+) `auth`: scheme, principal, credentials, ….
#[derive(Clone, PartialEq)]
pub struct Logon {
    pub auth: Map,
}

/// RUN: query, parameters, extra (bookmarks, tx_timeout, tx_metadata, mode, db, imp_user, …).
#[derive(Clone, PartialEq)]
pub struct Run {
    pub query: String,
    pub parameters: Map,
    pub extra: Map,
}

/// BEGIN `extra`: the same keys as RUN's extra.
#[derive(Debug, Clone, PartialEq)]
pub struct Begin {
    pub extra: Map,
}

/// PULL / DISCARD (4.0+) `extra`: `n` (−1 = all) and `qid` (−1 = last query).
#[derive(Debug, Clone, PartialEq)]
pub struct PullDiscard {
    pub extra: Map,
}

/// ROUTE (4.3+): routing context, bookmarks, and the database as 4.3 or 4.4+ send it.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub routing: Map,
    pub bookmarks: Vec<String>,
    pub target: RouteTarget,
}

/// ROUTE's third field.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteTarget {
    /// 4.3: the database name or null.
    Db(Option<String>),
    /// 4.4+: `{db, imp_user}`, both optional.
    Extra(Map),
}

/// TELEMETRY (5.4+): which driver API ran the work (0 tx function, 1 explicit tx, 2 auto-commit,
/// 3 execute_query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Telemetry {
    pub api: i64,
}

/// Keys holding secrets in HELLO (≤5.0) and LOGON auth maps.
const SECRET_KEYS: &[&str] = &["credentials"];

// === impl Request ===

impl Request {
    /// Decode a request under `version`. A signature the version does not define as a request
    /// becomes [`Request::Unknown`]; a known one with the wrong shape is an error.
    pub fn decode(version: Version, raw: &RawMessage) -> Result<Request, MessageError> {
        let v4 = version.major >= 4;
        Ok(match RequestKind::of(version, raw.signature()) {
            RequestKind::Hello => {
                let mut f = Fields::open(raw, "HELLO", &[1], "1")?;
                let extra = f.map("extra")?;
                f.finish()?;
                Request::Hello(Hello { extra })
            }
            RequestKind::Logon => {
                let mut f = Fields::open(raw, "LOGON", &[1], "1")?;
                let auth = f.map("auth")?;
                f.finish()?;
                Request::Logon(Logon { auth })
            }
            RequestKind::Logoff => no_fields(raw, "LOGOFF", Request::Logoff)?,
            RequestKind::Goodbye => no_fields(raw, "GOODBYE", Request::Goodbye)?,
            RequestKind::Reset => no_fields(raw, "RESET", Request::Reset)?,
            RequestKind::Commit => no_fields(raw, "COMMIT", Request::Commit)?,
            RequestKind::Rollback => no_fields(raw, "ROLLBACK", Request::Rollback)?,
            RequestKind::Run => {
                let mut f = Fields::open(raw, "RUN", &[3], "3")?;
                let query = f.string("query")?;
                let parameters = f.map("parameters")?;
                let extra = f.map("extra")?;
                f.finish()?;
                Request::Run(Run {
                    query,
                    parameters,
                    extra,
                })
            }
            RequestKind::Begin => {
                let mut f = Fields::open(raw, "BEGIN", &[1], "1")?;
                let extra = f.map("extra")?;
                f.finish()?;
                Request::Begin(Begin { extra })
            }
            RequestKind::Pull if v4 => Request::Pull(pull_discard(raw, "PULL")?),
            RequestKind::Pull => no_fields(raw, "PULL_ALL", Request::PullAll)?,
            RequestKind::Discard if v4 => Request::Discard(pull_discard(raw, "DISCARD")?),
            RequestKind::Discard => no_fields(raw, "DISCARD_ALL", Request::DiscardAll)?,
            RequestKind::Route => {
                let mut f = Fields::open(raw, "ROUTE", &[3], "3")?;
                let routing = f.map("routing")?;
                let bookmarks = f.string_list("bookmarks")?;
                let target = if version >= Version::V4_4 {
                    RouteTarget::Extra(f.map("extra")?)
                } else {
                    match f.value()? {
                        Value::Null => RouteTarget::Db(None),
                        Value::String(s) => RouteTarget::Db(Some(s)),
                        other => {
                            return Err(MessageError::FieldType {
                                message: "ROUTE",
                                field: "db",
                                expected: "string or null",
                                got: other.type_name(),
                            })
                        }
                    }
                };
                f.finish()?;
                Request::Route(Route {
                    routing,
                    bookmarks,
                    target,
                })
            }
            RequestKind::Telemetry => {
                let mut f = Fields::open(raw, "TELEMETRY", &[1], "1")?;
                let api = f.int("api")?;
                f.finish()?;
                Request::Telemetry(Telemetry { api })
            }
            RequestKind::AckFailure | RequestKind::Unknown(_) => Request::Unknown(Structure::new(
                raw.signature(),
                raw.decode_fields(&Default::default())?,
            )),
        })
    }

    /// The signature this request is sent with.
    pub fn signature(&self) -> u8 {
        match self {
            Request::Hello(_) => sig::HELLO,
            Request::Logon(_) => sig::LOGON,
            Request::Logoff => sig::LOGOFF,
            Request::Goodbye => sig::GOODBYE,
            Request::Reset => sig::RESET,
            Request::Run(_) => sig::RUN,
            Request::Begin(_) => sig::BEGIN,
            Request::Commit => sig::COMMIT,
            Request::Rollback => sig::ROLLBACK,
            Request::Discard(_) | Request::DiscardAll => sig::DISCARD,
            Request::Pull(_) | Request::PullAll => sig::PULL,
            Request::Route(_) => sig::ROUTE,
            Request::Telemetry(_) => sig::TELEMETRY,
            Request::Unknown(s) => s.tag,
        }
    }

    /// Append the encoding (smallest markers) to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let s = self.signature();
        match self {
            Request::Logoff
            | Request::Goodbye
            | Request::Reset
            | Request::Commit
            | Request::Rollback
            | Request::DiscardAll
            | Request::PullAll => write_struct_header(s, 0, out),
            Request::Hello(Hello { extra: m })
            | Request::Logon(Logon { auth: m })
            | Request::Begin(Begin { extra: m })
            | Request::Discard(PullDiscard { extra: m })
            | Request::Pull(PullDiscard { extra: m }) => {
                write_struct_header(s, 1, out)?;
                write_map(m, out)
            }
            Request::Run(r) => {
                write_struct_header(s, 3, out)?;
                write_str(&r.query, out)?;
                write_map(&r.parameters, out)?;
                write_map(&r.extra, out)
            }
            Request::Route(r) => {
                write_struct_header(s, 3, out)?;
                write_map(&r.routing, out)?;
                write_list_header(r.bookmarks.len(), out)?;
                for b in &r.bookmarks {
                    write_str(b, out)?;
                }
                match &r.target {
                    RouteTarget::Db(db) => write_value(&db.as_deref().into(), out),
                    RouteTarget::Extra(m) => write_map(m, out),
                }
            }
            Request::Telemetry(t) => {
                write_struct_header(s, 1, out)?;
                write_value(&Value::Integer(t.api), out)
            }
            Request::Unknown(st) => write_value(&Value::Structure(st.clone()), out),
        }
    }

    /// Encode into a [`RawMessage`].
    pub fn to_raw(&self) -> Result<RawMessage, MessageError> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        RawMessage::new(out.freeze())
    }
}

fn no_fields(raw: &RawMessage, name: &'static str, r: Request) -> Result<Request, MessageError> {
    Fields::open(raw, name, &[0], "0")?.finish()?;
    Ok(r)
}

fn pull_discard(raw: &RawMessage, name: &'static str) -> Result<PullDiscard, MessageError> {
    let mut f = Fields::open(raw, name, &[1], "1")?;
    let extra = f.map("extra")?;
    f.finish()?;
    Ok(PullDiscard { extra })
}

// === accessors ===

impl Hello {
    pub fn user_agent(&self) -> Option<&str> {
        self.extra.get_str("user_agent")
    }
    /// The routing context: `None` = the client asked for no routing (absent or null).
    pub fn routing(&self) -> Option<&Map> {
        self.extra.get_map("routing")
    }
    /// The auth scheme carried in HELLO (Bolt ≤5.0).
    pub fn scheme(&self) -> Option<&str> {
        self.extra.get_str("scheme")
    }
}

impl Logon {
    pub fn scheme(&self) -> Option<&str> {
        self.auth.get_str("scheme")
    }
    pub fn principal(&self) -> Option<&str> {
        self.auth.get_str("principal")
    }
}

impl PullDiscard {
    /// Records requested; −1 = all (also when absent).
    pub fn n(&self) -> i64 {
        self.extra.get_int("n").unwrap_or(-1)
    }
    /// Query id; −1 = the last one (also when absent).
    pub fn qid(&self) -> i64 {
        self.extra.get_int("qid").unwrap_or(-1)
    }
}

impl Route {
    pub fn db(&self) -> Option<&str> {
        match &self.target {
            RouteTarget::Db(db) => db.as_deref(),
            RouteTarget::Extra(m) => m.get_str("db"),
        }
    }
    pub fn imp_user(&self) -> Option<&str> {
        match &self.target {
            RouteTarget::Db(_) => None,
            RouteTarget::Extra(m) => m.get_str("imp_user"),
        }
    }
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field(
                "extra",
                &Redacted {
                    map: &self.extra,
                    keys: SECRET_KEYS,
                },
            )
            .finish()
    }
}

impl fmt::Debug for Logon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logon")
            .field(
                "auth",
                &Redacted {
                    map: &self.auth,
                    keys: SECRET_KEYS,
                },
            )
            .finish()
    }
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parameter values may be secrets or personal data: only their names are shown.
        let names: Vec<&str> = self.parameters.iter().map(|(k, _)| k).collect();
        f.debug_struct("Run")
            .field("query", &self.query)
            .field("parameters", &names)
            .field("extra", &self.extra)
            .finish()
    }
}
