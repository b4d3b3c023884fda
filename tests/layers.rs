//! Dependencies run one way. `src/` is read as a graph of modules (a file is a module; an
//! edge is a `crate::…` or `super::…` path in its code, comments and unit tests left out),
//! and two rules hold:
//!
//! - **No cycle** between modules; a `mod.rs` and the modules under it may use each other.
//! - **The layer order** (the top-level folders, written once here and in ARCHITECTURE.md):
//!   a module imports only its own layer and the layers below it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, from the top (start-up) to the bottom (config).
const LAYERS: [&str; 8] = [
    "node",
    "cluster",
    "http",
    "transport",
    "wamp",
    "tls",
    "runtime",
    "config",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every module's source, by its path (`wamp::broker`), from the files under `src`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = parts.join("::");
            if name == "lib" || name == "main" {
                continue;
            }
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The code of a file without its comments and its unit tests.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a piece of code names after `prefix` (`crate::` or `super::`).
fn paths_after<'t>(code: &'t str, prefix: &str) -> Vec<&'t str> {
    code.match_indices(prefix)
        .filter(|(at, _)| {
            !code[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .map(|(at, _)| {
            let rest = &code[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            rest[..end].trim_end_matches(':')
        })
        .collect()
}

/// The longest module that `path` (`a::b::Item`) lies in.
fn module_of(path: &str, names: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| names.contains(candidate))
}

fn graph(modules: &BTreeMap<String, String>) -> Graph {
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = Graph::new();
    for (name, text) in modules {
        let code = code(text);
        let mut edges = BTreeSet::new();
        for path in paths_after(&code, "crate::") {
            edges.extend(module_of(path, &names));
        }
        // `super::x` from `a::b` (a file) is `a::x`; from `a::b` as a mod.rs it is `a::x`
        // too, which the file's own name cannot tell: both are tried.
        let parent: Vec<&str> = name.split("::").collect();
        for path in paths_after(&code, "super::") {
            let base = parent[..parent.len().saturating_sub(1)].join("::");
            let full = if base.is_empty() {
                path.to_string()
            } else {
                format!("{base}::{path}")
            };
            edges.extend(module_of(&full, &names));
        }
        edges.remove(name);
        graph.insert(name.clone(), edges);
    }
    graph
}

/// Whether one module is the other's ancestor (a `mod.rs` and what lies under it).
fn related(a: &str, b: &str) -> bool {
    a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

/// The cycles of the graph (its strongly connected components of more than one module),
/// leaving out the edges between a module and its ancestors.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative over a small graph: recursion is fine at this size.
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph[v].iter().filter(|w| !related(v, w)) {
            let w = w.as_str();
            if !graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

/// Each import of a layer above the importer's own.
fn upward(graph: &Graph) -> Vec<String> {
    let layer = |module: &str| {
        LAYERS
            .iter()
            .position(|l| module.split("::").next() == Some(l))
    };
    let mut out = Vec::new();
    for (from, edges) in graph {
        let Some(own) = layer(from) else {
            out.push(format!(
                "{from} is in no layer: put it in one of {LAYERS:?}"
            ));
            continue;
        };
        for to in edges {
            if layer(to).is_some_and(|theirs| theirs < own) {
                out.push(format!("{from} imports {to}, a layer above it"));
            }
        }
    }
    out
}

#[test]
fn no_module_of_src_is_in_an_import_cycle() {
    let graph = graph(&modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")));
    assert!(graph.len() > 40, "read {} modules", graph.len());
    let found = cycles(&graph);
    assert!(found.is_empty(), "import cycles: {found:?}");
}

#[test]
fn every_module_imports_only_its_layer_and_those_below() {
    let graph = graph(&modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")));
    let found = upward(&graph);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_checks_find_a_cycle_and_an_upward_import_when_there_is_one() {
    // A tree in the shape of src/ with one cycle and one import against the order.
    let tree = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = tree.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("wamp/mod.rs", "pub mod broker;\npub mod dealer;\n");
    write("wamp/broker.rs", "use crate::wamp::dealer::Dealer;\n");
    write(
        "wamp/dealer.rs",
        "use crate::wamp::broker::Broker; // a comment: crate::http\n",
    );
    write("config/mod.rs", "use crate::http::site::Site;\n");
    write(
        "http/site.rs",
        "use crate::config::Config;\n#[cfg(test)]\nuse crate::node;\n",
    );
    let graph = graph(&modules(tree.path()));
    assert_eq!(
        cycles(&graph),
        vec![
            vec!["config".to_string(), "http::site".to_string()],
            vec!["wamp::broker".to_string(), "wamp::dealer".to_string()]
        ]
    );
    assert_eq!(
        upward(&graph),
        vec!["config imports http::site, a layer above it".to_string()]
    );
}
