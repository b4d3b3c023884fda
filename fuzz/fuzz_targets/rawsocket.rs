//! Fuzz target: any bytes on a RawSocket connection: the handshake is answered or refused,
//! then each frame header is read or ends the connection, and each message frame's payload
//! decodes in the serializer asked for, or is a protocol violation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wssnode::rawsocket::{frame_header, read_handshake};

fuzz_target!(|data: &[u8]| {
    let all = ["json".to_string(), "msgpack".to_string(), "cbor".to_string()];
    let Some(hello) = data.get(..4) else { return };
    let Some(Ok((serializer, _))) = read_handshake([hello[0], hello[1], hello[2], hello[3]], &all)
    else {
        return;
    };
    let mut rest = &data[4..];
    while let Some(header) = rest.get(..4) {
        let Ok((kind, len)) = frame_header([header[0], header[1], header[2], header[3]], 1 << 16)
        else {
            return;
        };
        let Some(payload) = rest.get(4..4 + len) else { return };
        if kind == 0 {
            if let Ok(value) = serializer.decode_binary(payload) {
                let _ = wssnode::wamp::message::decode_value(value);
            }
        }
        rest = &rest[4 + len..];
    }
});
