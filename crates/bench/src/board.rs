//! `board`: WebSocket fan-out of whiteboard strokes and chat through the real aula-server.
//!
//! N rooms of M clients each (tokio-tungstenite, loopback). In each drawing room the
//! teacher draws at `points_per_sec`, sending a batch of points every `batch_ms`; every
//! other client times each `stroke_points` event from the moment its batch was sent (one
//! process, one clock). Chat goes on in every room at `chat_per_sec`. Reports delivery
//! latency percentiles, bytes per second per receiving client, the server's memory per
//! connection and its CPU per delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

use crate::aula::AulaServer;
use crate::procstat;

#[derive(clap::Args, Clone)]
pub struct BoardArgs {
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Connections per room, the teacher included.
    #[arg(long, default_value_t = 200)]
    clients_per_room: usize,
    /// Rooms in which the teacher draws (the first ones); the rest only chat.
    #[arg(long)]
    drawing_rooms: Option<usize>,
    #[arg(long, default_value_t = 60)]
    points_per_sec: u32,
    #[arg(long, default_value_t = 50)]
    batch_ms: u64,
    /// Chat messages per second in each room (from different students in turn).
    #[arg(long, default_value_t = 0.0)]
    chat_per_sec: f64,
    /// Length of the measured window.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 200)]
    connect_parallel: usize,
    #[arg(long, default_value = "target/release/aula-server")]
    server_bin: String,
}

/// Send times of one room's point batches, in µs since the run's start; 0 = not sent.
struct RoomClock {
    sent_us: Vec<AtomicU64>,
    sent: AtomicUsize,
}

struct Member {
    token: String,
    room: usize,
    teacher: bool,
}

#[derive(Default)]
struct Received {
    latencies_us: Vec<u32>,
    bytes: u64,
    stroke_events: u64,
    lost_order: u64,
}

