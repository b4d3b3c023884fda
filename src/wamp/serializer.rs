//! WAMP serializers (spec "Serializations"): `wamp.2.json` on text frames, `wamp.2.msgpack`
//! and `wamp.2.cbor` on binary frames. The router works on JSON values; MessagePack and CBOR
//! are converted at the edge. Binary, which JSON cannot hold, travels as the spec's JSON
//! form of binary, a string of a NUL byte and base64, so a msgpack or CBOR publisher's bytes
//! reach a JSON subscriber in that form and a msgpack or CBOR subscriber as bytes again.

use async_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use ciborium::value::Value as Cb;
use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};

/// How deep lists and dicts may nest in a message, in every serializer: serde_json's limit.
/// Deeper would be no WAMP message, and every step of the decoders and of the value's drop
/// takes stack, so a client's nesting must not be what decides how much.
const MAX_NESTING: usize = 128;

/// A negotiated serializer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// `wamp.2.json`, text frames.
    Json,
    /// `wamp.2.msgpack`, binary frames.
    MsgPack,
    /// `wamp.2.cbor`, binary frames.
    Cbor,
}

impl Serializer {
    /// How many there are (the broker keeps one encoding of an event per serializer).
    pub const COUNT: usize = 3;

    /// The serializer of a WebSocket subprotocol.
    pub fn from_subprotocol(protocol: &str) -> Option<Serializer> {
        match protocol {
            "wamp.2.json" => Some(Serializer::Json),
            "wamp.2.msgpack" => Some(Serializer::MsgPack),
            "wamp.2.cbor" => Some(Serializer::Cbor),
            _ => None,
        }
    }

    /// The serializer a config `serializers` entry names.
    pub fn from_config(name: &str) -> Option<Serializer> {
        match name {
            "json" => Some(Serializer::Json),
            "msgpack" => Some(Serializer::MsgPack),
            "cbor" => Some(Serializer::Cbor),
            _ => None,
        }
    }

    /// Its name in a config's `serializers`.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// Its WebSocket subprotocol.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// Encodes a message. The returned frame shares its bytes when cloned.
    pub fn encode(self, message: &Value) -> Message {
        match self {
            // Serializing a Value cannot fail: its map keys are strings.
            Serializer::Json => Message::Text(Utf8Bytes::from(
                serde_json::to_string(message).unwrap_or_default(),
            )),
            Serializer::MsgPack => {
                let mut bytes = Vec::new();
                // Writing to a Vec cannot fail.
                let _ = rmpv::encode::write_value(&mut bytes, &to_msgpack(message));
                Message::Binary(Bytes::from(bytes))
            }
            Serializer::Cbor => {
                let mut bytes = Vec::new();
                // Writing to a Vec cannot fail.
                let _ = ciborium::into_writer(&to_cbor(message), &mut bytes);
                Message::Binary(Bytes::from(bytes))
            }
        }
    }

    /// Decodes the bytes of a binary frame (MessagePack or CBOR) into a JSON value, or says
    /// why they are not one.
    pub fn decode_binary(self, bytes: &[u8]) -> Result<Value, String> {
        let mut reader: &[u8] = bytes;
        let value = match self {
            Serializer::Json => {
                return serde_json::from_slice(bytes)
                    .map_err(|e| format!("the message is not valid JSON: {e}"))
            }
            Serializer::MsgPack => {
                // rmpv counts two steps for each level of nesting.
                let value = rmpv::decode::read_value_with_max_depth(&mut reader, 2 * MAX_NESTING)
                    .map_err(|e| format!("the message is not valid MessagePack: {e}"))?;
                from_msgpack(value)
            }
            Serializer::Cbor => {
                let value: Cb =
                    ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_NESTING)
                        .map_err(|e| format!("the message is not valid CBOR: {e}"))?;
                from_cbor(value)
            }
        };
        if !reader.is_empty() {
            return Err(format!(
                "the frame holds bytes after the {} message",
                self.name()
            ));
        }
        value
    }

    /// Decodes a frame into a JSON value, or says why it is not one.
    pub fn decode(self, frame: &Message) -> Result<Value, String> {
        match (self, frame) {
            (Serializer::Json, Message::Text(text)) => serde_json::from_str(text.as_str())
                .map_err(|e| format!("the message is not valid JSON: {e}")),
            (Serializer::MsgPack | Serializer::Cbor, Message::Binary(bytes)) => {
                self.decode_binary(bytes)
            }
            (Serializer::Json, _) => {
                Err("wamp.2.json uses text frames, and this was a binary frame".into())
            }
            (Serializer::MsgPack, _) => {
                Err("wamp.2.msgpack uses binary frames, and this was a text frame".into())
            }
            (Serializer::Cbor, _) => {
                Err("wamp.2.cbor uses binary frames, and this was a text frame".into())
            }
        }
    }
}

