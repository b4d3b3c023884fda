//! Records the git commit the binary is built from, for `wssnode --version`. Reruns when
//! HEAD moves (a new commit or a checkout); built outside a git checkout (a source tarball,
//! `cargo install` from a copy), it says so instead of a hash.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|hash| !hash.is_empty());
    let dirty = commit.is_some()
        && Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .is_ok_and(|out| out.status.success() && !out.stdout.is_empty());
    let described = match commit {
        Some(hash) if dirty => format!("commit {hash}, with uncommitted changes"),
        Some(hash) => format!("commit {hash}"),
        None => "not built from a git checkout".to_string(),
    };
    println!("cargo:rustc-env=WSSNODE_COMMIT={described}");
    // HEAD names the branch; the branch's ref file (or packed-refs) moves with each commit.
    for path in [".git/HEAD", ".git/packed-refs", ".git/index"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(branch) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{branch}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
