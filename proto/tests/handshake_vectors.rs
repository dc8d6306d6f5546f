//! Byte-exact handshake vectors: the proposals real drivers send (bolt-reference.md §1.2), the
//! manifest worked example (§1.3) byte for byte, refusals, malformed input and varints.

use boltgate_proto::handshake::{
    decode_varint, encode_proposals, encode_varint, negotiate, ClientHello, HandshakeError,
    ManifestChoice, ManifestOffer, Negotiated, Proposal, ServerReply, CLIENT_HELLO_LEN,
    MANIFEST_V1, PREAMBLE, REFUSAL,
};
use boltgate_proto::Version;
use bytes::BytesMut;

const PYTHON: [u8; 16] = [0, 0, 1, 0xFF, 0, 8, 8, 5, 0, 2, 4, 4, 0, 0, 0, 3];
const JAVA: [u8; 16] = PYTHON;
const GO_5X: [u8; 16] = [0, 7, 7, 5, 0, 2, 4, 4, 0, 0, 1, 4, 0, 0, 0, 3];
const NEO4RS: [u8; 16] = [0, 0, 4, 4, 0, 0, 3, 4, 0, 0, 1, 4, 0, 0, 0, 4];
const SPEC: [u8; 16] = [0, 3, 3, 4, 0, 0, 1, 4, 0, 0, 0, 4, 0, 0, 0, 3];

fn hello_bytes(proposals: &[u8; 16]) -> Vec<u8> {
    let mut out = PREAMBLE.to_vec();
    out.extend_from_slice(proposals);
    out
}

fn hello(proposals: &[u8; 16]) -> ClientHello {
    let bytes = hello_bytes(proposals);
    // Incomplete at every prefix, complete (and byte-exact on re-encode) at 20.
    for cut in 0..CLIENT_HELLO_LEN {
        assert_eq!(ClientHello::parse(&bytes[..cut]), Ok(None), "cut {cut}");
    }
    let parsed = ClientHello::parse(&bytes).unwrap().unwrap();
    assert_eq!(parsed.encode().to_vec(), bytes);
    parsed
}

fn range(major: u8, max_minor: u8, min_minor: u8) -> Proposal {
    Proposal::Range {
        major,
        min_minor,
        max_minor,
    }
}

fn v(major: u8, minor: u8) -> Version {
    Version::new(major, minor)
}

/// The versions of a Neo4j 4.4 server, a 5.23 server (5.6, no manifest) and a 3.5 server.
const NEO4J_4_4: &[Version] = &[
    Version::V4_4,
    Version::V4_3,
    Version::V4_2,
    Version::V4_1,
    Version::V4_0,
    Version::V3,
];
const NEO4J_5_23: &[Version] = &[
    Version::V5_6,
    Version::V5_4,
    Version::V5_3,
    Version::V5_2,
    Version::V5_1,
    Version::V5_0,
    Version::V4_4,
];
const NEO4J_3_5: &[Version] = &[Version::V3];

#[test]
fn python_and_java_driver_proposals() {
    for bytes in [PYTHON, JAVA] {
        let h = hello(&bytes);
        assert_eq!(
            h.proposals,
            [
                Proposal::Manifest { version: 1 },
                range(5, 8, 0),
                range(4, 4, 2),
                range(3, 0, 0)
            ]
        );
        assert!(h.wants_manifest());
        assert_eq!(
            h.acceptable(Version::SUPPORTED),
            [
                v(5, 8),
                v(5, 7),
                v(5, 6),
                v(5, 4),
                v(5, 3),
                v(5, 2),
                v(5, 1),
                v(5, 0),
                v(4, 4),
                v(4, 3),
                v(4, 2),
                v(3, 0)
            ]
        );
        let p = &h.proposals;
        assert_eq!(negotiate(p, Version::SUPPORTED, true), Negotiated::Manifest);
        assert_eq!(
            negotiate(p, Version::SUPPORTED, false),
            Negotiated::Version(Version::V5_8)
        );
        assert_eq!(
            negotiate(p, NEO4J_4_4, false),
            Negotiated::Version(Version::V4_4)
        );
        assert_eq!(
            negotiate(p, NEO4J_5_23, false),
            Negotiated::Version(Version::V5_6)
        );
        assert_eq!(
            negotiate(p, NEO4J_3_5, false),
            Negotiated::Version(Version::V3)
        );
        // 4.1 and 4.0 are not in the driver's proposals.
        assert_eq!(
            negotiate(p, &[Version::V4_1, Version::V4_0], false),
            Negotiated::NoneAcceptable
        );
    }
}

