//! Static files over HTTPS: what browsers and caches expect, and nothing outside the folder.

mod common;
use common::*;
use serde_json::json;

fn site() -> (NodeDir, Ca, u16) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    dir.write("www/app.js", "console.log(1);\n");
    dir.write("www/docs/index.html", "<p>docs</p>\n");
    dir.write("www/data/file.bin", (0u8..=255).collect::<Vec<u8>>());
    dir.write("secret.txt", "top secret\n");
    std::os::unix::fs::symlink(
        dir.path().join("secret.txt"),
        dir.path().join("www/link.txt"),
    )
    .unwrap();
    let port = free_port();
    dir.config(&web_config(
        port,
        json!({}),
        json!({"config": {"type": "json", "value": {"a": [1, 2]}}, "old": {"type": "redirect", "url": "https://example.com/new"},
               "info": {"type": "nodeinfo"},
               "/": {"type": "static", "directory": "www", "options": {"cache_timeout": 0, "enable_directory_listing": true}}}),
        open_roles(),
    ));
    (dir, ca, port)
}

#[async_std::test]
async fn index_html_is_served_for_the_root_and_for_directories() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    let res = https(port, &ca.der, "GET", "/", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "<h1>hello</h1>\n");
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert!(
        res.header("server").is_none(),
        "no server version is leaked"
    );
    let res = https(port, &ca.der, "GET", "/docs/", &[]).await;
    assert_eq!(res.text(), "<p>docs</p>\n");
    let res = https(port, &ca.der, "GET", "/docs?x=1", &[]).await;
    assert_eq!(
        (res.status, res.header("location")),
        (301, Some("/docs/?x=1"))
    );
    let res = https(port, &ca.der, "GET", "/app.js", &[]).await;
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
}

#[async_std::test]
async fn etag_and_last_modified_give_304() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    let first = https(port, &ca.der, "GET", "/app.js", &[]).await;
    let etag = first.header("etag").unwrap().to_string();
    let modified = first.header("last-modified").unwrap().to_string();
    let res = https(port, &ca.der, "GET", "/app.js", &[("If-None-Match", &etag)]).await;
    assert_eq!(res.status, 304);
    assert!(res.body.is_empty());
    let res = https(
        port,
        &ca.der,
        "GET",
        "/app.js",
        &[("If-Modified-Since", &modified)],
    )
    .await;
    assert_eq!(res.status, 304);
    let res = https(
        port,
        &ca.der,
        "GET",
        "/app.js",
        &[("If-None-Match", "\"other\"")],
    )
    .await;
    assert_eq!(res.status, 200);
}

#[async_std::test]
async fn single_ranges_give_206_and_impossible_ones_416() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    let res = https(
        port,
        &ca.der,
        "GET",
        "/data/file.bin",
        &[("Range", "bytes=10-19")],
    )
    .await;
    assert_eq!(res.status, 206);
    assert_eq!(res.header("content-range"), Some("bytes 10-19/256"));
    assert_eq!(res.body, (10u8..20).collect::<Vec<u8>>());
    let res = https(
        port,
        &ca.der,
        "GET",
        "/data/file.bin",
        &[("Range", "bytes=-6")],
    )
    .await;
    assert_eq!(res.body, (250u8..=255).collect::<Vec<u8>>());
    let res = https(
        port,
        &ca.der,
        "GET",
        "/data/file.bin",
        &[("Range", "bytes=300-")],
    )
    .await;
    assert_eq!(res.status, 416);
    assert_eq!(res.header("content-range"), Some("bytes */256"));
    let res = https(
        port,
        &ca.der,
        "GET",
        "/data/file.bin",
        &[("Range", "bytes=0-1"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!((res.status, res.body.len()), (200, 256));
}

/// A file big enough to be streamed in pieces rather than read in one go.
fn big_file() -> Vec<u8> {
    (0..3 * 1024 * 1024 + 7)
        .map(|i: u32| (i % 251) as u8)
        .collect()
}

#[async_std::test]
async fn large_files_stream_whole_and_in_ranges() {
    let (dir, ca, port) = site();
    let big = big_file();
    dir.write("www/big.bin", &big);
    let _node = dir.start(port);
    let res = https(port, &ca.der, "GET", "/big.bin", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body.len(), big.len());
    assert!(res.body == big, "the same bytes, in order");
    // A range that starts and ends inside the file's 64 KiB reads.
    let (start, end) = (1_000_003, 2_500_000);
    let range = format!("bytes={start}-{end}");
    let res = https(port, &ca.der, "GET", "/big.bin", &[("Range", &range)]).await;
    assert_eq!(res.status, 206);
    assert!(res.body == big[start..=end]);
}

/// Everything a connection sends back until it closes.
async fn exchange(
    port: u16,
    ca: &rustls::pki_types::CertificateDer<'static>,
    parts: &[&str],
) -> String {
    use async_std::io::{ReadExt, WriteExt};
    let mut tls = connect_tls(port, client_tls(ca, None)).await.unwrap();
    for part in parts {
        tls.write_all(part.as_bytes()).await.unwrap();
        tls.flush().await.unwrap();
        async_std::task::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut got = Vec::new();
    let read = tls.read_to_end(&mut got);
    let _ = async_std::future::timeout(std::time::Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// The status lines in a run of responses.
fn statuses(responses: &str) -> Vec<&str> {
    responses
        .match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| responses[at..].split("\r\n").next())
        .collect()
}

#[async_std::test]
async fn pipelined_requests_are_all_answered_in_order() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    let three = "GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n\
                 GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n\
                 HEAD /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let got = exchange(port, &ca.der, &[three]).await;
    assert_eq!(
        statuses(&got),
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 200 OK"
        ],
        "{got}"
    );
    // A head's blank line split across two writes, the next request right behind it.
    let split = [
        "GET /app.js HTTP/1.1\r\nHost: x\r\n\r",
        "\nGET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ];
    let got = exchange(port, &ca.der, &split).await;
    assert_eq!(
        statuses(&got),
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"],
        "{got}"
    );
    assert!(got.ends_with("<p>docs</p>\n"), "{got}");
}

#[async_std::test]
async fn head_has_headers_and_no_body() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    let res = https(port, &ca.der, "HEAD", "/data/file.bin", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-length"), Some("256"));
    assert!(res.body.is_empty());
}

#[async_std::test]
async fn nothing_outside_the_directory_is_ever_served() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/docs/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/link.txt",
        "/nothing-here.html",
    ] {
        let res = https(port, &ca.der, "GET", path, &[]).await;
        assert_eq!(res.status, 404, "{path}");
        assert!(!res.text().contains("top secret"), "{path} leaked the file");
    }
}

#[async_std::test]
async fn symlinks_that_stay_inside_the_directory_are_followed() {
    let (dir, ca, port) = site();
    let www = dir.path().join("www");
    std::os::unix::fs::symlink("app.js", www.join("relative.js")).unwrap();
    std::os::unix::fs::symlink(www.join("docs"), www.join("manual")).unwrap();
    let _node = dir.start(port);
    let res = https(port, &ca.der, "GET", "/relative.js", &[]).await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (200, "console.log(1);\n")
    );
    let res = https(port, &ca.der, "GET", "/manual/index.html", &[]).await;
    assert_eq!((res.status, res.text().as_str()), (200, "<p>docs</p>\n"));
}

