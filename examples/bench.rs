//! Load generator for a running WAMP router over wss or RawSocket (wssnode, or Crossbar for
//! comparison). `--url rs://HOST:PORT` (or `rss://` with TLS) speaks RawSocket with JSON.
//!
//! Run (release build; the node must be running):
//!
//!     cargo run --release --example bench -- pubsub --url wss://localhost:8443/ws --ca node/server_cert.pem --subscribers 10 --payload 100
//!     cargo run --release --example bench -- rpc --url … --ca … --callers 4 --inflight 8
//!     cargo run --release --example bench -- sessions --url … --ca … --sessions 1000 --pid $(pidof wssnode)
//!     cargo run --release --example bench -- handshakes --url wss://localhost:8443 --ca … --connections 32 --path /1k.bin
//!     cargo run --release --example bench -- crowd --url … --ca … --held 100000
//!
//! `crowd` measures what other sessions' subscriptions cost: subscribe and publish rates
//! with 0, a tenth of `--held` and `--held` unrelated subscriptions in the realm (exact,
//! prefix and wildcard, held by one session), and the longest a publisher waits while that
//! session leaves. The path needs `"max_subscriptions"` of at least `--held`
//! (`bench/crowd.sh` starts such a node).
//!
//! `--pid` takes a comma-separated list; their resident memory is summed.
//!
//! `--urls A,B,…` (pubsub and rpc) spreads the clients over several nodes of a cluster: the
//! publisher and the callee join the first, subscribers and callers the others in turn
//! (`bench/cluster.sh`), so every event and call crosses nodes.
//!
//! Prints one JSON line and one human line. Every run is bounded by `--seconds` (default 5).

use async_std::sync::Mutex;
use serde::de::IgnoredAny;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/wamp_client.rs"]
mod wamp_client;
use wamp_client::{
    feed_text, flush, next, next_text, next_text_by, ready_text, tls_trusting, Conn, RunDeadline,
};

/// Sends, ignoring failure: a broken connection shows up as a missing answer.
async fn send(ws: &mut Conn, v: Value) -> bool {
    wamp_client::send(ws, v).await.is_ok()
}

/// Joins the realm the options name.
async fn join(o: &Opts, tls: &Arc<rustls::ClientConfig>) -> Result<Conn, String> {
    wamp_client::join(&o.url, &o.realm, tls).await
}

/// Joins the `i`th of the clients spread over the other nodes (`--urls`); with one node,
/// that node.
async fn join_spread(o: &Opts, tls: &Arc<rustls::ClientConfig>, i: usize) -> Result<Conn, String> {
    let url = match o.urls.len() {
        0 | 1 => &o.url,
        n => &o.urls[1 + i % (n - 1)],
    };
    wamp_client::join(url, &o.realm, tls).await
}

/// Command-line settings.
#[derive(Clone)]
struct Opts {
    mode: String,
    url: String,
    ca: String,
    realm: String,
    seconds: u64,
    subscribers: usize,
    payload: usize,
    window: usize,
    callers: usize,
    inflight: usize,
    sessions: usize,
    connections: usize,
    path: String,
    held: usize,
    /// A cluster's nodes (`--urls`); the first is also `url`.
    urls: Vec<String>,
    /// Processes whose memory is summed (Crossbar runs a controller and a router worker).
    pids: Vec<u32>,
}

