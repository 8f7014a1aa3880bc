//! REST endpoints, the WebSocket upgrade, health, metrics and the web client.

use std::sync::Arc;

use aula_proto::{
    ApiError, ClassCreated, CreateClass, ErrorCode, InviteCreated, JoinGranted, JoinRequest,
    MemberId, Role,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::services::{ServeDir, ServeFile};

use crate::auth::{Claims, TokenKind, clean_display_name, ct_eq, random_id};
use crate::storage::{ClassRecord, CoTeacher, JoinRecord};
use crate::{AppState, conn, now_ms};

/// Invites last a week unless the teacher asks otherwise; at most 30 days.
const DEFAULT_INVITE_TTL_S: u64 = 7 * 24 * 3600;
const MAX_INVITE_TTL_S: u64 = 30 * 24 * 3600;

pub fn router(state: Arc<AppState>) -> Router {
    let ui = ServeDir::new(&state.cfg.ui_dir)
        .fallback(ServeFile::new(state.cfg.ui_dir.join("index.html")));
    Router::new()
        .route("/api/classes", post(create_class))
        .route("/api/classes/{id}/invites", post(create_invite))
        .route(
            "/api/classes/{id}/teachers",
            post(add_teacher).get(list_teachers),
        )
        .route(
            "/api/classes/{id}/teachers/{member}",
            axum::routing::delete(revoke_teacher),
        )
        .route("/api/classes/{id}/bans", get(list_bans))
        .route(
            "/api/classes/{id}/bans/{member}",
            axum::routing::delete(lift_ban),
        )
        .route("/api/secret/rotate", post(rotate_secret))
        .route("/api/join", post(join))
        .route(
            "/api/classes/{id}/assets",
            post(crate::assets::upload)
                .layer(DefaultBodyLimit::max(crate::assets::MAX_ASSET_BYTES)),
        )
        .route(
            "/api/classes/{id}/assets/{asset}",
            get(crate::assets::fetch),
        )
        .route("/api/classes/{id}/report", get(crate::report::get))
        .route(
            "/api/classes/{id}/roster",
            get(crate::roster::list)
                .post(crate::roster::add)
                .layer(DefaultBodyLimit::max(crate::roster::MAX_BODY_BYTES)),
        )
        .route(
            "/api/classes/{id}/roster/{member}",
            axum::routing::delete(crate::roster::remove),
        )
        .route(
            "/api/classes/{id}/alerts",
            get(crate::roster::get_alerts).put(crate::roster::put_alerts),
        )
        .route("/api/mail", get(mail_log))
        .route("/api/sfu/peers", get(sfu_peers))
        .route("/api/check", post(crate::check::start))
        .route("/api/check/{id}", axum::routing::delete(crate::check::end))
        .route("/api/check/{id}/offer", post(crate::check::offer))
        .route("/api/check/{id}/download", get(crate::check::download))
        .route(
            "/api/check/{id}/upload",
            post(crate::check::upload)
                .layer(DefaultBodyLimit::max(crate::check::MAX_TRANSFER_BYTES)),
        )
        .route("/api/check/{id}/ws", get(crate::check::echo))
        .route("/ws", get(ws))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .fallback_service(ui)
        .layer(axum::middleware::from_fn_with_state(
            std::time::Duration::from_secs(state.cfg.http_body_timeout_secs),
            crate::net::body_deadline,
        ))
        .layer(axum::middleware::from_fn(crate::net::with_security_headers))
        .with_state(state)
}

pub struct ApiFailure(StatusCode, ErrorCode, String);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(ApiError {
                code: self.1,
                message: self.2,
            }),
        )
            .into_response()
    }
}

pub fn fail(status: StatusCode, code: ErrorCode, msg: impl Into<String>) -> ApiFailure {
    ApiFailure(status, code, msg.into())
}

pub fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiFailure> {
    b.map(|Json(v)| v).map_err(|e| rejected_body(e.body_text()))
}

/// A body axum refused, as a typed failure. axum reports an over-limit or late body as
/// a generic buffering failure, told apart by its text.
pub fn rejected_body(text: String) -> ApiFailure {
    if text.contains(crate::net::BODY_TIMEOUT_MESSAGE) {
        fail(StatusCode::REQUEST_TIMEOUT, ErrorCode::InvalidRequest, text)
    } else if text.contains("length limit") {
        fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::MessageTooLarge,
            text,
        )
    } else {
        fail(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, text)
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn is_operator(state: &AppState, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|k| ct_eq(k.as_bytes(), state.operator_key.as_bytes()))
}

