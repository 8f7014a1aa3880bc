//! One task per WebSocket: the `hello` handshake, decoding, flood control and writing
//! what the room sends. It never holds room state.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use aula_proto::{
    ClientMsg, ErrorCode, MAX_CLIENT_FRAME_BYTES, MemberId, PROTOCOL_VERSION, ServerMsg,
    decode_client,
};
use aula_room::Identity;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::access::Revocation;
use crate::auth::TokenKind;
use crate::rate::{RateLimiter, Verdict};
use crate::room_actor::{Outbound, RoomMsg, encode};
use crate::{AppState, now_ms};

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Clients ping every 10 s; silence this long means the link is dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// How long one frame may take to reach the socket before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames queued toward one client before the room gives up on it.
const OUTBOUND_QUEUE: usize = 1024;

/// Largest frame the transport accepts at all. Frames between the protocol limit and
/// this get a `message_too_large` answer; beyond it the socket is closed.
pub const TRANSPORT_MAX_FRAME: usize = 4 * MAX_CLIENT_FRAME_BYTES;

pub async fn serve(state: Arc<AppState>, socket: WebSocket) {
    state.metrics.connections.fetch_add(1, Relaxed);
    let (mut sink, mut stream) = socket.split();
    let result = session(&state, &mut sink, &mut stream).await;
    if let Err((code, message)) = result {
        state.metrics.count_error(code);
        let frame = encode(&ServerMsg::Error {
            code,
            message: message.clone(),
            id: None,
        });
        let _ = sink.send(Message::Text(frame)).await;
        let close = CloseFrame {
            code: 4000,
            reason: code.as_str().into(),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
    } else {
        let _ = sink.send(Message::Close(None)).await;
    }
    state.metrics.connections.fetch_sub(1, Relaxed);
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;
type Refusal = (ErrorCode, String);

async fn session(
    state: &Arc<AppState>,
    sink: &mut Sink,
    stream: &mut Stream,
) -> Result<(), Refusal> {
    let (token, resume_from) = hello(stream).await?;
    // Listen for revocations before checking, so none can fall in between.
    let mut revocations = state.access.subscribe();
    let epoch = state.access.epoch();
    let now_s = now_ms() / 1000;
    let claims = state
        .tokens
        .verify(&token, TokenKind::Join, now_s)
        .map_err(|e| (e.code(), e.to_string()))?;
    state.access.check(state.storage.as_ref(), &claims)?;
    let owner = match state.storage.class(&claims.cls) {
        // Ownership is the server's knowledge, never the client's word.
        Ok(Some(class)) => {
            claims.role == aula_proto::Role::Teacher
                && class.owner_id.as_deref() == Some(claims.sub.as_str())
        }
        Ok(None) => {
            return Err((
                ErrorCode::InvalidToken,
                "the class of this token does not exist".into(),
            ));
        }
        Err(e) => {
            tracing::error!("looking up class: {e}");
            return Err((ErrorCode::Internal, "storage is unavailable".into()));
        }
    };
    let conn = state.hub.next_conn_id();
    let room = state.hub.room(state, &claims.cls);
    let (out_tx, mut out_rx) = mpsc::channel(OUTBOUND_QUEUE);
    let (kill_tx, mut kill_rx) = oneshot::channel();
    let (reply_tx, reply_rx) = oneshot::channel();
    let who = Identity {
        id: MemberId(claims.sub.clone()),
        name: claims.name.clone(),
        role: claims.role,
        owner,
    };
    room.send(RoomMsg::Join {
        conn,
        who,
        hold: claims.hold,
        resume_from,
        out: out_tx,
        kill: kill_tx,
        reply: reply_tx,
    })
    .await
    .map_err(|_| (ErrorCode::Internal, "the room is gone".to_string()))?;
    reply_rx
        .await
        .map_err(|_| (ErrorCode::Internal, "the room is gone".to_string()))??;

    let mut limiter = RateLimiter::new(state.cfg.rate_per_sec, state.cfg.rate_burst, now_ms());
    let mut refusals = LogSampler::default();
    let mut shutdown = state.shutdown.clone();
    // The token stops working at its expiry, and so does the socket it opened.
    let left_ms = (claims.exp * 1000).saturating_sub(now_ms());
    let expiry = tokio::time::sleep(Duration::from_millis(left_ms));
    tokio::pin!(expiry);
    let outcome = loop {
        tokio::select! {
            // A kill must win over the closed queue that comes with it, so the client
            // learns why it was closed.
            biased;
            Ok(()) = shutdown.changed() => {
                break Err((ErrorCode::ShuttingDown, "the server is stopping".into()));
            }
            kill = &mut kill_rx => {
                match kill {
                    Ok((code, why)) => break Err((code, why)),
                    Err(_) => break Ok(()),
                }
            }
            () = &mut expiry => {
                break Err((ErrorCode::TokenExpired, "the token has expired; join again".into()));
            }
            revoked = revocations.recv() => {
                use tokio::sync::broadcast::error::RecvError;
                let hit = match revoked {
                    Ok(Revocation::All) => true,
                    Ok(Revocation::Member { class, member }) => class == claims.cls && member == claims.sub,
                    // Missed some: ask the source instead.
                    Err(RecvError::Lagged(_)) => {
                        state.access.epoch() != epoch
                            || state.access.check(state.storage.as_ref(), &claims).is_err()
                    }
                    Err(RecvError::Closed) => false,
                };
                if hit {
                    break Err((ErrorCode::TokenRevoked, "this member's token was revoked".into()));
                }
            }
            out = out_rx.recv() => match out {
                Some(Outbound::Frame(f)) => {
                    // A peer that stops reading (a laptop asleep, a stalled proxy) must not
                    // hold this task, its queue and its socket forever.
                    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Text(f))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) | Err(_) => break Ok(()),
                    }
                }
                Some(Outbound::Drained) => {
                    if room.send(RoomMsg::More { conn }).await.is_err() {
                        break Err((ErrorCode::Internal, "the room is gone".into()));
                    }
                }
                None => break Ok(()),
            },
            incoming = tokio::time::timeout(IDLE_TIMEOUT, stream.next()) => {
                let frame = match incoming {
                    Err(_) => break Ok(()),
                    Ok(None) | Ok(Some(Err(_))) => break Ok(()),
                    Ok(Some(Ok(Message::Close(_)))) => break Ok(()),
                    Ok(Some(Ok(Message::Text(t)))) => Some(t.as_bytes().to_vec()),
                    Ok(Some(Ok(Message::Binary(b)))) => Some(b.to_vec()),
                    // Control frames cost a pong each: they count against the limit too.
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => None,
                };
                state.metrics.messages_in.fetch_add(1, Relaxed);
                match limiter.check(now_ms()) {
                    Verdict::Allow => {}
                    Verdict::Refuse { notify } => {
                        state.metrics.rate_limited.fetch_add(1, Relaxed);
                        if notify {
                            state.metrics.count_error(ErrorCode::RateLimited);
                            let msg = ServerMsg::Error { code: ErrorCode::RateLimited, message: "too many messages; slow down".into(), id: None };
                            let _ = sink.send(Message::Text(encode(&msg))).await;
                        }
                        continue;
                    }
                    Verdict::Disconnect => break Err((ErrorCode::RateLimited, "kept flooding after being told".into())),
                }
                let Some(frame) = frame else { continue };
                match decode_client(&frame) {
                    Ok(ClientMsg::Ping { t }) => {
                        let _ = sink.send(Message::Text(encode(&ServerMsg::Pong { t }))).await;
                    }
                    Ok(msg) => {
                        let leaving = matches!(msg, ClientMsg::Leave);
                        if room.send(RoomMsg::Client { conn, msg }).await.is_err() {
                            break Err((ErrorCode::Internal, "the room is gone".into()));
                        }
                        if leaving {
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        match refusals.note(now_ms()) {
                            Some(suppressed) => tracing::info!(member = %claims.sub, suppressed, "bad frame: {e}"),
                            None => tracing::debug!(member = %claims.sub, "bad frame: {e}"),
                        }
                        state.metrics.count_error(e.code());
                        let msg = ServerMsg::Error { code: e.code(), message: e.to_string(), id: None };
                        let _ = sink.send(Message::Text(encode(&msg))).await;
                    }
                }
            }
        }
    };
    let _ = room.send(RoomMsg::Gone { conn }).await;
    outcome
}

