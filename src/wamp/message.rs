//! WAMP v2 messages (spec "Message Definitions"): decoding what a client sends, with a
//! sentence for every way it can be wrong, and encoding what the router sends.
//!
//! Frames become JSON values in `serializer` (the one seam: JSON and MessagePack today,
//! CBOR would be one more arm there); this module reads those values as messages.

use crate::wamp::serializer::Serializer;
use async_tungstenite::tungstenite::Message;
use serde_json::{json, Map, Value};

/// Message type codes (spec "Message Codes and Direction").
pub(crate) mod code {
    pub(crate) const HELLO: u64 = 1;
    pub(crate) const WELCOME: u64 = 2;
    pub(crate) const ABORT: u64 = 3;
    pub(crate) const CHALLENGE: u64 = 4;
    pub(crate) const AUTHENTICATE: u64 = 5;
    pub(crate) const GOODBYE: u64 = 6;
    pub(crate) const ERROR: u64 = 8;
    pub(crate) const PUBLISH: u64 = 16;
    pub(crate) const PUBLISHED: u64 = 17;
    pub(crate) const SUBSCRIBE: u64 = 32;
    pub(crate) const SUBSCRIBED: u64 = 33;
    pub(crate) const UNSUBSCRIBE: u64 = 34;
    pub(crate) const UNSUBSCRIBED: u64 = 35;
    pub(crate) const EVENT: u64 = 36;
    pub(crate) const CALL: u64 = 48;
    pub(crate) const CANCEL: u64 = 49;
    pub(crate) const RESULT: u64 = 50;
    pub(crate) const REGISTER: u64 = 64;
    pub(crate) const REGISTERED: u64 = 65;
    pub(crate) const UNREGISTER: u64 = 66;
    pub(crate) const UNREGISTERED: u64 = 67;
    pub(crate) const INVOCATION: u64 = 68;
    pub(crate) const INTERRUPT: u64 = 69;
    pub(crate) const YIELD: u64 = 70;
}

/// Largest ID the spec allows: 2^53.
pub const MAX_ID: u64 = 1 << 53;

/// About the memory a decoded value holds: a value's own slot for every node, and the bytes
/// of its strings and keys. What a client makes the router keep (retained events, history,
/// testaments) is counted with it, since decoded values take far more room than their wire
/// form (a MessagePack 0 is one byte on the wire and a 32-byte node here).
pub fn value_size(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    match value {
        Value::String(s) => NODE + s.len(),
        Value::Array(items) => NODE + items.iter().map(value_size).sum::<usize>(),
        Value::Object(map) => {
            NODE + map
                .iter()
                .map(|(k, v)| NODE + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => NODE,
    }
}

/// A random ID in [1, 2^53], as the spec asks for session, publication, subscription and
/// registration IDs.
pub fn random_id() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    (u64::from_le_bytes(bytes) % MAX_ID) + 1
}

/// Positional and keyword payload of PUBLISH, CALL, YIELD and ERROR, passed through untouched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// `Arguments|list`
    pub args: Option<Value>,
    /// `ArgumentsKw|dict`
    pub kwargs: Option<Value>,
}

impl Payload {
    /// Appends the payload to an outgoing message, the way the spec lays it out.
    pub fn append_to(&self, fields: &mut Vec<Value>) {
        match (&self.args, &self.kwargs) {
            (None, None) => {}
            (Some(args), None) => fields.push(args.clone()),
            (args, Some(kwargs)) => {
                fields.push(args.clone().unwrap_or_else(|| Value::Array(Vec::new())));
                fields.push(kwargs.clone());
            }
        }
    }
}

// What the router sends, one constructor per message, laid out as the spec shows them.

/// `[WELCOME, Session|id, Details|dict]`
pub fn welcome(session: u64, details: Value) -> Value {
    json!([code::WELCOME, session, details])
}

/// `[ABORT, Details|dict, Reason|uri]`, the details carrying a sentence for people.
pub fn abort(reason: &str, text: &str) -> Value {
    json!([code::ABORT, {"message": text}, reason])
}

/// `[CHALLENGE, AuthMethod|string, Extra|dict]`
pub fn challenge(method: &str, extra: Value) -> Value {
    json!([code::CHALLENGE, method, extra])
}