#[test]
fn go_driver_proposals() {
    let h = hello(&GO_5X);
    assert_eq!(
        h.proposals,
        [
            range(5, 7, 0),
            range(4, 4, 2),
            range(4, 1, 1),
            range(3, 0, 0)
        ]
    );
    assert!(!h.wants_manifest());
    assert_eq!(
        negotiate(&h.proposals, Version::SUPPORTED, true),
        Negotiated::Version(Version::V5_7)
    );
    assert_eq!(
        negotiate(&h.proposals, &[Version::V4_1, Version::V3], false),
        Negotiated::Version(Version::V4_1)
    );
}

#[test]
fn neo4rs_proposals() {
    let h = hello(&NEO4RS);
    assert_eq!(
        h.proposals,
        [
            range(4, 4, 4),
            range(4, 3, 3),
            range(4, 1, 1),
            range(4, 0, 0)
        ]
    );
    assert_eq!(
        negotiate(&h.proposals, Version::SUPPORTED, true),
        Negotiated::Version(Version::V4_4)
    );
    assert_eq!(
        h.acceptable(Version::SUPPORTED),
        [v(4, 4), v(4, 3), v(4, 1), v(4, 0)]
    );
    assert_eq!(
        negotiate(&h.proposals, NEO4J_3_5, false),
        Negotiated::NoneAcceptable
    );
}

#[test]
fn spec_example_proposals() {
    let h = hello(&SPEC);
    assert_eq!(
        h.proposals,
        [
            range(4, 3, 0),
            range(4, 1, 1),
            range(4, 0, 0),
            range(3, 0, 0)
        ]
    );
    assert_eq!(
        negotiate(&h.proposals, Version::SUPPORTED, false),
        Negotiated::Version(Version::V4_3)
    );
    // A range-aware server that only has 4.0 finds it inside the first range.
    assert_eq!(
        negotiate(&h.proposals, &[Version::V4_0], false),
        Negotiated::Version(Version::V4_0)
    );
}

#[test]
fn manifest_worked_example_byte_for_byte() {
    // C: 60 60 B0 17 00 00 01 FF 00 08 08 05 00 02 04 04 00 00 00 03
    let h = hello(&PYTHON);
    assert_eq!(
        negotiate(&h.proposals, Version::SUPPORTED, true),
        Negotiated::Manifest
    );

    // S: 00 00 01 FF  02  00 08 08 05  00 04 04 04  00
    let server: &[u8] = &[0, 0, 1, 0xFF, 0x02, 0, 8, 8, 5, 0, 4, 4, 4, 0x00];
    assert_eq!(
        ServerReply::parse([server[0], server[1], server[2], server[3]]),
        Ok(ServerReply::Manifest)
    );
    let after = &server[4..];
    for cut in 0..after.len() {
        assert_eq!(
            ManifestOffer::parse_after_marker(&after[..cut]),
            Ok(None),
            "cut {cut}"
        );
    }
    let (offer, used) = ManifestOffer::parse_after_marker(after).unwrap().unwrap();
    assert_eq!(used, after.len());
    assert_eq!(
        offer,
        ManifestOffer {
            ranges: vec![range(5, 8, 0), range(4, 4, 0)],
            capabilities: 0
        }
    );
    let mut out = BytesMut::new();
    offer.encode(&mut out);
    assert_eq!(&out[..], server);

    // C: 00 00 08 05  00
    let chosen = offer.choose(&h.acceptable(Version::SUPPORTED)).unwrap();
    assert_eq!(chosen, Version::V5_8);
    let choice = ManifestChoice {
        version: chosen,
        capabilities: 0,
    };
    let mut out = BytesMut::new();
    choice.encode(&mut out);
    assert_eq!(&out[..], &[0, 0, 8, 5, 0]);
    assert_eq!(ManifestChoice::parse(&out[..4]), Ok(None));
    // A pipelined HELLO after it is not consumed.
    out.extend_from_slice(&[0x00, 0x0D]);
    assert_eq!(ManifestChoice::parse(&out), Ok(Some((choice, 5))));
    assert_eq!(offer.check(&choice), Ok(()));
}

