//! The `archive` path type: files out of a ZIP made here, with the guarantees `static` has
//! (ETag and 304, ranges, media types) and no way out through hostile names inside the
//! archive; `default_object`, `object_prefix`, `options.default_file`, `hashes`; and
//! Crossbar's nested `path` type.

mod common;
use common::*;
use serde_json::json;
use std::io::Write;
use std::time::Duration;
use zip::write::SimpleFileOptions;

/// A ZIP with an app, a deflated script, and entries whose names try to leave the archive.
fn app_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let files: [(&str, &[u8], SimpleFileOptions); 6] = [
        ("index.html", b"<h1>app</h1>", stored),
        (
            "js/app.min.js",
            &b"console.log('app');".repeat(100),
            deflated,
        ),
        ("../secret.txt", b"outside", stored),
        ("/etc/absolute.txt", b"absolute", stored),
        ("js/../../up.txt", b"up", stored),
        ("dist/index.html", b"<h1>dist</h1>", stored),
    ];
    for (name, bytes, options) in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    data_encoding::HEXLOWER.encode(digest.as_ref())
}

fn archive_node(paths: serde_json::Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    dir.write("app.zip", app_zip());
    let port = free_port();
    dir.config(&web_config(port, json!({}), paths, open_roles()));
    let node = dir.start(port);
    (dir, ca, node)
}

#[async_std::test]
async fn files_come_out_of_the_archive_as_static_files_do() {
    let paths = json!({"app": {"type": "archive", "archive": "app.zip", "default_object": "index.html", "cache": true,
        "mime_types": {".min.js": "text/javascript"}, "hashes": [sha256_hex(&app_zip())],
        "options": {"default_file": "index.html"}}});
    let (_dir, ca, node) = archive_node(paths);
    let get = |path: &'static str, extra: &'static [(&'static str, &'static str)]| {
        let ca = ca.der.clone();
        let port = node.port;
        async move { https(port, &ca, "GET", path, extra).await }
    };
    let index = get("/app", &[]).await;
    assert_eq!(
        (index.status, index.text()),
        (200, "<h1>app</h1>".to_string()),
        "default_object"
    );
    assert_eq!(
        index.header("content-type"),
        Some("text/html;charset=utf-8")
    );
    let script = get("/app/js/app.min.js", &[]).await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.body,
        b"console.log('app');".repeat(100),
        "deflated, read back whole"
    );
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript"),
        "mime_types, longest ending"
    );

    let cached = get("/app/js/app.min.js", &[]).await;
    assert_eq!(
        cached.body, script.body,
        "the second read (from the cache) is the same"
    );
    let etag = script.header("etag").unwrap().to_string();
    let again = https(
        node.port,
        &ca.der,
        "GET",
        "/app/js/app.min.js",
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    let part = get("/app/js/app.min.js", &[("Range", "bytes=0-6")]).await;
    assert_eq!((part.status, part.text()), (206, "console".to_string()));
    assert_eq!(part.header("content-range"), Some("bytes 0-6/1900"));

    // An unknown name gets the app's page (options.default_file).
    assert_eq!(get("/app/some/route", &[]).await.text(), "<h1>app</h1>");
    assert_eq!(
        https(node.port, &ca.der, "POST", "/app/index.html", &[])
            .await
            .status,
        405
    );
}

#[async_std::test]
async fn names_inside_the_archive_that_leave_it_are_never_served() {
    let paths =
        json!({"app": {"type": "archive", "archive": "app.zip", "default_object": "index.html"}});
    let (_dir, ca, node) = archive_node(paths);
    for path in [
        "/app/../secret.txt",
        "/app/%2e%2e/secret.txt",
        "/app/%2E%2E%2Fsecret.txt",
        "/app//etc/absolute.txt",
        "/app/%2Fetc%2Fabsolute.txt",
        "/app/js/%2e%2e/%2e%2e/up.txt",
        "/app/up.txt",
        "/app/secret.txt",
    ] {
        let res = https(node.port, &ca.der, "GET", path, &[]).await;
        assert_ne!(res.status, 200, "{path}: {}", res.text());
        assert!(
            !res.text().contains("outside")
                && !res.text().contains("absolute")
                && res.text() != "up",
            "{path}"
        );
    }
    assert!(
        node.wait_for_log(
            "entries of app.zip are never served",
            Duration::from_secs(2)
        )
        .await,
        "{}",
        node.log_text()
    );
}

#[async_std::test]
async fn object_prefix_and_nested_paths_mount_parts_of_the_archive() {
    let paths = json!({
        "dist": {"type": "archive", "archive": "app.zip", "object_prefix": "dist", "default_object": "index.html"},
        "nested": {"type": "path", "paths": {
            "/": {"type": "archive", "archive": "app.zip", "default_object": "index.html"},
            "deeper": {"type": "path", "paths": {"config": {"type": "json", "value": {"realm": "realm1"}}}}
        }}
    });
    let (_dir, ca, node) = archive_node(paths);
    assert_eq!(
        https(node.port, &ca.der, "GET", "/dist/", &[]).await.text(),
        "<h1>dist</h1>"
    );
    assert_eq!(
        https(node.port, &ca.der, "GET", "/nested", &[])
            .await
            .text(),
        "<h1>app</h1>"
    );
    assert_eq!(
        https(node.port, &ca.der, "GET", "/nested/js/app.min.js", &[])
            .await
            .status,
        200
    );
    let config = https(node.port, &ca.der, "GET", "/nested/deeper/config", &[]).await;
    assert_eq!(config.text(), r#"{"realm":"realm1"}"#);
}

#[test]
fn a_missing_archive_or_a_wrong_fingerprint_stops_the_node_with_the_reason() {
    for (paths, needle) in [
        (json!({"app": {"type": "archive", "archive": "gone.zip", "origin": "https://example.com/app.zip"}}),
            "the archive does not exist: download it first (curl -L -o gone.zip https://example.com/app.zip)"),
        (json!({"app": {"type": "archive", "archive": "app.zip", "hashes": ["00".repeat(32)]}}), "none of `hashes`"),
    ] {
        let dir = NodeDir::new();
        let ca = Ca::new("Test CA");
        dir.server_pair(&ca);
        dir.write("app.zip", app_zip());
        dir.config(&web_config(free_port(), json!({}), paths, open_roles()));
        let (code, out, _) = dir.run(&[]);
        assert_eq!(code, Some(1), "{out}");
        let line = out.lines().find(|l| l.starts_with("Error: ")).unwrap_or_default();
        assert!(line.contains("paths.app.archive") && line.contains(needle), "{line}");
    }
}