/// `[GOODBYE, Details|dict, Reason|uri]`
pub fn goodbye(reason: &str) -> Value {
    json!([code::GOODBYE, {}, reason])
}

/// `[ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, …]`
pub fn error(
    request_type: u64,
    request: u64,
    details: Map<String, Value>,
    uri: &str,
    payload: &Payload,
) -> Value {
    let fields = vec![
        json!(code::ERROR),
        json!(request_type),
        json!(request),
        Value::Object(details),
        json!(uri),
    ];
    with_payload(fields, payload)
}

/// An ERROR from the router itself, its one argument a sentence saying why.
pub fn error_text(request_type: u64, request: u64, uri: &str, text: &str) -> Value {
    json!([code::ERROR, request_type, request, {}, uri, [text]])
}

/// `[ERROR, …, Error|uri, [crossbar, ours]]`: Crossbar's text first, where applications
/// match on it, then ours.
pub fn error_texts(
    request_type: u64,
    request: u64,
    uri: &str,
    crossbar: &str,
    ours: &str,
) -> Value {
    json!([
        code::ERROR,
        request_type,
        request,
        {},
        uri,
        [crossbar, ours]
    ])
}

/// `[PUBLISHED, PUBLISH.Request|id, Publication|id]`
pub fn published(request: u64, publication: u64) -> Value {
    json!([code::PUBLISHED, request, publication])
}

/// `[SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id]`
pub fn subscribed(request: u64, subscription: u64) -> Value {
    json!([code::SUBSCRIBED, request, subscription])
}

/// `[UNSUBSCRIBED, UNSUBSCRIBE.Request|id]`
pub fn unsubscribed(request: u64) -> Value {
    json!([code::UNSUBSCRIBED, request])
}

/// `[EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict, …]`
pub fn event(
    subscription: u64,
    publication: u64,
    details: Map<String, Value>,
    payload: &Payload,
) -> Value {
    let fields = vec![
        json!(code::EVENT),
        json!(subscription),
        json!(publication),
        Value::Object(details),
    ];
    with_payload(fields, payload)
}

/// `[REGISTERED, REGISTER.Request|id, Registration|id]`
pub fn registered(request: u64, registration: u64) -> Value {
    json!([code::REGISTERED, request, registration])
}

/// `[UNREGISTERED, UNREGISTER.Request|id]`
pub fn unregistered(request: u64) -> Value {
    json!([code::UNREGISTERED, request])
}

/// `[RESULT, CALL.Request|id, Details|dict, …]`
pub fn result(request: u64, details: Value, payload: &Payload) -> Value {
    with_payload(vec![json!(code::RESULT), json!(request), details], payload)
}

/// `[INVOCATION, Request|id, REGISTERED.Registration|id, Details|dict, …]`
pub fn invocation(
    request: u64,
    registration: u64,
    details: Map<String, Value>,
    payload: &Payload,
) -> Value {
    let fields = vec![
        json!(code::INVOCATION),
        json!(request),
        json!(registration),
        Value::Object(details),
    ];
    with_payload(fields, payload)
}

/// A message's fields followed by its payload, laid out as the spec does.
fn with_payload(mut fields: Vec<Value>, payload: &Payload) -> Value {
    payload.append_to(&mut fields);
    Value::Array(fields)
}

/// `[INTERRUPT, INVOCATION.Request|id, Options|dict]`
pub fn interrupt(request: u64, options: Value) -> Value {
    json!([code::INTERRUPT, request, options])
}

