//! Byte-exact PackStream vectors: every marker, every integer width boundary, every size boundary of
//! strings, lists, maps and bytes, and the errors hostile input must produce (with offsets).

use boltgate_proto::packstream::{
    decode, decode_prefix, encode_to_vec, Cursor, DecodeError, Limits, Map, Structure, Value,
};
use bytes::Bytes;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

fn roundtrip(v: Value, bytes: &[u8]) {
    assert_eq!(encode_to_vec(&v).unwrap(), bytes, "encoding of {v:?}");
    assert_eq!(
        decode(bytes, &Limits::default()).unwrap(),
        v,
        "decoding {bytes:02X?}"
    );
}

fn dec(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode(bytes, &Limits::default())
}

#[test]
fn scalars() {
    roundtrip(Value::Null, &hex("C0"));
    roundtrip(Value::Boolean(false), &hex("C2"));
    roundtrip(Value::Boolean(true), &hex("C3"));
    roundtrip(Value::Float(1.1), &hex("C1 3F F1 99 99 99 99 99 9A"));
    roundtrip(Value::Float(-1.1), &hex("C1 BF F1 99 99 99 99 99 9A"));
    let nan = dec(&hex("C1 7F F8 00 00 00 00 00 01")).unwrap();
    assert_eq!(
        encode_to_vec(&nan).unwrap(),
        hex("C1 7F F8 00 00 00 00 00 01")
    );
}

#[test]
fn integer_width_boundaries() {
    let cases: &[(i64, &str)] = &[
        (0, "00"),
        (1, "01"),
        (127, "7F"),
        (128, "C9 00 80"),
        (-1, "FF"),
        (-16, "F0"),
        (-17, "C8 EF"),
        (-128, "C8 80"),
        (-129, "C9 FF 7F"),
        (32767, "C9 7F FF"),
        (32768, "CA 00 00 80 00"),
        (-32768, "C9 80 00"),
        (-32769, "CA FF FF 7F FF"),
        (2147483647, "CA 7F FF FF FF"),
        (2147483648, "CB 00 00 00 00 80 00 00 00"),
        (-2147483648, "CA 80 00 00 00"),
        (-2147483649, "CB FF FF FF FF 7F FF FF FF"),
        (i64::MAX, "CB 7F FF FF FF FF FF FF FF"),
        (i64::MIN, "CB 80 00 00 00 00 00 00 00"),
    ];
    for (i, h) in cases {
        roundtrip(Value::Integer(*i), &hex(h));
    }
    // Non-minimal widths are valid input.
    assert_eq!(dec(&hex("C8 01")).unwrap(), Value::Integer(1));
    assert_eq!(dec(&hex("C9 00 01")).unwrap(), Value::Integer(1));
    assert_eq!(dec(&hex("CA 00 00 00 01")).unwrap(), Value::Integer(1));
    assert_eq!(
        dec(&hex("CB 00 00 00 00 00 00 00 01")).unwrap(),
        Value::Integer(1)
    );
}

fn sized_header(n: usize, tiny: u8, m8: u8) -> Vec<u8> {
    if n <= 15 && tiny != 0 {
        vec![tiny | n as u8]
    } else if n <= 255 {
        vec![m8, n as u8]
    } else if n <= 65535 {
        let mut v = vec![m8 + 1];
        v.extend((n as u16).to_be_bytes());
        v
    } else {
        let mut v = vec![m8 + 2];
        v.extend((n as u32).to_be_bytes());
        v
    }
}

const SIZES: &[usize] = &[0, 1, 15, 16, 255, 256, 65535, 65536];

#[test]
fn string_sizes() {
    for &n in SIZES {
        let s = "a".repeat(n);
        let mut bytes = sized_header(n, 0x80, 0xD0);
        bytes.extend(s.as_bytes());
        roundtrip(Value::String(s), &bytes);
    }
    roundtrip(Value::String("A".into()), &hex("81 41"));
    roundtrip(
        Value::String("Größenmaßstäbe".into()),
        &hex("D0 12 47 72 C3 B6 C3 9F 65 6E 6D 61 C3 9F 73 74 C3 A4 62 65"),
    );
}

#[test]
fn bytes_sizes_have_no_tiny_form() {
    for &n in SIZES {
        let b = vec![7u8; n];
        let mut bytes = sized_header(n, 0, 0xCC);
        bytes.extend(&b);
        roundtrip(Value::Bytes(Bytes::from(b)), &bytes);
    }
    roundtrip(
        Value::Bytes(Bytes::from_static(&[1, 2, 3])),
        &hex("CC 03 01 02 03"),
    );
}

#[test]
fn list_sizes() {
    for &n in SIZES {
        let mut bytes = sized_header(n, 0x90, 0xD4);
        bytes.resize(bytes.len() + n, 1u8);
        roundtrip(Value::List(vec![Value::Integer(1); n]), &bytes);
    }
    roundtrip(
        Value::List(vec![1.into(), 2.into(), 3.into()]),
        &hex("93 01 02 03"),
    );
}

