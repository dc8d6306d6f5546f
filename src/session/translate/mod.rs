//! Translation between a client's Bolt version and a different one the server speaks, for
//! drivers that speak only versions the server dropped (Bolt 3 and 4.0-4.3 against Neo4j 5+,
//! which keeps 4.4 and 5.x, or against FalkorDB, which speaks 5.1-5.7). Sans-IO: PackStream
//! values and wire bytes in, wire bytes out; the relay calls it only for a translated session
//! (`relay/backend.rs`), so every other session keeps the byte-forwarding fast path.
//!
//! - [`negotiate`]: which client versions can be translated, which server versions are tried
//!   and in what order.
//! - [`request`]: client requests as the server's version spells them (HELLO with credentials
//!   becomes HELLO + LOGON; PULL_ALL/DISCARD_ALL become PULL/DISCARD `{n: -1}`; ROUTE's 4.3
//!   database string becomes 4.4's `{db}`; DateTime parameters).
//! - [`response`]: the server's answers as the client's version reads them (the HELLO and
//!   LOGON answers merged into one; `neo4j_code` FAILUREs as `code`/`message`; GQL statuses as
//!   notifications; result values, [`values`]).
//!
//! What cannot be translated faithfully is refused with a FAILURE naming the feature and both
//! versions ([`Translator::refusal`]), never answered wrongly: a request is answered by boltgate
//! without reaching the server; a result holding such a value has its records dropped and its
//! summary replaced by the FAILURE (the client then RESETs, as after any failure).

pub mod negotiate;
mod request;
mod response;
pub mod values;

use std::collections::VecDeque;

use boltgate_proto::packstream::{Limits, Map};
use boltgate_proto::Version;
use thiserror::Error;

use self::values::Shapes;

/// Why a request or a value has no faithful translation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Untranslatable {
    #[error(
        "a DateTime with the time-zone id '{zone}', which boltgate's time-zone database (IANA, \
         compiled in) does not know: it cannot be converted between local wall-clock seconds \
         (before Bolt 5.0) and UTC seconds (since); use a DateTime with an offset, or a driver \
         that speaks the server's version"
    )]
    UnknownZone { zone: String },
    #[error("a DateTime of {seconds} seconds with offset {offset} s is out of range")]
    DateTimeRange { seconds: i64, offset: i64 },
    #[error("a DateTime of {seconds} seconds in zone {zone} is out of range")]
    ZonedDateTimeRange { seconds: i64, zone: String },
    #[error("a malformed {what}")]
    Malformed { what: &'static str },
    #[error("the client's {message} cannot be read: {cause}")]
    Unreadable {
        message: &'static str,
        cause: String,
    },
}

/// What the server's next summary answers, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// One client request, one answer.
    Answer,
    /// The HELLO half of a HELLO split into HELLO + LOGON: its SUCCESS is held for the merge.
    HelloHeld,
    /// The LOGON half: answered with the held HELLO metadata merged in.
    LogonMerged,
}

/// One translated session's translation state.
pub struct Translator {
    client: Version,
    server: Version,
    /// The client asked for `patch_bolt: ["utc"]` (4.3/4.4) and a 5.x server was not shown it:
    /// boltgate agrees to it itself (its DateTimes are already UTC).
    utc_patch: bool,
    plans: VecDeque<Plan>,
    /// The client's requests are inside an explicit transaction (BEGIN sent, no COMMIT,
    /// ROLLBACK or RESET since).
    in_tx: bool,
    held_hello: Option<Map>,
    /// The HELLO half failed: the LOGON half's answer (IGNORED, or nothing) is not the client's.
    drop_logon_answer: bool,
    /// A value of the current result has no translation: its records are dropped and its summary
    /// becomes this refusal.
    spoiled: Option<Untranslatable>,
    limits: Limits,
    max_message_size: usize,
}

impl Translator {
    pub fn new(client: Version, server: Version, max_message_size: usize) -> Translator {
        Translator {
            client,
            server,
            utc_patch: false,
            plans: VecDeque::new(),
            in_tx: false,
            held_hello: None,
            drop_logon_answer: false,
            spoiled: None,
            limits: Limits::default(),
            max_message_size,
        }
    }

    pub fn client(&self) -> Version {
        self.client
    }

    pub fn server(&self) -> Version {
        self.server
    }

    /// What the client is told when something has no translation.
    pub fn refusal(&self, e: &Untranslatable) -> String {
        format!(
            "boltgate translates between this client's Bolt {} and the server's Bolt {}, and \
             cannot translate this: {e}",
            self.client, self.server
        )
    }

    fn client_shapes(&self) -> Shapes {
        Shapes::of(self.client, self.utc_patch)
    }

    fn server_shapes(&self) -> Shapes {
        // A 4.4 server was shown the client's own patch request, so it agrees with the client.
        Shapes::of(self.server, self.utc_patch)
    }

    /// Whether the server's answers need rewriting at all: a 4.4 server answers a 4.1-4.3
    /// client in the client's own shapes, so those answers keep the fast path.
    pub fn rewrites_answers(&self) -> bool {
        self.server.major >= 5 || self.client < Version::V4_1
    }
}
