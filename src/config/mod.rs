//! Crossbar.io node config (`config.json`, version 2) read into typed, validated values.
//!
//! Implements the subset of Crossbar's config format described in docs/config.md: router workers
//! with realms and roles, `web`, `websocket` and `websocket.testee` transports, TCP endpoints
//! with `tls`. Every key is either used, or named in one warning line (so a typo such as
//! `certficate` is visible), or refused with an error naming its JSON path. Paths in the config
//! are resolved against the node directory here, once; serving code never reads the file.

pub mod error;
mod json;
mod reader;
mod texts;

mod node;
mod paths;
mod session;
mod tls;
mod transport;

pub use node::*;
pub use paths::*;
pub use session::*;
pub use tls::*;
pub use transport::*;

pub use json::json_kind;

use crate::config::error::StartError;
use reader::Reader;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Reads `DIR/config.json` and validates everything that does not need another file.
pub fn load(dir: &Path) -> Result<NodeConfig, StartError> {
    let file = dir.join("config.json");
    if !file.exists() && dir.join("config.yaml").exists() {
        return Err(StartError::ConfigFile {
            file: dir.join("config.yaml"),
            problem: "wssnode reads `config.json` only; convert it with `python3 -c 'import json,sys,yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout, indent=2)' < config.yaml > config.json`".into(),
        });
    }
    let text = std::fs::read_to_string(&file).map_err(|e| StartError::ConfigFile {
        file: file.clone(),
        problem: format!("cannot read the node config: {e}"),
    })?;
    parse(dir, &file, &text)
}

/// Parses config text; `dir` resolves relative paths, `file` is named in errors.
pub fn parse(dir: &Path, file: &Path, text: &str) -> Result<NodeConfig, StartError> {
    // Editors on Windows start UTF-8 files with a byte order mark; most JSON readers skip it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|e| StartError::ConfigFile {
        file: file.to_path_buf(),
        problem: format!(
            "not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ),
    })?;
    parse_value(dir, file, &root)
}

/// Reads a parsed config value (the JSON text already decoded).
pub fn parse_value(dir: &Path, file: &Path, root: &Value) -> Result<NodeConfig, StartError> {
    let reader = Reader::new(dir, file);
    let routers = reader.node(root)?;
    reader.finish(file, routers)
}

#[cfg(test)]
mod tests {

    #[test]
    fn networks_are_read_as_python_reads_them_and_v4_mapped_ones_as_ipv4() {
        let net = |t: &str| IpNet::parse(t).unwrap();
        let ip = |t: &str| t.parse::<std::net::IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.1.2.3")));
        assert!(net("192.168.1.0/255.255.255.0").contains(ip("192.168.1.9")));
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(net("::1").contains(ip("::1")) && !net("::1").contains(ip("127.0.0.1")));
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(IpNet::parse("10.0.0.0/33").is_err() && IpNet::parse("nope").is_err());
    }
    use super::*;

    fn parse_text(text: &str) -> Result<NodeConfig, StartError> {
        parse(Path::new("/node"), Path::new("/node/config.json"), text)
    }

    const MINIMAL: &str = r#"{"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous",
            "permissions": [{"uri": "", "match": "prefix",
               "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
               "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
        "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": 8443,
             "tls": {"key": "k.pem", "certificate": "c.pem"}},
           "paths": {"/": {"type": "static", "directory": "../www"}, "ws": {"type": "websocket"}}}]}]}"#;

    #[test]
    fn crossbar_web_transport_is_read_without_warnings() {
        let node = parse_text(MINIMAL).unwrap();
        assert!(node.warnings.is_empty(), "{:?}", node.warnings);
        let transport = &node.routers[0].transports[0];
        assert_eq!(transport.endpoint.port, 8443);
        let tls = transport.endpoint.tls.as_ref().unwrap();
        assert_eq!(tls.key.path, Path::new("/node/k.pem"));
        assert_eq!(transport.paths.len(), 2);
        assert!(transport.paths.iter().any(|(p, _)| p == "/ws"));
    }

    #[test]
    fn a_misspelt_key_is_warned_about_by_its_json_path() {
        let text = MINIMAL.replace("\"certificate\"", "\"certficate\"");
        let err = parse_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("workers[0].transports[0].endpoint.tls.certificate"),
            "{err}"
        );
        let text = MINIMAL.replace("\"cache\": true", "\"cache\": true, \"colour\": 1");
        let node = parse_text(&text).unwrap();
        assert!(
            node.warnings[0].contains("permissions[0].colour"),
            "{:?}",
            node.warnings
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse_text("{\n  \"version\": 2,\n  oops\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3, column 3"), "{err}");
    }

    #[test]
    fn unknown_transport_type_is_refused() {
        let text = MINIMAL.replace("\"type\": \"web\"", "\"type\": \"mqtt\"");
        let err = parse_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("transports[0].type") && err.contains("mqtt"),
            "{err}"
        );
    }

    /// Every JSON pointer in a value, for mutating each place in turn.
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    pointers(
                        v,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    pointers(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn any_value_at_any_key_of_crossbars_configs_is_an_answer_not_a_panic() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crossbar-configs");
        let Ok(entries) = std::fs::read_dir(&corpus) else {
            panic!("the Crossbar config corpus is not at {}", corpus.display());
        };
        let garbage = [
            Value::Null,
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1e300),
            serde_json::json!("x"),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([[{"type": null}]]),
            serde_json::json!(true),
        ];
        let mut parses = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let mut config: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let mut places = Vec::new();
            pointers(&config, String::new(), &mut places);
            for place in places.iter().filter(|p| !p.is_empty()) {
                for junk in &garbage {
                    // Swap the junk in, parse, swap the original back.
                    let Some(slot) = config.pointer_mut(place) else {
                        continue;
                    };
                    let original = std::mem::replace(slot, junk.clone());
                    let result = std::panic::catch_unwind(|| {
                        parse_value(Path::new("/node"), Path::new("/node/config.json"), &config)
                            .map(|_| ())
                    });
                    assert!(
                        result.is_ok(),
                        "{}: {place} = {junk} panicked",
                        path.display()
                    );
                    parses += 1;
                    if let Some(slot) = config.pointer_mut(place) {
                        *slot = original;
                    }
                }
            }
        }
        assert!(parses > 10_000, "only {parses} variants");
    }

    #[test]
    fn wrong_types_anywhere_are_errors_not_panics() {
        for (from, to) in [
            ("8443", "\"8443\""),
            ("8443", "70000"),
            ("8443", "-1"),
            ("\"../www\"", "null"),
            ("\"paths\": {", "\"paths\": [], \"x\": {"),
            ("\"realms\": [", "\"realms\": 3, \"y\": ["),
        ] {
            let text = MINIMAL.replacen(from, to, 1);
            assert!(parse_text(&text).is_err(), "{from} → {to} was accepted");
        }
    }
}
