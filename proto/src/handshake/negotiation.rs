//! Choosing a version: what a (pre-manifest) server picks from the proposals ([`negotiate`]), and
//! the proposals the proxy sends upstream, in its own form ([`encode_proposals`]) or the
//! client's ([`upstream_proposals`]). Grouping versions into ranges is shared with the manifest.

use super::{ClientHello, Proposal};
use crate::version::Version;

/// The outcome of scanning proposals as a (pre-manifest) server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// Reply with this version (`00 00 minor major`).
    Version(Version),
    /// Reply `00 00 01 FF` and send a manifest offer.
    Manifest,
    /// Reply `00 00 00 00` and close.
    NoneAcceptable,
}

/// What a server that speaks `supported` (and manifest v1 if `manifest`) picks: the proposals are
/// scanned in order, empty and unrecognised slots skipped, `Manifest { version: 1 }` taken if
/// `manifest`, and a range answered with the highest supported version inside it.
pub fn negotiate(proposals: &[Proposal], supported: &[Version], manifest: bool) -> Negotiated {
    for proposal in proposals {
        match proposal {
            Proposal::Manifest { version: 1 } if manifest => return Negotiated::Manifest,
            Proposal::Range { .. } => {
                if let Some(v) = proposal.versions().find(|v| supported.contains(v)) {
                    return Negotiated::Version(v);
                }
            }
            _ => {}
        }
    }
    Negotiated::NoneAcceptable
}

/// Groups `candidates` (in preference order) into ranges. Consecutive candidates join one range when
/// they have the same major, descend, and `adjacent(lower, higher)` holds.
pub(super) fn group_ranges(
    candidates: &[Version],
    adjacent: impl Fn(Version, Version) -> bool,
) -> Vec<Proposal> {
    let mut out: Vec<Proposal> = Vec::new();
    for &v in candidates {
        if let Some(Proposal::Range {
            major, min_minor, ..
        }) = out.last_mut()
        {
            let low = Version::new(*major, *min_minor);
            if v.major == *major && v.minor < *min_minor && adjacent(v, low) {
                *min_minor = v.minor;
                continue;
            }
        }
        out.push(Proposal::exact(v));
    }
    out
}

/// Whether no *existing* Bolt version lies strictly between `low` and `high` (same major): 5.4 and
/// 5.6 are adjacent because 5.5 never existed on any server.
fn adjacent_on_servers(low: Version, high: Version) -> bool {
    !Version::SUPPORTED
        .iter()
        .any(|v| v.major == low.major && v.minor > low.minor && v.minor < high.minor)
}

/// The four proposals for the proxy's upstream side.
///
/// `00 00 01 FF` first if `manifest`, then `candidates` (preference order, normally newest first) as
/// same-major ranges. The choice documented here: a range is the hull of a run of candidates with
/// no *existing* version missing between them, so the full list gives `5.8–5.0` (5.5 lies inside,
/// but no server ever negotiated 5.5), while a list without 5.7 gives `5.8` and `5.6–5.0`, so a
/// server can never pick a version that is not a candidate. If there are more runs than slots, the
/// least preferred runs are dropped. Unused slots are [`Proposal::Empty`].
///
/// Ranges are understood by 4.3+ servers only; a pre-4.3 server matches only a proposal whose top
/// version is its own.
pub fn encode_proposals(candidates: &[Version], manifest: bool) -> [Proposal; 4] {
    let mut out = [Proposal::Empty; 4];
    let mut slots = out.iter_mut();
    if manifest {
        if let Some(slot) = slots.next() {
            *slot = Proposal::Manifest { version: 1 };
        }
    }
    for (slot, range) in slots.zip(group_ranges(candidates, adjacent_on_servers)) {
        *slot = range;
    }
    out
}

