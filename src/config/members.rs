//! A static cluster topology (`boltgate.routing.members`), for servers that cannot answer ROUTE:
//! FalkorDB primary + replicas, or any set of Bolt servers where one takes writes.
//!
//! Syntax: `role=host:port`, comma-separated; `role` is `writer` or `reader` (case-insensitive).
//! A member listed under both roles is both (`writer=a:7687,reader=a:7687` sends reads to the
//! writer too). Ports default to 7687, as in URIs.

use std::fmt;

use crate::config::value::ValueError;

/// What a member may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Writer,
    Reader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
        })
    }
}

/// One entry of `boltgate.routing.members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub role: Role,
    /// `host:port`, IPv6 in brackets: the address dialled and, for TLS, the name verified.
    pub address: String,
}

const HINT: &str = "e.g. writer=10.0.0.1:7687,reader=10.0.0.2:7687,reader=10.0.0.3:7687";

/// Parses the setting's value (already split on commas).
pub fn parse_members(items: &[String]) -> Result<Vec<Member>, ValueError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some((role, address)) = item.split_once('=') else {
            return Err(ValueError::with_hint(
                format!(
                    "`{}` is not role=host:port",
                    crate::config::value::redact_userinfo(item)
                ),
                HINT,
            ));
        };
        let role = match role.trim().to_ascii_lowercase().as_str() {
            "writer" | "write" | "primary" => Role::Writer,
            "reader" | "read" | "replica" => Role::Reader,
            other => {
                return Err(ValueError::with_hint(
                    format!("`{other}` is not a role (writer or reader)"),
                    HINT,
                ))
            }
        };
        if address.contains('@') {
            return Err(ValueError::with_hint(
                format!(
                    "`{}`: credentials are not allowed in a member address; clients send their \
                     own with HELLO/LOGON",
                    crate::config::value::redact_userinfo(item)
                ),
                HINT,
            ));
        }
        let address = normalise_address(address.trim())
            .map_err(|problem| ValueError::with_hint(format!("`{item}`: {problem}"), HINT))?;
        let member = Member { role, address };
        if out.contains(&member) {
            return Err(ValueError::with_hint(
                format!("`{item}` is listed twice"),
                HINT,
            ));
        }
        out.push(member);
    }
    if out.is_empty() {
        return Err(ValueError::with_hint("no member listed", HINT));
    }
    Ok(out)
}

/// `host[:port]` → `host:port` (port 7687 when absent), checked as a URI authority would be.
pub fn normalise_address(address: &str) -> Result<String, String> {
    let target = super::uri::Target::parse(&format!("bolt://{address}"))
        .map_err(|e| format!("`{address}` is not host:port ({e})"))?;
    Ok(target.address())
}

/// Splits `host:port` (IPv6 in brackets) into the host (brackets removed) and the port.
pub fn split_address(address: &str) -> Option<(String, u16)> {
    let target = super::uri::Target::parse(&format!("bolt://{address}")).ok()?;
    Some((target.host, target.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn parses_roles_and_defaults_the_port() {
        let m = parse_members(&items("writer=a:1,Reader=b,reader=[::1]:3")).unwrap();
        assert_eq!(
            m,
            vec![
                Member {
                    role: Role::Writer,
                    address: "a:1".into()
                },
                Member {
                    role: Role::Reader,
                    address: "b:7687".into()
                },
                Member {
                    role: Role::Reader,
                    address: "[::1]:3".into()
                },
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_a_member() {
        for bad in [
            "a:1",
            "leader=a:1",
            "writer=",
            "writer=a:0",
            "writer=a:1,writer=a:1",
        ] {
            assert!(parse_members(&items(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_addresses() {
        assert_eq!(split_address("[::1]:9"), Some(("::1".into(), 9)));
        assert_eq!(split_address("h:9"), Some(("h".into(), 9)));
    }
}
