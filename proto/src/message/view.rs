//! Cheap views: the handful of fields the proxy acts on, read with a [`Cursor`] straight from the
//! raw bytes. Values the proxy does not need are skipped without allocating; RECORD bodies are never
//! touched (a RECORD's summary is known from its signature alone).

use super::sig;
use super::{MessageError, RawMessage};
use crate::packstream::{Cursor, Map, Marker};

/// Access mode of a transaction or auto-commit query (`mode` in RUN/BEGIN extra).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessMode {
    Read,
    /// The default when `mode` is absent or anything but `"r"`.
    #[default]
    Write,
}

/// What RUN (auto-commit) or BEGIN says about where the work should go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxView {
    /// Target database; `None` when absent, null or `""` (all mean the home database).
    pub db: Option<String>,
    pub mode: AccessMode,
    pub bookmarks: Vec<String>,
    pub imp_user: Option<String>,
}

/// The part of a response the proxy's tracker needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    Success {
        has_more: bool,
        bookmark: Option<String>,
        db: Option<String>,
    },
    Failure {
        /// `neo4j_code` (5.7+) or `code`; empty if the server sent neither.
        code: String,
        message: String,
    },
    Ignored,
    /// A RECORD: detail, not a summary; its body is not decoded.
    Record,
}

/// HELLO fields the proxy uses for routing decisions and logs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HelloView {
    pub user_agent: Option<String>,
    /// The routing context; `None` when absent or null (the client asked for no routing).
    pub routing: Option<Map>,
}

/// A ROUTE request (4.3 or 4.4+ shape).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteView {
    pub routing: Map,
    pub bookmarks: Vec<String>,
    pub db: Option<String>,
    pub imp_user: Option<String>,
}

/// The `rt` of a ROUTE SUCCESS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingTable {
    /// Seconds the table may be cached.
    pub ttl: i64,
    /// The database it is for (4.4+).
    pub db: Option<String>,
    pub servers: Vec<RoutingServers>,
}

/// One `servers` entry: a role (`ROUTE`, `READ`, `WRITE`) and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingServers {
    pub role: String,
    pub addresses: Vec<String>,
}

type Result<T> = std::result::Result<T, MessageError>;

/// The bytes of the key `has_more`, whichever string marker encodes it.
const HAS_MORE_KEY: &[u8] = b"has_more";

/// Its searcher, built once: `memmem::find` would build one per message.
static HAS_MORE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(HAS_MORE_KEY));

fn expect(raw: &RawMessage, sig: u8, fields: usize, name: &'static str) -> Result<()> {
    if raw.signature() != sig {
        return Err(MessageError::WrongMessage {
            expected: name,
            got: raw.signature(),
        });
    }
    if raw.field_count() != fields {
        return Err(MessageError::FieldCount {
            message: name,
            expected: if fields == 1 { "1" } else { "3" },
            got: raw.field_count(),
        });
    }
    Ok(())
}

/// Visit each entry of the map at the cursor: `f(key, cursor)` must consume the value, or return
/// `false` to have it skipped.
fn scan_map<'a>(
    c: &mut Cursor<'a>,
    f: impl FnMut(&'a str, &mut Cursor<'a>) -> Result<bool>,
) -> Result<()> {
    scan_entries(c, Cursor::read_str, f)
}

/// [`scan_map`] for the maps read for every message (summaries, RUN and BEGIN): keys are
/// compared as bytes, with no UTF-8 check of keys nobody reads.
fn scan_map_keys<'a>(
    c: &mut Cursor<'a>,
    f: impl FnMut(&'a [u8], &mut Cursor<'a>) -> Result<bool>,
) -> Result<()> {
    scan_entries(c, Cursor::read_str_bytes, f)
}

