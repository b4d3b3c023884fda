//! wssnode: a Crossbar.io-style node in one binary. Serves a node directory's static site
//! over HTTPS and a WAMP v2 router over secure WebSocket, from Crossbar's `config.json`.
//!
//! This file is the command line; the modules are in the library (`lib.rs`).

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

use futures_lite::StreamExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wssnode::config::error::StartError;
use wssnode::node::logging::LogFormat;
use wssnode::runtime::lifecycle::Lifecycle;
use wssnode::tls::selfsigned;
use wssnode::{config, node};

const HELP: &str = "\
wssnode: a Crossbar.io node in one binary, from a node directory: a WAMP v2 router (publish
and subscribe, remote procedure calls) over WebSocket, RawSocket and long-poll, with TLS;
static files, the HTTP bridge, metrics and several nodes as one through Redis.

Usage:
  wssnode [OPTIONS] [DIR]            serve the node in DIR (default ./node): DIR/config.json
  wssnode check [OPTIONS] DIR        run every start-up check without serving; exit 0 if all pass
  wssnode check --config-only DIR    check DIR/config.json alone, without opening the files it names
  wssnode init DIR                   write a new node directory: config.json and a self-signed pair

Options:
  --log-level LEVEL   error, warn, info (default), debug or trace; RUST_LOG works too
  --log-format FORMAT plain (one line per record) or json (one object per line); the
                      default is plain at a terminal and json otherwise
  -h, --help          this text
  -V, --version       the version

Logs go to standard output.";

/// What the command line asks for.
enum Command {
    Serve(PathBuf),
    Check(PathBuf, bool),
    Init(PathBuf),
    Help,
    Version,
}

/// How to log: the level and the format.
struct Logging {
    level: log::LevelFilter,
    format: LogFormat,
}

fn parse_args(args: &[String]) -> Result<(Command, Logging), StartError> {
    let mut level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    let mut format = LogFormat::for_stdout();
    let mut words = Vec::new();
    let mut config_only = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok((Command::Help, Logging { level, format })),
            "-V" | "--version" => return Ok((Command::Version, Logging { level, format })),
            "--log-format" => {
                let value = iter.next().map(String::as_str).unwrap_or_default();
                format = LogFormat::parse(value).ok_or_else(|| {
                    StartError::Usage(format!("--log-format `{value}`: use plain or json"))
                })?;
            }
            "--config-only" => config_only = true,
            "--log-level" => {
                let value = iter.next().ok_or_else(|| {
                    StartError::Usage(
                        "--log-level needs a level: error, warn, info, debug or trace".into(),
                    )
                })?;
                level = value.parse().map_err(|_| {
                    StartError::Usage(format!(
                        "--log-level `{value}`: use error, warn, info, debug or trace"
                    ))
                })?;
            }
            other if other.starts_with('-') => {
                return Err(StartError::Usage(format!(
                    "unknown option `{other}`; see `wssnode --help`"
                )))
            }
            other => words.push(other.to_string()),
        }
    }
    let dir = |words: &[String]| -> Result<PathBuf, StartError> {
        match words {
            [] => Ok(PathBuf::from("./node")),
            [dir] => Ok(PathBuf::from(dir)),
            _ => Err(StartError::Usage(
                "give one node directory; see `wssnode --help`".into(),
            )),
        }
    };
    let command = match words.first().map(String::as_str) {
        Some("check") => Command::Check(dir(&words[1..])?, config_only),
        Some("init") if words.len() == 2 => Command::Init(PathBuf::from(&words[1])),
        Some("init") => {
            return Err(StartError::Usage(
                "`wssnode init DIR` needs the directory to create".into(),
            ))
        }
        _ => Command::Serve(dir(&words)?),
    };
    Ok((command, Logging { level, format }))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, logging) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(e) => fail(e),
    };
    let result = match command {
        Command::Help => {
            println!("{HELP}");
            Ok(())
        }
        Command::Version => {
            println!(
                "wssnode {} ({})",
                env!("CARGO_PKG_VERSION"),
                env!("WSSNODE_COMMIT")
            );
            Ok(())
        }
        Command::Init(dir) => init(&dir),
        Command::Check(dir, false) => check(&dir),
        Command::Check(dir, true) => check_config_only(&dir),
        Command::Serve(dir) => {
            wssnode::node::logging::start(logging.format, logging.level);
            async_std::task::block_on(serve(&dir))
        }
    };
    if let Err(e) = result {
        fail(e);
    }
}

fn fail(e: StartError) -> ! {
    match e {
        StartError::Refused(all) => {
            for e in all {
                eprintln!("Error: {e}");
            }
        }
        e => eprintln!("Error: {e}"),
    }
    std::process::exit(1);
}

/// `wssnode check DIR`: every start-up check, a summary, no serving.
fn check(dir: &Path) -> Result<(), StartError> {
    let ready = node::prepare(dir, node::Mode::Check)?;
    for warning in &ready.warnings {
        println!("warning: {warning}");
    }
    for transport in &ready.transports {
        // Bind and release: a port another process holds fails here, as it would at start.
        async_std::task::block_on(wssnode::http::listener::bind(&transport.transport))?;
        println!(
            "ok: {}",
            node::summary(transport, transport.transport.endpoint.port)
        );
    }
    println!(
        "{}: ready to serve ({} transport(s), {} warning(s))",
        ready.config.file.display(),
        ready.transports.len(),
        ready.warnings.len()
    );
    Ok(())
}

