use serde::Deserialize;

use crate::{ClientMsg, ErrorCode, RoomCommand};

/// Largest client frame the server reads. An SDP offer with every candidate is about
/// 6 KiB; this leaves room for many transceivers and nothing much else.
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;

const MAX_TOKEN_BYTES: usize = 4096;
const MAX_ID_BYTES: usize = 128;
const MAX_SDP_BYTES: usize = 60 * 1024;
const MAX_TRACKS_PER_OFFER: usize = 16;

const MAX_LAYERS: usize = 4;
const MAX_PIXELS: u32 = 16_384;

const KNOWN_TYPES: &[&str] = &[
    "hello",
    "command",
    "offer",
    "answer",
    "ping",
    "leave",
    "view_size",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientDecodeError {
    #[error("frame of {0} bytes is over the limit of {MAX_CLIENT_FRAME_BYTES}")]
    TooLarge(usize),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl ClientDecodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientDecodeError::TooLarge(_) => ErrorCode::MessageTooLarge,
            ClientDecodeError::UnknownType(_) => ErrorCode::UnknownType,
            ClientDecodeError::Malformed(_) => ErrorCode::BadMessage,
        }
    }
}

/// Decodes and bounds-checks one client frame. Never panics, whatever the bytes.
pub fn decode_client(frame: &[u8]) -> Result<ClientMsg, ClientDecodeError> {
    if frame.len() > MAX_CLIENT_FRAME_BYTES {
        return Err(ClientDecodeError::TooLarge(frame.len()));
    }
    match serde_json::from_slice::<ClientMsg>(frame) {
        Ok(msg) => {
            validate(&msg)?;
            Ok(msg)
        }
        Err(err) => Err(classify(frame, err)),
    }
}

/// Tells an unknown `type` apart from a broken known one, so the client learns which.
fn classify(frame: &[u8], err: serde_json::Error) -> ClientDecodeError {
    #[derive(Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        ty: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Tag>(frame) {
        Ok(Tag {
            ty: Some(serde_json::Value::String(ty)),
        }) if !KNOWN_TYPES.contains(&ty.as_str()) => {
            let mut shown = ty;
            shown.truncate(shown.floor_char_boundary(64));
            ClientDecodeError::UnknownType(shown)
        }
        _ => ClientDecodeError::Malformed(err.to_string()),
    }
}

fn validate(msg: &ClientMsg) -> Result<(), ClientDecodeError> {
    let bad = |what: &str| Err(ClientDecodeError::Malformed(what.to_owned()));
    match msg {
        ClientMsg::Hello { token, .. } if token.len() > MAX_TOKEN_BYTES => bad("token too long"),
        ClientMsg::Command { id, command } => {
            if id.0.is_empty() || id.0.len() > MAX_ID_BYTES {
                return bad("command id must be 1 to 128 bytes");
            }
            let long = match command {
                RoomCommand::SetTrackEnabled { track, .. } => track.0.len() > MAX_ID_BYTES,
                RoomCommand::MuteMember { member }
                | RoomCommand::StopCamera { member }
                | RoomCommand::RemoveMember { member }
                | RoomCommand::Admit { member }
                | RoomCommand::Deny { member } => member.0.len() > MAX_ID_BYTES,
                RoomCommand::LowerHand { member } => member.0.len() > MAX_ID_BYTES,
                RoomCommand::AppendStroke { item, .. } | RoomCommand::EndStroke { item } => {
                    item.0.len() > MAX_ID_BYTES
                }
                RoomCommand::StartStroke { item, page, .. }
                | RoomCommand::PlaceItem { item, page, .. } => {
                    item.0.len() > MAX_ID_BYTES || page.0.len() > MAX_ID_BYTES
                }
                RoomCommand::AddPage { page, .. }
                | RoomCommand::MovePage { page, .. }
                | RoomCommand::ShowPage { page }
                | RoomCommand::ClearPage { page }
                | RoomCommand::SetPageBackground { page, .. }
                | RoomCommand::EraseArea { page, .. } => page.0.len() > MAX_ID_BYTES,
                RoomCommand::EraseItems { items } | RoomCommand::MoveItems { items, .. } => {
                    items.iter().any(|i| i.0.len() > MAX_ID_BYTES)
                }
                RoomCommand::SetDrawPolicy { allowed, .. } => {
                    allowed.iter().any(|m| m.0.len() > MAX_ID_BYTES)
                }
                // Text and counts are bounded by the room's limits, with their own error.
                _ => false,
            };
            if long { bad("id too long") } else { Ok(()) }
        }
        ClientMsg::Offer { sdp, tracks } => {
            if sdp.len() > MAX_SDP_BYTES {
                bad("sdp too long")
            } else if tracks.len() > MAX_TRACKS_PER_OFFER {
                bad("too many tracks")
            } else if tracks.iter().any(|t| t.mid.is_empty() || t.mid.len() > 32) {
                bad("mid must be 1 to 32 bytes")
            } else if tracks.iter().any(|t| {
                t.layers.len() > MAX_LAYERS
                    || t.layers.iter().any(|l| {
                        l.rid.is_empty()
                            || l.rid.len() > 16
                            || !l.rid.bytes().all(|b| b.is_ascii_alphanumeric())
                            || l.width > MAX_PIXELS
                            || l.height > MAX_PIXELS
                    })
            }) {
                bad("layers: at most 4, each rid 1 to 16 letters or digits, sizes up to 16384")
            } else {
                Ok(())
            }
        }
        ClientMsg::ViewSize { height } if *height > MAX_PIXELS => bad("height up to 16384"),
        ClientMsg::Answer { sdp } if sdp.len() > MAX_SDP_BYTES => bad("sdp too long"),
        ClientMsg::Ping { t } if !t.is_finite() => bad("ping time must be finite"),
        _ => Ok(()),
    }
}