#[async_std::test]
async fn directory_listing_when_enabled() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    let res = https(port, &ca.der, "GET", "/data/", &[]).await;
    assert_eq!(res.status, 200);
    assert!(
        res.text().contains("<a href=\"file.bin\">file.bin</a>"),
        "{}",
        res.text()
    );
}

#[async_std::test]
async fn json_redirect_and_nodeinfo_paths() {
    let (dir, ca, port) = site();
    let _node = dir.start(port);
    let res = https(port, &ca.der, "GET", "/config", &[]).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&res.body).unwrap(),
        json!({"a": [1, 2]})
    );
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let res = https(port, &ca.der, "GET", "/old", &[]).await;
    assert_eq!(
        (res.status, res.header("location")),
        (302, Some("https://example.com/new"))
    );
    let res = https(port, &ca.der, "GET", "/info", &[]).await;
    assert!(
        res.text().contains("wssnode") && res.text().contains("wss://127.0.0.1"),
        "{}",
        res.text()
    );
}

#[async_std::test]
async fn hsts_is_sent_when_asked() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    config["workers"][0]["transports"][0]["options"] = json!({"hsts": true, "hsts_max_age": 600});
    dir.config(&config);
    let _node = dir.start(port);
    let res = https(port, &ca.der, "GET", "/", &[]).await;
    assert_eq!(
        res.header("strict-transport-security"),
        Some("max-age=600; includeSubDomains")
    );
}

#[async_std::test]
async fn a_plain_http_transport_redirects_to_https() {
    let dir = NodeDir::new();
    let port = free_port();
    dir.config(
        &json!({"version": 2, "workers": [{"type": "router", "transports": [{"type": "web",
        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
        "paths": {"/": {"type": "redirect", "url": "https://localhost:8443/"}}}]}]}),
    );
    let _node = dir.start(port);
    let tcp = async_std::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let res = http_raw(
        tcp,
        "GET /anything HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        (res.status, res.header("location")),
        (302, Some("https://localhost:8443/"))
    );
    assert!(res.header("strict-transport-security").is_none());
}

#[async_std::test]
async fn a_missing_directory_is_a_warning_and_404_until_it_appears() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    // Beside the node directory, named after it: no other test's.
    let name = format!("{}-web", dir.path().file_name().unwrap().to_string_lossy());
    dir.config(&web_config(
        port,
        json!({}),
        json!({"/": {"type": "static", "directory": format!("../{name}")}}),
        open_roles(),
    ));
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "a warning, not an error: {out}");
    assert!(
        out.contains(r#"`workers[0].transports[0].paths."/".directory`"#),
        "{out}"
    );
    assert!(out.contains("the path answers 404 until it can"), "{out}");
    let node = dir.start(port);
    let log = node.log_text();
    assert_eq!(
        log.lines().filter(|l| l.contains(&name)).count(),
        1,
        "warned once at start: {log}"
    );
    assert_eq!(https(port, &ca.der, "GET", "/", &[]).await.status, 404);
    // WAMP is served all the while.
    drop(Wamp::join(port, &ca.der).await);
    let site = dir.path().parent().unwrap().join(&name);
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<p>here now</p>\n").unwrap();
    let res = https(port, &ca.der, "GET", "/", &[]).await;
    assert_eq!(
        (res.status, res.text()),
        (200, "<p>here now</p>\n".to_string())
    );
    std::fs::remove_dir_all(site).unwrap();
}
