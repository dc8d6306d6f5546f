//! The server's answers as the client's version reads them (see the module docs of
//! [`super`]): a run of whole chunked messages in, a run of whole chunked messages out.

use boltgate_proto::chunk::ChunkError;
use boltgate_proto::message::{sig, RawMessage, Response};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::scan::Run;
use boltgate_proto::Version;
use bytes::{BufMut, Bytes, BytesMut};

use super::{values, Plan, Translator};
use crate::status::REQUEST_INVALID;

/// `stats` keys Bolt 3 servers never sent.
const STATS_SINCE_4_0: &[&str] = &[
    "contains-updates",
    "contains-system-updates",
    "system-updates",
];

/// The largest chunk payload (a u16 length).
const MAX_CHUNK: usize = 0xFFFF;

impl Translator {
    /// The server's `run` as the client reads it.
    pub fn answers(&mut self, run: Run) -> Result<Run, ChunkError> {
        if !self.rewrites_answers() {
            return Ok(run);
        }
        let mut out = BytesMut::with_capacity(run.wire.len());
        for message in messages(&run.wire) {
            match message {
                // Keep-alives are 4.1+: a 4.0 or Bolt 3 client would read one as an empty message.
                None if self.client >= Version::V4_1 => out.put_slice(&[0, 0]),
                None => {}
                Some(payload) => {
                    if let Some(m) = self.answer(payload) {
                        chunk(&m, &mut out);
                    }
                }
            }
        }
        Run::scan(out.freeze(), self.max_message_size.max(MAX_CHUNK + 2))
    }

    /// One server message as the client gets it, if at all.
    fn answer(&mut self, payload: Bytes) -> Option<Bytes> {
        let Ok(raw) = RawMessage::new(payload.clone()) else {
            // Not a structure: the client's driver reports it, as it would direct.
            return Some(payload);
        };
        match raw.signature() {
            sig::RECORD => self.record(&raw),
            sig::SUCCESS | sig::FAILURE | sig::IGNORED => self.summary(&raw),
            _ => Some(payload),
        }
    }

    fn record(&mut self, raw: &RawMessage) -> Option<Bytes> {
        if self.spoiled.is_some() {
            return None;
        }
        let (from, to) = (self.server_shapes(), self.client_shapes());
        if from == to {
            return Some(raw.as_bytes().clone());
        }
        let mut fields = match raw.decode_fields(&self.limits) {
            Ok(f) => f,
            Err(_) => return Some(raw.as_bytes().clone()),
        };
        match fields
            .iter_mut()
            .try_for_each(|f| values::to_client(f, from, to))
        {
            Ok(()) => RawMessage::from_fields(sig::RECORD, &fields)
                .ok()
                .map(RawMessage::into_bytes),
            Err(e) => {
                self.spoiled = Some(e);
                None
            }
        }
    }

    fn summary(&mut self, raw: &RawMessage) -> Option<Bytes> {
        let response = Response::decode(self.server, raw).ok();
        let plan = self.plans.pop_front().unwrap_or(Plan::Answer);
        let spoiled = self.spoiled.take();
        match (plan, response) {
            (Plan::HelloHeld, Some(Response::Success(s))) => {
                self.held_hello = Some(s.metadata);
                None
            }
            (Plan::HelloHeld, other) => {
                self.drop_logon_answer = true;
                Some(self.plain(raw, other))
            }
            (Plan::LogonMerged, _) if std::mem::take(&mut self.drop_logon_answer) => None,
            (Plan::LogonMerged, Some(Response::Success(s))) => {
                let mut metadata = self.held_hello.take().unwrap_or_default();
                for (k, v) in s.metadata.into_entries() {
                    metadata.insert(k, v);
                }
                if self.utc_patch {
                    metadata.insert("patch_bolt", Value::List(vec!["utc".into()]));
                }
                Some(Response::success(self.success(metadata)).into_bytes())
            }
            (Plan::Answer, Some(Response::Success(_))) if spoiled.is_some() => {
                let e = spoiled.expect("checked");
                Some(
                    Response::failure(self.client, REQUEST_INVALID, &self.refusal(&e)).into_bytes(),
                )
            }
            (_, other) => Some(self.plain(raw, other)),
        }
    }

