//! The PROXY protocol (HAProxy's, v1 text and v2 binary): a load balancer in front of boltgate
//! tells it the real client's address in a header before the client's first byte.
//!
//! When `boltgate.proxy_protocol.enabled=true`, every connection must come from one of
//! `boltgate.proxy_protocol.trusted_networks` and start with a valid header; anything else is
//! refused, since a header from anyone else would let a client choose the address it is logged
//! under, and a connection without one would be logged under the balancer's address. (HAProxy's
//! `accept-proxy` is as strict.) A `LOCAL` (v2) or `UNKNOWN` (v1) header, as balancers send for
//! health checks, keeps the real peer's address.
//!
//! The header is read exactly, never beyond its end, so the socket's next byte is the client's
//! first and can still be peeked to tell TLS from WebSocket from Bolt. Parsing is the `ppp`
//! crate's.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature, the first 12 bytes of a v2 header.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v2 header's fixed part: signature, version/command, family/protocol, length.
const V2_FIXED: usize = 16;
/// The longest v1 header, CRLF included (the protocol's own bound).
const V1_MAX: usize = 107;

/// `boltgate.proxy_protocol.*`, when enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Peers allowed to send the header (and, with the protocol on, to connect at all).
    pub trusted_networks: Vec<IpNet>,
}

impl Settings {
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        self.trusted_networks.iter().any(|net| net.contains(&peer))
    }
}

/// What the header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The real client's address.
    Proxied { source: SocketAddr },
    /// A connection from the balancer itself (v2 LOCAL, v1 UNKNOWN, or a non-TCP family): the
    /// peer's own address stands.
    Local,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("connection from {0}, which is not in boltgate.proxy_protocol.trusted_networks")]
    Untrusted(IpAddr),
    #[error("no PROXY protocol header: the connection starts with {0:02x?}")]
    Missing(Vec<u8>),
    #[error("malformed PROXY v1 header: {0}")]
    V1(String),
    #[error("malformed PROXY v2 header: {0}")]
    V2(String),
    #[error("i/o reading the PROXY header: {0}")]
    Io(#[source] std::io::Error),
}

/// Reads one header, v1 or v2, and not one byte more.
pub async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Header, ProxyError> {
    // Twelve bytes tell v1 from v2 from anything else; both headers are longer (v1's shortest,
    // `PROXY UNKNOWN\r\n`, is 15 bytes).
    let mut buf = vec![0u8; V2_SIGNATURE.len()];
    stream.read_exact(&mut buf).await.map_err(ProxyError::Io)?;
    if buf == V2_SIGNATURE {
        buf.resize(V2_FIXED, 0);
        stream
            .read_exact(&mut buf[V2_SIGNATURE.len()..])
            .await
            .map_err(ProxyError::Io)?;
        let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
        buf.resize(V2_FIXED + len, 0);
        stream
            .read_exact(&mut buf[V2_FIXED..])
            .await
            .map_err(ProxyError::Io)?;
        return parse_v2(&buf);
    }
    if buf.starts_with(b"PROXY ") {
        // Byte by byte to the LF: at most 95 more small reads, once per connection, so that no
        // byte of the client's own data is taken.
        while buf.last() != Some(&b'\n') {
            if buf.len() >= V1_MAX {
                return Err(ProxyError::V1(format!("no CRLF within {V1_MAX} bytes")));
            }
            let byte = stream.read_u8().await.map_err(ProxyError::Io)?;
            buf.push(byte);
        }
        return parse_v1(&buf);
    }
    Err(ProxyError::Missing(buf))
}

fn parse_v1(bytes: &[u8]) -> Result<Header, ProxyError> {
    use ppp::v1::Addresses;
    let text = std::str::from_utf8(bytes).map_err(|_| ProxyError::V1("not ASCII".into()))?;
    let header = ppp::v1::Header::try_from(text).map_err(|e| ProxyError::V1(e.to_string()))?;
    Ok(match header.addresses {
        Addresses::Tcp4(a) => Header::Proxied {
            source: SocketAddr::new(a.source_address.into(), a.source_port),
        },
        Addresses::Tcp6(a) => Header::Proxied {
            source: SocketAddr::new(a.source_address.into(), a.source_port),
        },
        Addresses::Unknown => Header::Local,
    })
}

