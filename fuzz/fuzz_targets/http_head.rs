//! Fuzz target: any bytes before a request head's end get a verdict from the head gate, never
//! a panic; a head it forwards is one async-h1's parser takes, ends in CRLF CRLF, and passes
//! the gate again unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wssnode::http_head::{check, end, Verdict};

fuzz_target!(|data: &[u8]| {
    let Some(at) = end(data) else { return };
    if let Verdict::Forward(head) = check(&data[..at]) {
        assert!(head.bytes.ends_with(b"\r\n\r\n"));
        let mut headers = [httparse::EMPTY_HEADER; 130];
        let parsed = httparse::Request::new(&mut headers).parse(&head.bytes);
        assert!(matches!(parsed, Ok(httparse::Status::Complete(_))), "{parsed:?}");
        match check(&head.bytes) {
            Verdict::Forward(again) => assert_eq!(again.bytes, head.bytes),
            other => panic!("{other:?}"),
        }
    }
});
