//! The Aula server: classes and links, signaling over WebSocket, the room actors, the
//! SFU, storage and the student web client, in one process.
//!
//! [`start`] runs it in-process (the teacher app embeds it the same way); the
//! `aula-server` binary is a thin wrapper.

mod access;
mod acme;
pub mod assets;
pub mod auth;
mod check;
pub mod config;
mod conn;
mod http;
mod hub;
mod mail;
mod metrics;
pub mod net;
pub mod rate;
mod report;
mod room_actor;
mod roster;
pub mod storage;
pub mod tls;
pub mod turn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use aula_sfu::{SfuConfig, SfuHandle};
use serde::Serialize;
use tokio::sync::oneshot;

pub use config::{Cli, Config};

use crate::access::Access;
use crate::auth::Keyring;
use crate::hub::Hub;
use crate::metrics::ServerMetrics;
use crate::room_actor::RoomMsg;
use crate::storage::{SqliteStorage, Storage};

pub struct AppState {
    pub cfg: Config,
    pub storage: Arc<dyn Storage>,
    /// The signing key; the operator may replace it (`POST /api/secret/rotate`).
    pub tokens: Keyring,
    pub sfu: SfuHandle,
    pub operator_key: String,
    pub public_url: String,
    hub: Hub,
    metrics: ServerMetrics,
    /// Open HTTP connections (WebSockets included) under their caps.
    conns: Arc<net::ConnLimits>,
    /// Owners, co-teachers and revoked members, cached from storage.
    access: Access,
    /// `POST /api/join` buckets: per invite, per source address.
    join_limits: std::sync::Mutex<JoinLimits>,
    /// Turns true when the server stops: every connection closes with `shutting_down`
    /// (upgraded WebSockets outlive axum's graceful shutdown otherwise).
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Wakes the alert mailer when a room queues a mail.
    mail_wake: tokio::sync::Notify,
    /// A Unicode font for PDF reports; without one they are Latin-1 only.
    report_fonts: Option<aula_report::ReportFonts>,
    /// HTTPS on the listen port, when configured.
    tls: Option<tls::Tls>,
    /// What the TURN servers' last probes found.
    turn_health: Arc<turn::TurnHealth>,
    /// Connectivity checks (`/check`) that are open.
    checks: check::Checks,
}

/// What a started server tells its caller.
#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    pub http: SocketAddr,
    pub media: SocketAddr,
    pub class_id: String,
    pub teacher_link: String,
    pub student_link: String,
    pub teacher_token: String,
    pub operator_key: String,
    pub data_dir: String,
    /// `https` when TLS is on (plain HTTP then serves loopback only), else `http`.
    pub scheme: &'static str,
    /// SHA-256 of the server's certificate, when TLS is on.
    pub tls_fingerprint: Option<String>,
    /// Whether that certificate was made here (browsers warn about it once).
    pub tls_self_signed: bool,
}

impl Ready {
    /// The links for a person, then one machine-readable line for scripts and tests.
    pub fn announce(&self) {
        println!(
            "Aula is running at {}://{}  (media on udp {})",
            self.scheme, self.http, self.media
        );
        if let Some(fp) = &self.tls_fingerprint {
            if self.tls_self_signed {
                println!("  HTTPS with a self-signed certificate made for this server.");
                println!("  A student's browser will say the connection is not private; they");
                println!("  may go on after checking that the certificate's SHA-256 is:");
            } else {
                println!("  HTTPS certificate SHA-256:");
            }
            println!("    {fp}");
        } else if self.scheme == "https" {
            println!("  HTTPS with a certificate from the ACME CA (Let's Encrypt unless set),");
            println!("  fetched and renewed by the server; /healthz says when it is ready.");
        }
        println!("  teacher link: {}", self.teacher_link);
        println!("  student link: {}", self.student_link);
        println!("  operator key: {}  (POST /api/classes)", self.operator_key);
        println!("  data:         {}", self.data_dir);
        if let Ok(json) = serde_json::to_string(self) {
            println!("AULA_READY {json}");
        }
    }
}

struct JoinLimits {
    per_invite: rate::KeyedBuckets,
    per_addr: rate::KeyedBuckets,
}

pub struct Running {
    pub ready: Ready,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }

    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// How often the TURN servers are probed for `/healthz` and `/metrics`.
