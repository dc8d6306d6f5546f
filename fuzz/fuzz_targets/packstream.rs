//! Fuzz PackStream decoding: never panic; anything that decodes must encode (unless it needs the
//! legacy 16+-field struct form, which is never emitted) and decode again to the same value, with
//! floats compared bitwise (NaN payloads included).
#![no_main]

use boltgate_proto::packstream::{decode, encode_to_vec, Cursor, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut c = Cursor::new(data);
    let skipped = c.skip_value().map(|_| c.position());
    let Ok(v) = decode(data, &limits) else {
        return;
    };
    // Whatever decodes fully must also skip over exactly the same bytes.
    assert_eq!(skipped, Ok(data.len()));
    let Ok(bytes) = encode_to_vec(&v) else {
        return;
    };
    let again = decode(&bytes, &limits).expect("re-encoded value decodes");
    assert!(again.bits_eq(&v), "{v:?} != {again:?}");
    assert_eq!(encode_to_vec(&again).expect("encodes twice"), bytes);
});
