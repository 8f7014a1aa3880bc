use aula_proto::ErrorCode;

use crate::cache::CacheError;

/// Why a teacher-session operation failed. Every variant has a stable [`code`] that the
/// UI branches on; the message is for people.
///
/// [`code`]: ClientError::code
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached at all (refused, DNS, timeout).
    #[error("can't reach the server at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The server answered with a typed refusal.
    #[error("{message}")]
    Server { code: ErrorCode, message: String },
    /// The server answered with something that is not Aula's protocol.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("media: {0}")]
    Media(#[from] aula_media::MediaError),
    #[error("WebRTC: {0}")]
    Rtc(String),
    #[error("the class session has ended")]
    Ended,
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl ClientError {
    pub fn code(&self) -> String {
        match self {
            ClientError::Unreachable { .. } => "server_unreachable".into(),
            ClientError::Server { code, .. } => serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "server_error".into()),
            ClientError::Protocol(_) => "protocol_error".into(),
            ClientError::Cache(e) => e.code().into(),
            ClientError::Media(e) => e.code().into(),
            ClientError::Rtc(_) => "rtc_error".into(),
            ClientError::Ended => "ended".into(),
            ClientError::Invalid(_) => "invalid_request".into(),
        }
    }
}

impl From<webrtc::error::Error> for ClientError {
    fn from(e: webrtc::error::Error) -> Self {
        ClientError::Rtc(e.to_string())
    }
}
