//! The reference: Janus Gateway's VideoRoom from Debian, on loopback, driven through
//! its REST API with the same endpoints as Aula. See `crates/bench/janus/README.md`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{OnceCell, mpsc};

use crate::aula::tempfile_dir::TempDir;
use crate::client::{Local, Remote};

pub struct JanusServer {
    child: Child,
    pub pid: u32,
    pub url: String,
    pub room: u64,
    _dir: TempDir,
}

impl JanusServer {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("aula-bench-janus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let prepare = concat!(env!("CARGO_MANIFEST_DIR"), "/janus/prepare.sh");
        let ok = std::process::Command::new("bash")
            .arg(prepare)
            .arg(&dir)
            .arg(port.to_string())
            .status()?;
        if !ok.success() {
            bail!("{prepare} failed");
        }
        // run.sh execs janus with the loopback-only shim preloaded (see janus/README.md),
        // so the child's PID is Janus's own.
        let child = Command::new(dir.join("run.sh"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting janus (apt-get install janus)")?;
        let pid = child.id().context("no pid")?;
        let url = format!("http://127.0.0.1:{port}/janus");
        let http = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if http
                .get(format!("{url}/info"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !up {
            bail!(
                "janus did not answer on {url}; see {}",
                dir.join("janus.log").display()
            );
        }
        Ok(JanusServer {
            child,
            pid,
            url,
            room: 1234,
            _dir: TempDir(dir),
        })
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

struct Session {
    http: reqwest::Client,
    url: String,
    session: u64,
    handle: u64,
}

fn tx() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}

/// Posts a create/attach request and returns the id Janus made.
async fn created_id(http: &reqwest::Client, url: String, body: Value) -> anyhow::Result<u64> {
    let r: Value = http.post(url).json(&body).send().await?.json().await?;
    r["data"]["id"]
        .as_u64()
        .with_context(|| format!("{}: {r}", body["janus"]))
}

impl Session {
    async fn open(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let create = json!({"janus": "create", "transaction": tx()});
        let session = created_id(&http, url.to_owned(), create).await?;
        let attach =
            json!({"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": tx()});
        let handle = created_id(&http, format!("{url}/{session}"), attach).await?;
        Ok(Session {
            http,
            url: url.to_owned(),
            session,
            handle,
        })
    }

    async fn message(&self, body: Value, jsep: Option<Value>) -> anyhow::Result<()> {
        let mut m = json!({"janus": "message", "transaction": tx(), "body": body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        let r: Value = self
            .http
            .post(format!("{}/{}/{}", self.url, self.session, self.handle))
            .json(&m)
            .send()
            .await?
            .json()
            .await?;
        if r["janus"] == "error" {
            bail!("janus: {r}");
        }
        Ok(())
    }

    /// Long-polls until an event from the plugin arrives.
    async fn event(&self) -> anyhow::Result<Value> {
        for _ in 0..60 {
            let r: Value = self
                .http
                .get(format!("{}/{}?maxev=1", self.url, self.session))
                .send()
                .await?
                .json()
                .await?;
            let ev = if r.is_array() { r[0].clone() } else { r };
            if ev["janus"] == "event" {
                if let Some(err) = ev["plugindata"]["data"]["error"].as_str() {
                    bail!("videoroom: {err}");
                }
                return Ok(ev);
            }
        }
        bail!("no event from janus")
    }

    async fn keepalive_forever(&self) -> anyhow::Result<()> {
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            self.http
                .post(format!("{}/{}", self.url, self.session))
                .json(&json!({"janus": "keepalive", "transaction": tx()}))
                .send()
                .await?;
        }
    }
}

/// Joins the room as publisher with the endpoint's offer; shares its feed id.
pub async fn publish(
    url: String,
    room: u64,
    feed: Arc<OnceCell<u64>>,
    mut from_endpoint: mpsc::Receiver<Local>,
    to_endpoint: mpsc::Sender<Remote>,
) -> anyhow::Result<()> {
    let s = Session::open(&url).await?;
    let Some(Local::Offer { sdp, .. }) = from_endpoint.recv().await else {
        bail!("no offer")
    };
    s.message(
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": room, "display": "pub", "audio": true, "video": true}),
        Some(json!({"type": "offer", "sdp": sdp})),
    )
    .await?;
    loop {
        let ev = s.event().await?;
        if let Some(id) = ev["plugindata"]["data"]["id"].as_u64() {
            let _ = feed.set(id);
        }
        if let Some(answer) = ev["jsep"]["sdp"].as_str() {
            to_endpoint
                .send(Remote::Answer(answer.to_owned()))
                .await
                .ok();
            break;
        }
    }
    s.keepalive_forever().await
}

/// Joins as a subscriber of the publisher's feed and answers Janus's offer.
pub async fn subscribe(
    url: String,
    room: u64,
    feed: Arc<OnceCell<u64>>,
    mut from_endpoint: mpsc::Receiver<Local>,
    to_endpoint: mpsc::Sender<Remote>,
) -> anyhow::Result<()> {
    // Janus offers to subscribers; the endpoint's own first offer is not used.
    let _ = from_endpoint.recv().await;
    let mut feed_id = None;
    for _ in 0..300 {
        if let Some(f) = feed.get() {
            feed_id = Some(*f);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let feed_id = feed_id.context("the publisher never got a feed id")?;
    let s = Session::open(&url).await?;
    // Janus may still say "No such feed" for a moment after the publisher is up.
    let mut offer = None;
    for _ in 0..50 {
        s.message(json!({"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed_id}]}), None)
            .await?;
        match s.event().await {
            Ok(ev) => {
                offer = ev["jsep"]["sdp"].as_str().map(str::to_owned);
                break;
            }
            Err(e) if e.to_string().contains("No such feed") => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
    let offer = offer.context("janus never offered the feed")?;
    to_endpoint.send(Remote::Offer(offer)).await.ok();
    let Some(Local::Answer(answer)) = from_endpoint.recv().await else {
        bail!("no answer from the endpoint")
    };
    s.message(
        json!({"request": "start"}),
        Some(json!({"type": "answer", "sdp": answer, "trickle": false})),
    )
    .await?;
    s.keepalive_forever().await
}