/// A value packed as MessagePack, for what the router keeps after delivering it (history,
/// retained events): a decoded value takes several times its wire form in memory, and what
/// is kept is counted by the bytes it really holds.
/// `values` are packed as one list, each converted where it is (no copy of it is made).
pub(crate) fn pack(values: &[&Value]) -> Box<[u8]> {
    let list = Mp::Array(values.iter().map(|v| to_msgpack(v)).collect());
    let mut bytes = Vec::new();
    let _ = rmpv::encode::write_value(&mut bytes, &list);
    bytes.into_boxed_slice()
}

/// The list `pack` made; null if the bytes are not one (they always are).
pub(crate) fn unpack(bytes: &[u8]) -> Value {
    let mut reader = bytes;
    rmpv::decode::read_value_with_max_depth(&mut reader, 2 * MAX_NESTING)
        .ok()
        .and_then(|value| from_msgpack(value).ok())
        .unwrap_or(Value::Null)
}

/// MessagePack to JSON; binary becomes "\0" + base64. A string must be UTF-8 (spec
/// "Serializations"): one that is not is refused, not read as something else.
fn from_msgpack(value: Mp) -> Result<Value, String> {
    let text = |s: rmpv::Utf8String| {
        s.into_str().ok_or_else(|| {
            "the message holds a MessagePack string that is not UTF-8 (WAMP strings are UTF-8; send bytes as binary)".to_string()
        })
    };
    Ok(match value {
        Mp::Nil | Mp::Ext(..) => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::Number(u.into()),
            (None, Some(s)) => Value::Number(s.into()),
            _ => Value::Null,
        },
        Mp::F32(f) => Number::from_f64(f64::from(f))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Mp::F64(f) => Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Mp::String(s) => Value::String(text(s)?),
        Mp::Binary(bytes) => Value::String(format!("\0{}", data_encoding::BASE64.encode(&bytes))),
        Mp::Array(items) => Value::Array(
            items
                .into_iter()
                .map(from_msgpack)
                .collect::<Result<_, _>>()?,
        ),
        Mp::Map(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs {
                let key = match k {
                    Mp::String(s) => text(s)?,
                    other => other.to_string(),
                };
                map.insert(key, from_msgpack(v)?);
            }
            Value::Object(map)
        }
    })
}

/// JSON to MessagePack; "\0" + base64 strings become binary again.
fn to_msgpack(value: &Value) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Mp::from(u),
            (None, Some(i), _) => Mp::from(i),
            (_, _, Some(f)) => Mp::F64(f),
            _ => Mp::Nil,
        },
        Value::String(s) => match s
            .strip_prefix('\0')
            .map(|b| data_encoding::BASE64.decode(b.as_bytes()))
        {
            Some(Ok(bytes)) => Mp::Binary(bytes),
            _ => Mp::String(s.as_str().into()),
        },
        Value::Array(items) => Mp::Array(items.iter().map(to_msgpack).collect()),
        Value::Object(map) => Mp::Map(
            map.iter()
                .map(|(k, v)| (Mp::String(k.as_str().into()), to_msgpack(v)))
                .collect(),
        ),
    }
}

/// CBOR to JSON; bytes become "\0" + base64, tags are read through, and a map key must be
/// text, as WAMP's dicts have string keys.
fn from_cbor(value: Cb) -> Result<Value, String> {
    Ok(match value {
        Cb::Null => Value::Null,
        Cb::Bool(b) => Value::Bool(b),
        Cb::Integer(i) => {
            let n = i128::from(i);
            match (u64::try_from(n), i64::try_from(n)) {
                (Ok(u), _) => Value::Number(u.into()),
                (_, Ok(s)) => Value::Number(s.into()),
                _ => return Err(format!("the message holds an integer out of range: {n}")),
            }
        }
        Cb::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Cb::Text(s) => Value::String(s),
        Cb::Bytes(bytes) => Value::String(format!("\0{}", data_encoding::BASE64.encode(&bytes))),
        Cb::Tag(_, inner) => from_cbor(*inner)?,
        Cb::Array(items) => {
            Value::Array(items.into_iter().map(from_cbor).collect::<Result<_, _>>()?)
        }
        Cb::Map(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs {
                let Cb::Text(key) = k else {
                    return Err("the message holds a CBOR map with a key that is not text".into());
                };
                map.insert(key, from_cbor(v)?);
            }
            Value::Object(map)
        }
        _ => Value::Null,
    })
}