fn parse() -> Opts {
    let mut o = Opts {
        mode: "pubsub".into(),
        url: "wss://localhost:8443/ws".into(),
        ca: "node/server_cert.pem".into(),
        realm: "realm1".into(),
        seconds: 5,
        subscribers: 10,
        payload: 100,
        window: 64,
        callers: 4,
        inflight: 8,
        sessions: 1000,
        connections: 32,
        path: "/".into(),
        held: 100_000,
        urls: Vec::new(),
        pids: Vec::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let number = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{} needs a number", args[i]))
        };
        match args[i].as_str() {
            "pubsub" | "rpc" | "sessions" | "handshakes" | "crowd" => {
                o.mode = args[i].clone();
                i += 1;
                continue;
            }
            "--url" => o.url = value.clone(),
            "--urls" => {
                o.urls = value.split(',').map(str::to_string).collect();
                o.url = o.urls[0].clone();
            }
            "--ca" => o.ca = value.clone(),
            "--realm" => o.realm = value.clone(),
            "--seconds" => o.seconds = number(),
            "--subscribers" => o.subscribers = number() as usize,
            "--payload" => o.payload = number() as usize,
            "--window" => o.window = number() as usize,
            "--callers" => o.callers = number() as usize,
            "--inflight" => o.inflight = number() as usize,
            "--sessions" => o.sessions = number() as usize,
            "--connections" => o.connections = number() as usize,
            "--path" => o.path = value.clone(),
            "--held" => o.held = number() as usize,
            "--pid" => {
                o.pids = value
                    .split(',')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect()
            }
            other => panic!("unknown argument {other}; see the header of examples/bench.rs"),
        }
        i += 2;
    }
    o
}

/// `[EVENT, subscription, publication, details, [sent_ns, padding]]`, the bench's events.
type Event = (u8, u64, u64, IgnoredAny, (u64, IgnoredAny));

/// `[INVOCATION, request, registration, details, [n]]` of the bench's calls.
type Invocation = (u8, u64, u64, IgnoredAny, (u64,));

/// `[RESULT, request, details, args]`.
type Reply = (u8, u64, IgnoredAny, IgnoredAny);

/// p50 and p99 of latencies given in nanoseconds, as milliseconds.
fn percentiles(mut samples: Vec<u64>) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize] as f64 / 1e6;
    (at(0.50), at(0.99))
}

/// Resident memory of processes in MB, summed, from /proc.
fn rss_mb(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    let mut total = 0.0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        total += kb / 1024.0;
    }
    Some(total)
}

