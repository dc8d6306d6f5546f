//! The Bolt handshake with the upstream over an open stream: what boltgate proposes ([`Offer`]),
//! the exchange itself (bounded by the connect timeout), and where it ended ([`Agreed`]). A
//! server that picks a version nobody offered is reported as such ([`Negotiation::Unoffered`]),
//! so the dialling code can ask again without the manifest.

use boltgate_proto::handshake::{
    encode_proposals, offers, upstream_proposals, ClientHello, ManifestChoice, ManifestOffer,
    Proposal, ServerReply, PREAMBLE,
};
use boltgate_proto::Version;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::tls_hint;
use super::{Upstream, UpstreamError};
use crate::net::Stream;

/// What boltgate proposes to an upstream: four proposal slots, and the versions it may accept
/// back (a server's choice must be in both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub proposals: [Proposal; 4],
    pub candidates: Vec<Version>,
}

impl Offer {
    /// The client's own proposals, narrowed to what boltgate relays
    /// ([`upstream_proposals`]): a manifest only if the client asked for one.
    pub fn from_client(hello: &ClientHello) -> Offer {
        Offer {
            proposals: upstream_proposals(hello, Version::SUPPORTED, true),
            candidates: hello.acceptable(Version::SUPPORTED),
        }
    }

    /// Exactly `version` (a session's next member connection, a routing table fetch): a manifest
    /// only where the version needs one (6.0 is negotiated through the manifest alone).
    pub fn version(version: Version) -> Offer {
        Offer::versions(&[version], version.manifest_only())
    }

    /// `candidates` in boltgate's own encoding ([`encode_proposals`]).
    pub fn versions(candidates: &[Version], manifest: bool) -> Offer {
        Offer {
            proposals: encode_proposals(candidates, manifest),
            candidates: candidates.to_vec(),
        }
    }

    /// Every version boltgate speaks, with the manifest: what any working server answers.
    pub fn boltgate() -> Offer {
        Offer::versions(Version::SUPPORTED, true)
    }

    pub(super) fn has_manifest(&self) -> bool {
        self.proposals
            .iter()
            .any(|p| matches!(p, Proposal::Manifest { .. }))
    }

    /// The same offer without the manifest request (the rest moved up).
    pub(super) fn without_manifest(&self) -> Offer {
        let mut proposals = [Proposal::Empty; 4];
        let rest = self
            .proposals
            .iter()
            .filter(|p| !matches!(p, Proposal::Manifest { .. }));
        for (slot, p) in proposals.iter_mut().zip(rest) {
            *slot = *p;
        }
        Offer {
            proposals,
            candidates: self.candidates.clone(),
        }
    }

    fn accepts(&self, v: Version) -> bool {
        self.candidates.contains(&v) && offers(&self.proposals, v)
    }

    /// The proposals as text, for error messages.
    pub(super) fn shown(&self) -> String {
        let shown: Vec<String> = self
            .proposals
            .iter()
            .filter(|p| **p != Proposal::Empty)
            .map(Proposal::to_string)
            .collect();
        shown.join(", ")
    }
}

/// Where an upstream handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreed {
    /// The version both sides speak; nothing more is owed to the upstream.
    Version(Version),
    /// The server answered the client's manifest request, and this is what of its offer boltgate
    /// can relay ([`ManifestOffer::relayable`], never empty): show it to the client, then send
    /// the client's [`ManifestChoice`] upstream, so the client picks as it would directly.
    Manifest(ManifestOffer),
}