/// A message a client may send to the router. Fields are named as in the spec's layout
/// shown on each variant.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `[HELLO, Realm|uri, Details|dict]`
    Hello {
        realm: String,
        details: Map<String, Value>,
    },
    /// `[AUTHENTICATE, Signature|string, Extra|dict]`
    Authenticate {
        signature: String,
        extra: Map<String, Value>,
    },
    /// `[ABORT, Details|dict, Reason|uri]`
    Abort { reason: String },
    /// `[GOODBYE, Details|dict, Reason|uri]`
    Goodbye { reason: String },
    /// `[ERROR, INVOCATION, Request|id, Details|dict, Error|uri, …]` from a callee.
    Error {
        request_type: u64,
        request: u64,
        details: Map<String, Value>,
        error: String,
        payload: Payload,
    },
    /// `[PUBLISH, Request|id, Options|dict, Topic|uri, …]`
    Publish {
        request: u64,
        options: Map<String, Value>,
        topic: String,
        payload: Payload,
    },
    /// `[SUBSCRIBE, Request|id, Options|dict, Topic|uri]`
    Subscribe {
        request: u64,
        options: Map<String, Value>,
        topic: String,
    },
    /// `[UNSUBSCRIBE, Request|id, Subscription|id]`
    Unsubscribe { request: u64, subscription: u64 },
    /// `[CALL, Request|id, Options|dict, Procedure|uri, …]`
    Call {
        request: u64,
        options: Map<String, Value>,
        procedure: String,
        payload: Payload,
    },
    /// `[CANCEL, CALL.Request|id, Options|dict]`
    Cancel {
        request: u64,
        options: Map<String, Value>,
    },
    /// `[REGISTER, Request|id, Options|dict, Procedure|uri]`
    Register {
        request: u64,
        options: Map<String, Value>,
        procedure: String,
    },
    /// `[UNREGISTER, Request|id, Registration|id]`
    Unregister { request: u64, registration: u64 },
    /// `[YIELD, INVOCATION.Request|id, Options|dict, …]`
    Yield {
        request: u64,
        options: Map<String, Value>,
        payload: Payload,
    },
}

impl ClientMessage {
    /// The spec's name of its type, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "HELLO",
            ClientMessage::Authenticate { .. } => "AUTHENTICATE",
            ClientMessage::Abort { .. } => "ABORT",
            ClientMessage::Goodbye { .. } => "GOODBYE",
            ClientMessage::Error { .. } => "ERROR",
            ClientMessage::Publish { .. } => "PUBLISH",
            ClientMessage::Subscribe { .. } => "SUBSCRIBE",
            ClientMessage::Unsubscribe { .. } => "UNSUBSCRIBE",
            ClientMessage::Call { .. } => "CALL",
            ClientMessage::Cancel { .. } => "CANCEL",
            ClientMessage::Register { .. } => "REGISTER",
            ClientMessage::Unregister { .. } => "UNREGISTER",
            ClientMessage::Yield { .. } => "YIELD",
        }
    }
}

/// Decodes a WebSocket message in the session's serializer.
pub fn decode(message: &Message, serializer: Serializer) -> Result<ClientMessage, String> {
    decode_value(serializer.decode(message)?)
}

/// Reads the fields of a decoded array one by one, naming the field when it is wrong.
struct Fields {
    items: std::vec::IntoIter<Value>,
    name: &'static str,
}

impl Fields {
    fn next(&mut self, field: &str) -> Result<Value, String> {
        self.items
            .next()
            .ok_or_else(|| format!("{} is missing its {field}", self.name))
    }

    fn id(&mut self, field: &str) -> Result<u64, String> {
        match self.next(field)? {
            Value::Number(n) => match n.as_u64() {
                Some(id) if (1..=MAX_ID).contains(&id) => Ok(id),
                _ => Err(format!(
                    "{} {field} must be an ID in [1, 2^53], not {n}",
                    self.name
                )),
            },
            other => Err(format!(
                "{} {field} must be an integer ID, not {}",
                self.name,
                type_name(&other)
            )),
        }
    }

    fn uri(&mut self, field: &str) -> Result<String, String> {
        match self.next(field)? {
            Value::String(s) => Ok(s),
            other => Err(format!(
                "{} {field} must be a URI string, not {}",
                self.name,
                type_name(&other)
            )),
        }
    }

    fn dict(&mut self, field: &str) -> Result<Map<String, Value>, String> {
        match self.next(field)? {
            Value::Object(map) => Ok(map),
            other => Err(format!(
                "{} {field} must be a dict, not {}",
                self.name,
                type_name(&other)
            )),
        }
    }

    fn payload(&mut self) -> Result<Payload, String> {
        let args = self.items.next();
        let kwargs = self.items.next();
        if self.items.next().is_some() {
            return Err(format!(
                "{} has more fields than the spec allows",
                self.name
            ));
        }
        if let Some(args) = &args {
            if !args.is_array() {
                return Err(format!(
                    "{} Arguments must be a list, not {}",
                    self.name,
                    type_name(args)
                ));
            }
        }
        if let Some(kwargs) = &kwargs {
            if !kwargs.is_object() {
                return Err(format!(
                    "{} ArgumentsKw must be a dict, not {}",
                    self.name,
                    type_name(kwargs)
                ));
            }
        }
        Ok(Payload { args, kwargs })
    }