async fn pubsub(o: Opts, tls: Arc<rustls::ClientConfig>) -> Value {
    let epoch = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    // Everyone joins first; the clock starts when all are in.
    let mut subscribers = Vec::new();
    for i in 0..o.subscribers {
        let mut ws = join_spread(&o, &tls, i).await.expect("subscriber joins");
        send(&mut ws, json!([32, 1, {}, "bench.topic"])).await;
        next(&mut ws).await;
        subscribers.push(ws);
    }
    let mut publisher = join(&o, &tls).await.expect("publisher joins");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    // Subscribers: each counts the events it receives before the deadline and samples their
    // latency from the payload's timestamp; then it drains for 300 ms more.
    let mut subs = Vec::new();
    for mut ws in subscribers {
        let (received, latencies) = (received.clone(), latencies.clone());
        subs.push(async_std::task::spawn(async move {
            let mut local = Vec::new();
            let mut until = RunDeadline::at(deadline + Duration::from_millis(300));
            while let Some(text) = next_text_by(&mut ws, &mut until).await {
                // Decode only what is measured, skipping the rest without allocating, so the
                // client is not what limits the figure.
                if let Ok(event) = serde_json::from_str::<Event>(&text) {
                    if event.0 == 36 && Instant::now() < deadline {
                        received.fetch_add(1, Ordering::Relaxed);
                        local.push(epoch.elapsed().as_nanos() as u64 - (event.4).0);
                    }
                }
            }
            latencies.lock().await.extend(local);
        }));
    }
    // One publisher, acknowledged publishes with a bounded window so no queue overflows;
    // each refill of the window goes out in one write.
    let padding = "x".repeat(o.payload.saturating_sub(24));
    let mut until = RunDeadline::at(deadline);
    let (mut sent, mut acked, mut request) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        while sent - acked < o.window as u64 {
            request += 1;
            let ts = epoch.elapsed().as_nanos() as u64;
            let publish = format!(
                "[16,{request},{{\"acknowledge\":true}},\"bench.topic\",[{ts},\"{padding}\"]]"
            );
            let _ = feed_text(&mut publisher, publish).await;
            sent += 1;
        }
        let _ = flush(&mut publisher).await;
        let Some(text) = next_text_by(&mut publisher, &mut until).await else {
            break;
        };
        // [PUBLISHED, request, publication], and whatever else has arrived.
        acked += u64::from(text.starts_with("[17,"));
        while let Some(text) = ready_text(&mut publisher).await {
            acked += u64::from(text.starts_with("[17,"));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    for s in subs {
        s.await;
    }
    let events = received.load(Ordering::Relaxed);
    let (p50, p99) = percentiles(std::mem::take(&mut *latencies.lock().await));
    json!({"mode": "pubsub", "subscribers": o.subscribers, "payload": o.payload, "seconds": elapsed,
           "publishes": acked, "events": events, "events_per_s": events as f64 / elapsed,
           "latency_p50_ms": p50, "latency_p99_ms": p99})
}

async fn rpc(o: Opts, tls: Arc<rustls::ClientConfig>) -> Value {
    // The callee answers every invocation with its first argument.
    let mut callee = join(&o, &tls).await.expect("callee joins");
    send(&mut callee, json!([64, 1, {}, "bench.echo"])).await;
    next(&mut callee).await;
    if o.urls.len() > 1 {
        // The other nodes learn of the registration a moment after REGISTERED.
        async_std::task::sleep(Duration::from_millis(300)).await;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let answer_until = deadline + Duration::from_secs(10);
    let callee_task = async_std::task::spawn(async move {
        let mut until = RunDeadline::at(answer_until);
        // Answers what has arrived, then sends the answers in one write.
        while let Some(text) = next_text_by(&mut callee, &mut until).await {
            let mut next = Some(text);
            while let Some(text) = next {
                // [INVOCATION, request, registration, details, [n]] → [YIELD, request, {}, [n]]
                if let Ok((68, request, _, _, (n,))) = serde_json::from_str::<Invocation>(&text) {
                    let _ = feed_text(&mut callee, format!("[70,{request},{{}},[{n}]]")).await;
                }
                next = ready_text(&mut callee).await;
            }
            let _ = flush(&mut callee).await;
        }
    });
    let mut callers = Vec::new();
    for i in 0..o.callers {
        let mut ws = join_spread(&o, &tls, i).await.expect("caller joins");
        let inflight = o.inflight;
        callers.push(async_std::task::spawn(async move {
            let mut times: HashMap<u64, Instant> = HashMap::new();
            let mut rtts = Vec::new();
            let mut request = 0u64;
            let mut until = RunDeadline::at(answer_until);
            loop {
                while times.len() < inflight && Instant::now() < deadline {
                    request += 1;
                    times.insert(request, Instant::now());
                    let call = format!("[48,{request},{{}},\"bench.echo\",[{request}]]");
                    let _ = feed_text(&mut ws, call).await;
                }
                let _ = flush(&mut ws).await;
                if times.is_empty() {
                    break;
                }
                let Some(text) = next_text_by(&mut ws, &mut until).await else {
                    break;
                };
                let mut next = Some(text);
                while let Some(text) = next {
                    // [RESULT, request, …]; an ERROR ([8, 48, request, …]) ends the call too.
                    let answered = match serde_json::from_str::<Reply>(&text) {
                        Ok((50, request, ..)) => Some(request),
                        _ => serde_json::from_str::<Value>(&text)
                            .ok()
                            .filter(|v| v[0] == 8)
                            .and_then(|v| v[2].as_u64()),
                    };
                    if let Some(at) = answered.and_then(|r| times.remove(&r)) {
                        rtts.push(at.elapsed().as_nanos() as u64);
                    }
                    next = ready_text(&mut ws).await;
                }
            }
            rtts
        }));
    }
    let mut rtts = Vec::new();
    for c in callers {
        rtts.extend(c.await);
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The callee's loop ends on its deadline; a run that ends sooner stops it now.
    callee_task.cancel().await;
    let calls = rtts.len();
    let (p50, p99) = percentiles(rtts);
    json!({"mode": "rpc", "callers": o.callers, "inflight": o.inflight, "seconds": elapsed, "calls": calls,
           "calls_per_s": calls as f64 / elapsed, "rtt_p50_ms": p50, "rtt_p99_ms": p99})
}

async fn sessions(o: Opts, tls: Arc<rustls::ClientConfig>) -> Value {
    let before = rss_mb(&o.pids);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds.max(30));
    let mut held = Vec::new();
    let mut failed = 0usize;
    // Join in batches of 100 concurrent handshakes.
    while held.len() < o.sessions && Instant::now() < deadline {
        let batch = (o.sessions - held.len()).min(100);
        let joins: Vec<_> = (0..batch)
            .map(|_| {
                let (o, tls) = (o.clone(), tls.clone());
                async_std::task::spawn(async move { join(&o, &tls).await })
            })
            .collect();
        for j in joins {
            match j.await {
                Ok(ws) => held.push(ws),
                Err(_) => failed += 1,
            }
        }
        if failed > o.sessions / 10 + 10 {
            break;
        }
    }
    let open_s = started.elapsed().as_secs_f64();
    // Hold them a moment so the server's memory settles.
    async_std::task::sleep(Duration::from_secs(2)).await;
    let after = rss_mb(&o.pids);
    let n = held.len();
    drop(held);
    json!({"mode": "sessions", "asked": o.sessions, "held": n, "failed": failed, "open_seconds": open_s,
           "server_rss_mb_before": before, "server_rss_mb_held": after})
}

/// New HTTPS connections, each a full handshake (no session resumption) and one GET of
/// `--path` with `Connection: close`, from `--connections` loops. The client offers its
/// default key exchanges (X25519MLKEM768 first, as browsers do); the server chooses.
async fn handshakes(o: Opts, tls: Arc<rustls::ClientConfig>) -> Value {
    use async_std::io::{ReadExt, WriteExt};
    let mut config = (*tls).clone();
    config.resumption = rustls::client::Resumption::disabled();
    let connector = futures_rustls::TlsConnector::from(Arc::new(config));
    let authority = o
        .url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("localhost:8443")
        .to_string();
    let host = authority
        .rsplit_once(':')
        .map_or("localhost", |(h, _)| h)
        .to_string();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        o.path
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let mut loops = Vec::new();
    for _ in 0..o.connections {
        let (connector, authority, host, request) = (
            connector.clone(),
            authority.clone(),
            host.clone(),
            request.clone(),
        );
        loops.push(async_std::task::spawn(async move {
            let (mut done, mut failed) = (0u64, 0u64);
            let mut body = Vec::new();
            while Instant::now() < deadline {
                let one = async {
                    let tcp = async_std::net::TcpStream::connect(authority.as_str()).await?;
                    tcp.set_nodelay(true)?;
                    let name = rustls::pki_types::ServerName::try_from(host.clone())
                        .map_err(std::io::Error::other)?;
                    let mut stream = connector.connect(name, tcp).await?;
                    stream.write_all(request.as_bytes()).await?;
                    body.clear();
                    stream.read_to_end(&mut body).await?;
                    Ok::<bool, std::io::Error>(body.starts_with(b"HTTP/1.1 200"))
                };
                match async_std::future::timeout(Duration::from_secs(10), one).await {
                    Ok(Ok(true)) => done += 1,
                    _ => failed += 1,
                }
            }
            (done, failed)
        }));
    }
    let (mut done, mut failed) = (0, 0);
    for l in loops {
        let (d, f) = l.await;
        (done, failed) = (done + d, failed + f);
    }
    let elapsed = started.elapsed().as_secs_f64();
    json!({"mode": "handshakes", "connections": o.connections, "path": o.path, "seconds": elapsed,
           "done": done, "failed": failed, "per_s": done as f64 / elapsed})
}

/// Subscribes to `n` unrelated topics and patterns, a thousand per write.
async fn hold_subscriptions(ws: &mut Conn, n: usize) {
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        for i in start..end {
            let subscribe = match i % 3 {
                0 => format!("[32,{},{{}},\"crowd.exact.t{i}\"]", i + 1),
                1 => format!(
                    "[32,{},{{\"match\":\"prefix\"}},\"crowd.prefix.p{i}.\"]",
                    i + 1
                ),
                _ => format!(
                    "[32,{},{{\"match\":\"wildcard\"}},\"crowd.w{i}..x\"]",
                    i + 1
                ),
            };
            let _ = feed_text(ws, subscribe).await;
        }
        let _ = flush(ws).await;
        for _ in start..end {
            next_text(ws).await.expect("SUBSCRIBED");
        }
    }
}

/// SUBSCRIBE to a new topic and UNSUBSCRIBE again, `window` at a time: pairs per second.
async fn subscribe_rate(o: &Opts, tls: &Arc<rustls::ClientConfig>) -> f64 {
    let mut ws = join(o, tls).await.expect("subscriber joins");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let mut until = RunDeadline::at(deadline);
    let (mut request, mut open, mut pairs) = (0u64, 0usize, 0u64);
    while Instant::now() < deadline {
        while open < o.window {
            request += 1;
            let _ = feed_text(&mut ws, format!("[32,{request},{{}},\"bench.s{request}\"]")).await;
            open += 1;
        }
        let _ = flush(&mut ws).await;
        let Some(mut text) = next_text_by(&mut ws, &mut until).await else {
            break;
        };
        loop {
            // [SUBSCRIBED, request, id] → UNSUBSCRIBE; [UNSUBSCRIBED, request] ends a pair.
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if v[0] == 33 {
                    request += 1;
                    let _ = feed_text(&mut ws, format!("[34,{request},{}]", v[2])).await;
                } else if v[0] == 35 {
                    pairs += 1;
                    open -= 1;
                }
            }
            match ready_text(&mut ws).await {
                Some(t) => text = t,
                None => break,
            }
        }
    }
    pairs as f64 / started.elapsed().as_secs_f64()
}

