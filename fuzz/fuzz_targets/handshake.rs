//! Handshake parsing and negotiation on arbitrary bytes: no panics, and the invariants below.
//!
//! The input is read as a client hello, a server reply, a manifest offer, a manifest choice and a
//! varint (each from the start of the data), and its first two bytes also pick a server's version
//! set for negotiation checks.
#![no_main]

use boltgate_proto::handshake::{
    decode_varint, encode_proposals, encode_varint, negotiate, ClientHello, HandshakeError,
    ManifestChoice, ManifestOffer, Negotiated, Proposal, ServerReply, CLIENT_HELLO_LEN,
};
use boltgate_proto::Version;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    client_hello(data);
    if let Some(head) = data.get(..4) {
        let _ = ServerReply::parse([head[0], head[1], head[2], head[3]]);
        let p = Proposal::from_bytes([head[0], head[1], head[2], head[3]]);
        assert_eq!(p.to_bytes(), head, "proposal bytes do not round-trip");
        let _ = p.to_string();
    }
    manifest(data);
    if let Ok(Some((value, used))) = decode_varint(data) {
        assert!((1..=10).contains(&used));
        let mut out = Vec::new();
        encode_varint(value, &mut out);
        assert!(
            out.len() <= used,
            "re-encoding is never longer than the input"
        );
        assert_eq!(decode_varint(&out), Ok(Some((value, out.len()))));
    }
});

fn client_hello(data: &[u8]) {
    let full = ClientHello::parse(data);
    // Errors are final and a complete hello needs all 20 bytes: every prefix agrees.
    for cut in 0..data.len().min(CLIENT_HELLO_LEN) {
        match (ClientHello::parse(&data[..cut]), &full) {
            (Ok(None), _) => {}
            (Err(e), Err(f)) => assert_eq!(
                std::mem::discriminant(&e),
                std::mem::discriminant(f),
                "prefix error {e} but full error {f}"
            ),
            (prefix, full) => panic!("prefix {cut}: {prefix:?}, full: {full:?}"),
        }
    }
    let hello = match full {
        Ok(Some(hello)) => hello,
        Ok(None) => {
            assert!(data.len() < CLIENT_HELLO_LEN);
            return;
        }
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(&hello.encode()[..], &data[..CLIENT_HELLO_LEN]);

    let acceptable = hello.acceptable(Version::SUPPORTED);
    match negotiate(&hello.proposals, Version::SUPPORTED, false) {
        Negotiated::Version(v) => assert_eq!(acceptable.first(), Some(&v)),
        Negotiated::NoneAcceptable => {
            assert!(acceptable.is_empty());
            let _ = hello.refusal_error().to_string();
        }
        Negotiated::Manifest => panic!("manifest chosen although not offered"),
    }
    if negotiate(&hello.proposals, Version::SUPPORTED, true) == Negotiated::Manifest {
        assert!(hello.wants_manifest());
    }

    // Proxying: propose the client's versions upstream to a server with an arbitrary subset of
    // versions; whatever the server picks must be one the client accepts.
    let server = server_versions(data);
    for manifest in [false, true] {
        let proposals = encode_proposals(&acceptable, manifest);
        if let Negotiated::Version(v) = negotiate(&proposals, &server, false) {
            assert!(
                acceptable.contains(&v),
                "server picked {v}, client accepts {acceptable:?}"
            );
            assert!(server.contains(&v));
        }
    }
    // And a manifest offer of the server's versions never contains anything else.
    let offer = ManifestOffer::from_versions(&server, 0);
    for range in &offer.ranges {
        for v in range.versions() {
            assert!(server.contains(&v), "offer {range} includes {v}");
        }
    }
    if let Some(v) = offer.choose(&acceptable) {
        assert!(server.contains(&v) && acceptable.contains(&v));
        assert_eq!(
            offer.check(&ManifestChoice {
                version: v,
                capabilities: 0
            }),
            Ok(())
        );
    }
}

/// A subset of the supported versions, from the last two bytes of the hello.
fn server_versions(data: &[u8]) -> Vec<Version> {
    let mask = u16::from_be_bytes([data[CLIENT_HELLO_LEN - 2], data[CLIENT_HELLO_LEN - 1]]);
    Version::SUPPORTED
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, v)| *v)
        .collect()
}

fn manifest(data: &[u8]) {
    match ManifestOffer::parse_after_marker(data) {
        Ok(Some((offer, used))) => {
            assert!(used <= data.len());
            let mut out = BytesMut::new();
            offer.encode(&mut out);
            let again = ManifestOffer::parse_after_marker(&out[4..]);
            assert_eq!(again, Ok(Some((offer.clone(), out.len() - 4))));
            let _ = offer.choose(Version::SUPPORTED);
        }
        Ok(None) => {}
        Err(e) => {
            assert!(matches!(
                e,
                HandshakeError::VarintOverflow { .. }
                    | HandshakeError::TooManyManifestEntries { .. }
            ));
            let _ = e.to_string();
        }
    }
    match ManifestChoice::parse(data) {
        Ok(Some((choice, used))) => {
            assert!(used <= data.len());
            let mut out = BytesMut::new();
            choice.encode(&mut out);
            assert_eq!(ManifestChoice::parse(&out), Ok(Some((choice, out.len()))));
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
