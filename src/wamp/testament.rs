//! Testaments (Crossbar's `wamp.session.add_testament` and `flush_testaments`): events a
//! session leaves with the router, published for it when it ends, with GOODBYE or without.
//! wssnode has no session resumption, so the `detached` and `destroyed` scopes both fire at
//! the end, `detached` first, as in Crossbar.

use crate::wamp::message::{random_id, Payload};
use crate::wamp::options::Options;
use crate::wamp::uri::error;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Testaments one session may leave, at most.
pub(crate) const MAX_PER_SESSION: usize = 64;

/// Bytes (as decoded in memory) of testaments one session may leave, at most.
pub(crate) const MAX_BYTES_PER_SESSION: usize = 256 * 1024;

/// One event to publish when its session ends.
#[derive(Debug)]
pub(crate) struct Testament {
    /// `detached` (true) or `destroyed`.
    detached: bool,
    /// The topic.
    pub topic: String,
    /// Its arguments.
    pub payload: Payload,
    /// The publish options (without `acknowledge` and `exclude_me`, as in Crossbar).
    pub options: Options,
    /// About the memory it holds.
    bytes: usize,
}

/// The testaments of a realm's sessions.
#[derive(Debug, Default)]
pub(crate) struct Testaments {
    by_session: HashMap<u64, Vec<Testament>>,
}

/// A meta procedure's answer: its RESULT arguments, or the error URI and text.
pub(crate) type Answer = Result<Value, (&'static str, String)>;

impl Testaments {
    /// `wamp.session.add_testament(topic, args, kwargs, publish_options, scope)`: answers
    /// an ID for the testament. `may_publish` says whether the session may publish to the
    /// topic (checked now: when the testament fires, the session is gone).
    pub(crate) fn add(
        &mut self,
        session: u64,
        payload: &Payload,
        may_publish: impl Fn(&str) -> Result<(), (&'static str, String)>,
    ) -> Answer {
        let (args, kwargs) = arguments(payload);
        let arg = |i: usize, name: &str| args.get(i).or_else(|| kwargs.get(name));
        let invalid = |text: &str| (error::INVALID_ARGUMENT, text.to_string());
        let topic = arg(0, "topic")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("`wamp.session.add_testament` takes the topic (a URI) first"))?;
        let event_args = match arg(1, "args") {
            None | Some(Value::Null) => None,
            Some(list @ Value::Array(_)) => Some(list.clone()),
            Some(_) => return Err(invalid("the testament's `args` must be a list")),
        };
        let event_kwargs = match arg(2, "kwargs") {
            None | Some(Value::Null) => None,
            Some(dict @ Value::Object(_)) => Some(dict.clone()),
            Some(_) => return Err(invalid("the testament's `kwargs` must be a dict")),
        };
        let mut options = match arg(3, "publish_options") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(options)) => options.clone(),
            Some(_) => return Err(invalid("the testament's `publish_options` must be a dict")),
        };
        options.remove("acknowledge");
        options.remove("exclude_me");
        let detached = scope(arg(4, "scope"))?;
        may_publish(topic)?;
        use crate::wamp::message::value_size;
        let size = |v: &Option<Value>| v.as_ref().map_or(0, value_size);
        let bytes = topic.len()
            + size(&event_args)
            + size(&event_kwargs)
            + value_size(&Value::Object(options.clone()));
        let held = self.by_session.entry(session).or_default();
        let held_bytes: usize = held.iter().map(|t| t.bytes).sum();
        if held.len() >= MAX_PER_SESSION || held_bytes + bytes > MAX_BYTES_PER_SESSION {
            let text = format!("this session holds {} testaments of {held_bytes} bytes; the most are {MAX_PER_SESSION} and {MAX_BYTES_PER_SESSION} bytes", held.len());
            return Err((error::TESTAMENT_ERROR, text));
        }
        held.push(Testament {
            detached,
            topic: topic.to_string(),
            payload: Payload {
                args: event_args,
                kwargs: event_kwargs,
            },
            options,
            bytes,
        });
        Ok(json!(random_id()))
    }

    /// `wamp.session.flush_testaments(scope)`: forgets that scope's testaments and answers
    /// how many there were.
    pub(crate) fn flush(&mut self, session: u64, payload: &Payload) -> Answer {
        let (args, kwargs) = arguments(payload);
        let detached = scope(args.first().or_else(|| kwargs.get("scope")))?;
        let Some(held) = self.by_session.get_mut(&session) else {
            return Ok(json!(0));
        };
        let before = held.len();
        held.retain(|t| t.detached != detached);
        Ok(json!(before - held.len()))
    }

    /// A leaving session's testaments, `detached` ones first, each scope in the order
    /// they were added.
    pub(crate) fn take(&mut self, session: u64) -> Vec<Testament> {
        let mut all = self.by_session.remove(&session).unwrap_or_default();
        all.sort_by_key(|t| !t.detached);
        all
    }
}

/// `scope`: `destroyed` (the default) or `detached`; true for detached.
fn scope(value: Option<&Value>) -> Result<bool, (&'static str, String)> {
    match value.and_then(|v| if v.is_null() { None } else { Some(v) }) {
        None => Ok(false),
        Some(Value::String(s)) if s == "destroyed" => Ok(false),
        Some(Value::String(s)) if s == "detached" => Ok(true),
        Some(_) => Err((
            error::TESTAMENT_ERROR,
            "scope must be destroyed or detached".to_string(),
        )),
    }
}

fn arguments(payload: &Payload) -> (&[Value], Map<String, Value>) {
    let args = payload
        .args
        .as_ref()
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let kwargs = payload
        .kwargs
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    (args, kwargs)
}
