//! The manual tells the truth about the code: every relative link in README.md,
//! ARCHITECTURE.md and docs/ leads to a file (and a heading) that exists, and every config
//! key the reader accepts is written in docs/, so a new key cannot land undocumented.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The manual's pages.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("a docs/ folder")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The anchors GitHub gives a page's headings.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').trim().to_lowercase();
        let anchor: String = heading
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        anchors.insert(anchor);
    }
    anchors
}

/// The targets of a page's markdown links `[text](target)`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || line.starts_with("    ") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_manual_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every key name the config reader asks for: the argument of each `.u64("…")`,
/// `.str("…")`, `.get("…")` and their kin in `src/config/`, and the names of its
/// `("…", &mut slot)` tables.
fn keys_read() -> BTreeSet<String> {
    let readers = [
        ".u64(\"",
        ".count(\"",
        ".str(\"",
        ".bool(\"",
        ".get(\"",
        ".required_str(\"",
        ".required(\"",
        ".array(\"",
        ".array_or_empty(\"",
        ".allow(\"",
        ".ignore(\"",
        "millis(\"",
        "size(\"",
        "at_least_one(\"",
    ];
    let mut keys = BTreeSet::new();
    let mut files = vec![];
    collect_rs(&root().join("src/config"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests name keys too, some of them wrong on purpose.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for reader in readers {
            for (at, _) in text.match_indices(reader) {
                let rest = &text[at + reader.len()..];
                if let Some(end) = rest.find('"') {
                    keys.insert(rest[..end].to_string());
                }
            }
        }
        for (at, _) in text.match_indices("\", &mut ") {
            let before = &text[..at];
            if let Some(start) = before.rfind("(\"") {
                keys.insert(before[start + 2..].to_string());
            }
        }
    }
    keys.retain(|k| !k.is_empty() && !k.contains(char::is_whitespace));
    keys
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_config_key_the_reader_accepts_is_in_the_docs() {
    let mut docs = String::new();
    for page in pages() {
        docs.push_str(&std::fs::read_to_string(page).unwrap());
    }
    // The words written in code spans (`options.max_connections`, `"type": "static"`).
    let mut words = BTreeSet::new();
    for (i, span) in docs.split('`').enumerate() {
        if i % 2 == 1 {
            for word in span.split(|c: char| !(c.is_alphanumeric() || "_-$".contains(c))) {
                words.insert(word.to_string());
            }
        }
    }
    let keys = keys_read();
    assert!(keys.len() > 80, "the scan found {} keys", keys.len());
    let missing: Vec<&String> = keys.iter().filter(|k| !words.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "config keys no page of docs/ names (in `code`): {missing:?}"
    );
}
