//! Reading JSON objects strictly: each key asked for is marked, a wrong type is an error
//! naming its JSON path, a key never asked for is a warning (so a typo is seen), and a
//! missing key names a typo of it that is there.

use crate::config::error::StartError;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::path::Path;

/// Where the reading reports to: the config file (named in errors) and the warnings.
pub(super) struct Report<'a> {
    pub(super) file: &'a Path,
    pub(super) warnings: RefCell<Vec<String>>,
}

impl Report<'_> {
    pub(super) fn error(&self, key: &str, problem: impl Into<String>) -> StartError {
        StartError::Key {
            file: self.file.to_path_buf(),
            json_path: key.to_string(),
            problem: problem.into(),
        }
    }

    pub(super) fn warn(&self, text: String) {
        self.warnings.borrow_mut().push(text);
    }

    /// `value` as an object at JSON path `key`.
    pub(super) fn obj<'r>(
        &'r self,
        key: &str,
        value: &'r Value,
    ) -> Result<Obj<'r, 'r>, StartError> {
        match value {
            Value::Object(map) => Ok(Obj {
                reader: self,
                json_path: key.to_string(),
                map,
                used: RefCell::new(Vec::new()),
            }),
            other => Err(self.error(key, format!("must be an object, not {}", kind(other)))),
        }
    }
}

/// A JSON object being read: keys that are never asked for are warned about in `done`.
pub(super) struct Obj<'r, 'a> {
    reader: &'r Report<'a>,
    /// Its JSON path.
    pub(super) json_path: String,
    pub(super) map: &'r Map<String, Value>,
    used: RefCell<Vec<&'static str>>,
}

impl<'r, 'a> Obj<'r, 'a> {
    pub(super) fn child_key(&self, name: &str) -> String {
        if self.json_path == "(top level)" {
            name.to_string()
        } else {
            format!("{}.{name}", self.json_path)
        }
    }

    pub(super) fn mark(&self, name: &'static str) {
        self.used.borrow_mut().push(name);
    }

    pub(super) fn get(&self, name: &'static str) -> Option<&'r Value> {
        self.mark(name);
        self.map.get(name)
    }

    pub(super) fn required(&self, name: &'static str) -> Result<&'r Value, StartError> {
        self.get(name).ok_or_else(|| self.missing(name, ""))
    }

    /// A count that must be at least 1, as a `usize`; `with_zero` says what 0 would do.
    pub(super) fn count(
        &self,
        name: &'static str,
        with_zero: &str,
    ) -> Result<Option<usize>, StartError> {
        match self.u64(name)? {
            Some(0) => Err(self.error(name, format!("must be at least 1: with 0 {with_zero}"))),
            n => Ok(n.map(|n| usize::try_from(n).unwrap_or(usize::MAX))),
        }
    }

    /// An error about this object's key `name`.
    pub(super) fn error(&self, name: &str, problem: impl Into<String>) -> StartError {
        self.reader.error(&self.child_key(name), problem)
    }

    /// "is missing" with `advice`, naming a key of this object that looks like a typo of it.
    pub(super) fn missing(&self, name: &str, advice: &str) -> StartError {
        let mut problem = String::from("is missing");
        if !advice.is_empty() {
            problem = format!("{problem}; {advice}");
        }
        if let Some(typo) = self.map.keys().find(|k| is_typo_of(k, name)) {
            problem = format!("{problem}; `{typo}` is there: did you mean `{name}`?");
        }
        self.reader.error(&self.child_key(name), problem)
    }

    pub(super) fn str(&self, name: &'static str) -> Result<Option<&'r str>, StartError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a string, not {}", kind(other)),
            )),
        }
    }

    pub(super) fn required_str(&self, name: &'static str) -> Result<&'r str, StartError> {
        self.str(name)?.ok_or_else(|| self.missing(name, ""))
    }

    pub(super) fn bool(&self, name: &'static str) -> Result<Option<bool>, StartError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be true or false, not {}", kind(other)),
            )),
        }
    }

    pub(super) fn u64(&self, name: &'static str) -> Result<Option<u64>, StartError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            // A number, but not one we take: say which.
            Some(Value::Number(n)) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a whole number ≥ 0, not {n}"),
            )),
            Some(other) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a whole number ≥ 0, not {}", kind(other)),
            )),
        }
    }

    pub(super) fn array(&self, name: &'static str) -> Result<&'r [Value], StartError> {
        match self.required(name)? {
            Value::Array(items) => Ok(items),
            other => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a list, not {}", kind(other)),
            )),
        }
    }

    pub(super) fn array_or_empty(&self, name: &'static str) -> Result<&'r [Value], StartError> {
        if self.map.contains_key(name) {
            self.array(name)
        } else {
            self.mark(name);
            Ok(&[])
        }
    }

    /// A key Crossbar accepts that we read past without comment.
    pub(super) fn allow(&self, name: &'static str) {
        self.mark(name);
    }

    /// A key Crossbar accepts that we do not act on: one warning saying so.
    pub(super) fn ignore(&self, name: &'static str, why: &str) {
        if self.map.contains_key(name) && !self.used.borrow().contains(&name) {
            self.mark(name);
            self.reader
                .warn(format!("`{}` is not used: {why}", self.child_key(name)));
        }
    }

    /// Warns about every key that was never asked for.
    pub(super) fn done(&self) {
        self.done_except(&[]);
    }

    pub(super) fn done_except(&self, also_used: &[&str]) {
        let used = self.used.borrow();
        for name in self.map.keys() {
            if !used.contains(&name.as_str()) && !also_used.contains(&name.as_str()) {
                self.reader.warn(format!(
                    "`{}` is not a key wssnode knows; it is ignored (a typo?)",
                    self.child_key(name)
                ));
            }
        }
    }
}

pub(super) fn string_list(
    reader: &Report<'_>,
    key: &str,
    value: &Value,
) -> Result<Vec<String>, StartError> {
    let items = value.as_array().ok_or_else(|| {
        reader.error(
            key,
            format!("must be a list of strings, not {}", kind(value)),
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| reader.error(&format!("{key}[{i}]"), "must be a string"))
        })
        .collect()
}

/// Writes a JSON object key so that a JSON path stays readable: `paths./` → `paths["/"]`.
pub(super) fn quote_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// Names a JSON value's type for error messages.
/// Whether `key` looks like a misspelling of `name`: the same but for case, or at most two
/// letters inserted, deleted, replaced or swapped (`certficate`, `directroy`, `wokers`).
fn is_typo_of(key: &str, name: &str) -> bool {
    if key == name || name.len() < 4 {
        return false;
    }
    if key.eq_ignore_ascii_case(name) {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (key.chars().collect(), name.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    // Optimal string alignment distance (Levenshtein with adjacent swaps).
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()] <= 2
}

pub(super) fn kind(value: &Value) -> &'static str {
    json_kind(value, "an object")
}

/// What a JSON value is, for error messages; `object` names a JSON object as the reader
/// knows it ("an object" in a config, "a dict" in WAMP).
pub fn json_kind(value: &Value, object: &'static str) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => object,
    }
}