    /// A summary with no plan of its own: SUCCESS metadata and FAILURE in the client's terms.
    fn plain(&self, raw: &RawMessage, response: Option<Response>) -> Bytes {
        match response {
            Some(Response::Success(s)) => Response::success(self.success(s.metadata)).into_bytes(),
            Some(Response::Failure(f)) => {
                let code = f.code().unwrap_or(REQUEST_INVALID).to_string();
                let message = f.message().unwrap_or_default().to_string();
                Response::failure(self.client, &code, &message).into_bytes()
            }
            _ => raw.as_bytes().clone(),
        }
    }

    /// SUCCESS metadata for the client: GQL `statuses` (5.6+) as `notifications`; for Bolt 3,
    /// `stats` without the keys 4.0 added (neo4j-driver 1.7 sets each stats key as an attribute
    /// of its counters and fails on `contains-updates`, a read-only property there).
    fn success(&self, mut metadata: Map) -> Map {
        if self.client < Version::V4_0 {
            if let Some(Value::Map(stats)) = metadata.get("stats") {
                let mut stats = stats.clone();
                for key in STATS_SINCE_4_0 {
                    stats.remove(key);
                }
                metadata.insert("stats", Value::Map(stats));
            }
        }
        if let Some(Value::List(statuses)) = metadata.remove("statuses") {
            if !metadata.contains_key("notifications") {
                let notifications: Vec<Value> = statuses.iter().filter_map(notification).collect();
                if !notifications.is_empty() {
                    metadata.push("notifications", Value::List(notifications));
                }
            }
        }
        metadata
    }
}

/// A GQL status object (5.6+) as the notification older clients read, for the statuses that
/// are notifications (those with a `neo4j_code`; `00000` "success" and the like are not).
fn notification(status: &Value) -> Option<Value> {
    let s = status.as_map()?;
    let code = s.get_str("neo4j_code")?;
    let mut n = Map::new();
    n.push("code", code);
    n.push("title", s.get_str("title").unwrap_or_default());
    n.push("description", s.get_str("description").unwrap_or_default());
    let record = s.get_map("diagnostic_record");
    if let Some(severity) = record.and_then(|r| r.get_str("_severity")) {
        n.push("severity", severity);
    }
    if let Some(category) = record.and_then(|r| r.get_str("_classification")) {
        n.push("category", category);
    }
    if let Some(position) = record.and_then(|r| r.get("_position")).cloned() {
        n.push("position", position);
    }
    Some(Value::Map(n))
}

/// The messages of a run of whole chunked messages: `None` for a NOOP, else the payload.
fn messages(wire: &Bytes) -> impl Iterator<Item = Option<Bytes>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at + 2 > wire.len() {
            return None;
        }
        let mut payload = BytesMut::new();
        loop {
            let Some(h) = wire.get(at..at + 2) else {
                // The scanner hands over whole messages only; a cut run ends here.
                return None;
            };
            let n = usize::from(u16::from_be_bytes([h[0], h[1]]));
            at += 2;
            if n == 0 {
                return Some(if payload.is_empty() {
                    None
                } else {
                    Some(payload.freeze())
                });
            }
            let body = wire.get(at..at + n)?;
            payload.extend_from_slice(body);
            at += n;
        }
    })
}

/// `message` chunked (at most [`MAX_CHUNK`] bytes a chunk) and ended.
fn chunk(message: &[u8], out: &mut BytesMut) {
    for piece in message.chunks(MAX_CHUNK) {
        out.put_u16(piece.len() as u16);
        out.put_slice(piece);
    }
    out.put_u16(0);
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
