//! The server side of the connectivity check page (`/check`).
//!
//! A check is short-lived and needs no class: a student tries their network before a
//! lesson, and a school's IT desk tries theirs. It exercises the same parts a class
//! does, never stand-ins: a WebSocket to this server, peer connections to the real SFU
//! (directly over UDP, and through each TURN server with the credentials a member gets),
//! and HTTP transfers for a bandwidth estimate.
//!
//! Anyone may start one, so everything is bounded: checks per source address per minute,
//! open checks in all, peers per check, bytes per transfer, messages and lifetime of the
//! echo socket. A check's SFU peers are closed when it ends or expires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aula_proto::{CheckAnswer, CheckOffer, CheckStarted, CheckUploaded, ErrorCode, MemberId};
use aula_sfu::{PeerId, PeerSpec};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{ConnectInfo, Path, Query, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::{ApiFailure, body, fail, too_many};
use crate::{AppState, now_ms, rate, turn};

/// How long a check stays open; its TURN credentials expire with it.
pub const CHECK_TTL: Duration = Duration::from_secs(120);
/// Checks open at once, over every address.
pub const MAX_OPEN_CHECKS: usize = 64;
/// Peer connections one check may open: direct, three TURN paths, and retries.
pub const MAX_PEERS_PER_CHECK: usize = 8;
/// Largest download or upload of the bandwidth estimate.
pub const MAX_TRANSFER_BYTES: usize = 4 * 1024 * 1024;
/// The echo socket answers this many messages, of at most this many bytes, for at most
/// this long.
const ECHO_MAX_MESSAGES: u32 = 100;
const ECHO_MAX_BYTES: usize = 128;
const ECHO_LIFETIME: Duration = Duration::from_secs(60);
/// Requests per source address: a whole check takes about a dozen.
const REQUESTS_PER_MIN: f64 = 60.0;
const REQUEST_BURST: u32 = 40;

pub struct Checks {
    inner: Mutex<Inner>,
}

struct Inner {
    open: HashMap<String, OpenCheck>,
    per_addr: rate::KeyedBuckets,
}

struct OpenCheck {
    expires_ms: u64,
    peers: Vec<PeerId>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            inner: Mutex::new(Inner {
                open: HashMap::new(),
                per_addr: rate::KeyedBuckets::new(REQUESTS_PER_MIN, REQUEST_BURST),
            }),
        }
    }
}

impl Checks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a request token for `peer`'s address, or says in how many ms one comes.
    fn admit(&self, peer: SocketAddr) -> Result<(), u64> {
        let addr = peer.ip().to_canonical().to_string();
        self.lock().per_addr.take(&addr, now_ms())
    }

    /// Whether `id` names a check that is still open.
    fn is_open(&self, id: &str, now: u64) -> bool {
        self.lock().open.get(id).is_some_and(|c| c.expires_ms > now)
    }

    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }
}

fn refused(retry_ms: u64) -> Response {
    too_many(retry_ms, "connectivity checks from this address")
}

fn unknown_check() -> ApiFailure {
    fail(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such check, or it has ended; start a new one",
    )
}

/// `POST /api/check`
pub async fn start(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<CheckStarted>, Response> {
    state.checks.admit(peer).map_err(refused)?;
    let now = now_ms();
    let id = crate::auth::random_id();
    let expires_ms = now + CHECK_TTL.as_millis() as u64;
    {
        let mut inner = state.checks.lock();
        inner.open.retain(|_, c| c.expires_ms > now);
        if inner.open.len() >= MAX_OPEN_CHECKS {
            return Err(fail(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServerBusy,
                "too many connectivity checks are running; try again in a minute",
            )
            .into_response());
        }
        inner.open.insert(
            id.clone(),
            OpenCheck {
                expires_ms,
                peers: Vec::new(),
            },
        );
    }
    // The check's TURN credentials last as long as the check, not as long as a class.
    let short = state.cfg.turn.clone().map(|mut t| {
        t.ttl_secs = CHECK_TTL.as_secs();
        t
    });
    let ice_servers =
        turn::ice_servers(short.as_ref(), &MemberId(format!("check-{id}")), now / 1000);
    let ended = state.clone();
    let ending = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(CHECK_TTL).await;
        end_check(&ended, &ending).await;
    });
    Ok(Json(CheckStarted {
        check: id,
        ice_servers,
        expires_at_ms: expires_ms,
        max_transfer_bytes: MAX_TRANSFER_BYTES as u64,
    }))
}

async fn end_check(state: &AppState, id: &str) {
    let peers = state
        .checks
        .lock()
        .open
        .remove(id)
        .map(|c| c.peers)
        .unwrap_or_default();
    for p in peers {
        state.sfu.close(p).await;
    }
}

