//! Fuzz typed message decoding for every supported version, and the cheap views: never panic;
//! a decoded request or response re-encodes and decodes to the same bytes.
#![no_main]

use boltgate_proto::message::{RawMessage, Request, Response};
use boltgate_proto::Version;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = RawMessage::new(Bytes::copy_from_slice(data)) else {
        return;
    };
    let _ = raw.summary();
    let _ = raw.tx_view();
    let _ = raw.hello_view();
    let _ = raw.route_view();
    let _ = raw.routing_table();
    for &v in Version::SUPPORTED {
        if let Ok(r) = Request::decode(v, &raw) {
            if let Ok(again) = r.to_raw() {
                let back = Request::decode(v, &again).expect("re-encoded request decodes");
                assert_eq!(back.to_raw().expect("encodes twice"), again);
            }
        }
        if let Ok(r) = Response::decode(v, &raw) {
            if let Ok(again) = r.to_raw() {
                let back = Response::decode(v, &again).expect("re-encoded response decodes");
                assert_eq!(back.to_raw().expect("encodes twice"), again);
            }
        }
    }
});
