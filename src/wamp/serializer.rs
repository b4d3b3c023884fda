//! WAMP serializers (spec "Serializations"): `wamp.2.json` on text frames and
//! `wamp.2.msgpack` on binary frames. The router works on JSON values; MessagePack is
//! converted at the edge. Binary, which JSON cannot hold, travels as the spec's JSON form of
//! binary, a string of a NUL byte and base64, so a msgpack publisher's bytes reach a JSON
//! subscriber in that form and a msgpack subscriber as bytes again.

use async_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};

/// A negotiated serializer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// `wamp.2.json`, text frames.
    Json,
    /// `wamp.2.msgpack`, binary frames.
    MsgPack,
}

impl Serializer {
    /// The serializer of a WebSocket subprotocol.
    pub fn from_subprotocol(protocol: &str) -> Option<Serializer> {
        match protocol {
            "wamp.2.json" => Some(Serializer::Json),
            "wamp.2.msgpack" => Some(Serializer::MsgPack),
            _ => None,
        }
    }

    /// The serializer a config `serializers` entry names.
    pub fn from_config(name: &str) -> Option<Serializer> {
        match name {
            "json" => Some(Serializer::Json),
            "msgpack" => Some(Serializer::MsgPack),
            _ => None,
        }
    }

    /// Its name in a config's `serializers`.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
        }
    }

    /// Its WebSocket subprotocol.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
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
        }
    }

    /// Decodes a frame into a JSON value, or says why it is not one.
    pub fn decode(self, frame: &Message) -> Result<Value, String> {
        match (self, frame) {
            (Serializer::Json, Message::Text(text)) => serde_json::from_str(text.as_str())
                .map_err(|e| format!("the message is not valid JSON: {e}")),
            (Serializer::MsgPack, Message::Binary(bytes)) => {
                let mut reader: &[u8] = bytes;
                let value = rmpv::decode::read_value(&mut reader)
                    .map_err(|e| format!("the message is not valid MessagePack: {e}"))?;
                if !reader.is_empty() {
                    return Err("the frame holds bytes after the MessagePack message".into());
                }
                from_msgpack(value)
            }
            (Serializer::Json, _) => {
                Err("wamp.2.json uses text frames, and this was a binary frame".into())
            }
            (Serializer::MsgPack, _) => {
                Err("wamp.2.msgpack uses binary frames, and this was a text frame".into())
            }
        }
    }
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