/// Sequential acknowledged publishes for `for_how_long`: how many, and the longest round trip.
async fn publish_round_trips(
    ws: &mut Conn,
    for_how_long: Duration,
    window: usize,
) -> (u64, Duration) {
    let deadline = Instant::now() + for_how_long;
    let mut until = RunDeadline::at(deadline + Duration::from_secs(10));
    let (mut request, mut acked, mut longest) = (0u64, 0u64, Duration::ZERO);
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    while Instant::now() < deadline {
        while sent_at.len() < window {
            request += 1;
            sent_at.insert(request, Instant::now());
            let publish = format!("[16,{request},{{\"acknowledge\":true}},\"bench.topic\",[0]]");
            let _ = feed_text(ws, publish).await;
        }
        let _ = flush(ws).await;
        let Some(mut text) = next_text_by(ws, &mut until).await else {
            break;
        };
        loop {
            if let Ok((17, request, _)) = serde_json::from_str::<(u8, u64, u64)>(&text) {
                if let Some(at) = sent_at.remove(&request) {
                    longest = longest.max(at.elapsed());
                    acked += 1;
                }
            }
            match ready_text(ws).await {
                Some(t) => text = t,
                None => break,
            }
        }
    }
    (acked, longest)
}

async fn crowd(o: Opts, tls: Arc<rustls::ClientConfig>) -> Value {
    let mut runs = Vec::new();
    for held in [0, o.held / 10, o.held] {
        let mut holder = join(&o, &tls).await.expect("holder joins");
        hold_subscriptions(&mut holder, held).await;
        let subscribes_per_s = subscribe_rate(&o, &tls).await;
        // One subscriber on the published topic, reading everything.
        let mut subscriber = join(&o, &tls).await.expect("subscriber joins");
        send(&mut subscriber, json!([32, 1, {}, "bench.topic"])).await;
        next(&mut subscriber).await;
        let drain = async_std::task::spawn(async move {
            let mut until = RunDeadline::at(Instant::now() + Duration::from_secs(3600));
            while next_text_by(&mut subscriber, &mut until).await.is_some() {}
        });
        let mut publisher = join(&o, &tls).await.expect("publisher joins");
        let secs = Duration::from_secs(o.seconds);
        let (published, _) = publish_round_trips(&mut publisher, secs, o.window).await;
        // The stall: one publish at a time, before and while the holder leaves.
        let (_, before) = publish_round_trips(&mut publisher, Duration::from_millis(500), 1).await;
        send(&mut holder, json!([6, {}, "wamp.close.close_realm"])).await;
        let (_, during) = publish_round_trips(&mut publisher, Duration::from_millis(1500), 1).await;
        drop(holder);
        drop(publisher);
        drain.cancel().await;
        runs.push(json!({"held": held, "subscribes_per_s": subscribes_per_s,
            "publishes_per_s": published as f64 / o.seconds as f64,
            "max_rtt_before_ms": before.as_secs_f64() * 1e3,
            "leave_stall_ms": during.as_secs_f64() * 1e3}));
    }
    json!({"mode": "crowd", "runs": runs})
}

