//! Bad config and TLS files: the node exits non-zero within a second with one line that
//! names the file, the key and the problem. Warnings do not stop it.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A node directory with a valid config on a free port and a valid pair.
fn valid() -> (NodeDir, Ca, u16) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    dir.config(&web_config(port, json!({}), json!({}), open_roles()));
    (dir, ca, port)
}

/// Runs the node and expects a quick failure whose one line contains every `needle`.
fn fails_with(dir: &NodeDir, needles: &[&str]) {
    let (code, out, took) = dir.run(&[]);
    assert_eq!(code, Some(1), "exit status; output: {out}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let line = out
        .lines()
        .find(|l| l.starts_with("Error: "))
        .unwrap_or_else(|| panic!("no Error line in {out}"));
    for needle in needles {
        assert!(line.contains(needle), "`{needle}` not in: {line}");
    }
}

#[test]
fn malformed_json_names_the_file_line_and_column() {
    let (dir, _, _) = valid();
    dir.write(
        "config.json",
        "{\n  \"version\": 2,\n  \"workers\": [,]\n}\n",
    );
    fails_with(&dir, &["config.json", "line 3, column"]);
}

#[test]
fn a_missing_certificate_file_is_named_with_its_resolved_path() {
    let (dir, _, _) = valid();
    std::fs::remove_file(dir.path().join("cert.pem")).unwrap();
    fails_with(
        &dir,
        &[
            "workers[0].transports[0].endpoint.tls.certificate",
            "`cert.pem` (resolved to",
            "is missing while its key exists",
        ],
    );
}

#[test]
fn a_file_that_is_not_pem_is_refused() {
    let (dir, _, _) = valid();
    dir.write("cert.pem", "this is not a certificate\n");
    fails_with(&dir, &["tls.certificate", "holds no PEM certificate"]);
    let (dir, _, _) = valid();
    dir.write("key.pem", [0x30u8, 0x82, 0x01, 0x00]);
    fails_with(&dir, &["tls.key", "holds no PEM private key"]);
}

#[test]
fn an_encrypted_key_says_how_to_decrypt_it() {
    let (dir, _, _) = valid();
    let status = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-in",
            "key.pem",
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "enc.pem",
        ])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::rename(dir.path().join("enc.pem"), dir.path().join("key.pem")).unwrap();
    fails_with(&dir, &["tls.key", "encrypted", "openssl pkey -in key.pem"]);
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let (dir, ca, _) = valid();
    dir.write("key.pem", ca.server(&rcgen::PKCS_ECDSA_P256_SHA256).key_pem);
    fails_with(&dir, &["tls.key", "does not belong to the certificate"]);
}

#[test]
fn an_expired_certificate_is_a_warning_not_an_exit() {
    let (dir, ca, _) = valid();
    let expired = ca.expired_server();
    dir.write("key.pem", expired.key_pem);
    dir.write("cert.pem", expired.cert_pem);
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("expired on"), "{out}");
}

#[test]
fn unknown_transport_and_path_types_are_refused() {
    let (dir, _, port) = valid();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    config["workers"][0]["transports"][0]["type"] = json!("mqtt");
    dir.config(&config);
    fails_with(
        &dir,
        &["workers[0].transports[0].type", "mqtt", "not supported"],
    );
    let config = web_config(
        port,
        json!({}),
        json!({"app": {"type": "wsgi"}}),
        open_roles(),
    );
    dir.config(&config);
    fails_with(&dir, &["paths.app.type", "wsgi"]);
}

#[test]
fn a_port_in_use_is_named() {
    let (dir, _, port) = valid();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    fails_with(&dir, &["endpoint.port", "already in use"]);
}

#[test]
fn a_ca_certificates_file_without_certificates_is_refused() {
    let (dir, _, port) = valid();
    dir.write("cas.pem", "nothing here\n");
    dir.config(&web_config(
        port,
        json!({"ca_certificates": ["cas.pem"]}),
        json!({}),
        open_roles(),
    ));
    fails_with(
        &dir,
        &[
            "tls.ca_certificates[0]",
            "cas.pem",
            "holds no PEM certificate",
        ],
    );
}