#[test]
fn manifest_choice_checks() {
    let offer = ManifestOffer::from_versions(Version::SUPPORTED, 0);
    let mut out = BytesMut::new();
    offer.encode(&mut out);
    assert_eq!(&out[..4], &MANIFEST_V1);
    assert_eq!(out[4], 5, "6.0, 5.8–5.6, 5.4–5.0, 4.4–4.0, 3");
    let (back, _) = ManifestOffer::parse_after_marker(&out[4..])
        .unwrap()
        .unwrap();
    assert_eq!(back, offer);

    let pick = |version, capabilities| ManifestChoice {
        version,
        capabilities,
    };
    assert_eq!(offer.check(&pick(Version::V6_0, 0)), Ok(()));
    let err = offer.check(&pick(v(5, 5), 0)).unwrap_err();
    assert!(matches!(err, HandshakeError::NotOffered { .. }));
    assert!(err.to_string().contains("Bolt 5.5"), "{err}");
    assert_eq!(
        offer.check(&pick(Version::V5_8, 1)),
        Err(HandshakeError::CapabilitiesNotOffered {
            chosen: 1,
            offered: 0
        })
    );
    assert_eq!(
        ManifestChoice::parse(&[0, 0, 0, 0]),
        Err(HandshakeError::ManifestRefused)
    );
    assert!(matches!(
        ManifestChoice::parse(&[0, 2, 8, 5, 0]),
        Err(HandshakeError::Unexpected { .. })
    ));
    assert_eq!(offer.choose(&[v(5, 5), Version::V5_4]), Some(Version::V5_4));
    assert_eq!(offer.choose(&[v(2, 0)]), None);
}

#[test]
fn manifest_offer_limits() {
    // 65 entries announced: refused before waiting for 260 bytes.
    assert_eq!(
        ManifestOffer::parse_after_marker(&[65]),
        Err(HandshakeError::TooManyManifestEntries { count: 65, max: 64 })
    );
    let huge = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    assert!(matches!(
        ManifestOffer::parse_after_marker(&huge),
        Err(HandshakeError::TooManyManifestEntries { .. })
    ));
    // Zero entries and a capability varint over one byte.
    assert_eq!(
        ManifestOffer::parse_after_marker(&[0, 0x80, 0x01, 0xAA]),
        Ok(Some((
            ManifestOffer {
                ranges: vec![],
                capabilities: 128
            },
            3
        )))
    );
}

#[test]
fn server_replies() {
    assert_eq!(ServerReply::parse(REFUSAL), Ok(ServerReply::Refused));
    assert_eq!(
        ServerReply::parse([0, 0, 8, 5]),
        Ok(ServerReply::Version(Version::V5_8))
    );
    assert_eq!(
        ServerReply::parse([0, 0, 0, 3]),
        Ok(ServerReply::Version(Version::V3))
    );
    assert_eq!(
        ServerReply::parse([0, 0, 0, 6]),
        Ok(ServerReply::Version(Version::V6_0))
    );
    let err = ServerReply::parse(*b"HTTP").unwrap_err();
    assert!(matches!(err, HandshakeError::ServerSpeaksHttp { .. }));
    assert!(err.to_string().contains("48 54 54 50"), "{err}");
    let err = ServerReply::parse([0x15, 0x03, 0x03, 0x00]).unwrap_err();
    assert!(err.to_string().contains("bolt+s"), "{err}");
    for (bytes, unsupported) in [
        ([0, 0, 5, 5], true),
        ([0, 0, 0, 2], true),
        ([0, 0, 0, 1], true),
        ([0, 0, 9, 5], true),
        ([0, 0, 0, 7], true),
        ([0, 2, 8, 5], false),
        ([0, 0, 2, 0xFF], false),
        ([1, 0, 0, 4], false),
    ] {
        let err = ServerReply::parse(bytes).unwrap_err();
        assert_eq!(
            matches!(err, HandshakeError::UnsupportedVersion { .. }),
            unsupported,
            "{bytes:02X?}: {err}"
        );
        assert!(
            err.to_string().contains(&format!(
                "{:02X} {:02X} {:02X} {:02X}",
                bytes[0], bytes[1], bytes[2], bytes[3]
            )),
            "{err}"
        );
    }
}