/// The four proposals for the upstream, in the client's own form: each of the client's slots as
/// it sent it, narrowed only where it names versions boltgate cannot relay.
///
/// A slot whose versions boltgate all speaks is kept byte for byte (`00 02 04 04` stays a 4.4–4.2
/// range, `00 00 01 04` stays an exact 4.1, a 5.8–5.0 range keeps 5.5 inside it, as no server
/// ever negotiated 5.5); a slot with unsupported versions becomes the ranges of its supported
/// ones (see [`encode_proposals`]); a slot with none, Bolt 1/2 and unrecognised slots are
/// dropped. The manifest request is kept where the client put it, and only if it asked for one
/// (`manifest` false drops it: the retry after a server that answered a manifest offer with a
/// version nobody offered). Slots split past four lose the least preferred; unused slots are
/// [`Proposal::Empty`], at the end. A server therefore sees what it would see from the client
/// itself whenever the client proposes only what boltgate relays.
pub fn upstream_proposals(
    hello: &ClientHello,
    supported: &[Version],
    manifest: bool,
) -> [Proposal; 4] {
    let mut kept: Vec<Proposal> = Vec::with_capacity(4);
    for p in &hello.proposals {
        match p {
            Proposal::Manifest { version: 1 } if manifest => kept.push(*p),
            Proposal::Range { .. } => {
                let versions: Vec<Version> =
                    p.versions().filter(|v| supported.contains(v)).collect();
                kept.extend(group_ranges(&versions, adjacent_on_servers));
            }
            _ => {}
        }
    }
    let mut out = [Proposal::Empty; 4];
    for (slot, p) in out.iter_mut().zip(kept) {
        *slot = p;
    }
    out
}

/// Whether `proposals` name `version` (a range containing it; the manifest names none).
pub fn offers(proposals: &[Proposal], version: Version) -> bool {
    proposals.iter().any(|p| p.contains(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacency_skips_only_versions_that_never_existed() {
        assert!(adjacent_on_servers(Version::V5_4, Version::V5_6));
        assert!(!adjacent_on_servers(Version::V5_6, Version::V5_8));
        assert!(adjacent_on_servers(Version::V5_7, Version::V5_8));
    }

    fn hello(slots: [[u8; 4]; 4]) -> ClientHello {
        ClientHello {
            proposals: slots.map(Proposal::from_bytes),
        }
    }

    fn wire(proposals: [Proposal; 4]) -> Vec<[u8; 4]> {
        proposals.iter().map(Proposal::to_bytes).collect()
    }

    #[test]
    fn upstream_proposals_keep_the_clients_own_form() {
        // The 4.x driver's offer: ranges and an exact 4.1 stay as they are, no manifest appears.
        let offer = [[0, 0, 0, 5], [0, 2, 4, 4], [0, 0, 1, 4], [0, 0, 0, 3]];
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, true);
        assert_eq!(wire(got), offer.to_vec());
        // A 6.x driver's offer with a manifest: kept, in place; 5.8-5.0 keeps 5.5 inside.
        let offer = [[0, 0, 1, 0xFF], [0, 8, 8, 5], [0, 4, 4, 4], [0, 0, 0, 0]];
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, true);
        assert_eq!(wire(got), offer.to_vec());
        // The retry without the manifest moves the rest up.
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, false);
        assert_eq!(
            wire(got),
            vec![[0, 8, 8, 5], [0, 4, 4, 4], [0, 0, 0, 0], [0, 0, 0, 0]]
        );
    }

    #[test]
    fn upstream_proposals_narrow_only_what_boltgate_cannot_relay() {
        // 5.10-5.0 names 5.9 and 5.10, which boltgate does not speak; Bolt 2 and junk go.
        let offer = [[0, 10, 10, 5], [0, 0, 0, 2], [1, 2, 3, 4], [0, 0, 6, 5]];
        let got = upstream_proposals(&hello(offer), Version::SUPPORTED, true);
        assert_eq!(
            wire(got),
            vec![[0, 8, 8, 5], [0, 0, 6, 5], [0, 0, 0, 0], [0, 0, 0, 0]]
        );
        // A client offering only 5.6 offers the server only 5.6.
        let got = upstream_proposals(
            &hello([[0, 0, 6, 5], [0; 4], [0; 4], [0; 4]]),
            Version::SUPPORTED,
            true,
        );
        assert!(offers(&got, Version::V5_6) && !offers(&got, Version::V5_7));
    }
}
