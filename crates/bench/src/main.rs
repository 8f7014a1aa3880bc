//! Aula's bench suite. Run through `scripts/bench.sh`; figures go to BENCHMARKS.md.
//!
//! `fanout`: one publisher (real H.264 + Opus-sized audio) to N subscribers through an
//! SFU on loopback. Reports the SFU process's CPU µs per forwarded packet, packets per
//! second, and the publisher→subscriber delay of audio packets. Runs aula-server and,
//! when asked, Janus's VideoRoom under the same load, and prints the ratio.
//!
//! `board`: whiteboard and chat fan-out over WebSockets, up to 10,000 connections.
//!
//! `report`: the cost of a term's reports for one class.

mod aula;
mod board;
mod client;
mod encode;
mod eraser;
mod h264;
mod janus;
mod procstat;
mod report;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tokio::sync::mpsc;

use crate::client::{Clock, Endpoint, Local, Remote, Stats};

#[derive(Parser)]
#[command(about = "Aula's benchmarks (loopback only, bounded in time)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// SFU fan-out: 1 publisher → N subscribers.
    Fanout(FanoutArgs),
    /// The teacher app's capture + convert + encode CPU per frame (camera, screen, audio).
    Encode(encode::EncodeArgs),
    /// WebSocket fan-out of whiteboard strokes and chat: N rooms × M clients.
    Board(board::BoardArgs),
    /// A term of one class: rebuilding it from its log, session and weekly reports, CSV/PDF.
    Report(report::ReportArgs),
    /// One area-eraser command on the room's task, worst cases included.
    Eraser(eraser::EraserArgs),
}

#[derive(clap::Args, Clone)]
struct FanoutArgs {
    /// Subscriber counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "50,200,500")]
    subscribers: Vec<usize>,
    /// Length of each measured window.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Longest wait for every subscriber to receive media before measuring.
    #[arg(long, default_value_t = 60)]
    warmup_seconds: u64,
    #[arg(long, default_value = "target/release/aula-server")]
    server_bin: String,
    /// Also run Janus's VideoRoom (Debian's `janus`) under the same load.
    #[arg(long)]
    janus: bool,
    /// Also run Aula with the publisher sending three simulcast layers (each viewer gets
    /// one), as browsers publish.
    #[arg(long)]
    simulcast: bool,
    /// Video bitrate of the test stream.
    #[arg(long, default_value_t = 500)]
    kbps: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Aula,
    AulaSimulcast,
    Janus,
}

