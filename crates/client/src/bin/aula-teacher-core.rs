//! The teacher client core without a window: creates a class on a server, goes live with
//! the synthetic camera, tone and a screen source, and reports on stdout as JSON lines.
//! The end-to-end suite drives it; it is also a quick way to put a test class on air.
//!
//! stdout: `{"ready":{...}}` once, then `{"stats":{...}}` every 500 ms.
//! stdin: a line `end` ends the class; `quizzes` answers `{"quizzes": [QuizState]}` (the
//! teacher's view of every quiz, from its replica); `board` answers `{"board": <BoardSnapshot>}` from
//! the core's replica; `{"command": <RoomCommand>}` sends a command (queued in the cache's
//! outbox while the link is down), answered by `{"sent": {"id", "queued"}}`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use aula_client::session::default_ice_bind;
use aula_client::{Api, Cache, Session, SessionConfig, Sources, cache::ClassCredentials};
use aula_media::{SyntheticPattern, Tone, VideoSettings};
use clap::Parser;
use tokio::io::AsyncBufReadExt;

#[derive(Parser)]
struct Args {
    /// The server's HTTP origin.
    #[arg(long)]
    server: String,
    /// The operator key, to create the class.
    #[arg(long, env = "AULA_OPERATOR_KEY")]
    operator_key: String,
    #[arg(long, default_value = "Headless class")]
    title: String,
    /// The local cache file (a temporary one when absent).
    #[arg(long)]
    cache: Option<std::path::PathBuf>,
    /// Screen source: `synthetic` or `xcap` (the X display in $DISPLAY), or `none`.
    #[arg(long, default_value = "synthetic")]
    screen: String,
    /// Camera resolution, e.g. 1280x720.
    #[arg(long, default_value = "640x360")]
    camera_size: String,
    /// Resolution of the synthetic screen.
    #[arg(long, default_value = "1280x720")]
    screen_size: String,
}

fn parse_size(s: &str, flag: &str) -> anyhow::Result<(u32, u32)> {
    s.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .with_context(|| format!("{flag} must look like 1280x720, not {s:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let api = Api::new(&args.server)?;
    let class = api
        .create_class(&args.operator_key, &args.title)
        .await
        .context("creating the class")?;
    let cache = match &args.cache {
        Some(p) => Cache::open(p),
        None => Cache::open_in_memory(),
    }
    .context("opening the cache")?;
    cache.upsert_class(
        &class.class_id,
        &class.title,
        &ClassCredentials {
            server_url: args.server.clone(),
            teacher_token: class.teacher_token.clone(),
        },
        Some(&class.student_link),
        aula_client::session::now_ms(),
    )?;
    let (w, h) = parse_size(&args.camera_size, "--camera-size")?;
    let (sw, sh) = parse_size(&args.screen_size, "--screen-size")?;
    let camera_settings = VideoSettings::camera(w, h);
    let screen: Option<Box<dyn aula_media::VideoSource>> = match args.screen.as_str() {
        "none" => None,
        "synthetic" => Some(Box::new(SyntheticPattern::new(sw, sh))),
        "xcap" => Some(aula_media::open_screen(None).context("opening the screen")?),
        other => anyhow::bail!("unknown --screen {other}"),
    };
    let sources = Sources {
        camera: Some(Box::new(SyntheticPattern::new(w, h))),
        camera_settings: Some(camera_settings),
        microphone: Some(Box::new(Tone::new(440.0))),
        screen,
        screen_settings: None,
    };
    let session = Session::start(
        SessionConfig {
            server_url: args.server.clone(),
            class_id: class.class_id.clone(),
            teacher_token: class.teacher_token.clone(),
            ice_bind: default_ice_bind(&args.server),
        },
        Arc::new(Mutex::new(cache)),
        sources,
    )?;
    emit(&serde_json::json!({ "ready": {
        "class_id": class.class_id,
        "student_link": class.student_link,
        "teacher_token": class.teacher_token,
    }}))?;

    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let publish = session.publisher().stats();
                emit(&serde_json::json!({ "stats": {
                    "link": session.link_state(),
                    "room_seq": session.room().map(|r| r.seq.0),
                    "members": session.room().map(|r| r.members.len()),
                    "chat": session.room().map(|r| r.chat.len()),
                    "remote": session.remote().stats(),
                    "camera_layers": publish.camera.as_ref().map(|s| s.layers.iter().map(|l| serde_json::json!({
                        "rid": l.rid, "width": l.width, "height": l.height,
                        "frames": l.frames_encoded, "active": l.active,
                    })).collect::<Vec<_>>()),
                    "camera_frames": publish.camera.map(|s| s.frames_encoded),
                    "screen_frames": publish.screen.map(|s| s.frames_encoded),
                    "audio_frames": publish.microphone.map(|s| s.frames_encoded),
                }}))?;
            }
            line = stdin.next_line() => match line? {
                None => break,
                Some(l) if l.trim() == "end" => break,
                Some(l) if l.trim() == "board" => {
                    emit(&serde_json::json!({ "board": session.room().map(|r| r.board) }))?;
                }
                Some(l) if l.trim() == "quizzes" => {
                    emit(&serde_json::json!({ "quizzes": session.room().map(|r| r.quizzes) }))?;
                }
                Some(l) => {
                    #[derive(serde::Deserialize)]
                    struct Cmd { command: aula_proto::RoomCommand }
                    match serde_json::from_str::<Cmd>(&l) {
                        Ok(c) => {
                            let (id, queued) = session.command(c.command).await?;
                            emit(&serde_json::json!({ "sent": { "id": id, "queued": queued } }))?;
                        }
                        Err(e) => eprintln!("ignored input line: {e}"),
                    }
                }
            }
        }
    }
    session.end().await;
    emit(&serde_json::json!({ "ended": true }))?;
    Ok(())
}

fn emit(v: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")?;
    out.flush()?;
    Ok(())
}
