//! Soak test: hundreds of wss sessions publishing, calling, connecting and dropping (some
//! mid-message, some without a close frame) against a running node, while the node's resident
//! memory and open descriptors are sampled. Fails if either keeps growing after the warm-up,
//! or if any well-behaved client saw an error. Bounded by `--seconds` (soak.sh: SOAK_SECONDS).
//!
//!     cargo run --release --example soak -- --url wss://localhost:PORT/ws --ca CA.pem --pid PID --seconds 300

use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/wamp_client.rs"]
mod wamp_client;
use wamp_client::{next, send, tls_trusting, Ws};

async fn join(url: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Ws, String> {
    wamp_client::join_ws(url, "realm1", tls).await
}

struct Opts {
    url: String,
    ca: String,
    pid: u32,
    seconds: u64,
    steady: usize,
    churners: usize,
}

/// Counters every task reports into.
#[derive(Default)]
struct Stats {
    publishes: AtomicU64,
    calls: AtomicU64,
    events: AtomicU64,
    churned: AtomicU64,
    errors: AtomicU64,
}

/// Reads until a message of `kind` for `request` arrives; other messages are counted events.
async fn answer(ws: &mut Ws, kind: u64, request: u64, stats: &Stats) -> Result<Value, String> {
    loop {
        let v = next(ws).await.ok_or("connection ended")?;
        if v[0] == 36 {
            stats.events.fetch_add(1, Ordering::Relaxed);
        } else if v[0] == kind && v[1] == request {
            return Ok(v);
        } else if v[0] == 8 {
            return Err(format!("error {v}"));
        }
    }
}

/// A well-behaved client: publishes and calls in a loop, checking every answer.
async fn steady(o: Arc<Opts>, tls: Arc<rustls::ClientConfig>, stats: Arc<Stats>, until: Instant) {
    let Ok(mut ws) = join(&o.url, &tls).await else {
        stats.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = send(&mut ws, json!([32, 1, {}, "soak.topic"])).await;
    let mut request = 1;
    while Instant::now() < until {
        request += 1;
        let result = async {
            send(
                &mut ws,
                json!([16, request, {"acknowledge": true}, "soak.topic", ["x".repeat(100)]]),
            )
            .await?;
            answer(&mut ws, 17, request, &stats).await?;
            stats.publishes.fetch_add(1, Ordering::Relaxed);
            request += 1;
            send(&mut ws, json!([48, request, {}, "soak.echo", [request]])).await?;
            let result = answer(&mut ws, 50, request, &stats).await?;
            if result[3] != json!([request]) {
                return Err(format!("wrong result {result}"));
            }
            stats.calls.fetch_add(1, Ordering::Relaxed);
            Ok::<(), String>(())
        }
        .await;
        if let Err(e) = result {
            eprintln!("well-behaved client error: {e}");
            stats.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        async_std::task::sleep(Duration::from_millis(20)).await;
    }
    let _ = send(&mut ws, json!([6, {}, "wamp.close.close_realm"])).await;
    let _ = ws.close(None).await;
}

/// The callee for `soak.echo`.
async fn callee(o: Arc<Opts>, tls: Arc<rustls::ClientConfig>, stats: Arc<Stats>, until: Instant) {
    let Ok(mut ws) = join(&o.url, &tls).await else {
        stats.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = send(
        &mut ws,
        json!([64, 1, {"invoke": "roundrobin"}, "soak.echo"]),
    )
    .await;
    while Instant::now() < until + Duration::from_secs(2) {
        let Ok(Some(Ok(Message::Text(text)))) =
            async_std::future::timeout(Duration::from_millis(500), ws.next()).await
        else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        if v[0] == 68 {
            let _ = send(&mut ws, json!([70, v[1], {}, v[4]])).await;
        }
    }
}

/// A misbehaving client: joins, subscribes, publishes, then leaves badly, over and over.
async fn churner(
    o: Arc<Opts>,
    tls: Arc<rustls::ClientConfig>,
    stats: Arc<Stats>,
    until: Instant,
    seed: u64,
) {
    let mut round = seed;
    while Instant::now() < until {
        round += 1;
        let Ok(mut ws) = join(&o.url, &tls).await else {
            continue;
        };
        let _ = send(&mut ws, json!([32, 1, {"match": "prefix"}, "soak."])).await;
        let _ = send(&mut ws, json!([64, 2, {}, format!("churn.proc{round}")])).await;
        let _ = send(&mut ws, json!([16, 3, {}, "soak.churn", [round]])).await;
        match round % 4 {
            // Clean: GOODBYE and a close frame.
            0 => {
                let _ = send(&mut ws, json!([6, {}, "wamp.close.close_realm"])).await;
                let _ = ws.close(None).await;
            }
            // Mid-message: the head of a 64 KiB frame, then gone.
            1 => {
                use async_std::io::WriteExt;
                let _ = ws
                    .get_mut()
                    .write_all(&[0x81, 0xFE, 0xFF, 0xFF, 1, 2, 3, 4, b'[', b'1'])
                    .await;
                let _ = ws.get_mut().flush().await;
            }
            // Protocol garbage.
            2 => {
                let _ = ws.send(Message::Text("[99, \"bogus\"".into())).await;
            }
            // No close frame: the socket just drops.
            _ => {}
        }
        drop(ws);
        stats.churned.fetch_add(1, Ordering::Relaxed);
        async_std::task::sleep(Duration::from_millis(50)).await;
    }
}

/// (RSS MB, open descriptors) of the node.
fn sample(pid: u32) -> Option<(f64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((kb / 1024.0, fds))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let o = Arc::new(Opts {
        url: arg("--url").unwrap_or_else(|| "wss://localhost:8443/ws".into()),
        ca: arg("--ca").unwrap_or_else(|| "node/server_cert.pem".into()),
        pid: arg("--pid")
            .and_then(|p| p.parse().ok())
            .expect("--pid PID of the node"),
        seconds: arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(300),
        steady: arg("--steady").and_then(|s| s.parse().ok()).unwrap_or(200),
        churners: arg("--churners").and_then(|s| s.parse().ok()).unwrap_or(40),
    });
    let tls = tls_trusting(&o.ca);
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(o.seconds);
    let samples = async_std::task::block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            tasks.push(async_std::task::spawn(callee(
                o.clone(),
                tls.clone(),
                stats.clone(),
                until,
            )));
        }
        async_std::task::sleep(Duration::from_millis(500)).await;
        for _ in 0..o.steady {
            tasks.push(async_std::task::spawn(steady(
                o.clone(),
                tls.clone(),
                stats.clone(),
                until,
            )));
        }
        for i in 0..o.churners {
            tasks.push(async_std::task::spawn(churner(
                o.clone(),
                tls.clone(),
                stats.clone(),
                until,
                i as u64,
            )));
        }
        // Sample the node every 2 s while the load runs.
        let mut samples = Vec::new();
        while Instant::now() < until {
            async_std::task::sleep(Duration::from_secs(2)).await;
            if let Some(s) = sample(o.pid) {
                samples.push((started.elapsed().as_secs(), s.0, s.1));
            }
        }
        for t in tasks {
            t.await;
        }
        samples
    });
    // After a warm-up of a quarter of the run, compare the peaks of the second and last quarters.
    let n = samples.len();
    let quarter = |k: usize| &samples[(n * k / 4).min(n)..(n * (k + 1) / 4).min(n)];
    let peak = |part: &[(u64, f64, usize)]| {
        part.iter()
            .fold((0.0f64, 0usize), |(m, f), s| (m.max(s.1), f.max(s.2)))
    };
    let (early, late) = (peak(quarter(1)), peak(quarter(3)));
    let rss_growing = late.0 > early.0 * 1.2 + 10.0;
    let fds_growing = late.1 > early.1 + 50;
    let errors = stats.errors.load(Ordering::Relaxed);
    let summary = json!({
        "seconds": o.seconds, "steady_sessions": o.steady, "churners": o.churners,
        "publishes": stats.publishes.load(Ordering::Relaxed), "calls": stats.calls.load(Ordering::Relaxed),
        "events": stats.events.load(Ordering::Relaxed), "churned_connections": stats.churned.load(Ordering::Relaxed),
        "errors": errors, "rss_mb_after_warmup": early.0, "rss_mb_end": late.0,
        "fds_after_warmup": early.1, "fds_end": late.1, "samples": samples.len(),
    });
    println!("{summary}");
    println!(
        "soak {} s: {} publishes, {} calls, {} events, {} churned connections, {} errors; node RSS {:.1} → {:.1} MB, fds {} → {}",
        o.seconds, summary["publishes"], summary["calls"], summary["events"], summary["churned_connections"], errors, early.0, late.0, early.1, late.1
    );
    if errors > 0 || rss_growing || fds_growing || n < 4 {
        eprintln!("soak FAILED: errors {errors}, memory growing {rss_growing}, descriptors growing {fds_growing}, samples {n}");
        std::process::exit(1);
    }
}
