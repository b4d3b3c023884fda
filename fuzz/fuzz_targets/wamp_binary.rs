//! Fuzz target: any binary frame decodes, as MessagePack and as CBOR, to a WAMP message or a
//! protocol-violation sentence; the decoded value encodes again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wssnode::wamp::serializer::Serializer;

fuzz_target!(|data: &[u8]| {
    for serializer in [Serializer::MsgPack, Serializer::Cbor] {
        if let Ok(value) = serializer.decode_binary(data) {
            let _ = serializer.encode(&value);
            let _ = wssnode::wamp::message::decode_value(value);
        }
    }
});
