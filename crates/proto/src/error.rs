use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Every error a client can be told, on the WebSocket and in REST bodies.
/// The UI maps these to its own words; `message` is for logs and developers.
#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or JSON that is not a valid message of a known type.
    BadMessage,
    MessageTooLarge,
    UnknownType,
    UnsupportedVersion,
    /// Something other than `hello` came first.
    HelloRequired,
    InvalidToken,
    TokenExpired,
    /// The member's role may not do this.
    Forbidden,
    RoomLocked,
    /// A teacher removed this member; its token no longer joins.
    Removed,
    /// A teacher turned this member away from the waiting room.
    Denied,
    /// Too many messages; the connection is slowed, then closed if it keeps on.
    RateLimited,
    UnknownMember,
    UnknownTrack,
    /// A well-formed command that makes no sense now (for example admitting someone
    /// who is not waiting).
    InvalidCommand,
    /// The WebRTC offer or answer was refused.
    MediaRejected,
    /// The same member joined again from another connection; this one is closed.
    Replaced,
    NotFound,
    /// The request body or a field of it is invalid (REST).
    InvalidRequest,
    Internal,
    /// The server is stopping; reconnect (to it or its replacement) shortly.
    ShuttingDown,
    /// A size or count limit (points per stroke, text length, pages, …) was exceeded.
    LimitExceeded,
    /// No such board item or page.
    UnknownItem,
    /// The token was revoked (the member was removed, its roster entry deleted, or the
    /// operator rotated the signing secret).
    TokenRevoked,
    /// The class already holds as many members as the operator allows.
    ClassFull,
    /// The server is at its connection limit; retry after the time it gives.
    ServerBusy,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RoomLocked => "room_locked",
            ErrorCode::Removed => "removed",
            ErrorCode::Denied => "denied",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnknownMember => "unknown_member",
            ErrorCode::UnknownTrack => "unknown_track",
            ErrorCode::InvalidCommand => "invalid_command",
            ErrorCode::MediaRejected => "media_rejected",
            ErrorCode::Replaced => "replaced",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Internal => "internal",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::UnknownItem => "unknown_item",
            ErrorCode::TokenRevoked => "token_revoked",
            ErrorCode::ClassFull => "class_full",
            ErrorCode::ServerBusy => "server_busy",
        }
    }
}