/// Checks that the request carries the operator key (compared in constant time).
fn operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiFailure> {
    if !is_operator(state, headers) {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "the operator key is missing or wrong",
        ));
    }
    Ok(())
}

/// Who a teacher token names, once checked.
pub struct Caller {
    /// The class's owner (or the operator acting for it).
    pub owner: bool,
}

/// Checks that the request carries a join token of this class's teacher that has not
/// been revoked (the owner's, or a co-teacher's whose grant stands).
pub fn teacher_of(
    state: &AppState,
    headers: &HeaderMap,
    class_id: &str,
    what: &str,
) -> Result<Caller, ApiFailure> {
    let token = bearer(headers).ok_or_else(|| {
        fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "a teacher token is required",
        )
    })?;
    let claims = state
        .tokens
        .verify(token, TokenKind::Join, now_ms() / 1000)
        .map_err(|e| fail(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    if claims.role != Role::Teacher || claims.cls != class_id {
        return Err(fail(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("only this class's teacher may {what}"),
        ));
    }
    still_valid(state, &claims)?;
    let owner = state
        .access
        .is_owner(state.storage.as_ref(), class_id, &claims.sub)
        .map_err(storage_failure)?;
    Ok(Caller { owner })
}

/// Revocation: a verified join token whose member was removed, taken off the roster or
/// whose co-teacher grant was taken back is refused (401 `token_revoked`).
pub fn still_valid(state: &AppState, claims: &Claims) -> Result<(), ApiFailure> {
    state
        .access
        .check(state.storage.as_ref(), claims)
        .map_err(|(code, why)| {
            let status = if code == ErrorCode::Internal {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNAUTHORIZED
            };
            fail(status, code, why)
        })
}

/// The class's owner, or the operator: who may hand out and take back co-teacher links
/// and read the list of them.
fn owner_of(
    state: &AppState,
    headers: &HeaderMap,
    class_id: &str,
    what: &str,
) -> Result<(), ApiFailure> {
    if is_operator(state, headers) {
        return match state.storage.class(class_id).map_err(storage_failure)? {
            Some(_) => Ok(()),
            None => Err(fail(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no such class",
            )),
        };
    }
    if teacher_of(state, headers, class_id, what)?.owner {
        Ok(())
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("only the class's owner may {what}"),
        ))
    }
}

pub fn storage_failure(e: impl std::fmt::Display) -> ApiFailure {
    tracing::error!("storage: {e}");
    fail(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal,
        "storage is unavailable",
    )
}

/// Creates a class and returns a teacher link and a student link. Operator key required.
async fn create_class(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    b: Result<Json<CreateClass>, JsonRejection>,
) -> Result<Json<ClassCreated>, ApiFailure> {
    operator(&state, &headers)?;
    let req = body(b)?;
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "title must be 1 to 200 characters",
        ));
    }
    Ok(Json(state.create_class(title).map_err(storage_failure)?))
}

#[derive(Deserialize, Default)]
struct InviteRequest {
    ttl_secs: Option<u64>,
}

/// Mints a student link. Needs a teacher's join token for that class.
async fn create_invite(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<InviteRequest>, JsonRejection>,
) -> Result<Json<InviteCreated>, ApiFailure> {
    let now_s = now_ms() / 1000;
    teacher_of(&state, &headers, &class_id, "invite")?;
    let ttl = body(b)
        .unwrap_or_default()
        .ttl_secs
        .unwrap_or(DEFAULT_INVITE_TTL_S);
    if ttl == 0 || ttl > MAX_INVITE_TTL_S {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "ttl_secs must be 1 to 30 days",
        ));
    }
    let (invite, exp) = state.tokens.invite(&class_id, now_s, ttl);
    Ok(Json(InviteCreated {
        student_link: state.link("invite", &invite),
        invite,
        expires_at_ms: exp * 1000,
    }))
}

#[derive(Deserialize, Default)]
struct CoTeacherRequest {
    name: Option<String>,
}