/// `DELETE /api/check/{check}`: the page is done; its peers close now.
pub async fn end(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<StatusCode, Response> {
    state.checks.admit(peer).map_err(refused)?;
    if !state.checks.is_open(&id, now_ms()) {
        return Err(unknown_check().into_response());
    }
    end_check(&state, &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/check/{check}/offer`: one more peer connection to the SFU, alone in a room
/// of its own, so it neither sends nor receives anyone's media.
pub async fn offer(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    b: Result<Json<CheckOffer>, JsonRejection>,
) -> Result<Json<CheckAnswer>, Response> {
    state.checks.admit(peer).map_err(refused)?;
    let req = body(b).map_err(IntoResponse::into_response)?;
    let sfu_peer = {
        let mut inner = state.checks.lock();
        let now = now_ms();
        let check = inner
            .open
            .get_mut(&id)
            .filter(|c| c.expires_ms > now)
            .ok_or_else(|| unknown_check().into_response())?;
        if check.peers.len() >= MAX_PEERS_PER_CHECK {
            return Err(fail(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::LimitExceeded,
                format!("a check opens at most {MAX_PEERS_PER_CHECK} connections"),
            )
            .into_response());
        }
        let p = state.hub.next_peer_id();
        check.peers.push(p);
        p
    };
    let spec = PeerSpec {
        peer: sfu_peer,
        room: format!("check:{id}:{sfu_peer}"),
        member: "check".into(),
        may_publish: false,
        layer_heights: Default::default(),
        view_height: None,
    };
    match state.sfu.open(spec, req.sdp).await {
        Ok(sdp) => Ok(Json(CheckAnswer { sdp })),
        Err(e) => Err(fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::MediaRejected,
            format!("the media server refused the connection: {e}"),
        )
        .into_response()),
    }
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    bytes: usize,
}

/// Random bytes, made once: incompressible, so no proxy on the way can shrink them.
fn noise() -> &'static Bytes {
    static NOISE: OnceLock<Bytes> = OnceLock::new();
    NOISE.get_or_init(|| {
        let mut v = vec![0u8; MAX_TRANSFER_BYTES];
        let mut x = rand::random::<u64>() | 1;
        for chunk in v.chunks_mut(8) {
            // xorshift64: fast, and random enough that nothing compresses it.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        Bytes::from(v)
    })
}

/// `GET /api/check/{check}/download?bytes=N`
pub async fn download(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    q: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    state.checks.admit(peer).map_err(refused)?;
    let Ok(Query(q)) = q else {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "bytes must be a whole number",
        )
        .into_response());
    };
    if !state.checks.is_open(&id, now_ms()) {
        return Err(unknown_check().into_response());
    }
    if q.bytes == 0 || q.bytes > MAX_TRANSFER_BYTES {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::LimitExceeded,
            format!("bytes must be 1 to {MAX_TRANSFER_BYTES}"),
        )
        .into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        noise().slice(..q.bytes),
    )
        .into_response())
}

/// `POST /api/check/{check}/upload`: the body is counted and dropped.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    b: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<CheckUploaded>, Response> {
    state.checks.admit(peer).map_err(refused)?;
    if !state.checks.is_open(&id, now_ms()) {
        return Err(unknown_check().into_response());
    }
    let bytes = b.map_err(|e| crate::http::rejected_body(e.body_text()).into_response())?;
    Ok(Json(CheckUploaded {
        bytes: bytes.len() as u64,
    }))
}

/// `GET /api/check/{check}/ws`: a WebSocket that echoes short text messages, for the
/// latency and reconnect steps.
pub async fn echo(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Response> {
    state.checks.admit(peer).map_err(refused)?;
    if !state.checks.is_open(&id, now_ms()) {
        return Err(unknown_check().into_response());
    }
    Ok(upgrade
        .read_buffer_size(1024)
        .max_message_size(ECHO_MAX_BYTES)
        .max_frame_size(ECHO_MAX_BYTES)
        .on_upgrade(|socket| async move {
            let _ = tokio::time::timeout(ECHO_LIFETIME, echo_loop(socket)).await;
        }))
}

async fn echo_loop(mut socket: WebSocket) {
    let mut answered = 0;
    while let Some(Ok(msg)) = socket.recv().await {
        match msg {
            Message::Text(t) => {
                if answered >= ECHO_MAX_MESSAGES || socket.send(Message::Text(t)).await.is_err() {
                    break;
                }
                answered += 1;
            }
            Message::Close(_) => break,
            // Pings are answered by the library; binary is not part of the check.
            _ => {}
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