#[test]
fn refusal_reasons() {
    // Bolt 2 then Bolt 1, as a 3.4-era driver would send.
    let h = hello(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        negotiate(&h.proposals, Version::SUPPORTED, true),
        Negotiated::NoneAcceptable
    );
    let err = h.refusal_error();
    assert_eq!(err, HandshakeError::LegacyVersion { version: 2 });
    assert!(err
        .to_string()
        .contains("Bolt 1 and 2 are not supported; boltgate speaks 3, 4.0–4.4, 5.0–5.8, 6.0"));

    // Only future versions.
    let h = hello(&[0, 0, 0, 7, 0, 0, 1, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        negotiate(&h.proposals, Version::SUPPORTED, false),
        Negotiated::NoneAcceptable
    );
    let err = h.refusal_error();
    assert!(matches!(err, HandshakeError::NoCommonVersion { .. }));
    assert_eq!(
        err.to_string(),
        "no common Bolt version: the client proposed [7.0, manifest v1]; \
         boltgate speaks 3, 4.0–4.4, 5.0–5.8, 6.0"
    );
    // All empty.
    let h = hello(&[0; 16]);
    assert_eq!(h.proposals, [Proposal::Empty; 4]);
    assert!(h.refusal_error().to_string().contains("proposed nothing"));
}

#[test]
fn not_bolt_at_all() {
    let err = ClientHello::parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
    assert!(matches!(err, HandshakeError::LooksLikeHttp { .. }));
    assert!(
        err.to_string().contains("(\"GET / HTTP/1.1\\r\\n\")"),
        "{err}"
    );
    assert!(matches!(
        ClientHello::parse(b"POST /db/neo4j/tx HTTP/1.1"),
        Err(HandshakeError::LooksLikeHttp { .. })
    ));
    assert!(matches!(
        ClientHello::parse(b"HTTP/1.1 200 OK"),
        Err(HandshakeError::LooksLikeHttp { .. })
    ));
    // A TLS 1.2/1.3 ClientHello record header: reported after two bytes.
    let tls = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03,
    ];
    assert_eq!(ClientHello::parse(&tls[..1]), Ok(None));
    let err = ClientHello::parse(&tls[..2]).unwrap_err();
    assert!(matches!(err, HandshakeError::LooksLikeTls { .. }));
    let err = ClientHello::parse(&tls).unwrap_err();
    assert!(err.to_string().contains(
        "this looks like a TLS handshake; is the client using bolt+s against a plaintext listener?"
    ));
    assert!(err.to_string().contains("16 03 01 02 00 01"), "{err}");
    // Garbage: reported at the first byte that cannot be the preamble.
    let err = ClientHello::parse(&[0x60, 0x60, 0xB0, 0x18]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected the Bolt preamble 60 60 B0 17, got 60 60 B0 18; is this a Bolt client?"
    );
    assert!(matches!(
        ClientHello::parse(&[0x00]),
        Err(HandshakeError::BadPreamble { .. })
    ));
}

#[test]
fn ranges_at_edges() {
    let p = Proposal::from_bytes;
    assert_eq!(p([0, 3, 3, 4]), range(4, 3, 0));
    // A range wider than its minor is invalid: kept as unrecognised, never matched.
    assert_eq!(p([0, 4, 3, 4]), Proposal::Legacy(0x0004_0304));
    assert_eq!(
        negotiate(&[p([0, 4, 3, 4])], Version::SUPPORTED, true),
        Negotiated::NoneAcceptable
    );
    assert_eq!(p([0, 0xFF, 0xFF, 5]), range(5, 255, 0));
    assert!(p([0, 0xFF, 0xFF, 5]).contains(Version::V5_0));
    assert!(p([0, 0xFF, 0xFF, 5]).contains(v(5, 255)));
    assert!(!p([0, 2, 8, 5]).contains(Version::V5_4));
    assert!(p([0, 2, 8, 5]).contains(Version::V5_6));
    assert!(!p([0, 2, 8, 5]).contains(v(4, 8)));
    // Reserved byte set, Bolt 1/2, a manifest range, manifest v2.
    assert_eq!(p([1, 0, 8, 5]), Proposal::Legacy(0x0100_0805));
    assert_eq!(p([0, 0, 0, 1]), Proposal::Legacy(1));
    assert_eq!(p([0, 1, 2, 0xFF]), Proposal::Legacy(0x0001_02FF));
    assert_eq!(p([0, 0, 2, 0xFF]), Proposal::Manifest { version: 2 });
    assert_eq!(
        negotiate(
            &[p([0, 0, 2, 0xFF]), p([0, 0, 4, 4])],
            Version::SUPPORTED,
            true
        ),
        Negotiated::Version(Version::V4_4),
        "an unknown manifest version is skipped"
    );
    // Every 4-byte value survives from_bytes/to_bytes except Empty, which is all zeroes anyway.
    for bytes in [
        [0, 8, 8, 5],
        [0, 0, 1, 0xFF],
        [0xDE, 0xAD, 0xBE, 0xEF],
        *b"HTTP",
        [0; 4],
    ] {
        assert_eq!(p(bytes).to_bytes(), bytes);
    }
    // 5.5 inside a client's range is never picked: boltgate does not speak it.
    assert_eq!(
        negotiate(
            &[p([0, 0, 5, 5]), p([0, 1, 5, 5])],
            Version::SUPPORTED,
            false
        ),
        Negotiated::Version(Version::V5_4)
    );
}

