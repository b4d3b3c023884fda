//! Where log records go: plain lines for a person at a terminal, one JSON object per line
//! for a log collector, chosen at run time (`--log-format`, else by whether standard output
//! is a terminal).
//!
//! This replaces femme, which chooses its format when it is compiled (pretty in debug
//! builds, ndjson in release builds) and panics when standard output is closed. The JSON
//! lines keep femme's ndjson fields (`level` 10–50, `time` in ms, `msg`), so what reads
//! them today still does.

use std::io::{IsTerminal, Write};

/// The two ways to write the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-11-25T13:00:00Z INFO  message key=value`, one record per line.
    Plain,
    /// One JSON object per line: `{"level":30,"time":…,"msg":"…",…}` (femme's ndjson).
    Json,
}

impl LogFormat {
    /// `plain` or `json`.
    pub fn parse(name: &str) -> Option<LogFormat> {
        match name {
            "plain" => Some(LogFormat::Plain),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    /// Plain for a terminal, JSON for anything else (a pipe, a file, journald).
    pub fn for_stdout() -> LogFormat {
        if std::io::stdout().is_terminal() {
            LogFormat::Plain
        } else {
            LogFormat::Json
        }
    }
}

/// Installs the logger for the whole process.
pub fn start(format: LogFormat, level: log::LevelFilter) {
    if log::set_boxed_logger(Box::new(Logger { format, level })).is_ok() {
        log::set_max_level(level);
    }
}

/// Writes each record as one line on standard output.
struct Logger {
    format: LogFormat,
    level: log::LevelFilter,
}

impl Logger {
    /// A plain line: its control characters escaped as JSON escapes them, so a client's
    /// string (an authid with a newline) cannot forge a line of its own.
    fn plain(record: &log::Record<'_>) -> String {
        let mut line = format!(
            "{} {:<5} {}",
            crate::runtime::time::now_rfc3339(),
            record.level(),
            record.args()
        );
        let _ = record.key_values().visit(&mut KeyValues(&mut line, false));
        escape_controls(line)
    }

    fn json(record: &log::Record<'_>) -> String {
        let level = match record.level() {
            log::Level::Trace => 10,
            log::Level::Debug => 20,
            log::Level::Info => 30,
            log::Level::Warn => 40,
            log::Level::Error => 50,
        };
        let time = std::time::UNIX_EPOCH
            .elapsed()
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let msg = serde_json::Value::String(record.args().to_string());
        let mut line = format!("{{\"level\":{level},\"time\":{time},\"msg\":{msg}");
        let _ = record.key_values().visit(&mut KeyValues(&mut line, true));
        line.push('}');
        line
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = match self.format {
            LogFormat::Plain => Logger::plain(record),
            LogFormat::Json => Logger::json(record),
        };
        line.push('\n');
        // A closed standard output must not take the node down.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

/// `text` with its control characters (C0, DEL and C1) written as `\n`, `\t`, `\r` or
/// `\u{…}`, and a backslash as `\\`; unchanged (not copied) when it has none.
fn escape_controls(text: String) -> String {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Appends a record's key-values: ` key=value`, or `,"key":"value"` for JSON.
struct KeyValues<'a>(&'a mut String, bool);

impl<'kvs> log::kv::VisitSource<'kvs> for KeyValues<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        if self.1 {
            let key = serde_json::Value::String(key.to_string());
            let value = serde_json::Value::String(value.to_string());
            self.0.push_str(&format!(",{key}:{value}"));
        } else {
            self.0.push_str(&format!(" {key}={value}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Logger;

    #[test]
    fn a_client_string_with_a_newline_stays_on_its_line() {
        let authid = "joe\n2026-12-08T00:00:00Z INFO  wamp login admin\u{1b}[2J\u{85}";
        let line = Logger::plain(
            &log::Record::builder()
                .args(format_args!("wamp login refused authid {authid}"))
                .level(log::Level::Info)
                .build(),
        );
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.ends_with(
                "authid joe\\n2026-12-08T00:00:00Z INFO  wamp login admin\\u{001b}[2J\\u{0085}"
            ),
            "{line}"
        );
    }

    #[test]
    fn json_lines_keep_femmes_fields_and_plain_lines_read_as_text() {
        let record = log::Record::builder()
            .args(format_args!("websocket open \"x\""))
            .level(log::Level::Warn)
            .build();
        let json: serde_json::Value = serde_json::from_str(&Logger::json(&record)).unwrap();
        assert_eq!(json["level"], 40);
        assert_eq!(json["msg"], "websocket open \"x\"");
        assert!(json["time"].as_u64().unwrap() > 1_700_000_000_000);
        let plain = Logger::plain(&record);
        assert!(plain.ends_with(" WARN  websocket open \"x\""), "{plain}");
    }
}