fn human(v: &Value) -> String {
    match v["mode"].as_str() {
        Some("pubsub") => format!(
            "pubsub: {} subscribers, {} B: {:.0} events/s delivered, latency p50 {:.2} ms p99 {:.2} ms",
            v["subscribers"], v["payload"], v["events_per_s"].as_f64().unwrap_or(0.0),
            v["latency_p50_ms"].as_f64().unwrap_or(0.0), v["latency_p99_ms"].as_f64().unwrap_or(0.0)
        ),
        Some("rpc") => format!(
            "rpc: {} callers x {} in flight: {:.0} calls/s, round trip p50 {:.2} ms p99 {:.2} ms",
            v["callers"], v["inflight"], v["calls_per_s"].as_f64().unwrap_or(0.0),
            v["rtt_p50_ms"].as_f64().unwrap_or(0.0), v["rtt_p99_ms"].as_f64().unwrap_or(0.0)
        ),
        Some("crowd") => v["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "crowd: {} unrelated subscriptions: {:.0} subscribe+unsubscribe/s, {:.0} acknowledged publishes/s, longest publish round trip while their holder leaves {:.1} ms (before {:.1} ms)",
                    r["held"], r["subscribes_per_s"].as_f64().unwrap_or(0.0),
                    r["publishes_per_s"].as_f64().unwrap_or(0.0),
                    r["leave_stall_ms"].as_f64().unwrap_or(0.0),
                    r["max_rtt_before_ms"].as_f64().unwrap_or(0.0)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some("handshakes") => format!(
            "handshakes: {} connections: {:.0} full TLS handshakes + GET {}/s ({} failed)",
            v["connections"], v["per_s"].as_f64().unwrap_or(0.0), v["path"].as_str().unwrap_or(""), v["failed"]
        ),
        _ => format!(
            "sessions: held {} of {} (failed {}), server RSS {} MB before, {} MB while held",
            v["held"], v["asked"], v["failed"], v["server_rss_mb_before"], v["server_rss_mb_held"]
        ),
    }
}

fn main() {
    let o = parse();
    let tls = tls_trusting(&o.ca);
    let result = async_std::task::block_on(async {
        match o.mode.as_str() {
            "rpc" => rpc(o.clone(), tls).await,
            "sessions" => sessions(o.clone(), tls).await,
            "handshakes" => handshakes(o.clone(), tls).await,
            "crowd" => crowd(o.clone(), tls).await,
            _ => pubsub(o.clone(), tls).await,
        }
    });
    println!("{result}");
    println!("{}", human(&result));
}