#[derive(Debug)]
struct Row {
    target: Target,
    subscribers: usize,
    ready: u64,
    packets_per_s: f64,
    cpu_us_per_packet: f64,
    cpu_percent: f64,
    p50_ms: f64,
    p99_ms: f64,
    kbps_per_subscriber: f64,
    rss_mib: f64,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        // No runtime: the screen case sets $DISPLAY for xcap while single-threaded.
        Cmd::Encode(args) => encode::run(args),
        Cmd::Report(args) => report::run(args),
        Cmd::Eraser(args) => eraser::run(args),
        Cmd::Fanout(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(fanout(args)),
        Cmd::Board(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(board::run(args)),
    }
}

async fn fanout(args: FanoutArgs) -> anyhow::Result<()> {
    let stream_path =
        std::path::Path::new("target/bench").join(format!("testsrc-{}k.h264", args.kbps));
    std::fs::create_dir_all("target/bench")?;
    let frames = Arc::new(h264::encode_test_stream(&stream_path, 10, args.kbps)?);
    println!(
        "fanout: {} H.264 frames ({} KiB), {} s windows, cores: {}",
        frames.len(),
        frames.iter().map(Vec::len).sum::<usize>() / 1024,
        args.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let mut rows = Vec::new();
    for &n in &args.subscribers {
        let mut targets = vec![Target::Aula];
        if args.simulcast {
            targets.push(Target::AulaSimulcast);
        }
        if args.janus {
            targets.push(Target::Janus);
        }
        for target in targets {
            match run_once(target, n, &args, frames.clone()).await {
                Ok(row) => {
                    print_row(&row);
                    rows.push(row);
                }
                Err(e) => println!("{target:?} with {n} subscribers failed: {e:#}"),
            }
        }
    }
    println!();
    println!(
        "| target | subscribers | ready | packets/s | CPU µs/packet | SFU CPU % | p50 ms | p99 ms | kbit/s per subscriber | RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{}", table_row(r));
    }
    for n in &args.subscribers {
        let a = rows
            .iter()
            .find(|r| r.target == Target::Aula && r.subscribers == *n);
        let j = rows
            .iter()
            .find(|r| r.target == Target::Janus && r.subscribers == *n);
        if let (Some(a), Some(j)) = (a, j) {
            println!(
                "ratio at {n} subscribers: Aula uses {:.2}x Janus's CPU per packet (lower is better); p99 delay {:.2}x",
                a.cpu_us_per_packet / j.cpu_us_per_packet,
                a.p99_ms / j.p99_ms.max(0.001)
            );
        }
        let s = rows
            .iter()
            .find(|r| r.target == Target::AulaSimulcast && r.subscribers == *n);
        if let (Some(a), Some(s)) = (a, s) {
            println!(
                "simulcast at {n} subscribers: {:.2}x the CPU per forwarded packet of one layer{}",
                s.cpu_us_per_packet / a.cpu_us_per_packet,
                j.map(|j| format!(
                    ", {:.2}x Janus's (one layer)",
                    s.cpu_us_per_packet / j.cpu_us_per_packet
                ))
                .unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn print_row(r: &Row) {
    println!("{}", table_row(r));
}

/// One markdown row of the results table, as BENCHMARKS.md keeps it.
fn table_row(r: &Row) -> String {
    format!(
        "| {:?} | {} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} |",
        r.target,
        r.subscribers,
        r.ready,
        r.packets_per_s,
        r.cpu_us_per_packet,
        r.cpu_percent,
        r.p50_ms,
        r.p99_ms,
        r.kbps_per_subscriber,
        r.rss_mib
    )
}

/// Starts one endpoint and its signaling task.
async fn endpoint<F, Fut>(
    publisher: bool,
    simulcast: bool,
    frames: &Arc<Vec<Vec<u8>>>,
    stats: &Arc<Stats>,
    clock: &Arc<Clock>,
    until: Instant,
    signal: F,
) -> anyhow::Result<()>
where
    F: FnOnce(mpsc::Receiver<Local>, mpsc::Sender<Remote>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut ep = Endpoint::new().await?;
    let (local_tx, local_rx) = mpsc::channel(16);
    let (remote_tx, remote_rx) = mpsc::channel(16);
    let first = if publisher {
        ep.publisher_offer(simulcast)?
    } else {
        ep.subscriber_offer()?
    };
    local_tx.send(first).await.ok();
    let media = publisher.then(|| frames.clone());
    let (stats, clock) = (stats.clone(), clock.clone());
    tokio::spawn(async move {
        if let Err(e) = ep
            .run(remote_rx, local_tx, media, stats, clock, until)
            .await
        {
            eprintln!("endpoint stopped: {e:#}");
        }
    });
    let sig = signal(local_rx, remote_tx);
    tokio::spawn(async move {
        if let Err(e) = tokio::time::timeout_at(until.into(), sig)
            .await
            .unwrap_or(Ok(()))
        {
            eprintln!("signaling stopped: {e:#}");
        }
    });
    Ok(())
}

async fn run_once(
    target: Target,
    n: usize,
    args: &FanoutArgs,
    frames: Arc<Vec<Vec<u8>>>,
) -> anyhow::Result<Row> {
    let http = reqwest::Client::new();
    let stats = Arc::new(Stats::default());
    let clock = Arc::new(Clock(Instant::now()));
    let until = Instant::now() + Duration::from_secs(args.warmup_seconds + args.seconds + 10);

    let (pid, server): (u32, Server) = match target {
        Target::Aula | Target::AulaSimulcast => {
            let s = aula::AulaServer::start(&args.server_bin).await?;
            (s.pid, Server::Aula(s))
        }
        Target::Janus => {
            let s = janus::JanusServer::start().await?;
            (s.pid, Server::Janus(s))
        }
    };

    match &server {
        Server::Aula(s) => {
            let (addr, token) = (s.http.clone(), s.teacher_token.clone());
            let simulcast = target == Target::AulaSimulcast;
            endpoint(
                true,
                simulcast,
                &frames,
                &stats,
                &clock,
                until,
                move |l, r| aula::signal(addr, token, l, r),
            )
            .await?;
            for i in 0..n {
                let token = s.student_token(&http, &format!("sub{i}")).await?;
                let addr = s.http.clone();
                endpoint(false, false, &frames, &stats, &clock, until, move |l, r| {
                    aula::signal(addr, token, l, r)
                })
                .await?;
            }
        }
        Server::Janus(s) => {
            let (url, room) = (s.url.clone(), s.room);
            let feed = Arc::new(tokio::sync::OnceCell::new());
            let f = feed.clone();
            endpoint(true, false, &frames, &stats, &clock, until, move |l, r| {
                janus::publish(url, room, f, l, r)
            })
            .await?;
            for _ in 0..n {
                let (url, f) = (s.url.clone(), feed.clone());
                endpoint(false, false, &frames, &stats, &clock, until, move |l, r| {
                    janus::subscribe(url, room, f, l, r)
                })
                .await?;
            }
        }
    }

    let warm_end = Instant::now() + Duration::from_secs(args.warmup_seconds);
    while stats.ready.load(Relaxed) < n as u64 && Instant::now() < warm_end {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let keyframe requests and renegotiations settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = stats.ready.load(Relaxed);
    let cpu0 = procstat::cpu_micros(pid)?;
    let t0 = Instant::now();
    stats.measuring.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stats.measuring.store(false, Relaxed);
    let cpu1 = procstat::cpu_micros(pid)?;
    let wall = t0.elapsed().as_secs_f64();
    let rss = procstat::rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
    if let Server::Aula(s) = &server {
        let out = s
            .metric(&http, "aula_sfu_datagrams_out_total ")
            .await
            .unwrap_or(0);
        let drops = s
            .metric(&http, "aula_sfu_send_drops_total ")
            .await
            .unwrap_or(0);
        println!("  aula metrics: datagrams out {out}, send drops {drops}");
    }
    let packets = stats.packets.load(Relaxed) as f64;
    let bytes = stats.bytes.load(Relaxed) as f64;
    let mut delays = std::mem::take(
        &mut *stats
            .delays_us
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?,
    );
    delays.sort_unstable();
    let pct = |p: f64| -> f64 {
        if delays.is_empty() {
            return f64::NAN;
        }
        let i = ((delays.len() - 1) as f64 * p).round() as usize;
        f64::from(delays[i]) / 1000.0
    };
    let cpu_us = (cpu1 - cpu0) as f64;
    let row = Row {
        target,
        subscribers: n,
        ready,
        packets_per_s: packets / wall,
        cpu_us_per_packet: if packets > 0.0 {
            cpu_us / packets
        } else {
            f64::NAN
        },
        cpu_percent: cpu_us / (wall * 1e6) * 100.0,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        kbps_per_subscriber: if ready > 0 {
            bytes * 8.0 / 1000.0 / wall / ready as f64
        } else {
            0.0
        },
        rss_mib: rss,
    };
    match server {
        Server::Aula(s) => s.stop().await,
        Server::Janus(s) => s.stop().await,
    }
    // End this run's endpoints before the next one starts.
    stats.stop.store(true, Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(row)
}

enum Server {
    Aula(aula::AulaServer),
    Janus(janus::JanusServer),
}
