//! Fuzz a translated session's translator: arbitrary client requests and server runs between a
//! legacy client version and a server version (`boltgate_testkit::translate_case`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = boltgate_testkit::translate_case::run(data);
});
