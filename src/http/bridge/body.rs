//! What a `publisher` or `caller` request asks for, read from its body as Crossbar's bridge
//! reads it (a JSON object with `topic` or `procedure`, `args`, `kwargs`, `options`), and
//! the body itself: its content type, and at most the path's `post_body_limit`.

use super::*;

/// The `options` of a `publisher` request the publication takes (Crossbar's list).
pub(super) const PUBLISH_OPTIONS: [&str; 8] = [
    "retain",
    "exclude_me",
    "exclude_authid",
    "exclude_authrole",
    "exclude",
    "eligible_authid",
    "eligible_authrole",
    "eligible",
];

/// What a request asks the router to do, read from its body.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Publish to `topic` with these options.
    Publish {
        /// The topic.
        topic: String,
        /// Its arguments.
        payload: PayloadParts,
        /// The options a bridge passes on.
        options: Map<String, Value>,
    },
    /// Call `procedure`, waiting at most `timeout_ms` (when the body asks for less).
    Call {
        /// The procedure.
        procedure: String,
        /// Its arguments.
        payload: PayloadParts,
        /// `options.timeout` of the body, in ms.
        timeout_ms: Option<u64>,
    },
}

/// A body's `args` and `kwargs` (absent or empty ones are left out, as Crossbar does).
#[derive(Debug, PartialEq, Default)]
pub struct PayloadParts {
    /// `args`.
    pub args: Vec<Value>,
    /// `kwargs`.
    pub kwargs: Map<String, Value>,
}

impl PayloadParts {
    pub(super) fn into_payload(self) -> Payload {
        Payload {
            args: Some(Value::Array(self.args)),
            kwargs: (!self.kwargs.is_empty()).then_some(Value::Object(self.kwargs)),
        }
    }
}

/// Reads a `publisher` (`caller` when `call`) body: a JSON object with `topic` (or
/// `procedure`), `args`, `kwargs` and `options`.
pub fn read_body(call: bool, body: &[u8]) -> Result<Action, Refusal> {
    let text = std::str::from_utf8(body)
        .map_err(|_| refuse(400, "Non-decodable request body, was not UTF-8."))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| refuse(400, format!("Request body was invalid JSON ({e}).")))?;
    let Value::Object(mut body) = value else {
        return Err(refuse(
            400,
            "Request body was valid JSON, but not well formed (must be a dict).",
        ));
    };
    let target = if call { "procedure" } else { "topic" };
    let name = match body.remove(target) {
        Some(Value::String(name)) => name,
        Some(_) => {
            return Err(refuse(
                400,
                format!(
                "Request body was valid JSON, but not well formed ('{target}' must be a string)."
            ),
            ))
        }
        None => {
            return Err(refuse(
                400,
                format!(
                    "Request body was valid JSON, but not well formed (missing key '{target}')."
                ),
            ))
        }
    };
    let payload =
        PayloadParts {
            args: match body.remove("args") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(args)) => args,
                Some(_) => {
                    return Err(refuse(
                        400,
                        "Request body was valid JSON, but not well formed ('args' must be a list).",
                    ))
                }
            },
            kwargs: match body.remove("kwargs") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(kwargs)) => kwargs,
                Some(_) => return Err(refuse(
                    400,
                    "Request body was valid JSON, but not well formed ('kwargs' must be a dict).",
                )),
            },
        };
    let options = match body.remove("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(options)) => options,
        Some(_) => {
            return Err(refuse(
                400,
                "Request body was valid JSON, but not well formed ('options' must be a dict).",
            ))
        }
    };
    Ok(if call {
        Action::Call {
            procedure: name,
            payload,
            timeout_ms: options
                .get("timeout")
                .and_then(Value::as_u64)
                .filter(|t| *t > 0),
        }
    } else {
        let options = options
            .into_iter()
            .filter(|(k, _)| PUBLISH_OPTIONS.contains(&k.as_str()))
            .collect();
        Action::Publish {
            topic: name,
            payload,
            options,
        }
    })
}

/// `publisher` and `caller` take JSON (or no Content-Type at all); every type takes only
/// UTF-8.
pub(super) fn check_content_type(header: Option<&str>, json_only: bool) -> Result<(), Refusal> {
    let Some(header) = header else { return Ok(()) };
    let mut parts = header.split(';').map(|p| p.trim().to_ascii_lowercase());
    let media = parts.next().unwrap_or_default();
    // async-h1 reports a request without Content-Type as `application/octet-stream`, so
    // that is taken as none (Crossbar accepts a request without one).
    if json_only && media != "application/json" && media != "application/octet-stream" {
        return Err(refuse(
            400,
            format!(
                "Non-accepted content type. (must be one of 'application/json', not '{media}')"
            ),
        ));
    }
    for param in parts {
        if let Some(charset) = param.strip_prefix("charset=") {
            if !matches!(charset.trim_matches('"'), "utf-8" | "utf8") {
                return Err(refuse(400, "Non-accepted request encoding, must be UTF-8."));
            }
        }
    }
    Ok(())
}

/// The body, refused with 413 past `limit` (by Content-Length before reading, or while
/// reading one sent without it).
pub(super) async fn read_limited<S>(
    req: &mut Request<S>,
    limit: usize,
) -> Result<Vec<u8>, Refusal> {
    let too_long = |length: usize| {
        refuse(
            413,
            format!("Request too long. ({length} is longer than accepted {limit})"),
        )
    };
    if let Some(length) = req.len() {
        if length > limit {
            return Err(too_long(length));
        }
    }
    let mut body = Vec::new();
    let read = (&mut *req)
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .await;
    if read.is_err() {
        return Err(refuse(400, "The request body could not be read."));
    }
    if body.len() > limit {
        return Err(too_long(body.len()));
    }
    Ok(body)
}