#[test]
fn a_cipher_string_that_leaves_no_suite_is_refused() {
    let (dir, _, port) = valid();
    dir.config(&web_config(
        port,
        json!({"ciphers": "RSA+3DES:!ECDHE"}),
        json!({}),
        open_roles(),
    ));
    fails_with(&dir, &["tls.ciphers", "selects none"]);
}

#[test]
fn dhparam_must_be_dh_parameters_and_is_explained() {
    let (dir, _, port) = valid();
    dir.write(
        "dh.pem",
        "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    );
    dir.config(&web_config(
        port,
        json!({"dhparam": "dh.pem"}),
        json!({}),
        open_roles(),
    ));
    fails_with(&dir, &["tls.dhparam", "DH PARAMETERS"]);
    dir.write(
        "dh.pem",
        "-----BEGIN DH PARAMETERS-----\nMAYCAQACAQI=\n-----END DH PARAMETERS-----\n",
    );
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("every suite offered uses ECDHE"), "{out}");
}

#[test]
fn check_summarizes_and_warns_about_a_missing_intermediate() {
    let (dir, ca, _) = valid();
    let intermediate = ca.intermediate("Intermediate CA");
    let server = intermediate.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    dir.write("key.pem", server.key_pem);
    dir.write("cert.pem", server.cert_pem);
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("issuer `CN=Intermediate CA` is not served")
            && out.contains("If `CN=Intermediate CA` is a root CA your clients trust"),
        "{out}"
    );
    assert!(
        out.contains("ok: workers[0].transports[0]") && out.contains("TLS 1.2, 1.3"),
        "{out}"
    );
}

#[test]
fn a_misspelt_key_is_a_warning_naming_it() {
    let (dir, _, port) = valid();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    config["workers"][0]["transports"][0]["endpoint"]["tls"]["certficate"] = json!("x.pem");
    dir.config(&config);
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "`workers[0].transports[0].endpoint.tls.certficate` is not a key wssnode knows"
        ),
        "{out}"
    );
}

