//! The system under test: the real aula-server binary, driven through its own
//! signaling (REST + WebSocket), exactly as browsers drive it.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Local, Remote};

pub struct AulaServer {
    pub child: Child,
    pub pid: u32,
    pub http: String,
    pub teacher_token: String,
    pub operator_key: String,
    pub invite: String,
    _dir: tempfile_dir::TempDir,
}

/// A tiny self-cleaning temp dir, to keep the bench free of test-only crates.
pub mod tempfile_dir {
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl AulaServer {
    pub async fn start(bin: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("aula-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut child = Command::new(bin)
            .env("AULA_LISTEN", "127.0.0.1:0")
            .env("AULA_MEDIA_LISTEN", "127.0.0.1:0")
            .env("AULA_MEDIA_ALLOW", "127.0.0.0/8")
            .env("AULA_DATA_DIR", &dir)
            // The load generator is one client sending many frames per second.
            .env("AULA_RATE_PER_SEC", "1000")
            .env("AULA_RATE_BURST", "5000")
            // Every subscriber joins from 127.0.0.1 through one invite: the per-address
            // and per-invite join limits are for the open internet, not a load test.
            .env("AULA_JOIN_RATE_PER_MIN_ADDR", "100000")
            .env("AULA_JOIN_BURST_ADDR", "100000")
            .env("AULA_JOIN_RATE_PER_MIN_INVITE", "100000")
            .env("AULA_JOIN_BURST_INVITE", "100000")
            .env("AULA_MAX_CLASS_MEMBERS", "100000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let pid = child.id().context("no pid")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let ready: Value = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .context("aula-server not ready in 30 s")??
                .context("aula-server exited")?;
            if let Some(j) = line.strip_prefix("AULA_READY ") {
                break serde_json::from_str(j)?;
            }
        };
        let invite = ready["student_link"]
            .as_str()
            .unwrap_or_default()
            .split("invite=")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        Ok(AulaServer {
            child,
            pid,
            http: ready["http"].as_str().unwrap_or_default().to_owned(),
            teacher_token: ready["teacher_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            operator_key: ready["operator_key"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            invite,
            _dir: tempfile_dir::TempDir(dir),
        })
    }

    pub async fn student_token(
        &self,
        http: &reqwest::Client,
        name: &str,
    ) -> anyhow::Result<String> {
        let r: Value = http
            .post(format!("http://{}/api/join", self.http))
            .json(&json!({"invite": self.invite, "name": name}))
            .send()
            .await?
            .json()
            .await?;
        r["token"]
            .as_str()
            .map(str::to_owned)
            .context("no token in join answer")
    }

    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> anyhow::Result<u64> {
        let text = http
            .get(format!("http://{}/metrics", self.http))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .with_context(|| format!("no metric {name}"))
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Bridges one endpoint to the server's WebSocket: hello, its offer, and answers to
/// the server's offers.
pub async fn signal(
    http_addr: String,
    token: String,
    mut from_endpoint: mpsc::Receiver<Local>,
    to_endpoint: mpsc::Sender<Remote>,
) -> anyhow::Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http_addr}/ws")).await?;
    ws.send(Message::text(
        json!({"type": "hello", "v": 1, "token": token}).to_string(),
    ))
    .await?;
    let mut ping = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            local = from_endpoint.recv() => match local {
                Some(Local::Offer { sdp, video, audio }) => {
                    let mut tracks = Vec::new();
                    if let Some(m) = video { tracks.push(json!({"mid": m, "kind": "camera"})); }
                    if let Some(m) = audio { tracks.push(json!({"mid": m, "kind": "microphone"})); }
                    ws.send(Message::text(json!({"type": "offer", "sdp": sdp, "tracks": tracks}).to_string())).await?;
                }
                Some(Local::Answer(sdp)) => {
                    ws.send(Message::text(json!({"type": "answer", "sdp": sdp}).to_string())).await?;
                }
                None => return Ok(()),
            },
            msg = ws.next() => {
                let Some(Ok(Message::Text(t))) = msg else {
                    if matches!(msg, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) { return Ok(()); }
                    continue;
                };
                let v: Value = serde_json::from_str(&t)?;
                match v["type"].as_str() {
                    Some("offer") => { to_endpoint.send(Remote::Offer(v["sdp"].as_str().unwrap_or_default().into())).await.ok(); }
                    Some("answer") => { to_endpoint.send(Remote::Answer(v["sdp"].as_str().unwrap_or_default().into())).await.ok(); }
                    Some("error") => bail!("server error: {v}"),
                    _ => {}
                }
            }
            _ = ping.tick() => {
                ws.send(Message::text(json!({"type": "ping", "t": 0.0}).to_string())).await?;
            }
        }
    }
}