impl Upstream {
    /// The Bolt handshake on a connected stream, bounded by the connect timeout.
    pub(super) async fn negotiate(
        &self,
        mut stream: Stream,
        addr: &str,
        offer: &Offer,
        relay: bool,
    ) -> Result<(Stream, Agreed, BytesMut), Negotiation> {
        let (agreed, rest) = tokio::time::timeout(
            self.connect_timeout,
            handshake(
                &mut stream,
                addr,
                offer,
                relay,
                self.cluster_policy
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        )
        .await
        .map_err(|_| {
            Failed(UpstreamError::Handshake {
                addr: addr.to_string(),
                problem: format!("no answer within {:?}", self.connect_timeout),
            })
        })??;
        Ok((stream, agreed, rest))
    }
}

/// How one handshake attempt failed.
pub(super) enum Negotiation {
    /// The server chose this version, which was not offered ([`Upstream::dial`] may retry).
    Unoffered(Version),
    Failed(UpstreamError),
}
use Negotiation::{Failed, Unoffered};

impl From<UpstreamError> for Negotiation {
    fn from(e: UpstreamError) -> Self {
        Failed(e)
    }
}

async fn handshake(
    stream: &mut Stream,
    addr: &str,
    offer: &Offer,
    relay: bool,
    cluster_policy: bool,
) -> Result<(Agreed, BytesMut), Negotiation> {
    let candidates = &offer.candidates[..];
    let handshake_err = |problem: String| UpstreamError::Handshake {
        addr: addr.to_string(),
        problem,
    };
    // TLS 1.3: the client's side of the TLS handshake ends before the server has checked it,
    // so a server's refusal (a client certificate required, or not trusted) arrives as an alert
    // on the first read, here. It is a TLS failure, with the setting that fixes it.
    let io_err = |e: std::io::Error| {
        if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
            UpstreamError::Tls {
                addr: addr.to_string(),
                hint: tls_hint(&e, cluster_policy),
                source: e,
            }
        } else {
            handshake_err(e.to_string())
        }
    };
    let mut hello = Vec::with_capacity(20);
    hello.extend_from_slice(&PREAMBLE);
    for p in &offer.proposals {
        hello.extend_from_slice(&p.to_bytes());
    }
    stream.write_all(&hello).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;

    let mut buf = BytesMut::with_capacity(64);
    while buf.len() < 4 {
        if stream.read_buf(&mut buf).await.map_err(io_err)? == 0 {
            return Err(Failed(UpstreamError::Closed {
                addr: addr.to_string(),
            }));
        }
    }
    let reply: [u8; 4] = buf[..4].try_into().expect("four bytes were read");
    let _ = buf.split_to(4);
    let refused = || UpstreamError::NoCommonVersion {
        addr: addr.to_string(),
        proposed: offer.shown(),
    };
    match ServerReply::parse(reply).map_err(|e| handshake_err(e.to_string()))? {
        ServerReply::Refused => Err(refused().into()),
        ServerReply::Version(v) if offer.accepts(v) => Ok((Agreed::Version(v), buf)),
        ServerReply::Version(v) => Err(Unoffered(v)),
        ServerReply::Manifest => {
            let offer = loop {
                if let Some((offer, used)) = ManifestOffer::parse_after_marker(&buf)
                    .map_err(|e| handshake_err(e.to_string()))?
                {
                    let _ = buf.split_to(used);
                    break offer;
                }
                if stream.read_buf(&mut buf).await.map_err(io_err)? == 0 {
                    return Err(Failed(UpstreamError::Closed {
                        addr: addr.to_string(),
                    }));
                }
            };
            if relay {
                let shown = offer.relayable(candidates, Version::SUPPORTED);
                if !shown.ranges.is_empty() {
                    return Ok((Agreed::Manifest(shown), buf));
                }
            }
            let Some(version) = offer.choose(candidates) else {
                // Tell the server nothing was acceptable, as the manifest protocol asks.
                let _ = stream.write_all(&[0, 0, 0, 0, 0]).await;
                return Err(refused().into());
            };
            let mut out = BytesMut::new();
            ManifestChoice {
                version,
                capabilities: 0,
            }
            .encode(&mut out);
            stream.write_all(&out).await.map_err(io_err)?;
            stream.flush().await.map_err(io_err)?;
            Ok((Agreed::Version(version), buf))
        }
    }
}