/// Runs `wssnode ARGS…` to completion.
fn wssnode(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_wssnode"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_and_version() {
    let dir = NodeDir::new();
    let out = wssnode(&["--version".as_ref()]);
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    // The version and the commit it was built from (or that it was not built from git).
    let built_from = if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".git")
        .exists()
    {
        "(commit "
    } else {
        "(not built from a git checkout)"
    };
    assert!(
        version.starts_with(&format!("wssnode {} ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(version.contains(built_from), "{version}");
    let out = wssnode(&["--help".as_ref()]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("wssnode check"));
    for transport in ["WebSocket", "RawSocket", "long-poll"] {
        assert!(help.contains(transport), "--help names {transport}: {help}");
    }
    let (code, out, _) = dir.run(&["--bogus"]);
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn init_writes_a_node_directory_that_checks_clean() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("fresh");
    let out = wssnode(&["init".as_ref(), dir.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = wssnode(&["check".as_ref(), dir.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn each_wssnode_limit_that_is_not_a_whole_number_is_named() {
    for key in [
        "tls_handshake_timeout",
        "request_head_timeout",
        "keepalive_timeout",
        "send_timeout",
        "max_connections",
        "max_request_head",
    ] {
        for bad in [json!("fast"), json!(-1), json!(2.5)] {
            let (dir, _, port) = valid();
            let mut config = web_config(port, json!({}), json!({}), open_roles());
            config["workers"][0]["transports"][0]["options"] = json!({ key: bad });
            dir.config(&config);
            fails_with(
                &dir,
                &[
                    &format!("workers[0].transports[0].options.{key}"),
                    "must be a whole number",
                ],
            );
        }
    }
}

#[test]
fn check_says_a_port_in_use_instead_of_ready_to_serve() {
    let (dir, _, port) = valid();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("already in use") && !out.contains("ready to serve"),
        "{out}"
    );
}

/// The config with one key renamed, as a typo would.
fn with_typo(dir: &NodeDir, port: u16, from: &str, to: &str) {
    let config = web_config(port, json!({}), json!({}), open_roles()).to_string();
    dir.write(
        "config.json",
        config.replacen(&format!("\"{from}\""), &format!("\"{to}\""), 1),
    );
}

#[test]
fn a_typo_in_a_mandatory_key_is_named_with_the_key_meant() {
    for (meant, typo, at) in [
        ("certificate", "certficate", "endpoint.tls.certificate"),
        ("directory", "directroy", "paths.\"/\".directory"),
        ("endpoint", "enpoint", "transports[0].endpoint"),
        ("workers", "wokers", "workers"),
    ] {
        let (dir, _, port) = valid();
        with_typo(&dir, port, meant, typo);
        fails_with(
            &dir,
            &[
                at,
                "is missing",
                &format!("`{typo}` is there: did you mean `{meant}`?"),
            ],
        );
    }
}

#[test]
fn numbers_interfaces_and_realms_are_checked_where_they_are_written() {
    let (dir, _, port) = valid();
    let config = web_config(port, json!({}), json!({}), open_roles());
    let mut bad_port = config.clone();
    bad_port["workers"][0]["transports"][0]["endpoint"]["port"] = json!(-1);
    dir.config(&bad_port);
    fails_with(&dir, &["endpoint.port", "not -1"]);

    let mut bad_interface = config.clone();
    bad_interface["workers"][0]["transports"][0]["endpoint"]["interface"] = json!("localhost:80");
    dir.config(&bad_interface);
    fails_with(&dir, &["endpoint.interface", "not an IP address"]);

    let mut twice = config.clone();
    let realm = twice["workers"][0]["realms"][0].clone();
    twice["workers"][0]["realms"]
        .as_array_mut()
        .unwrap()
        .push(realm);
    dir.config(&twice);
    fails_with(&dir, &["realms[1].name", "already defined at", "realms[0]"]);
}

#[test]
fn a_byte_order_mark_is_skipped_and_a_nul_in_a_path_is_escaped() {
    let (dir, _, port) = valid();
    let config = web_config(port, json!({}), json!({}), open_roles()).to_string();
    dir.write("config.json", format!("\u{feff}{config}"));
    let (code, out, _) = dir.run(&["check", "--config-only"]);
    assert_eq!(code, Some(0), "{out}");

    let mut nul = web_config(port, json!({}), json!({}), open_roles());
    nul["workers"][0]["transports"][0]["endpoint"]["tls"]["certificate"] = json!("cert\u{0}.pem");
    dir.config(&nul);
    let (code, out, _) = dir.run(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cert\\0.pem") && !out.contains('\0'), "{out}");
}

#[test]
fn logs_are_json_lines_when_not_at_a_terminal_and_plain_when_asked() {
    // The node's standard output is a file here, as under a log collector.
    let (dir, _, port) = valid();
    let node = dir.start(port);
    std::thread::sleep(Duration::from_millis(200));
    let first = node
        .log_text()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let line: serde_json::Value = serde_json::from_str(&first).expect(&first);
    assert!(
        line["msg"].as_str().is_some() && line["level"].as_u64().is_some(),
        "{first}"
    );
    drop(node);

    let (code, out, _) = dir.run(&["--log-format", "xml"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("use plain or json"), "{out}");
}

#[test]
fn no_missing_intermediate_warning_when_the_issuer_is_a_root_in_ca_certificates() {
    let (dir, ca, port) = valid();
    dir.write("ca.pem", &ca.cert_pem);
    dir.config(&web_config(
        port,
        json!({"ca_certificates": ["ca.pem"]}),
        json!({}),
        open_roles(),
    ));
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("is not served"), "{out}");
}

#[test]
fn check_shows_tls_for_a_self_signed_pair_still_to_be_generated() {
    let (dir, _, _) = valid();
    std::fs::remove_file(dir.path().join("key.pem")).unwrap();
    std::fs::remove_file(dir.path().join("cert.pem")).unwrap();
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("https://127.0.0.1:"), "{out}");
    assert!(
        out.contains("TLS with the self-signed pair generated at start"),
        "{out}"
    );
    assert!(!out.contains("no TLS"), "{out}");
}

#[test]
fn each_websocket_limit_that_is_not_a_whole_number_is_named() {
    for key in [
        "max_queued_bytes",
        "slow_client_timeout",
        "max_subscriptions",
        "max_registrations",
        "max_calls_in_flight",
        "max_invocations_in_flight",
    ] {
        for bad in [json!("many"), json!(-1), json!(2.5)] {
            let (dir, _, port) = valid();
            let paths = json!({"ws": {"type": "websocket", "options": { key: bad }}});
            dir.config(&web_config(port, json!({}), paths, open_roles()));
            fails_with(
                &dir,
                &[
                    &format!("workers[0].transports[0].paths.ws.options.{key}"),
                    "must be a whole number",
                ],
            );
        }
    }
}

#[test]
fn each_wrong_authentication_key_is_named_with_its_problem() {
    let ws = "workers[0].transports[0].paths.ws";
    for (path_config, needles) in [
        (
            json!({"auth": {"wampcra": {"type": "static", "users": {"joe": {"role": "user"}}}}}),
            vec![".auth.wampcra.users.joe.secret", "is missing"],
        ),
        (
            json!({"auth": {"cryptosign": {"type": "static", "principals": {"d": {"role": "user", "authorized_keys": ["abc"]}}}}}),
            vec![".authorized_keys[0]", "64 hex digits"],
        ),
        (
            json!({"auth": {"scram": {"type": "static", "principals": {"a": {"role": "user", "kdf": "md5", "iterations": 1, "salt": "00", "stored-key": "00", "server-key": "00"}}}}}),
            vec![".kdf", "`argon2id-13` or `pbkdf2`"],
        ),
        (
            json!({"auth": {"ticket": {"type": "dynamic", "authenticator": "com.a", "authenticator-timeout": "5s"}}}),
            vec![".auth.ticket.authenticator-timeout", "whole number"],
        ),
        (
            json!({"auth": {"ticket": {"type": "function", "create": "a.b"}}}),
            vec![".auth.ticket.type", "use `\"type\": \"dynamic\"`"],
        ),
        (
            json!({"cookie": {"name": "Bad Name", "store": {"type": "memory"}}}),
            vec![".cookie.name", "lower-case letters"],
        ),
        (
            json!({"cookie": {"store": {"type": "database", "path": "db"}}}),
            vec![".cookie.store.type", "use `file`"],
        ),
    ] {
        let (dir, _, port) = valid();
        let mut ws_path = json!({"type": "websocket"});
        for (k, v) in path_config.as_object().unwrap() {
            ws_path[k] = v.clone();
        }
        dir.config(&web_config(
            port,
            json!({}),
            json!({"ws": ws_path}),
            open_roles(),
        ));
        let mut all = vec![ws];
        all.extend(needles.iter().copied());
        fails_with(&dir, &all);
    }
}

#[test]
fn a_role_with_both_an_authorizer_and_permissions_is_refused() {
    let (dir, _, port) = valid();
    let roles = json!([{"name": "app", "authorizer": "com.example.authorize",
        "permissions": [{"uri": "com.", "match": "prefix", "allow": {"call": true}}]}]);
    dir.config(&web_config(port, json!({}), json!({}), roles));
    fails_with(&dir, &["realms[0].roles[0].authorizer", "not both"]);
}

#[test]
fn each_wrong_transport_key_is_named_with_its_problem() {
    let rawsocket = |extra: serde_json::Value, endpoint: serde_json::Value| {
        let mut t = json!({"type": "rawsocket", "endpoint": endpoint});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    };
    let tcp = json!({"type": "tcp", "port": 1});
    for (transport, needles) in [
        (
            rawsocket(json!({"serializer": "xml"}), tcp.clone()),
            vec!["transports[1].serializer", "`json`, `msgpack` or `cbor`"],
        ),
        (
            rawsocket(
                json!({}),
                json!({"type": "unix", "path": "a.sock", "mode": "999"}),
            ),
            vec!["transports[1].endpoint.mode", "octal"],
        ),
        (
            rawsocket(json!({}), json!({"type": "unix"})),
            vec!["transports[1].endpoint.path", "is missing"],
        ),
        (
            json!({"type": "web", "endpoint": tcp.clone(), "paths": {"lp": {"type": "longpoll",
                "options": {"request_timeout": "10s"}}}}),
            vec!["paths.lp.options.request_timeout", "whole number"],
        ),
    ] {
        let (dir, _, port) = valid();
        let mut config = web_config(port, json!({}), json!({}), open_roles());
        config["workers"][0]["transports"]
            .as_array_mut()
            .unwrap()
            .push(transport);
        dir.config(&config);
        fails_with(&dir, &needles);
    }
}

#[test]
fn a_bridge_path_with_a_wrong_realm_role_network_or_topic_is_named_with_its_problem() {
    let bridge = |path: serde_json::Value| json!({"bridge": path});
    for (paths, needles) in [
        (
            bridge(json!({"type": "publisher", "realm": "nowhere", "role": "anonymous"})),
            vec!["paths.bridge.realm", "realm `nowhere` is not defined"],
        ),
        (
            bridge(json!({"type": "caller", "realm": "realm1", "role": "boss"})),
            vec!["paths.bridge.role", "has no role `boss`"],
        ),
        (
            bridge(
                json!({"type": "publisher", "realm": "realm1", "role": "anonymous",
                "options": {"require_ip": ["10.0.0.0/33"]}}),
            ),
            vec!["paths.bridge.options.require_ip[0]", "at most 32"],
        ),
        (
            bridge(
                json!({"type": "publisher", "realm": "realm1", "role": "anonymous",
                "options": {"secret": "s"}}),
            ),
            vec!["paths.bridge.options.key", "is missing"],
        ),
        (
            bridge(
                json!({"type": "webhook", "realm": "realm1", "role": "anonymous",
                "options": {"github_secret": "s"}}),
            ),
            vec!["paths.bridge.options.topic", "is missing"],
        ),
        (
            bridge(
                json!({"type": "caller", "realm": "realm1", "role": "anonymous",
                "options": {"post_body_limit": 2_000_000}}),
            ),
            vec!["paths.bridge.options.post_body_limit", "at most 1048576"],
        ),
    ] {
        let (dir, _, port) = valid();
        dir.config(&web_config(port, json!({}), paths, open_roles()));
        fails_with(&dir, &needles);
    }
}

#[test]
fn a_bridge_whose_role_has_an_authorizer_is_refused() {
    let (dir, _, port) = valid();
    let roles = json!([{"name": "app", "authorizer": "com.example.authorize"}]);
    let paths = json!({"pub": {"type": "publisher", "realm": "realm1", "role": "app"}});
    dir.config(&web_config(port, json!({}), paths, roles));
    fails_with(&dir, &["paths.pub.role", "dynamic authorizer"]);
}

#[test]
fn two_paths_mounted_at_one_url_are_refused() {
    let (dir, _, port) = valid();
    let paths = json!({"a/b": {"type": "nodeinfo"},
        "a": {"type": "path", "paths": {"b": {"type": "nodeinfo"}}}});
    dir.config(&web_config(port, json!({}), paths, open_roles()));
    fails_with(&dir, &["`/a/b` is already mounted"]);
}

#[test]
fn a_wrong_acme_section_is_named_with_its_problem() {
    for (tls, needles) in [
        (
            json!({"acme": {"contact": ["mailto:a@example.com"]}}),
            vec!["tls.acme.domains", "is missing"],
        ),
        (
            json!({"acme": {"domains": ["example.com"], "contact": ["a@example.com"]}}),
            vec!["tls.acme.contact", "mailto:"],
        ),
        (
            json!({"acme": {"domains": ["example.com"], "directory": "http://ca.example/dir"}}),
            vec!["tls.acme.directory", "https://"],
        ),
        (
            json!({"key": "key.pem", "certificate": "cert.pem", "acme": {"domains": ["example.com"]}}),
            vec!["tls.acme", "not both"],
        ),
        (
            json!({"acme": {"domains": ["example.com"], "challenge": "dns-01"}}),
            vec!["tls.acme.challenge", "tls-alpn-01"],
        ),
    ] {
        let (dir, _, port) = valid();
        let mut config = web_config(port, json!({}), json!({}), open_roles());
        config["workers"][0]["transports"][0]["endpoint"]["tls"] = tls;
        dir.config(&config);
        fails_with(&dir, &needles);
    }
}

/// A config that would start with a feature no client could use: each is refused, or
/// warned about, in one line naming its key.
#[test]
fn a_config_that_leaves_a_feature_unusable_is_named_at_start() {
    let ws_options = |options: Value| json!({"ws": {"type": "websocket", "options": options}});
    let port = free_port();
    let with_paths = |paths: Value| web_config(port, json!({}), paths, open_roles());
    let mut history = with_paths(json!({}));
    history["workers"][0]["realms"][0]["store"] =
        json!({"type": "memory", "event-history": [{"uri": "com..broken"}]});
    let mut no_connections = with_paths(json!({}));
    no_connections["workers"][0]["transports"][0]["options"] = json!({"max_connections": 0});
    let refused: Vec<(Value, &[&str])> = vec![
        (
            with_paths(json!({"ws": {"type": "websocket", "serializers": ["ubjson"]}})),
            &["paths.ws.serializers", "names no serializer wssnode speaks"],
        ),
        (
            with_paths(
                json!({"hook": {"type": "webhook", "realm": "realm1", "role": "anonymous",
                "options": {"topic": "not a uri"}}}),
            ),
            &["paths.hook.options.topic", "not a valid topic URI"],
        ),
        (
            history,
            &[
                "realms[0].store.event-history[0].uri",
                "not a valid exact topic URI",
            ],
        ),
        (
            no_connections,
            &["transports[0].options.max_connections", "at least 1"],
        ),
        (
            with_paths(json!({"ws": {"type": "websocket", "cookie": {"max_cookies": 0}}})),
            &["paths.ws.cookie.max_cookies", "at least 1"],
        ),
        (
            with_paths(
                json!({"lp": {"type": "longpoll", "options": {"max_transports_per_client": 0}}}),
            ),
            &["paths.lp.options.max_transports_per_client", "at least 1"],
        ),
        (
            with_paths(ws_options(json!({"max_pending_logins_per_client": 0}))),
            &[
                "paths.ws.options.max_pending_logins_per_client",
                "at least 1",
            ],
        ),
    ];
    for (config, needles) in refused {
        let (dir, _, _) = valid();
        dir.config(&config);
        fails_with(&dir, needles);
    }

    let warned: Vec<(Value, &[&str])> = vec![
        (
            json!({"lp": {"type": "longpoll", "options": {"request_timeout": 30, "session_timeout": 10}}}),
            &[
                "paths.lp.options.session_timeout",
                "shorter than `request_timeout`",
            ],
        ),
        (
            ws_options(json!({"max_message_size": 0})),
            &["paths.ws.options.max_message_size", "16 MiB"],
        ),
        (
            json!({"ws": {"type": "websocket", "auth": {"wampcra": {"type": "static",
                "users": {"joe": {"secret": "s", "role": "nosuchrole"}}}}}}),
            &[
                "principal `joe` has role `nosuchrole`",
                "no realm of this worker defines",
            ],
        ),
    ];
    for (paths, needles) in warned {
        let (dir, _, port) = valid();
        dir.config(&web_config(port, json!({}), paths, open_roles()));
        let (code, out, _) = dir.run(&["check"]);
        assert_eq!(code, Some(0), "{out}");
        let line = out
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no line with {needles:?} in {out}"));
        assert!(!line.is_empty());
    }

    // `tls` authentication on an endpoint without TLS.
    let dir = NodeDir::new();
    let port = free_port();
    dir.config(&json!({"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": open_roles()}],
        "transports": [{"type": "websocket",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
            "auth": {"tls": {"type": "static", "principals": {"joe": {"certificate-sha1": "00", "role": "anonymous"}}}}}]}]}));
    let (code, out, _) = dir.run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("accepts `tls` authentication, but the endpoint has no `tls`"),
        "{out}"
    );
}
