//! Readers for the options of client messages (`SUBSCRIBE.Options`, `PUBLISH.Options`,
//! `REGISTER.Options`, `CALL.Options`, `CANCEL.Options`): each one either the value or a
//! sentence for the `wamp.error.invalid_argument` the client gets. A missing option or a
//! `null` is the spec's default.

use crate::config::MatchPolicy;
use serde_json::{Map, Value};

/// Options as they arrive.
pub(crate) type Options = Map<String, Value>;

/// An option that must be a boolean.
pub(crate) fn flag(options: &Options, key: &str) -> Result<Option<bool>, String> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("option `{key}` must be true or false")),
    }
}

/// An option that must be a list of session IDs.
pub(crate) fn ids(options: &Options, key: &str) -> Result<Option<Vec<u64>>, String> {
    let wrong = || format!("option `{key}` must be a list of session IDs");
    match options.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_u64().ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

/// An option that must be a list of strings (a single string is accepted too).
pub(crate) fn strings(options: &Options, key: &str) -> Result<Option<Vec<String>>, String> {
    let wrong = || format!("option `{key}` must be a list of strings");
    match options.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

/// `match` of SUBSCRIBE or REGISTER (spec "Pattern-based Subscription").
pub(crate) fn match_policy(options: &Options) -> Result<MatchPolicy, String> {
    match options.get("match") {
        None | Some(Value::Null) => Ok(MatchPolicy::Exact),
        Some(Value::String(s)) => MatchPolicy::parse(s).ok_or_else(|| {
            format!("option `match` must be `exact`, `prefix` or `wildcard`, not `{s}`")
        }),
        Some(_) => Err("option `match` must be a string".into()),
    }
}

/// How a shared registration picks its callee (`invoke`, spec "Shared Registration").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invoke {
    /// One callee only.
    Single,
    /// Callees in turn.
    RoundRobin,
    /// A random callee.
    Random,
    /// The callee that registered first.
    First,
    /// The callee that registered last.
    Last,
}

impl Invoke {
    /// `invoke` of REGISTER.
    pub(crate) fn read(options: &Options) -> Result<Invoke, String> {
        match options.get("invoke") {
            None | Some(Value::Null) => Ok(Invoke::Single),
            Some(Value::String(s)) => match s.as_str() {
                "single" => Ok(Invoke::Single),
                "roundrobin" => Ok(Invoke::RoundRobin),
                "random" => Ok(Invoke::Random),
                "first" => Ok(Invoke::First),
                "last" => Ok(Invoke::Last),
                other => Err(format!("option `invoke` must be single, roundrobin, random, first or last, not `{other}`")),
            },
            Some(_) => Err("option `invoke` must be a string".into()),
        }
    }

    /// The spec's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Invoke::Single => "single",
            Invoke::RoundRobin => "roundrobin",
            Invoke::Random => "random",
            Invoke::First => "first",
            Invoke::Last => "last",
        }
    }
}

/// How CANCEL ends a call (`mode`, spec "Call Canceling").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelMode {
    /// The caller hears at once; the callee is not told.
    Skip,
    /// The callee is interrupted, and its answer goes to the caller.
    Kill,
    /// The callee is interrupted and the caller hears at once (the default).
    KillNoWait,
}

impl CancelMode {
    /// `mode` of CANCEL.
    pub(crate) fn read(options: &Options) -> Result<CancelMode, String> {
        match options.get("mode").and_then(Value::as_str) {
            None => Ok(CancelMode::KillNoWait),
            Some("skip") => Ok(CancelMode::Skip),
            Some("kill") => Ok(CancelMode::Kill),
            Some("killnowait") => Ok(CancelMode::KillNoWait),
            Some(other) => Err(format!(
                "option `mode` must be skip, kill or killnowait, not `{other}`"
            )),
        }
    }

    /// The spec's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

/// `timeout` of CALL, in milliseconds as the spec says (0: none).
pub(crate) fn timeout_ms(options: &Options) -> Result<u64, String> {
    match options.get("timeout") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| "option `timeout` must be a whole number of milliseconds".into()),
    }
}