#[test]
fn map_sizes() {
    for &n in SIZES {
        let mut m = Map::with_capacity(n);
        let mut bytes = sized_header(n, 0xA0, 0xD8);
        for i in 0..n {
            let k = format!("{i:05}");
            bytes.push(0x85);
            bytes.extend(k.as_bytes());
            bytes.push(0xC0);
            m.push(k, Value::Null);
        }
        roundtrip(Value::Map(m), &bytes);
    }
    let m: Map = [("one", Value::from("eins"))].into_iter().collect();
    roundtrip(Value::Map(m), &hex("A1 83 6F 6E 65 84 65 69 6E 73"));
}

#[test]
fn duplicate_keys_kept_last_wins() {
    let v = dec(&hex("A2 81 61 01 81 61 02")).unwrap();
    let m = v.as_map().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m.get_int("a"), Some(2));
    assert_eq!(encode_to_vec(&v).unwrap(), hex("A2 81 61 01 81 61 02"));
}

#[test]
fn structures_known_unknown_and_legacy_markers() {
    // Node(1, ["L"], {}) as Bolt 4 sends it.
    let node = Value::Structure(Structure::new(
        0x4E,
        vec![1.into(), vec![Value::from("L")].into(), Map::new().into()],
    ));
    roundtrip(node.clone(), &hex("B3 4E 01 91 81 4C A0"));
    assert!(format!("{node:?}").starts_with("Structure(Node"));
    // An unknown tag survives byte for byte.
    roundtrip(
        Value::Structure(Structure::new(0x7A, vec![Value::Null, 5.into()])),
        &hex("B2 7A C0 05"),
    );
    roundtrip(
        Value::Structure(Structure::new(0x00, vec![])),
        &hex("B0 00"),
    );
    // Legacy STRUCT_8 / STRUCT_16 are accepted on decode.
    assert_eq!(
        dec(&hex("DC 01 4E 01")).unwrap(),
        dec(&hex("B1 4E 01")).unwrap()
    );
    assert_eq!(
        dec(&hex("DD 00 01 4E 01")).unwrap(),
        dec(&hex("B1 4E 01")).unwrap()
    );
    let mut big = hex("DC 10 7A");
    big.extend([0u8; 16]);
    let v = dec(&big).unwrap();
    assert_eq!(v.as_structure().unwrap().fields.len(), 16);
    assert!(encode_to_vec(&v).is_err(), "16 fields are never emitted");
}

#[test]
fn reserved_markers_are_errors_with_offsets() {
    for m in [0xC4u8, 0xC5, 0xC6, 0xC7, 0xCF, 0xD3, 0xD7, 0xDB, 0xDE, 0xEF] {
        let err = dec(&[0x92, 0x01, m]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::ReservedMarker {
                offset: 2,
                marker: m
            }
        );
    }
}

#[test]
fn truncated_input_reports_offsets() {
    assert_eq!(dec(&[]).unwrap_err().offset(), 0);
    assert_eq!(dec(&hex("C9 00")).unwrap_err().offset(), 1);
    assert_eq!(dec(&hex("C1 00 00")).unwrap_err().offset(), 1);
    assert!(matches!(
        dec(&hex("83 41 42")).unwrap_err(),
        DecodeError::LengthExceedsInput {
            offset: 0,
            len: 3,
            remaining: 2,
            ..
        }
    ));
    assert!(matches!(
        dec(&hex("92 01")).unwrap_err(),
        DecodeError::LengthExceedsInput {
            offset: 0,
            len: 2,
            ..
        }
    ));
    assert!(matches!(
        dec(&hex("91 A1 81 61")).unwrap_err(),
        DecodeError::Truncated { offset: 4, .. }
    ));
    assert!(matches!(
        dec(&hex("B1")).unwrap_err(),
        DecodeError::Truncated { offset: 1, .. }
    ));
    assert!(matches!(
        dec(&hex("D1 01")).unwrap_err(),
        DecodeError::Truncated { offset: 1, .. }
    ));
}

#[test]
fn oversized_claims_fail_before_allocating() {
    // A LIST_32 / MAP_32 / STRING_32 / BYTES_32 that claims 2^31-1 items in 5 bytes.
    for m in [0xD6u8, 0xDA, 0xD2, 0xCE] {
        let err = dec(&[m, 0x7F, 0xFF, 0xFF, 0xFF]).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::LengthExceedsInput {
                    offset: 0,
                    remaining: 0,
                    ..
                }
            ),
            "{err}"
        );
    }
    // Over the spec's i32 cap.
    let err = dec(&hex("D6 80 00 00 00")).unwrap_err();
    assert!(
        matches!(err, DecodeError::TooLong { offset: 0, .. }),
        "{err}"
    );
    // Over a configured limit.
    let limits = Limits {
        max_len: 2,
        ..Limits::default()
    };
    let err = decode(&hex("83 41 42 43"), &limits).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::TooLong {
            offset: 0,
            len: 3,
            max: 2,
            ..
        }
    ));
}

