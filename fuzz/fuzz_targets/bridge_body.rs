//! Fuzz target: any bytes as the body of an HTTP bridge request (publisher and caller) are
//! read into a publication or a call, or refused with a status and a reason; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wssnode::http::bridge::read_body;

fuzz_target!(|data: &[u8]| {
    for call in [false, true] {
        if let Err(refusal) = read_body(call, data) {
            assert_eq!(refusal.status, 400);
            assert!(!refusal.text.is_empty());
        }
    }
});
