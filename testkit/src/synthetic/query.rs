//! What a query text asks for ([`Query`], the table in the module docs) and the state of a
//! result the client is still pulling ([`Open`]).

/// A result the client has not pulled completely yet.
#[derive(Debug, Clone, Copy)]
pub(super) enum Open {
    One {
        value: i64,
        sent: bool,
    },
    Wide {
        next: u64,
        total: u64,
        /// `SMALL_ROWS`: `[id]` rather than the wide row.
        small: bool,
    },
    /// The routing procedure's one row, `[ttl, servers]`.
    Table {
        sent: bool,
    },
    /// `DATETIME_ZONED`: one row holding a DateTime with a time-zone id.
    Zoned {
        sent: bool,
    },
    /// `DIE_AFTER n`: n rows, then the connection closes.
    Die {
        rows: u64,
    },
}

impl Open {
    pub(super) fn remaining(&self) -> u64 {
        match *self {
            Open::One { sent, .. } | Open::Table { sent } | Open::Zoned { sent } => {
                u64::from(!sent)
            }
            Open::Die { rows } => rows,
            Open::Wide { next, total, .. } => total - next,
        }
    }
}

/// What a query asks for.
pub(super) enum Query {
    One(i64),
    Wide(u64),
    Small(u64),
    Fail(String),
    FailClose(String),
    DieAfter(u64),
    /// `COMMIT_DIES` (true) or `COMMIT_HANGS` (false).
    Commit(bool),
    /// `DATETIME_ZONED`.
    Zoned,
    Unknown,
}

pub(super) fn parse_query(text: &str) -> Query {
    let mut words = text.split_whitespace();
    let keyword = words.next().unwrap_or("").to_ascii_uppercase();
    let arg = words.next();
    let extra = words.next().is_some();
    match (keyword.as_str(), arg, extra) {
        ("RETURN", Some(n), false) => n.parse().map_or(Query::Unknown, Query::One),
        ("ROWS", Some(n), false) => n.parse().map_or(Query::Unknown, Query::Wide),
        ("SMALL_ROWS", Some(n), false) => n.parse().map_or(Query::Unknown, Query::Small),
        ("FAIL", Some(code), false) => Query::Fail(code.to_owned()),
        ("FAIL_CLOSE", Some(code), false) => Query::FailClose(code.to_owned()),
        ("DIE_AFTER", Some(n), false) => n.parse().map_or(Query::Unknown, Query::DieAfter),
        ("COMMIT_DIES", None, false) => Query::Commit(true),
        ("COMMIT_HANGS", None, false) => Query::Commit(false),
        ("DATETIME_ZONED", None, false) => Query::Zoned,
        _ => Query::Unknown,
    }
}

/// Whether a query calls the routing procedure 4.0-4.2 drivers (and boltgate) use.
pub(super) fn is_routing_procedure(query: &str) -> bool {
    query
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("call dbms.routing.getroutingtable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse() {
        assert!(matches!(parse_query("RETURN 1"), Query::One(1)));
        assert!(matches!(parse_query("return  -7 "), Query::One(-7)));
        assert!(matches!(parse_query("ROWS 200000"), Query::Wide(200_000)));
        assert!(matches!(parse_query("small_rows 5"), Query::Small(5)));
        assert!(matches!(parse_query("FAIL Neo.X.Y"), Query::Fail(c) if c == "Neo.X.Y"));
        assert!(matches!(parse_query("RETURN 1 AS x"), Query::Unknown));
        assert!(matches!(parse_query("MATCH (n) RETURN n"), Query::Unknown));
    }
}