pub async fn run(args: BoardArgs) -> anyhow::Result<()> {
    raise_fd_limit();
    let drawing = args.drawing_rooms.unwrap_or(args.rooms).min(args.rooms);
    let total = args.rooms * args.clients_per_room;
    println!(
        "board: {} rooms × {} clients = {total} connections, {drawing} drawing at {} points/s in {} ms batches, chat {}/s per room, {} s window, cores: {}",
        args.rooms,
        args.clients_per_room,
        args.points_per_sec,
        args.batch_ms,
        args.chat_per_sec,
        args.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let server = AulaServer::start(&args.server_bin).await?;
    let http = reqwest::Client::new();
    let start = Instant::now();

    // Classes, invites and join tokens: the REST path every browser takes.
    let mut members = Vec::with_capacity(total);
    let mut late_joiner = None;
    for room in 0..args.rooms {
        let class: Value = http
            .post(format!("http://{}/api/classes", server.http))
            .bearer_auth(&server.operator_key)
            .json(&json!({"title": format!("bench room {room}")}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let class_id = class["class_id"].as_str().context("class id")?.to_owned();
        let teacher = class["teacher_token"]
            .as_str()
            .context("teacher token")?
            .to_owned();
        let invite: Value = http
            .post(format!(
                "http://{}/api/classes/{class_id}/invites",
                server.http
            ))
            .bearer_auth(&teacher)
            .json(&json!({}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let invite = invite["invite"].as_str().context("invite")?.to_owned();
        if room == 0 {
            let joined: Value = http
                .post(format!("http://{}/api/join", server.http))
                .json(&json!({"invite": invite, "name": "late joiner"}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            late_joiner = joined["token"].as_str().map(str::to_owned);
        }
        members.push(Member {
            token: teacher,
            room,
            teacher: true,
        });
        for s in 1..args.clients_per_room {
            let joined: Value = http
                .post(format!("http://{}/api/join", server.http))
                .json(&json!({"invite": invite, "name": format!("s{room}-{s}")}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            members.push(Member {
                token: joined["token"].as_str().context("token")?.to_owned(),
                room,
                teacher: false,
            });
        }
    }
    let rss_before = procstat::rss_kib(server.pid)?;
    println!(
        "  {} join tokens in {:.1} s; server RSS before connecting {:.1} MiB",
        members.len(),
        start.elapsed().as_secs_f64(),
        rss_before as f64 / 1024.0
    );

    let per_room_batches = (args.seconds * 1000 / args.batch_ms.max(1)) as usize + 16;
    let clocks: Arc<Vec<RoomClock>> = Arc::new(
        (0..args.rooms)
            .map(|_| RoomClock {
                sent_us: (0..per_room_batches).map(|_| AtomicU64::new(0)).collect(),
                sent: AtomicUsize::new(0),
            })
            .collect(),
    );
    let connected = Arc::new(AtomicUsize::new(0));
    // Latencies count from 2 s into the window: the first batches go out while 10,000
    // clients wake at once, which measures the load generator, not the server.
    let measure_from = Arc::new(AtomicU64::new(u64::MAX));
    let go = Arc::new(Barrier::new(total + 1));
    let window = Duration::from_secs(args.seconds);
    let addr = server.http.clone();
    let mut tasks = Vec::with_capacity(total);
    let gate = Arc::new(tokio::sync::Semaphore::new(args.connect_parallel.max(1)));
    let students = args.clients_per_room.saturating_sub(1) as f64;
    for (i, m) in members.into_iter().enumerate() {
        // Each student sends one message per (students / rate) seconds.
        let chats_every = (!m.teacher && args.chat_per_sec > 0.0 && students > 0.0)
            .then(|| Duration::from_secs_f64(students / args.chat_per_sec));
        let ctx = ClientCtx {
            addr: addr.clone(),
            clocks: clocks.clone(),
            connected: connected.clone(),
            measure_from: measure_from.clone(),
            ping_offset: Duration::from_millis((i as u64 * 7) % 10_000),
            go: go.clone(),
            gate: gate.clone(),
            start,
            window,
            draws: m.teacher && m.room < drawing,
            chats_every,
            // Students take turns: spread over the period, so the room sees a steady
            // `chat_per_sec`, not every student at once.
            chat_offset: chats_every.map_or(Duration::ZERO, |every| {
                every.mul_f64((i % args.clients_per_room) as f64 / args.clients_per_room as f64)
            }),
            points_per_sec: args.points_per_sec,
            batch_ms: args.batch_ms,
        };
        tasks.push(tokio::spawn(client(ctx, m)));
    }
    let connect_deadline = Instant::now() + Duration::from_secs(300);
    while connected.load(Relaxed) < total && Instant::now() < connect_deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = connected.load(Relaxed);
    if ready < total {
        println!("  only {ready}/{total} connected within 300 s; measuring those");
    }
    // Let the server settle, then read its memory with everyone connected and idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = procstat::rss_kib(server.pid)?;
    let cpu0 = procstat::cpu_micros(server.pid)?;
    let own_cpu0 = procstat::cpu_micros(std::process::id())?;
    let t0 = Instant::now();
    measure_from.store(
        (start.elapsed() + Duration::from_secs(2)).as_micros() as u64,
        Relaxed,
    );
    go.wait().await;
    let mut all = Received::default();
    let mut receivers = 0u64;
    for t in tasks {
        match tokio::time::timeout(window + Duration::from_secs(30), t).await {
            Ok(Ok(Ok(r))) => {
                if r.stroke_events > 0 {
                    receivers += 1;
                    all.bytes += r.bytes;
                }
                all.stroke_events += r.stroke_events;
                all.lost_order += r.lost_order;
                all.latencies_us.extend(r.latencies_us);
            }
            Ok(Ok(Err(e))) => println!("  a client failed: {e:#}"),
            _ => println!("  a client did not finish"),
        }
    }
    let elapsed = t0
        .elapsed()
        .as_secs_f64()
        .min(args.seconds as f64)
        .max(0.001);
    let cpu_us = procstat::cpu_micros(server.pid)?.saturating_sub(cpu0);
    let own_cpu_us = procstat::cpu_micros(std::process::id())?.saturating_sub(own_cpu0);
    let deliveries = all.stroke_events;
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((all.latencies_us.len() - 1) as f64 * p).round() as usize;
        all.latencies_us[i] as f64 / 1000.0
    };
    let sent_batches: usize = clocks.iter().map(|c| c.sent.load(Relaxed)).sum();
    let per_conn_kib = (rss_connected.saturating_sub(rss_before)) as f64 / ready.max(1) as f64;
    println!(
        "  connected {ready}/{total}; server RSS {:.1} MiB connected → {:.1} KiB per connection ({:.0} connections/GB)",
        rss_connected as f64 / 1024.0,
        per_conn_kib,
        1024.0 * 1024.0 / per_conn_kib.max(0.001)
    );
    println!(
        "  stroke batches sent {sent_batches}; stroke deliveries {deliveries} ({:.0}/s); out of order {}",
        deliveries as f64 / elapsed,
        all.lost_order
    );
    println!(
        "  stroke delivery latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        all.latencies_us.len()
    );
    println!(
        "  bytes per receiving client in a drawing room: {:.0} B/s (every frame it gets, chat included; {receivers} receivers)",
        all.bytes as f64 / elapsed / receivers.max(1) as f64
    );
    println!(
        "  server CPU {:.0}% of a core; {:.1} µs CPU per stroke delivery; the load generator itself used {:.0}% of a core",
        cpu_us as f64 / elapsed / 10_000.0,
        cpu_us as f64 / (deliveries as f64).max(1.0),
        own_cpu_us as f64 / elapsed / 10_000.0,
    );
    if let Some(token) = late_joiner {
        // What a late joiner downloads: room 0's snapshot after the whole run.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
        ws.send(Message::text(
            json!({"type": "hello", "v": 1, "token": token}).to_string(),
        ))
        .await?;
        while let Some(msg) = ws.next().await {
            if let Message::Text(t) = msg? {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "welcome" {
                    let items: usize = v["snapshot"]["board"]["pages"]
                        .as_array()
                        .map(|p| {
                            p.iter()
                                .map(|p| p["items"].as_array().map_or(0, Vec::len))
                                .sum()
                        })
                        .unwrap_or(0);
                    println!(
                        "  late joiner's welcome (room 0): {:.1} KiB with {items} board items",
                        t.len() as f64 / 1024.0
                    );
                    break;
                }
            }
        }
    }
    server.stop().await;
    Ok(())
}

struct ClientCtx {
    addr: String,
    clocks: Arc<Vec<RoomClock>>,
    connected: Arc<AtomicUsize>,
    measure_from: Arc<AtomicU64>,
    ping_offset: Duration,
    go: Arc<Barrier>,
    gate: Arc<tokio::sync::Semaphore>,
    start: Instant,
    window: Duration,
    draws: bool,
    chats_every: Option<Duration>,
    chat_offset: Duration,
    points_per_sec: u32,
    batch_ms: u64,
}

async fn client(ctx: ClientCtx, m: Member) -> anyhow::Result<Received> {
    let permit = ctx.gate.clone().acquire_owned().await?;
    let connect = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", ctx.addr)).await?;
        ws.send(Message::text(
            json!({"type": "hello", "v": 1, "token": m.token}).to_string(),
        ))
        .await?;
        let mut me = String::new();
        while let Some(msg) = ws.next().await {
            if let Message::Text(t) = msg? {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "welcome" {
                    me = v["you"]["id"].as_str().unwrap_or_default().to_owned();
                    break;
                }
            }
        }
        anyhow::Ok((ws, me))
    };
    let joined = tokio::time::timeout(Duration::from_secs(60), connect).await;
    drop(permit);
    let (ws, me) = match joined {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            ctx.go.wait().await;
            return Err(e);
        }
        Err(_) => {
            ctx.go.wait().await;
            anyhow::bail!("no welcome in 60 s");
        }
    };
    ctx.connected.fetch_add(1, Relaxed);
    ctx.go.wait().await;
    let (mut tx, mut rx) = ws.split();
    let mut out = Received::default();
    let clock = &ctx.clocks[m.room];
    let end = Instant::now() + ctx.window;
    let mut batch = tokio::time::interval(Duration::from_millis(ctx.batch_ms.max(1)));
    let mut chat = tokio::time::interval_at(
        tokio::time::Instant::now() + ctx.chat_offset,
        ctx.chats_every.unwrap_or(Duration::from_secs(3600)),
    );
    // Pings spread over their 10 s period, as real clients' are.
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + ctx.ping_offset,
        Duration::from_secs(10),
    );
    let measure_from = ctx.measure_from.load(Relaxed);
    let per_batch = ((ctx.points_per_sec as u64 * ctx.batch_ms) / 1000).max(1) as usize;
    let mut stroke = 0u32;
    let mut in_stroke = 0usize;
    let mut cmd = 0u64;
    let mut seen = 0usize;
    let mut next_cmd = |c: Value| {
        cmd += 1;
        Message::text(json!({"type": "command", "id": format!("b{cmd}"), "command": c}).to_string())
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end.into()) => break,
            _ = batch.tick(), if ctx.draws => {
                // A stroke of 2 s, then the next one.
                let item = format!("{me}/s{stroke}");
                if in_stroke == 0 {
                    tx.send(next_cmd(json!({"kind": "start_stroke", "item": item, "page": "p1", "tool": "pen",
                        "color": 0x1e88e5, "width": 4, "points": [100, 100, 128]}))).await?;
                }
                let pts: Vec<i32> = (0..per_batch).flat_map(|k| [3, if k % 2 == 0 { 2 } else { -2 }, 0]).collect();
                let k = clock.sent.fetch_add(1, Relaxed);
                if let Some(slot) = clock.sent_us.get(k) {
                    slot.store(ctx.start.elapsed().as_micros() as u64, Relaxed);
                }
                tx.send(next_cmd(json!({"kind": "append_stroke", "item": item, "points": pts}))).await?;
                in_stroke += 1;
                if in_stroke as u64 * ctx.batch_ms >= 2000 {
                    tx.send(next_cmd(json!({"kind": "end_stroke", "item": item}))).await?;
                    in_stroke = 0;
                    stroke += 1;
                }
            }
            _ = chat.tick(), if ctx.chats_every.is_some() => {
                tx.send(next_cmd(json!({"kind": "send_chat", "text": "Could you repeat the last step, please?", "private_with": null}))).await?;
            }
            _ = ping.tick() => {
                tx.send(Message::text(json!({"type": "ping", "t": 0.0}).to_string())).await?;
            }
            msg = rx.next() => {
                let Some(msg) = msg else { anyhow::bail!("the server closed the connection") };
                let Message::Text(t) = msg? else { continue };
                out.bytes += t.len() as u64;
                if !ctx.draws && t.contains("\"kind\":\"stroke_points\"") {
                    let now = ctx.start.elapsed().as_micros() as u64;
                    let sent = clock.sent_us.get(seen).map(|s| s.load(Relaxed)).unwrap_or(0);
                    if sent > 0 && now >= sent {
                        if sent >= measure_from {
                            out.latencies_us.push((now - sent).min(u32::MAX as u64) as u32);
                        }
                    } else {
                        out.lost_order += 1;
                    }
                    seen += 1;
                    out.stroke_events += 1;
                } else if t.contains("\"type\":\"error\"") && !t.contains("rate_limited") {
                    anyhow::bail!("server error: {t}");
                }
            }
        }
    }
    let _ = tx
        .send(Message::text(json!({"type": "leave"}).to_string()))
        .await;
    Ok(out)
}

/// 10,000 connections need 20,000 descriptors on this box (both ends are here).
fn raise_fd_limit() {
    #[repr(C)]
    struct Rlimit {
        cur: u64,
        max: u64,
    }
    unsafe extern "C" {
        fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    }
    const RLIMIT_NOFILE: i32 = 7;
    let mut r = Rlimit { cur: 0, max: 0 };
    // SAFETY: plain libc calls on a local struct of the kernel's layout (x86_64/aarch64).
    unsafe {
        if getrlimit(RLIMIT_NOFILE, &mut r) == 0 && r.cur < r.max {
            r.cur = r.max;
            setrlimit(RLIMIT_NOFILE, &r);
        }
    }
}