/// A second teacher for the class (a co-teacher, an assistant, the teacher's own second
/// device): a teacher link of its own, so both can be in the class at once. Needs a
/// teacher's join token for that class.
async fn add_teacher(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<CoTeacherRequest>, JsonRejection>,
) -> Result<Json<JoinGranted>, ApiFailure> {
    owner_of(&state, &headers, &class_id, "add a teacher")?;
    let raw = body(b).unwrap_or_default().name;
    let name =
        clean_display_name(raw.as_deref().unwrap_or("Co-teacher"), Role::Teacher).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                e.to_string(),
            )
        })?;
    let member = MemberId(format!("t{}", &random_id()[1..]));
    state
        .access
        .add_co_teacher(
            state.storage.as_ref(),
            &class_id,
            &CoTeacher {
                member_id: member.0.clone(),
                name: name.clone(),
                granted_at_ms: now_ms(),
                revoked_at_ms: None,
            },
        )
        .map_err(storage_failure)?;
    Ok(Json(state.grant(
        class_id,
        member,
        Role::Teacher,
        &name,
        None,
        false,
    )))
}

/// The class's co-teacher grants, live and taken back. Owner or operator.
async fn list_teachers(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<CoTeacher>>, ApiFailure> {
    owner_of(&state, &headers, &class_id, "list its teachers")?;
    Ok(Json(
        state
            .storage
            .co_teachers(&class_id)
            .map_err(storage_failure)?,
    ))
}

/// Takes a co-teacher's link back: its tokens stop working at once (REST and socket).
/// Owner or operator.
async fn revoke_teacher(
    State(state): State<Arc<AppState>>,
    Path((class_id, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiFailure> {
    owner_of(&state, &headers, &class_id, "revoke a teacher")?;
    if state
        .access
        .revoke_co_teacher(state.storage.as_ref(), &class_id, &member, now_ms())
        .map_err(storage_failure)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(fail(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{member} is not a co-teacher of this class"),
        ))
    }
}

#[derive(serde::Serialize)]
struct BanView {
    member_id: String,
    name: String,
    at_ms: u64,
    /// Its device is refused (`removed`).
    device: bool,
    /// Open-link joins from its address wait for a teacher.
    address: bool,
}

/// Open-link members a teacher removed, kept from coming back. Teacher token.
async fn list_bans(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<BanView>>, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "read its bans")?;
    let bans = state.storage.bans(&class_id).map_err(storage_failure)?;
    Ok(Json(
        bans.into_iter()
            .map(|b| BanView {
                device: b.device.is_some(),
                address: b.addr.is_some(),
                member_id: b.member_id,
                name: b.name,
                at_ms: b.at_ms,
            })
            .collect(),
    ))
}

/// The teacher's undo of a removal: the device and address may join through the open
/// link again (as a new member). Teacher token.
async fn lift_ban(
    State(state): State<Arc<AppState>>,
    Path((class_id, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "lift a ban")?;
    if state
        .storage
        .lift_ban(&class_id, &member)
        .map_err(storage_failure)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(fail(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{member} is not banned from this class"),
        ))
    }
}

#[derive(serde::Serialize)]
struct Rotated {
    /// Fresh owner and student links for every class.
    classes: Vec<ClassCreated>,
}

/// Replaces the signing secret: every token and link signed before stops working at
/// once, live sockets close with `token_revoked`. Operator key.
async fn rotate_secret(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Rotated>, ApiFailure> {
    operator(&state, &headers)?;
    let secret = crate::auth::random_secret();
    state
        .storage
        .set_meta("token_secret", &secret)
        .map_err(storage_failure)?;
    state.tokens.replace(secret.as_bytes());
    state.access.revoke_all();
    tracing::warn!("the operator rotated the signing secret: every earlier token is void");
    let classes = state.storage.all_classes().map_err(storage_failure)?;
    let mut links = Vec::with_capacity(classes.len());
    for c in &classes {
        links.push(state.class_links(c).map_err(storage_failure)?);
    }
    Ok(Json(Rotated { classes: links }))
}

/// A device id as the browser makes it: 8 to 64 of `A-Za-z0-9_-`.
fn valid_device(d: &str) -> bool {
    (8..=64).contains(&d.len())
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn too_many(retry_ms: u64, what: &str) -> Response {
    let secs = retry_ms.div_ceil(1000).max(1);
    let mut res = fail(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        format!("too many {what}; try again in {secs} s"),
    )
    .into_response();
    if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// A student link holder picks a name and gets a join token. No account needed.
/// Limited per source address and per invite; a removed open-link member's device is
/// refused and its address waits for a teacher.
async fn join(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    b: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<Json<JoinGranted>, Response> {
    let addr = peer.ip().to_canonical().to_string();
    let now = now_ms();
    let limited = state
        .join_limits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .per_addr
        .take(&addr, now);
    if let Err(retry) = limited {
        return Err(too_many(retry, "joins from this address"));
    }
    join_checked(&state, &addr, b)
        .await
        .map_err(IntoResponse::into_response)?
        .map_err(|retry| too_many(retry, "joins through this link"))
}

/// `Ok(Err(ms))` when the invite's own limit refuses it.
async fn join_checked(
    state: &AppState,
    addr: &str,
    b: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<Result<Json<JoinGranted>, u64>, ApiFailure> {
    let req = body(b)?;
    let now_s = now_ms() / 1000;
    let invite = state
        .tokens
        .verify(&req.invite, TokenKind::Invite, now_s)
        .map_err(|e| fail(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    let limited = state
        .join_limits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .per_invite
        .take(&format!("{}/{}", invite.cls, invite.sub), now_ms());
    if let Err(retry) = limited {
        return Ok(Err(retry));
    }
    let device = match req.device.as_deref() {
        None => None,
        Some(d) if valid_device(d) => Some(d.to_owned()),
        Some(_) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "device must be 8 to 64 letters, digits, _ or -",
            ));
        }
    };
    // A roster student's personal link names it; an open link takes the name typed.
    let personal = invite.is_personal();
    let name = if personal {
        invite.name.clone()
    } else {
        clean_display_name(&req.name, Role::Student).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                e.to_string(),
            )
        })?
    };
    if state
        .storage
        .class(&invite.cls)
        .map_err(storage_failure)?
        .is_none()
    {
        return Err(fail(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "this class no longer exists",
        ));
    }
    let member = if personal {
        let on_roster = state
            .storage
            .roster(&invite.cls)
            .map_err(storage_failure)?
            .into_iter()
            .any(|e| e.member_id == invite.sub);
        if !on_roster {
            return Err(fail(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "this personal link was withdrawn: ask your teacher for the class link",
            ));
        }
        MemberId(invite.sub.clone())
    } else {
        MemberId(random_id())
    };
    // A teacher removed this roster student: its personal link no longer joins.
    let probe = Claims {
        sub: member.0.clone(),
        cls: invite.cls.clone(),
        role: Role::Student,
        name: String::new(),
        knd: TokenKind::Join,
        exp: 0,
        iat: 0,
        inv: None,
        hold: false,
    };
    if let Err(e) = still_valid(state, &probe) {
        return Err(match e.1 {
            ErrorCode::Removed | ErrorCode::TokenRevoked => fail(
                StatusCode::FORBIDDEN,
                ErrorCode::Removed,
                "a teacher removed you from this class",
            ),
            _ => e,
        });
    }
    // Open links: a removed member's device is refused; its address waits.
    let mut hold = false;
    if !personal {
        for ban in state.storage.bans(&invite.cls).map_err(storage_failure)? {
            if device.is_some() && ban.device == device {
                return Err(fail(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Removed,
                    "a teacher removed you from this class",
                ));
            }
            hold |= ban.addr.as_deref() == Some(addr);
        }
    }
    state
        .storage
        .record_join(
            &invite.cls,
            &JoinRecord {
                member_id: member.0.clone(),
                name: name.clone(),
                invite_id: invite.sub.clone(),
                open: !personal,
                device,
                addr: Some(addr.to_owned()),
            },
            now_ms(),
        )
        .map_err(storage_failure)?;
    let inv = (!personal).then(|| invite.sub.clone());
    Ok(Ok(Json(state.grant(
        invite.cls,
        member,
        Role::Student,
        &name,
        inv,
        hold,
    ))))
}

#[derive(serde::Serialize)]
struct PeerView {
    peer: u64,
    class_id: String,
    member: String,
    connected: bool,
    tracks_in: usize,
    tracks_out: usize,
    frames_in: u64,
    frames_out: u64,
}

/// Per-peer SFU state, for operators. Operator key required.
async fn sfu_peers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<PeerView>>, ApiFailure> {
    operator(&state, &headers)?;
    let mut peers: Vec<PeerView> = state
        .sfu
        .peer_states()
        .await
        .into_iter()
        .map(|p| PeerView {
            peer: p.peer,
            class_id: p.room,
            member: p.member,
            connected: p.connected,
            tracks_in: p.tracks_in,
            tracks_out: p.tracks_out,
            frames_in: p.frames_in,
            frames_out: p.frames_out,
        })
        .collect();
    peers.sort_by_key(|p| p.peer);
    Ok(Json(peers))
}

/// The attendance-alert mail queue, for operators: what was sent, what waits, what
/// failed and why. Operator key required.
async fn mail_log(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<crate::storage::QueuedMail>>, ApiFailure> {
    operator(&state, &headers)?;
    Ok(Json(state.storage.mail_log().map_err(storage_failure)?))
}

async fn ws(State(state): State<Arc<AppState>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        // tungstenite allocates its whole read buffer per connection (128 KiB by default);
        // client frames are small, and a larger one still arrives in several reads.
        .read_buffer_size(8 * 1024)
        .max_message_size(conn::TRANSPORT_MAX_FRAME)
        .max_frame_size(conn::TRANSPORT_MAX_FRAME)
        .on_upgrade(move |socket| conn::serve(state, socket))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    health(&state)
}

/// Whether storage answers; also what a connection past the caps gets for `/healthz`.
/// `ok` (or the storage failure, 503), then one line per TURN server: an unreachable
/// TURN server does not make the server unhealthy (students on open networks still get
/// media), but it is what an operator must see first when some students get none. With
/// ACME, one line per name: `acme <name> certificate ready|pending` (pending: HTTPS
/// handshakes fail until the CA issues the first certificate; the log says why).
pub fn health(state: &AppState) -> Response {
    let mut turn = String::new();
    for (url, up) in state.turn_health.snapshot() {
        let word = match up {
            Some(true) => "reachable",
            Some(false) => "unreachable",
            None => "not checked yet",
        };
        turn.push_str(&format!("turn {url} {word}\n"));
    }
    if let Some(acme) = state.tls.as_ref().and_then(|t| t.acme.as_ref()) {
        turn.push_str(&acme.health_lines());
    }
    match state.storage.meta("token_secret") {
        Ok(_) => (StatusCode::OK, format!("ok\n{turn}")).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage: {e}\n{turn}"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.prometheus();
    text.push_str(&state.conns.prometheus());
    text.push_str(&state.sfu.metrics().prometheus());
    text.push_str(&state.turn_health.prometheus());
    text.push_str(&format!(
        "# HELP aula_checks_open Connectivity checks (/check) open now.\n# TYPE aula_checks_open gauge\naula_checks_open {}\n",
        state.checks.open_count()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

impl AppState {
    pub fn create_class(&self, title: &str) -> Result<ClassCreated, crate::storage::StorageError> {
        let now = now_ms();
        let class = ClassRecord {
            id: random_id(),
            title: title.to_owned(),
            created_at_ms: now,
            owner_id: Some(format!("t{}", &random_id()[1..])),
        };
        self.storage.create_class(&class)?;
        self.class_links(&class)
    }

    /// A fresh owner token and student invite for an existing class. The owner is the
    /// same member every time (a class made before owners were kept gets one now).
    pub fn class_links(
        &self,
        class: &ClassRecord,
    ) -> Result<ClassCreated, crate::storage::StorageError> {
        let now_s = now_ms() / 1000;
        let teacher = match &class.owner_id {
            Some(id) => MemberId(id.clone()),
            None => {
                let id = format!("t{}", &random_id()[1..]);
                self.access
                    .set_owner(self.storage.as_ref(), &class.id, &id)?;
                MemberId(id)
            }
        };
        let (teacher_token, _) = self.tokens.join_token(
            &class.id,
            &teacher,
            Role::Teacher,
            "Teacher",
            now_s,
            self.cfg.token_ttl_secs,
        );
        let (invite, _) = self.tokens.invite(&class.id, now_s, DEFAULT_INVITE_TTL_S);
        Ok(ClassCreated {
            class_id: class.id.clone(),
            title: class.title.clone(),
            teacher_link: self.link("token", &teacher_token),
            student_link: self.link("invite", &invite),
            teacher_token,
        })
    }

    /// A join token for a member of a class, as `POST /api/join` and co-teacher links
    /// answer it.
    /// `inv`: the open link it came through; `hold`: it waits for a teacher.
    fn grant(
        &self,
        class_id: String,
        member: MemberId,
        role: Role,
        name: &str,
        inv: Option<String>,
        hold: bool,
    ) -> JoinGranted {
        let now_s = now_ms() / 1000;
        let exp = now_s + self.cfg.token_ttl_secs;
        let token = self.tokens.mint(&Claims {
            sub: member.0.clone(),
            cls: class_id.clone(),
            role,
            name: name.to_owned(),
            knd: TokenKind::Join,
            exp,
            iat: now_s,
            inv,
            hold,
        });
        JoinGranted {
            token,
            member_id: member,
            class_id,
            role,
            expires_at_ms: exp * 1000,
        }
    }

    pub fn link(&self, param: &str, token: &str) -> String {
        format!("{}/?{param}={token}", self.public_url.trim_end_matches('/'))
    }
}