/// JSON to CBOR; "\0" + base64 strings become bytes again.
fn to_cbor(value: &Value) -> Cb {
    match value {
        Value::Null => Cb::Null,
        Value::Bool(b) => Cb::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Cb::Integer(u.into()),
            (None, Some(i), _) => Cb::Integer(i.into()),
            (_, _, Some(f)) => Cb::Float(f),
            _ => Cb::Null,
        },
        Value::String(s) => match s
            .strip_prefix('\0')
            .map(|b| data_encoding::BASE64.decode(b.as_bytes()))
        {
            Some(Ok(bytes)) => Cb::Bytes(bytes),
            _ => Cb::Text(s.clone()),
        },
        Value::Array(items) => Cb::Array(items.iter().map(to_cbor).collect()),
        Value::Object(map) => Cb::Map(
            map.iter()
                .map(|(k, v)| (Cb::Text(k.clone()), to_cbor(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn msgpack_round_trips_and_binary_meets_json_as_nul_base64() {
        let value = json!([16, 1, {"acknowledge": true}, "a.b", [1, -2, 2.5, "x", null, true, "\u{0}AAEC"], {"k": [1]}]);
        let frame = Serializer::MsgPack.encode(&value);
        let Message::Binary(bytes) = &frame else {
            panic!("binary frame")
        };
        // "\0AAEC" left as MessagePack bin 0x00 0x01 0x02.
        assert!(bytes.windows(5).any(|w| w == [0xc4, 3, 0, 1, 2]));
        assert_eq!(Serializer::MsgPack.decode(&frame).unwrap(), value);
    }

    #[test]
    fn cbor_round_trips_and_binary_meets_json_as_nul_base64() {
        let value = json!([16, 1, {"acknowledge": true}, "a.b", [1, -2, 2.5, "x", null, true, "\u{0}AAEC", 9007199254740992_u64], {"k": [1]}]);
        let frame = Serializer::Cbor.encode(&value);
        let Message::Binary(bytes) = &frame else {
            panic!("binary frame")
        };
        // "\0AAEC" left as CBOR bytes 0x43 0x00 0x01 0x02.
        assert!(bytes.windows(4).any(|w| w == [0x43, 0, 1, 2]));
        assert_eq!(Serializer::Cbor.decode(&frame).unwrap(), value);
        // A msgpack session's bytes reach a CBOR session as bytes.
        let from_msgpack = Serializer::MsgPack
            .decode(&Serializer::MsgPack.encode(&value))
            .unwrap();
        assert_eq!(
            Serializer::Cbor
                .decode(&Serializer::Cbor.encode(&from_msgpack))
                .unwrap(),
            value
        );
    }

    #[test]
    fn count_covers_every_serializer() {
        for s in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
            assert!((s as usize) < Serializer::COUNT);
        }
    }

    #[test]
    fn cbor_that_is_not_wamp_is_refused() {
        // Trailing bytes, a map with an integer key, a text frame, a truncated array.
        for bad in [vec![0x81, 1, 7], vec![0xa1, 1, 2], vec![0x82, 1]] {
            assert!(Serializer::Cbor
                .decode(&Message::Binary(bad.into()))
                .is_err());
        }
        assert!(Serializer::Cbor
            .decode(&Message::Text("[1]".into()))
            .is_err());
        // Deep nesting is refused, not recursed into without end.
        let deep = vec![0x81; 100_000];
        assert!(Serializer::Cbor
            .decode(&Message::Binary(deep.into()))
            .is_err());
    }

    #[test]
    fn deeply_nested_msgpack_is_refused_not_recursed_into() {
        let deep = vec![0x91; 1_000_000];
        assert!(Serializer::MsgPack
            .decode(&Message::Binary(deep.into()))
            .is_err());
        // As deep as JSON may be is fine.
        let mut ok = vec![0x91; 100];
        ok.push(1);
        let decoded = Serializer::MsgPack.decode(&Message::Binary(ok.into()));
        assert!(decoded.is_ok(), "{decoded:?}");
        let mut ok = vec![0x81; 100];
        ok.push(1);
        let decoded = Serializer::Cbor.decode(&Message::Binary(ok.into()));
        assert!(decoded.is_ok(), "{decoded:?}");
    }

    #[test]
    fn frames_of_the_wrong_kind_or_with_garbage_are_refused() {
        assert!(Serializer::MsgPack
            .decode(&Message::Text("[1]".into()))
            .is_err());
        assert!(Serializer::Json
            .decode(&Message::Binary(vec![0x91, 1].into()))
            .is_err());
        assert!(Serializer::MsgPack
            .decode(&Message::Binary(vec![0x92, 1].into()))
            .is_err());
        assert!(Serializer::MsgPack
            .decode(&Message::Binary(vec![0x91, 1, 7].into()))
            .is_err());
    }
}
