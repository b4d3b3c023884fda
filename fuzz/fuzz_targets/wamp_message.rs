//! Fuzz target: any text frame decodes to a WAMP message or a protocol-violation sentence.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(value) = serde_json::from_str(text) {
            let _ = wssnode::wamp::message::decode_value(value);
        }
    }
});