/// Keeps a flood of refused frames out of the log: the first refusal of a connection
/// is logged at info level, then at most one every [`LogSampler::EVERY_MS`] (saying how
/// many went to debug level in between). Every refusal is counted in the metrics anyway.
#[derive(Default)]
struct LogSampler {
    last_info_ms: Option<u64>,
    suppressed: u64,
}

impl LogSampler {
    const EVERY_MS: u64 = 60_000;

    /// `Some(suppressed since the last info line)` when this one may be logged at info.
    fn note(&mut self, now_ms: u64) -> Option<u64> {
        match self.last_info_ms {
            Some(t) if now_ms.saturating_sub(t) < Self::EVERY_MS => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_info_ms = Some(now_ms);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Reads the first frame, which must be a `hello` of our version.
async fn hello(stream: &mut Stream) -> Result<(String, Option<aula_proto::Seq>), Refusal> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, stream.next())
        .await
        .map_err(|_| (ErrorCode::HelloRequired, "no hello within 10 s".to_string()))?;
    let bytes = match first {
        Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
        Some(Ok(Message::Binary(b))) => b.to_vec(),
        _ => {
            return Err((
                ErrorCode::HelloRequired,
                "the connection closed before hello".into(),
            ));
        }
    };
    match decode_client(&bytes) {
        Ok(ClientMsg::Hello {
            v,
            token,
            resume_from,
        }) => {
            if v != PROTOCOL_VERSION {
                return Err((
                    ErrorCode::UnsupportedVersion,
                    format!("this server speaks version {PROTOCOL_VERSION}"),
                ));
            }
            Ok((token, resume_from))
        }
        Ok(_) => Err((
            ErrorCode::HelloRequired,
            "the first message must be hello".into(),
        )),
        Err(e) => Err((e.code(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::LogSampler;

    #[test]
    fn refusals_reach_info_once_a_minute() {
        let mut s = LogSampler::default();
        assert_eq!(s.note(1_000), Some(0));
        for t in 1_001..1_100 {
            assert_eq!(s.note(t), None);
        }
        assert_eq!(s.note(61_000), Some(99));
        assert_eq!(s.note(61_001), None);
    }
}
