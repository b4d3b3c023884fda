//! Fuzz target: any OpenSSL cipher string evaluates to a list of suites, never a panic, and
//! never lists a suite twice.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let suites = wssnode::tls::ciphers::evaluate(text);
        for (i, s) in suites.iter().enumerate() {
            assert!(!suites[i + 1..].contains(s), "{text:?} lists {} twice", s.openssl_name);
        }
    }
});