#[test]
fn deep_nesting_is_bounded() {
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0xC0);
    let err = dec(&deep).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooDeep {
            offset: Limits::DEFAULT_MAX_DEPTH,
            max_depth: Limits::DEFAULT_MAX_DEPTH
        }
    );
    // Exactly at the limit is fine.
    let mut ok = vec![0x91u8; Limits::DEFAULT_MAX_DEPTH];
    ok.push(0xC0);
    assert!(dec(&ok).is_ok());
    // Skipping is iterative and does not care about depth.
    let mut c = Cursor::new(&deep);
    c.skip_value().unwrap();
    assert!(c.is_empty());
}

#[test]
fn map_keys_must_be_strings() {
    let err = dec(&hex("A1 01 02")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::NonStringKey {
            offset: 1,
            found: "integer"
        }
    );
    let err = dec(&hex("91 A2 81 61 01 C0 02")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::NonStringKey {
            offset: 5,
            found: "null"
        }
    );
}

#[test]
fn invalid_utf8_and_trailing_bytes() {
    let err = dec(&hex("82 C3 28")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::InvalidUtf8 {
            offset: 1,
            valid_up_to: 0
        }
    );
    let err = dec(&hex("01 02")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TrailingBytes {
            offset: 1,
            remaining: 1
        }
    );
    assert_eq!(
        decode_prefix(&hex("01 02"), &Limits::default()).unwrap(),
        (Value::Integer(1), 1)
    );
}

#[test]
fn cursor_reads_without_allocating() {
    let bytes = hex("B3 10 88 52 45 54 55 52 4E 20 31 A1 81 78 93 01 02 03 A0");
    let mut c = Cursor::new(&bytes);
    assert_eq!(c.read_struct_header().unwrap(), (3, 0x10));
    assert_eq!(c.read_str().unwrap(), "RETURN 1");
    c.skip_value().unwrap();
    assert_eq!(c.read_map_header().unwrap(), 0);
    assert!(c.is_empty());
    let mut c = Cursor::new(&bytes);
    let err = c.read_str().unwrap_err();
    assert_eq!(
        err,
        DecodeError::Unexpected {
            offset: 0,
            expected: "string",
            found: "structure"
        }
    );
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic sweep: every 1- and 2-byte input, and some 3-byte ones.
    for a in 0..=255u8 {
        let _ = dec(&[a]);
        for b in 0..=255u8 {
            let _ = dec(&[a, b]);
            let _ = Cursor::new(&[a, b, a]).skip_value();
        }
    }
}

/// `skip_value_checked` accepts exactly what the decoder accepts, nesting depth included, for
/// lists, maps and structures, empty or not; plain `skip_value` ignores depth.
#[test]
fn checked_skip_refuses_what_the_decoder_refuses() {
    // n nested one-item lists around a 1, then the same with the innermost list empty, with maps
    // ({"k": ...}) and with structures (tag 0x4E, one field).
    let nested = |n: usize, open: &[u8], last: &[u8]| {
        let mut b = Vec::new();
        for _ in 0..n {
            b.extend_from_slice(open);
        }
        b.extend_from_slice(last);
        b
    };
    for max_depth in [1usize, 2, 5, 64] {
        let limits = Limits {
            max_depth,
            ..Limits::default()
        };
        for n in [max_depth - 1, max_depth, max_depth + 1, max_depth + 7] {
            for bytes in [
                nested(n, &[0x91], &[0x01]),
                nested(n, &[0x91], &[0x90]),
                nested(n, &[0xA1, 0x81, b'k'], &[0xA0]),
                nested(n, &[0xB1, 0x4E], &[0xC0]),
            ] {
                let decoded = decode(&bytes, &limits);
                let mut c = Cursor::with_limits(&bytes, limits);
                let skipped = c.skip_value_checked();
                assert_eq!(
                    skipped.is_ok(),
                    decoded.is_ok(),
                    "max_depth {max_depth}, {bytes:02X?}: skip {skipped:?}, decode {decoded:?}"
                );
                if let Err(DecodeError::TooDeep { .. }) = decoded {
                    assert!(matches!(skipped, Err(DecodeError::TooDeep { .. })));
                } else {
                    assert!(c.is_empty());
                }
                let mut plain = Cursor::with_limits(&bytes, limits);
                assert!(plain.skip_value().is_ok(), "skip_value ignores depth");
            }
        }
    }
    // 10,000 levels: refused at the limit, with bounded work and memory.
    let deep = nested(10_000, &[0x91], &[0x01]);
    let mut c = Cursor::with_limits(&deep, Limits::default());
    assert_eq!(
        c.skip_value_checked(),
        Err(DecodeError::TooDeep {
            offset: Limits::DEFAULT_MAX_DEPTH,
            max_depth: Limits::DEFAULT_MAX_DEPTH
        })
    );
}