    fn end(&mut self) -> Result<(), String> {
        match self.items.next() {
            None => Ok(()),
            Some(_) => Err(format!(
                "{} has more fields than the spec allows",
                self.name
            )),
        }
    }
}

/// Decodes a JSON value into a client message.
pub fn decode_value(value: Value) -> Result<ClientMessage, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "a WAMP message is a list, not {}",
            type_name(&value)
        ));
    };
    let mut fields = Fields {
        items: items.into_iter(),
        name: "message",
    };
    let kind = match fields.next("type")? {
        Value::Number(n) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
        other => {
            return Err(format!(
                "the message type must be an integer, not {}",
                type_name(&other)
            ))
        }
    };
    fields.name = name(kind);
    let message = match kind {
        code::HELLO => ClientMessage::Hello {
            realm: fields.uri("Realm")?,
            details: fields.dict("Details")?,
        },
        code::AUTHENTICATE => {
            let signature = match fields.next("Signature")? {
                Value::String(s) => s,
                other => {
                    return Err(format!(
                        "AUTHENTICATE Signature must be a string, not {}",
                        type_name(&other)
                    ))
                }
            };
            let extra = fields.dict("Extra")?;
            ClientMessage::Authenticate { signature, extra }
        }
        code::ABORT => {
            fields.dict("Details")?;
            ClientMessage::Abort {
                reason: fields.uri("Reason")?,
            }
        }
        code::GOODBYE => {
            fields.dict("Details")?;
            ClientMessage::Goodbye {
                reason: fields.uri("Reason")?,
            }
        }
        code::ERROR => {
            let request_type = match fields.next("Request.Type")? {
                Value::Number(n) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
                other => {
                    return Err(format!(
                        "ERROR Request.Type must be an integer, not {}",
                        type_name(&other)
                    ))
                }
            };
            ClientMessage::Error {
                request_type,
                request: fields.id("Request")?,
                details: fields.dict("Details")?,
                error: fields.uri("Error")?,
                payload: fields.payload()?,
            }
        }
        code::PUBLISH => ClientMessage::Publish {
            request: fields.id("Request")?,
            options: fields.dict("Options")?,
            topic: fields.uri("Topic")?,
            payload: fields.payload()?,
        },
        code::SUBSCRIBE => ClientMessage::Subscribe {
            request: fields.id("Request")?,
            options: fields.dict("Options")?,
            topic: fields.uri("Topic")?,
        },
        code::UNSUBSCRIBE => ClientMessage::Unsubscribe {
            request: fields.id("Request")?,
            subscription: fields.id("Subscription")?,
        },
        code::CALL => ClientMessage::Call {
            request: fields.id("Request")?,
            options: fields.dict("Options")?,
            procedure: fields.uri("Procedure")?,
            payload: fields.payload()?,
        },
        code::CANCEL => ClientMessage::Cancel {
            request: fields.id("Request")?,
            options: fields.dict("Options")?,
        },
        code::REGISTER => ClientMessage::Register {
            request: fields.id("Request")?,
            options: fields.dict("Options")?,
            procedure: fields.uri("Procedure")?,
        },
        code::UNREGISTER => ClientMessage::Unregister {
            request: fields.id("Request")?,
            registration: fields.id("Registration")?,
        },
        code::YIELD => ClientMessage::Yield {
            request: fields.id("Request")?,
            options: fields.dict("Options")?,
            payload: fields.payload()?,
        },
        code::WELCOME
        | code::CHALLENGE
        | code::PUBLISHED
        | code::SUBSCRIBED
        | code::UNSUBSCRIBED
        | code::EVENT
        | code::RESULT
        | code::REGISTERED
        | code::UNREGISTERED
        | code::INVOCATION
        | code::INTERRUPT => {
            return Err(format!("{} is sent by a router, never to one", name(kind)));
        }
        other => return Err(format!("message type {other} is not a WAMP message type")),
    };
    if !matches!(
        message,
        ClientMessage::Error { .. }
            | ClientMessage::Publish { .. }
            | ClientMessage::Call { .. }
            | ClientMessage::Yield { .. }
    ) {
        fields.end()?;
    }
    Ok(message)
}