fn parse_v2(bytes: &[u8]) -> Result<Header, ProxyError> {
    use ppp::v2::{Addresses, Command};
    let header = ppp::v2::Header::try_from(bytes).map_err(|e| ProxyError::V2(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(Header::Local);
    }
    Ok(match header.addresses {
        Addresses::IPv4(a) => Header::Proxied {
            source: SocketAddr::new(a.source_address.into(), a.source_port),
        },
        Addresses::IPv6(a) => Header::Proxied {
            source: SocketAddr::new(a.source_address.into(), a.source_port),
        },
        // A Unix socket or an unspecified family has no address worth logging.
        Addresses::Unix(_) | Addresses::Unspecified => Header::Local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::socket::parse_network;

    async fn read(bytes: &[u8]) -> (Result<Header, ProxyError>, Vec<u8>) {
        let mut reader = bytes;
        let header = read_header(&mut reader).await;
        (header, reader.to_vec())
    }

    #[tokio::test]
    async fn v1_tcp4_and_tcp6_and_unknown() {
        let (h, rest) =
            read(b"PROXY TCP4 192.0.2.7 127.0.0.1 51000 7687\r\n\x60\x60\xb0\x17").await;
        assert_eq!(
            h.unwrap(),
            Header::Proxied {
                source: "192.0.2.7:51000".parse().unwrap()
            }
        );
        assert_eq!(rest, b"\x60\x60\xb0\x17", "the client's bytes stay unread");
        let (h, _) = read(b"PROXY TCP6 2001:db8::1 ::1 51000 7687\r\n").await;
        assert_eq!(
            h.unwrap(),
            Header::Proxied {
                source: "[2001:db8::1]:51000".parse().unwrap()
            }
        );
        assert_eq!(read(b"PROXY UNKNOWN\r\n").await.0.unwrap(), Header::Local);
    }

    #[tokio::test]
    async fn v2_proxy_and_local() {
        use ppp::v2::{Builder, Command, Protocol, Version};
        let src: SocketAddr = "198.51.100.9:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:7687".parse().unwrap();
        let mut bytes =
            Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, (src, dst))
                .build()
                .unwrap();
        bytes.extend_from_slice(b"GET ");
        let (h, rest) = read(&bytes).await;
        assert_eq!(h.unwrap(), Header::Proxied { source: src });
        assert_eq!(rest, b"GET ");
        let local = Builder::with_addresses(
            Version::Two | Command::Local,
            Protocol::Unspecified,
            ppp::v2::Addresses::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(read(&local).await.0.unwrap(), Header::Local);
    }

    #[tokio::test]
    async fn malformed_and_missing_headers_are_errors() {
        assert!(matches!(
            read(b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n").await.0,
            Err(ProxyError::V1(_))
        ));
        assert!(matches!(
            read(&[b'P', b'R', b'O', b'X', b'Y', b' ', b'x'].repeat(20))
                .await
                .0,
            Err(ProxyError::V1(_))
        ));
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0x00, 0x02, 1, 2]); // IPv4 with 2 address bytes
        assert!(matches!(read(&v2).await.0, Err(ProxyError::V2(_))));
        assert!(matches!(
            read(b"\x60\x60\xb0\x17\x00\x00\x05\x05\x00\x00\x00\x00")
                .await
                .0,
            Err(ProxyError::Missing(_))
        ));
    }

    #[test]
    fn trusted_networks() {
        let s = Settings {
            trusted_networks: vec![
                parse_network("127.0.0.1/32").unwrap(),
                parse_network("10.0.0.0/8").unwrap(),
                parse_network("::1").unwrap(),
            ],
        };
        assert!(s.is_trusted("127.0.0.1".parse().unwrap()));
        assert!(s.is_trusted("::ffff:10.1.2.3".parse().unwrap()));
        assert!(s.is_trusted("::1".parse().unwrap()));
        assert!(!s.is_trusted("192.0.2.1".parse().unwrap()));
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("localhost").is_err());
    }
}