#[test]
fn varint_vectors() {
    for (bytes, value) in [
        (&[0x00][..], 0u64),
        (&[0x7F][..], 127),
        (&[0x80, 0x01][..], 128),
        (&[0xFF, 0x82, 0x71][..], 1_851_775),
        (
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][..],
            u64::MAX,
        ),
    ] {
        assert_eq!(decode_varint(bytes), Ok(Some((value, bytes.len()))));
        let mut out = Vec::new();
        encode_varint(value, &mut out);
        assert_eq!(out, bytes);
    }
    // Non-minimal is accepted; trailing bytes are not consumed.
    assert_eq!(decode_varint(&[0x80, 0x00, 0x05]), Ok(Some((0, 2))));
    assert_eq!(decode_varint(&[]), Ok(None));
    assert_eq!(decode_varint(&[0x80]), Ok(None));
    assert_eq!(decode_varint(&[0xFF; 9]), Ok(None));
    // Past 64 bits, or past 10 bytes.
    for bad in [
        &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02][..],
        &[0xFF; 10][..],
        &[
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ][..],
    ] {
        let err = decode_varint(bad).unwrap_err();
        assert!(
            matches!(err, HandshakeError::VarintOverflow { .. }),
            "{bad:02X?}"
        );
        assert!(err.to_string().contains("at most 10 bytes"));
    }
}

#[test]
fn upstream_proposals() {
    // Proxying a Python client: its acceptable list re-encodes to exactly the driver's bytes.
    let python = hello(&PYTHON);
    let proposals = encode_proposals(&python.acceptable(Version::SUPPORTED), true);
    let bytes = ClientHello { proposals }.encode();
    assert_eq!(&bytes[4..], &PYTHON);

    // Everything boltgate speaks.
    assert_eq!(
        encode_proposals(Version::SUPPORTED, false),
        [
            range(6, 0, 0),
            range(5, 8, 0),
            range(4, 4, 0),
            range(3, 0, 0)
        ]
    );
    // With the manifest first, the least preferred run (Bolt 3) is dropped.
    assert_eq!(
        encode_proposals(Version::SUPPORTED, true),
        [
            Proposal::Manifest { version: 1 },
            range(6, 0, 0),
            range(5, 8, 0),
            range(4, 4, 0)
        ]
    );
    // A gap of a real version splits the range, so the server cannot pick 5.7.
    assert_eq!(
        encode_proposals(&[Version::V5_8, Version::V5_6, Version::V5_4], false),
        [
            range(5, 8, 8),
            range(5, 6, 4),
            Proposal::Empty,
            Proposal::Empty
        ]
    );
    // Preference order is kept: oldest first stays oldest first.
    assert_eq!(
        encode_proposals(&[Version::V4_0, Version::V4_4], false),
        [
            range(4, 0, 0),
            range(4, 4, 4),
            Proposal::Empty,
            Proposal::Empty
        ]
    );
    assert_eq!(encode_proposals(&[], false), [Proposal::Empty; 4]);

    // Whatever a server picks from our proposals is one of the candidates.
    let candidates = [Version::V5_8, Version::V5_6, Version::V4_4, Version::V4_2];
    let proposals = encode_proposals(&candidates, false);
    for server in [Version::SUPPORTED, NEO4J_4_4, NEO4J_5_23, NEO4J_3_5] {
        match negotiate(&proposals, server, false) {
            Negotiated::Version(picked) => assert!(candidates.contains(&picked), "{picked}"),
            Negotiated::NoneAcceptable => assert_eq!(server, NEO4J_3_5),
            Negotiated::Manifest => unreachable!(),
        }
    }
}