const TURN_PROBE_EVERY: Duration = Duration::from_secs(30);

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Opens storage, starts the SFU and the HTTP server, and makes sure a class exists so
/// there is always a teacher link and a student link to print.
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    private_dir(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    let db_path = cfg.data_dir.join("aula.db");
    let storage: Arc<dyn Storage> = Arc::new(
        SqliteStorage::open(&db_path).with_context(|| format!("opening {}", db_path.display()))?,
    );
    if cfg.rotate_secret {
        storage
            .set_meta("token_secret", &auth::random_secret())
            .context("storing a new signing secret")?;
        tracing::warn!("the signing secret was replaced: every earlier link and token is void");
    }
    let secret = stored_secret(storage.as_ref(), "token_secret")?;
    let operator_key = stored_secret(storage.as_ref(), "operator_key")?;

    let (sfu, mut sfu_events) = aula_sfu::start(SfuConfig {
        bind: cfg.media_listen,
        advertise_ip: cfg.media_advertise_ip,
        allowed: cfg.media_allow.clone(),
    })
    .context("starting the media server")?;

    let tls = cfg
        .tls
        .as_ref()
        .map(|source| tls::load(source, &cfg.data_dir))
        .transpose()
        .context("setting up HTTPS")?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding HTTP on {}", cfg.listen))?;
    let http_addr = listener.local_addr()?;
    let public_url = cfg.public_url.clone().unwrap_or_else(|| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{http_addr}")
    });
    let tls_ready = (
        if tls.is_some() { "https" } else { "http" },
        tls.as_ref().and_then(|t| t.fingerprint.clone()),
        tls.as_ref().is_some_and(|t| t.self_signed),
    );
    let data_dir = cfg.data_dir.display().to_string();
    if !cfg.ui_dir.join("index.html").is_file() {
        tracing::warn!(
            "no web client at {}; build it with `npm --prefix ui run build`",
            cfg.ui_dir.display()
        );
    }

    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let conns = net::ConnLimits::new(
        net::effective_max_connections(cfg.max_connections),
        cfg.max_connections_per_ip,
    );
    let join_limits = JoinLimits {
        per_invite: rate::KeyedBuckets::new(cfg.join_rate_per_min_invite, cfg.join_burst_invite),
        per_addr: rate::KeyedBuckets::new(cfg.join_rate_per_min_addr, cfg.join_burst_addr),
    };
    let turn_health = Arc::new(turn::TurnHealth::new(
        cfg.turn
            .as_ref()
            .map(|t| t.urls.as_slice())
            .unwrap_or_default(),
    ));
    let state = Arc::new(AppState {
        cfg,
        storage,
        tokens: Keyring::new(secret.as_bytes()),
        sfu: sfu.clone(),
        operator_key: operator_key.clone(),
        public_url,
        hub: Hub::default(),
        metrics: ServerMetrics::default(),
        conns,
        access: Access::default(),
        join_limits: std::sync::Mutex::new(join_limits),
        shutdown,
        mail_wake: tokio::sync::Notify::new(),
        report_fonts: report_fonts(),
        tls,
        turn_health,
        checks: check::Checks::default(),
    });
    if state.cfg.turn.is_some() {
        state
            .turn_health
            .clone()
            .spawn(TURN_PROBE_EVERY, state.shutdown.clone());
    }
    mail::spawn(state.clone()).context("starting the alert mailer")?;

    let class = match state.storage.latest_class().context("reading classes")? {
        Some(c) => state.class_links(&c).context("making the class's links")?,
        None => state
            .create_class("My class")
            .context("creating the first class")?,
    };

    // SFU events go to the room that owns the peer.
    let st = state.clone();
    let mut stop = state.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                ev = sfu_events.recv() => ev,
                _ = stop.wait_for(|s| *s) => None,
            };
            let Some(ev) = ev else { return };
            let peer = match &ev {
                aula_sfu::SfuEvent::Offer { peer, .. }
                | aula_sfu::SfuEvent::Connected { peer }
                | aula_sfu::SfuEvent::VideoPaused { peer, .. }
                | aula_sfu::SfuEvent::Closed { peer } => *peer,
            };
            if let Some(class) = st.hub.class_of_peer(peer) {
                let _ = st.hub.room(&st, &class).send(RoomMsg::Sfu(ev)).await;
            }
        }
    });
    // Room timers (disconnect grace, quiz time limits) need a clock; the rooms have none.
    let st = state.clone();
    let mut stop = state.shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            for room in st.hub.all_rooms() {
                let _ = room.try_send(RoomMsg::Tick);
            }
        }
    });

    // The accept loop hands each request its source address (`ConnectInfo`): it limits
    // `POST /api/join` and recognises removed members.
    let app = http::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let st = state.clone();
    let task = tokio::spawn(async move {
        net::serve(listener, st.clone(), app, async move {
            let _ = rx.await;
            let _ = stopping.send(true);
        })
        .await;
        // A stopped server holds nothing: rooms end, and the media socket
        // closes, so the same ports can be bound again in this process (the teacher app
        // restarts its embedded server to turn LAN classes on and off).
        for room in st.hub.take_rooms() {
            let (done, ended) = oneshot::channel();
            if room.send(RoomMsg::Stop { done }).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(10), ended).await;
            }
        }
        st.sfu.stop().await;
    });
    Ok(Running {
        ready: Ready {
            http: http_addr,
            media: sfu.local_addr(),
            class_id: class.class_id,
            teacher_link: class.teacher_link,
            student_link: class.student_link,
            teacher_token: class.teacher_token,
            operator_key,
            data_dir,
            scheme: tls_ready.0,
            tls_fingerprint: tls_ready.1,
            tls_self_signed: tls_ready.2,
        },
        shutdown: Some(tx),
        task,
    })
}

/// Creates the data directory (and its parents) for its owner only, and tightens an
/// existing one: it holds the database with the secrets, and the class pictures.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    storage::set_mode(dir, 0o700)
}

fn report_fonts() -> Option<aula_report::ReportFonts> {
    let fonts = aula_report::ReportFonts::system();
    if fonts.is_none() {
        tracing::warn!(
            "no DejaVu Sans font (Debian: fonts-dejavu-core): PDF reports show Latin-1 only"
        );
    }
    fonts
}

/// A random secret made once and kept, so links survive restarts.
fn stored_secret(storage: &dyn Storage, key: &str) -> anyhow::Result<String> {
    if let Some(v) = storage
        .meta(key)
        .with_context(|| format!("reading {key}"))?
    {
        return Ok(v);
    }
    let v = auth::random_secret();
    storage
        .set_meta(key, &v)
        .with_context(|| format!("storing {key}"))?;
    Ok(v)
}
