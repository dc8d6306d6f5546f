//! Setting values that name sockets and networks: `boltgate.<side>.tcp_keepalive` and
//! `boltgate.proxy_protocol.trusted_networks` items. The types they become live with the code
//! that uses them (`net::tcp`, `listener::proxy_protocol`).

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::net::tcp::Keepalive;

/// Parses `boltgate.<side>.tcp_keepalive`: `idle,interval,count` (`30s,10s,3`), or `0`/`off`.
pub fn parse_keepalive(s: &str) -> Result<Option<Keepalive>, String> {
    let s = s.trim();
    if s == "0" || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [idle, interval, count] = parts[..] else {
        return Err(format!(
            "`{s}` is not idle,interval,count (e.g. 30s,10s,3), or 0 to turn keepalive off"
        ));
    };
    let duration = |what: &str, v: &str| -> Result<Duration, String> {
        let d = super::value::parse_duration(v).map_err(|e| format!("{what} `{v}`: {e}"))?;
        // The kernel takes whole seconds, 1..=32767.
        if d < Duration::from_secs(1) || d > Duration::from_secs(32767) {
            return Err(format!("{what} `{v}` must be between 1s and 32767s"));
        }
        Ok(d)
    };
    let count = match count.parse::<u32>() {
        Ok(n) if (1..=127).contains(&n) => n,
        _ => {
            return Err(format!(
                "count `{count}` must be a whole number from 1 to 127"
            ))
        }
    };
    Ok(Some(Keepalive {
        idle: duration("idle", idle)?,
        interval: duration("interval", interval)?,
        count,
    }))
}

/// Parses `boltgate.proxy_protocol.trusted_networks` items: CIDR blocks, or bare addresses
/// (taken as /32 or /128).
pub fn parse_network(item: &str) -> Result<IpNet, String> {
    if let Ok(net) = item.parse::<IpNet>() {
        return Ok(net);
    }
    item.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{item}` is not a network (CIDR such as 10.0.0.0/8) or an address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_values() {
        assert_eq!(
            parse_keepalive("30s,10s,3"),
            Ok(Some(Keepalive {
                idle: Duration::from_secs(30),
                interval: Duration::from_secs(10),
                count: 3
            }))
        );
        assert_eq!(parse_keepalive("0"), Ok(None));
        assert_eq!(parse_keepalive("off"), Ok(None));
        for bad in [
            "30s,10s",
            "30s,10s,0",
            "500ms,1s,3",
            "30s,x,3",
            "30s,10s,3,4",
        ] {
            assert!(parse_keepalive(bad).is_err(), "{bad}");
        }
    }
}
