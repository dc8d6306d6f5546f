//! Client requests as the server's version spells them (see the module docs of
//! [`super`]). Requests that need no change go as they came, byte for byte.

use boltgate_proto::message::{
    sig, Hello, Logon, PullDiscard, RawMessage, Request, RequestKind, Route, RouteTarget,
};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};

use super::{values, Plan, Translator, Untranslatable};

/// The HELLO keys of an auth token (bolt-reference §4.2): from Bolt 5.1 they go in LOGON.
const AUTH_KEYS: &[&str] = &["scheme", "principal", "credentials", "realm", "parameters"];

impl Translator {
    /// `raw` (a request in the client's version) as the messages the server gets, in order.
    pub fn request(&mut self, raw: &RawMessage) -> Result<Vec<Bytes>, Untranslatable> {
        let kind = RequestKind::of(self.client, raw.signature());
        if matches!(
            kind,
            RequestKind::Begin | RequestKind::Commit | RequestKind::Rollback | RequestKind::Reset
        ) {
            // Whether RUNs are inside an explicit transaction (`run_or_begin`). A BEGIN the
            // server refuses leaves it FAILED, so the RUNs after it are IGNORED anyway.
            self.in_tx = kind == RequestKind::Begin;
        }
        let out = match kind {
            RequestKind::Hello if self.server >= Version::V5_1 => self.split_hello(raw)?,
            RequestKind::Pull | RequestKind::Discard if self.client < Version::V4_0 => {
                vec![all(raw.signature())]
            }
            RequestKind::Run | RequestKind::Begin
                if self.client < Version::V4_0 || self.client_shapes() != self.server_shapes() =>
            {
                vec![self.run_or_begin(raw)?]
            }
            RequestKind::Route if self.client == Version::V4_3 && self.server > Version::V4_3 => {
                vec![route_4_4(raw)?]
            }
            _ => vec![raw.as_bytes().clone()],
        };
        if self.rewrites_answers() && kind != RequestKind::Goodbye {
            if out.len() == 2 {
                self.plans.push_back(Plan::HelloHeld);
                self.plans.push_back(Plan::LogonMerged);
            } else {
                self.plans.push_back(Plan::Answer);
            }
        }
        Ok(out)
    }

    /// HELLO with an auth token (Bolt ≤5.0) → HELLO without it + LOGON with it (5.1+). A
    /// `patch_bolt: ["utc"]` request is answered by boltgate: the 5.x server's DateTimes are
    /// UTC already, so the client gets them as they come.
    fn split_hello(&mut self, raw: &RawMessage) -> Result<Vec<Bytes>, Untranslatable> {
        let Request::Hello(Hello { mut extra }) = decode(self.client, raw, "HELLO")? else {
            return Err(unreadable("HELLO", "not a HELLO"));
        };
        let mut auth = Map::new();
        for key in AUTH_KEYS {
            if let Some(v) = extra.remove(key) {
                auth.push(*key, v);
            }
        }
        if !auth.contains_key("scheme") {
            // An auth token without a scheme means `none` (bolt-reference §4.2).
            auth.push("scheme", "none");
        }
        if let Some(Value::List(patches)) = extra.remove("patch_bolt") {
            self.utc_patch = patches.iter().any(|p| p.as_str() == Some("utc"));
        }
        Ok(vec![
            encode(Request::Hello(Hello { extra }))?,
            encode(Request::Logon(Logon { auth }))?,
        ])
    }

    /// RUN with its DateTime parameters in the server's form; RUN and BEGIN without the null
    /// bookmarks a Bolt 3 driver sends when the server gave it none (neo4j-driver 1.7 sends
    /// `bookmarks: [null]` after a COMMIT answered without a bookmark, as FalkorDB's are;
    /// bookmarks are a list of strings in every version).
    fn run_or_begin(&mut self, raw: &RawMessage) -> Result<Bytes, Untranslatable> {
        match decode(self.client, raw, "RUN or BEGIN")? {
            Request::Run(mut run) => {
                let mut params = Value::Map(std::mem::take(&mut run.parameters));
                values::to_server(&mut params, self.client_shapes(), self.server_shapes())?;
                if let Value::Map(m) = params {
                    run.parameters = m;
                }
                drop_null_bookmarks(&mut run.extra);
                if self.in_tx && self.client < Version::V4_0 {
                    // A RUN inside a transaction carries no metadata (the BEGIN did), but the
                    // 1.7 JavaScript driver repeats `mode` there; Bolt 3 servers ignored it,
                    // FalkorDB runs such a query outside the transaction's graph (measured).
                    run.extra = Map::new();
                }
                encode(Request::Run(run))
            }
            Request::Begin(mut begin) => {
                drop_null_bookmarks(&mut begin.extra);
                encode(Request::Begin(begin))
            }
            _ => Err(unreadable("RUN or BEGIN", "neither")),
        }
    }
}

/// Null bookmarks dropped, and the key with them when none is left: an absent `bookmarks` is the
/// empty list in every version, and FalkorDB runs a query whose extra holds `bookmarks: []` on
/// another graph than one without it (measured), as 4.x drivers never send it empty.
fn drop_null_bookmarks(extra: &mut Map) {
    if let Some(Value::List(bookmarks)) = extra.get("bookmarks") {
        let kept: Vec<Value> = bookmarks.iter().filter(|b| !b.is_null()).cloned().collect();
        if kept.is_empty() {
            extra.remove("bookmarks");
        } else if kept.len() != bookmarks.len() {
            extra.insert("bookmarks", Value::List(kept));
        }
    }
}

/// PULL_ALL / DISCARD_ALL (Bolt 3) as PULL / DISCARD `{n: -1}`: everything, the last query.
fn all(signature: u8) -> Bytes {
    let mut extra = Map::new();
    extra.push("n", -1i64);
    let pd = PullDiscard { extra };
    let request = if signature == sig::PULL {
        Request::Pull(pd)
    } else {
        Request::Discard(pd)
    };
    // Built from constants: it encodes.
    encode(request).unwrap_or_default()
}

/// ROUTE as 4.3 sends it (the database as a string or null) in the 4.4+ form (`{db}`).
fn route_4_4(raw: &RawMessage) -> Result<Bytes, Untranslatable> {
    let Request::Route(route) = decode(Version::V4_3, raw, "ROUTE")? else {
        return Err(unreadable("ROUTE", "not a ROUTE"));
    };
    let db = match route.target {
        RouteTarget::Db(db) => db,
        RouteTarget::Extra(extra) => extra.get_str("db").map(str::to_owned),
    };
    let mut extra = Map::new();
    if let Some(db) = db {
        extra.push("db", db);
    }
    encode(Request::Route(Route {
        target: RouteTarget::Extra(extra),
        ..route
    }))
}

fn decode(
    version: Version,
    raw: &RawMessage,
    message: &'static str,
) -> Result<Request, Untranslatable> {
    Request::decode(version, raw).map_err(|e| unreadable(message, &e.to_string()))
}

fn encode(request: Request) -> Result<Bytes, Untranslatable> {
    let mut out = BytesMut::new();
    request
        .encode(&mut out)
        .map_err(|e| unreadable("request", &e.to_string()))?;
    Ok(out.freeze())
}

fn unreadable(message: &'static str, cause: &str) -> Untranslatable {
    Untranslatable::Unreadable {
        message,
        cause: cause.to_string(),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
