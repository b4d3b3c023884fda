//! Crossbar's own example configs (tests/crossbar-configs, 171 files): `wssnode check
//! --config-only` judges every one without a panic or a hang, either "can serve" (exit 0) or
//! one `Error:` line per feature it does not serve (exit 1), and the counts stay as the
//! coverage table in docs/config.md says.

mod common;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    let dir = std::env::var_os("WSSNODE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/crossbar-configs")
        });
    assert!(
        dir.is_dir(),
        "the Crossbar config corpus is not at {} (set WSSNODE_CORPUS)",
        dir.display()
    );
    dir
}

/// Runs `check --config-only` on a node directory holding `name` → (exit code, stdout, stderr).
fn check(file: &std::path::Path, name: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(file, dir.path().join(name)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wssnode"))
        .args(["check", "--config-only"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{}: check hung", file.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{}: killed by a signal", file.display()));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The feature a refusal line names, e.g. "transport type `rawsocket`".
fn feature(line: &str) -> String {
    for marker in [
        "transport type `",
        "path type `",
        "worker type `",
        "authentication method `",
        "realm store type `",
    ] {
        if let Some(at) = line.find(marker) {
            let rest = &line[at + marker.len()..];
            return format!("{}{}`", marker, &rest[..rest.find('`').unwrap_or(0)]);
        }
    }
    for (needle, name) in [
        (
            "router-to-router links",
            "realm `rlinks` (router-to-router links)",
        ),
        (
            "outgoing router connections",
            "worker `connections` (router-to-router)",
        ),
        (
            "`function` authenticators",
            "`function` authentication (Python callables)",
        ),
        ("Unix domain socket", "endpoint type `unix`"),
        ("is missing", "malformed config (a required key is missing)"),
    ] {
        if line.contains(needle) {
            return name.to_string();
        }
    }
    format!("other: {line}")
}

#[test]
fn every_crossbar_example_config_is_served_or_refused_in_clear_lines() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 171, "the corpus has 171 JSON configs");
    let (mut served, mut refused) = (0, 0);
    let mut features: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let (code, stdout, stderr) = check(file, "config.json");
        match code {
            0 => {
                served += 1;
                assert!(
                    stdout.contains("can serve everything"),
                    "{}: {stdout}",
                    file.display()
                );
            }
            1 => {
                refused += 1;
                let lines: Vec<&str> = stderr.lines().collect();
                assert!(
                    !lines.is_empty(),
                    "{}: exit 1 without a word",
                    file.display()
                );
                let mut seen = Vec::new();
                for line in lines {
                    assert!(line.starts_with("Error: "), "{}: {line}", file.display());
                    assert!(
                        line.contains("`workers") || line.contains("config.json`: not valid JSON"),
                        "{}: no JSON path in {line}",
                        file.display()
                    );
                    let name = feature(line);
                    if !seen.contains(&name) {
                        seen.push(name);
                    }
                }
                for name in seen {
                    *features.entry(name).or_default() += 1;
                }
            }
            other => panic!("{}: exit {other}\n{stderr}", file.display()),
        }
    }
    // The table docs/config.md shows: configs refused per feature.
    println!("served unchanged: {served}, refused: {refused}");
    for (name, count) in &features {
        println!("{count:4}  {name}");
    }
    assert_eq!(
        (served, refused),
        (144, 27),
        "update the coverage table in docs/config.md"
    );
}

#[test]
fn a_yaml_config_gets_a_line_that_says_how_to_convert_it() {
    let (code, _, stderr) = check(&corpus().join("work_configtest.yaml"), "config.yaml");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("reads `config.json` only") && stderr.contains("yaml.safe_load"),
        "{stderr}"
    );
}