/// The spec's name of a message type, for error messages.
pub fn name(kind: u64) -> &'static str {
    match kind {
        code::HELLO => "HELLO",
        code::WELCOME => "WELCOME",
        code::ABORT => "ABORT",
        code::CHALLENGE => "CHALLENGE",
        code::AUTHENTICATE => "AUTHENTICATE",
        code::GOODBYE => "GOODBYE",
        code::ERROR => "ERROR",
        code::PUBLISH => "PUBLISH",
        code::PUBLISHED => "PUBLISHED",
        code::SUBSCRIBE => "SUBSCRIBE",
        code::SUBSCRIBED => "SUBSCRIBED",
        code::UNSUBSCRIBE => "UNSUBSCRIBE",
        code::UNSUBSCRIBED => "UNSUBSCRIBED",
        code::EVENT => "EVENT",
        code::CALL => "CALL",
        code::CANCEL => "CANCEL",
        code::RESULT => "RESULT",
        code::REGISTER => "REGISTER",
        code::REGISTERED => "REGISTERED",
        code::UNREGISTER => "UNREGISTER",
        code::UNREGISTERED => "UNREGISTERED",
        code::INVOCATION => "INVOCATION",
        code::INTERRUPT => "INTERRUPT",
        code::YIELD => "YIELD",
        _ => "message",
    }
}

/// What a JSON value is, in the spec's words (a JSON object is a dict).
fn type_name(value: &Value) -> &'static str {
    crate::config::json_kind(value, "a dict")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec(v: Value) -> Result<ClientMessage, String> {
        decode_value(v)
    }

    #[test]
    fn every_client_message_decodes() {
        assert!(matches!(
            dec(json!([1, "realm1", {"roles": {}}])),
            Ok(ClientMessage::Hello { .. })
        ));
        assert!(matches!(
            dec(json!([16, 1, {}, "a.b"])),
            Ok(ClientMessage::Publish { .. })
        ));
        assert!(matches!(
            dec(json!([16, 1, {}, "a.b", [1], {"k": 2}])),
            Ok(ClientMessage::Publish { .. })
        ));
        assert!(matches!(
            dec(json!([32, 2, {"match": "prefix"}, "a"])),
            Ok(ClientMessage::Subscribe { .. })
        ));
        assert!(matches!(
            dec(json!([48, 3, {}, "a.b", []])),
            Ok(ClientMessage::Call { .. })
        ));
        assert!(matches!(
            dec(json!([70, 4, {"progress": true}])),
            Ok(ClientMessage::Yield { .. })
        ));
        assert!(matches!(
            dec(json!([8, 68, 4, {}, "app.error", ["x"]])),
            Ok(ClientMessage::Error { .. })
        ));
        assert!(matches!(
            dec(json!([6, {}, "wamp.close.close_realm"])),
            Ok(ClientMessage::Goodbye { .. })
        ));
    }

    #[test]
    fn wrong_messages_say_what_is_wrong() {
        for (value, says) in [
            (json!({"a": 1}), "is a list"),
            (json!([]), "missing its type"),
            (json!(["1"]), "type must be an integer"),
            (json!([1, 5, {}]), "HELLO Realm must be a URI string"),
            (json!([16, 0, {}, "a"]), "ID in [1, 2^53]"),
            (json!([16, 9007199254740993u64, {}, "a"]), "ID in [1, 2^53]"),
            (json!([16, 1, [], "a"]), "Options must be a dict"),
            (json!([16, 1, {}, "a", {}]), "Arguments must be a list"),
            (
                json!([16, 1, {}, "a", [], []]),
                "ArgumentsKw must be a dict",
            ),
            (json!([32, 1, {}, "a", "extra"]), "more fields"),
            (json!([36, 1, 1, {}]), "sent by a router"),
            (json!([99]), "not a WAMP message type"),
        ] {
            let err = dec(value.clone()).unwrap_err();
            assert!(err.contains(says), "{value}: {err}");
        }
    }

    #[test]
    fn payload_is_laid_out_as_the_spec_says() {
        let mut fields = vec![];
        Payload {
            args: None,
            kwargs: Some(json!({"a": 1})),
        }
        .append_to(&mut fields);
        assert_eq!(fields, vec![json!([]), json!({"a": 1})]);
    }
}