fn scan_entries<'a, K>(
    c: &mut Cursor<'a>,
    read_key: impl Fn(&mut Cursor<'a>) -> std::result::Result<K, crate::packstream::DecodeError>,
    mut f: impl FnMut(K, &mut Cursor<'a>) -> Result<bool>,
) -> Result<()> {
    let n = c.read_map_header()?;
    for _ in 0..n {
        let key = read_key(c)?;
        if !f(key, c)? {
            c.skip_value()?;
        }
    }
    Ok(())
}

/// Reads a value with `read` if it has the expected type; otherwise leaves the cursor where it
/// was and says so (`None`), so the caller skips it. Summaries are read this way: a server that
/// puts a wrongly typed value under a known key must not stop boltgate from tracking the session.
fn lenient<'a, T, E>(
    c: &mut Cursor<'a>,
    read: impl FnOnce(&mut Cursor<'a>) -> std::result::Result<T, E>,
) -> Option<T> {
    let mut probe = c.clone();
    let value = read(&mut probe).ok()?;
    *c = probe;
    Some(value)
}

fn opt_str(c: &mut Cursor<'_>) -> Result<Option<String>> {
    Ok(c.read_opt_str()?
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}

fn str_list(c: &mut Cursor<'_>) -> Result<Vec<String>> {
    if c.peek_marker()? == Marker::Null {
        c.read_null()?;
        return Ok(Vec::new());
    }
    let n = c.read_list_header()?;
    (0..n).map(|_| Ok(c.read_str()?.to_owned())).collect()
}

impl RawMessage {
    /// db, mode, bookmarks and imp_user of a RUN or BEGIN, without decoding the query's parameters.
    pub fn tx_view(&self) -> Result<TxView> {
        let mut c = self.fields();
        match self.signature() {
            sig::RUN => {
                expect(self, sig::RUN, 3, "RUN")?;
                c.skip_value()?;
                c.skip_value()?;
            }
            _ => expect(self, sig::BEGIN, 1, "RUN or BEGIN")?,
        }
        let mut view = TxView::default();
        scan_map_keys(&mut c, |key, c| {
            match key {
                b"db" => view.db = opt_str(c)?,
                b"imp_user" => view.imp_user = opt_str(c)?,
                b"mode" => {
                    view.mode = match c.read_opt_str()? {
                        Some("r") => AccessMode::Read,
                        _ => AccessMode::Write,
                    }
                }
                b"bookmarks" => view.bookmarks = str_list(c)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(view)
    }

    /// The summary of a response; RECORD is recognised by its signature and not decoded.
    pub fn summary(&self) -> Result<Summary> {
        match self.signature() {
            sig::RECORD => Ok(Summary::Record),
            sig::IGNORED => Ok(Summary::Ignored),
            sig::SUCCESS => {
                expect(self, sig::SUCCESS, 1, "SUCCESS")?;
                let (mut has_more, mut bookmark, mut db) = (false, None, None);
                scan_map_keys(&mut self.fields(), |key, c| {
                    let read = match key {
                        b"has_more" => lenient(c, |c| c.read_bool()).map(|v| has_more = v),
                        b"bookmark" => lenient(c, |c| c.read_opt_str())
                            .map(|v| bookmark = v.map(str::to_owned)),
                        b"db" => {
                            lenient(c, |c| c.read_opt_str()).map(|v| db = v.map(str::to_owned))
                        }
                        _ => None,
                    };
                    Ok(read.is_some())
                })?;
                Ok(Summary::Success {
                    has_more,
                    bookmark,
                    db,
                })
            }
            sig::FAILURE => {
                expect(self, sig::FAILURE, 1, "FAILURE")?;
                let (mut code, mut neo4j_code, mut message) = (None, None, None);
                scan_map(&mut self.fields(), |key, c| {
                    let read = match key {
                        "code" => lenient(c, |c| c.read_opt_str()).map(|v| code = v),
                        "neo4j_code" => lenient(c, |c| c.read_opt_str()).map(|v| neo4j_code = v),
                        "message" => lenient(c, |c| c.read_opt_str()).map(|v| message = v),
                        _ => None,
                    };
                    Ok(read.is_some())
                })?;
                Ok(Summary::Failure {
                    code: neo4j_code.or(code).unwrap_or_default().to_owned(),
                    message: message.unwrap_or_default().to_owned(),
                })
            }
            other => Err(MessageError::WrongMessage {
                expected: "SUCCESS, RECORD, IGNORED or FAILURE",
                got: other,
            }),
        }
    }

    /// A SUCCESS's `has_more`, the one entry of its metadata the session's state needs, read
    /// without copying the rest ([`RawMessage::summary`] also copies `db` and `bookmark`). Every
    /// SUCCESS a session forwards passes here.
    ///
    /// Most SUCCESSes have no `has_more` at all (a RUN's, the last PULL's). The key can only be
    /// present if its bytes occur somewhere in the message (after a TINY_STRING marker, or a
    /// longer one from a server that does not use the shortest encoding); where they do not,
    /// the metadata is not walked. The walk, when it runs, also checks the map's
    /// structure; a SUCCESS skipped this way is not, but nothing here decodes it further and it
    /// is forwarded as it came.
    pub fn success_has_more(&self) -> Result<bool> {
        expect(self, sig::SUCCESS, 1, "SUCCESS")?;
        if HAS_MORE.find(&self.bytes).is_none() {
            return Ok(false);
        }
        let mut has_more = false;
        scan_map_keys(&mut self.fields(), |key, c| {
            if key != HAS_MORE_KEY {
                return Ok(false);
            }
            Ok(lenient(c, |c| c.read_bool())
                .map(|v| has_more = v)
                .is_some())
        })?;
        Ok(has_more)
    }

    /// user_agent and routing context of a HELLO; credentials are skipped, never copied.
    pub fn hello_view(&self) -> Result<HelloView> {
        expect(self, sig::HELLO, 1, "HELLO")?;
        let mut view = HelloView::default();
        scan_map(&mut self.fields(), |key, c| {
            match key {
                "user_agent" => view.user_agent = c.read_opt_str()?.map(str::to_owned),
                "routing" => {
                    view.routing = match c.peek_marker()? {
                        Marker::Null => {
                            c.read_null()?;
                            None
                        }
                        _ => Some(c.read_map()?),
                    }
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(view)
    }

    /// A ROUTE request, either shape (4.3 db string/null, 4.4+ extra map).
    pub fn route_view(&self) -> Result<RouteView> {
        expect(self, sig::ROUTE, 3, "ROUTE")?;
        let mut c = self.fields();
        let routing = c.read_map()?;
        let bookmarks = str_list(&mut c)?;
        let mut view = RouteView {
            routing,
            bookmarks,
            ..RouteView::default()
        };
        match c.peek_marker()? {
            Marker::TinyMap(_) | Marker::Map(_) => scan_map(&mut c, |key, c| {
                match key {
                    "db" => view.db = opt_str(c)?,
                    "imp_user" => view.imp_user = opt_str(c)?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?,
            _ => view.db = opt_str(&mut c)?,
        }
        Ok(view)
    }

    /// The routing table of a ROUTE SUCCESS; `Ok(None)` if this SUCCESS carries no `rt`.
    pub fn routing_table(&self) -> Result<Option<RoutingTable>> {
        expect(self, sig::SUCCESS, 1, "SUCCESS")?;
        let mut table = None;
        scan_map(&mut self.fields(), |key, c| {
            if key != "rt" {
                return Ok(false);
            }
            let mut rt = RoutingTable::default();
            scan_map(c, |key, c| {
                match key {
                    "ttl" => rt.ttl = c.read_int()?,
                    "db" => rt.db = c.read_opt_str()?.map(str::to_owned),
                    "servers" => {
                        let n = c.read_list_header()?;
                        for _ in 0..n {
                            let mut s = RoutingServers::default();
                            scan_map(c, |key, c| {
                                match key {
                                    "role" => s.role = c.read_str()?.to_owned(),
                                    "addresses" => s.addresses = str_list(c)?,
                                    _ => return Ok(false),
                                }
                                Ok(true)
                            })?;
                            rt.servers.push(s);
                        }
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            table = Some(rt);
            Ok(true)
        })?;
        Ok(table)
    }
}
