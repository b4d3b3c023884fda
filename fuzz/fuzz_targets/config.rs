//! Fuzz target: any bytes as `config.json` give a config or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wssnode::config::parse(Path::new("/node"), Path::new("/node/config.json"), text);
    }
});