/// `wssnode check --config-only DIR`: the config alone, without opening the files it names.
fn check_config_only(dir: &Path) -> Result<(), StartError> {
    let config = config::load(dir)?;
    for warning in &config.warnings {
        println!("warning: {warning}");
    }
    let transports: usize = config.routers.iter().map(|r| r.transports.len()).sum();
    println!(
        "{}: wssnode can serve everything this config asks for ({transports} transport(s), {} warning(s))",
        config.file.display(),
        config.warnings.len()
    );
    Ok(())
}

/// `wssnode init DIR`: a new node directory with the demo's config and a self-signed pair.
fn init(dir: &Path) -> Result<(), StartError> {
    let config_path = dir.join("config.json");
    if config_path.exists() {
        return Err(StartError::Usage(format!(
            "`{}` already exists; init writes a new node directory only",
            config_path.display()
        )));
    }
    std::fs::create_dir_all(dir.join("web"))
        .map_err(|e| StartError::System(format!("cannot create `{}`: {e}", dir.display())))?;
    std::fs::write(&config_path, INIT_CONFIG).map_err(|e| {
        StartError::System(format!("cannot write `{}`: {e}", config_path.display()))
    })?;
    let index = dir.join("web/index.html");
    if !index.exists() {
        let _ = std::fs::write(
            index,
            "<!doctype html>\n<title>wssnode</title>\n<h1>It works.</h1>\n",
        );
    }
    let print = selfsigned::generate(&dir.join("server_key.pem"), &dir.join("server_cert.pem"))
        .map_err(StartError::System)?;
    println!(
        "wrote {} with a self-signed certificate (SHA-256 {print}); start it with `wssnode {}`",
        config_path.display(),
        dir.display()
    );
    Ok(())
}

/// The config `wssnode init` writes: static files at `/`, WAMP at `/ws`, on 8443. Safe to
/// expose as it is: anonymous clients may use the `app.` prefix only (not the router's own
/// `wamp.` procedures, such as `wamp.session.kill`), and no page lists the node's paths.
const INIT_CONFIG: &str = r#"{
    "version": 2,
    "workers": [
        {
            "type": "router",
            "realms": [
                {
                    "name": "realm1",
                    "roles": [
                        {
                            "name": "anonymous",
                            "permissions": [
                                {
                                    "uri": "app.",
                                    "match": "prefix",
                                    "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                                    "disclose": {"caller": false, "publisher": false},
                                    "cache": true
                                }
                            ]
                        }
                    ]
                }
            ],
            "transports": [
                {
                    "type": "web",
                    "endpoint": {
                        "type": "tcp",
                        "port": 8443,
                        "tls": {"key": "server_key.pem", "certificate": "server_cert.pem"}
                    },
                    "paths": {
                        "/": {"type": "static", "directory": "web"},
                        "ws": {"type": "websocket"}
                    }
                }
            ]
        }
    ]
}
"#;

/// Serves until SIGINT or SIGTERM; SIGHUP reloads the TLS files.
async fn serve(dir: &Path) -> Result<(), StartError> {
    let ready = node::prepare(dir, node::Mode::Serve)?;
    let lifecycle = Lifecycle::default();
    let tls_endpoints = ready.tls_endpoints();
    let signals = signal_hook_async_std::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|e| StartError::System(format!("cannot install signal handlers: {e}")))?;
    let on_signal = lifecycle.clone();
    let drain = Duration::from_secs(ready.drain_secs());
    let (node_dir, routers) = (dir.to_path_buf(), ready.routers.clone());
    let mut in_force = ready.config.clone();
    async_std::task::spawn(async move {
        let mut signals = signals;
        while let Some(signal) = signals.next().await {
            if signal == signal_hook::consts::SIGHUP {
                node::reload_tls(&tls_endpoints);
                in_force = node::reload_config(&node_dir, &in_force, &routers);
            } else if signal == signal_hook::consts::SIGTERM
                && !drain.is_zero()
                && on_signal.start_draining()
            {
                // A load balancer sees the health path fail and stops sending new clients;
                // everything else is served until the drain ends (or a second signal).
                log::info!("draining: health paths answer 503 for {drain:?}, then the node stops");
                let stopping = on_signal.clone();
                async_std::task::spawn(async move {
                    async_std::task::sleep(drain).await;
                    log::info!("stopping: closing WebSockets with 1001");
                    stopping.shutdown();
                });
            } else {
                log::info!("stopping: closing WebSockets with 1001");
                on_signal.shutdown();
            }
        }
    });
    node::serve(ready, lifecycle.clone()).await?;
    // Listeners have stopped; give open WebSockets a moment for their closing handshakes.
    let deadline = Instant::now() + Duration::from_secs(3);
    while lifecycle.open_websockets() > 0 && Instant::now() < deadline {
        async_std::task::sleep(Duration::from_millis(20)).await;
    }
    log::info!("stopped");
    Ok(())
}
