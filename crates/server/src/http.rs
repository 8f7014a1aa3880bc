//! REST endpoints, the WebSocket upgrade, health, metrics and the web client.

use std::sync::Arc;

use aula_proto::{
    ApiError, ClassCreated, CreateClass, ErrorCode, InviteCreated, JoinGranted, JoinRequest,
    MemberId, Role,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::services::{ServeDir, ServeFile};

use crate::auth::{TokenKind, clean_display_name, random_id};
use crate::storage::ClassRecord;
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
        .route("/api/classes/{id}/teachers", post(add_teacher))
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
    b.map(|Json(v)| v).map_err(|e| {
        let text = e.body_text();
        // axum reports an over-limit or late body as a generic buffering failure.
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
    })
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Checks that the request carries the operator key.
fn operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiFailure> {
    if bearer(headers) != Some(state.operator_key.as_str()) {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "the operator key is missing or wrong",
        ));
    }
    Ok(())
}

/// Checks that the request carries a join token of this class's teacher.
pub fn teacher_of(
    state: &AppState,
    headers: &HeaderMap,
    class_id: &str,
    what: &str,
) -> Result<(), ApiFailure> {
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
    Ok(())
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
    teacher_of(&state, &headers, &class_id, "add a teacher")?;
    let raw = body(b).unwrap_or_default().name;
    let name = clean_display_name(raw.as_deref().unwrap_or("Co-teacher")).ok_or_else(|| {
        fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "name must be 1 to 64 characters",
        )
    })?;
    let member = MemberId(format!("t{}", &random_id()[1..]));
    Ok(Json(state.grant(class_id, member, Role::Teacher, &name)))
}

/// A student link holder picks a name and gets a join token. No account needed.
async fn join(
    State(state): State<Arc<AppState>>,
    b: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<Json<JoinGranted>, ApiFailure> {
    let req = body(b)?;
    let now_s = now_ms() / 1000;
    let invite = state
        .tokens
        .verify(&req.invite, TokenKind::Invite, now_s)
        .map_err(|e| fail(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    // A roster student's personal link names it; an open link takes the name typed.
    let personal = invite.is_personal();
    let name = if personal {
        Some(invite.name.clone())
    } else {
        clean_display_name(&req.name)
    }
    .ok_or_else(|| {
        fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "name must be 1 to 64 characters",
        )
    })?;
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
    Ok(Json(state.grant(invite.cls, member, Role::Student, &name)))
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
pub fn health(state: &AppState) -> Response {
    match state.storage.meta("token_secret") {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("storage: {e}\n")).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.prometheus();
    text.push_str(&state.conns.prometheus());
    text.push_str(&state.sfu.metrics().prometheus());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

impl AppState {
    pub fn create_class(&self, title: &str) -> Result<ClassCreated, crate::storage::StorageError> {
        let now = now_ms();
        let class = ClassRecord {
            id: random_id(),
            title: title.to_owned(),
            created_at_ms: now,
        };
        self.storage.create_class(&class)?;
        Ok(self.class_links(&class))
    }

    /// A fresh teacher token and student invite for an existing class.
    pub fn class_links(&self, class: &ClassRecord) -> ClassCreated {
        let now_s = now_ms() / 1000;
        let teacher = MemberId(format!("t{}", &random_id()[1..]));
        let (teacher_token, _) = self.tokens.join_token(
            &class.id,
            &teacher,
            Role::Teacher,
            "Teacher",
            now_s,
            self.cfg.token_ttl_secs,
        );
        let (invite, _) = self.tokens.invite(&class.id, now_s, DEFAULT_INVITE_TTL_S);
        ClassCreated {
            class_id: class.id.clone(),
            title: class.title.clone(),
            teacher_link: self.link("token", &teacher_token),
            student_link: self.link("invite", &invite),
            teacher_token,
        }
    }

    /// A join token for a member of a class, as `POST /api/join` and co-teacher links
    /// answer it.
    fn grant(&self, class_id: String, member: MemberId, role: Role, name: &str) -> JoinGranted {
        let (token, exp) = self.tokens.join_token(
            &class_id,
            &member,
            role,
            name,
            now_ms() / 1000,
            self.cfg.token_ttl_secs,
        );
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
