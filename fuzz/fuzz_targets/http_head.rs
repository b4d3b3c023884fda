//! Fuzz target: any bytes before a request head's end get a verdict from the head gate, never
//! a panic; a head it forwards is one async-h1's parser takes, ends in CRLF CRLF, and passes
//! the gate again unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wssnode::http::head::{check, end, Verdict};

fuzz_target!(|data: &[u8]| {
    let Some(at) = end(data) else { return };
    if let Verdict::Forward(head) = check(&data[..at]) {
        let bytes = head.rewritten.unwrap_or_else(|| data[..at].to_vec());
        assert!(bytes.ends_with(b"\r\n\r\n"));
        let mut headers = [httparse::EMPTY_HEADER; 130];
        let parsed = httparse::Request::new(&mut headers).parse(&bytes);
        assert!(matches!(parsed, Ok(httparse::Status::Complete(_))), "{parsed:?}");
        match check(&bytes) {
            Verdict::Forward(again) => assert!(again.rewritten.is_none_or(|b| b == bytes)),
            other => panic!("{other:?}"),
        }
    }
});
