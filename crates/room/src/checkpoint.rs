//! A room's whole state at one sequence number, so a restarted or reloaded room replays
//! only the events after it instead of its whole history.
//!
//! A checkpoint holds exactly what replaying the log up to its `seq` builds: settings,
//! members, the board with its undo stacks and graveyard, chat, hands, quizzes and the
//! activity behind reports. It leaves out what is not room state: the in-memory event
//! log (older events are read back from storage), the command dedup table (stored per
//! command beside the events) and rate limits (they start afresh, as on any restore).

use std::collections::{BTreeMap, BTreeSet};

use aula_proto::{MemberId, MemberInfo, RoomSettings, Seq, TrackId, TrackInfo};
use serde::{Deserialize, Serialize};

use crate::{Activity, Board, Member, Quizzes, Talk};

/// Bumped whenever the encoded state changes shape. A checkpoint of another format is
/// not read; the room is rebuilt from its whole log instead, and checkpointed again.
pub const CHECKPOINT_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint format {found} is not this build's {CHECKPOINT_FORMAT}")]
    Format { found: u32 },
    #[error("checkpoint is of class {found}, not {expected}")]
    WrongClass { expected: String, found: String },
    #[error("checkpoint cannot be read: {0}")]
    Decode(String),
    #[error(transparent)]
    Log(#[from] crate::ResumeError),
}

/// What is written: borrowed from the live room, so taking a checkpoint copies nothing
/// but the encoded bytes.
#[derive(Serialize)]
pub(crate) struct StateRef<'a> {
    pub format: u32,
    pub class_id: &'a str,
    pub seq: Seq,
    pub settings: &'a RoomSettings,
    pub members: &'a BTreeMap<MemberId, Member>,
    pub waiting: &'a BTreeMap<MemberId, MemberInfo>,
    pub removed: &'a BTreeSet<MemberId>,
    pub tracks: &'a BTreeMap<TrackId, TrackInfo>,
    pub board: &'a Board,
    pub talk: &'a Talk,
    pub quizzes: &'a Quizzes,
    pub activity: &'a Activity,
}

/// What is read back; the same fields as [`StateRef`], owned.
#[derive(Deserialize)]
pub(crate) struct State {
    pub class_id: String,
    pub seq: Seq,
    pub settings: RoomSettings,
    pub members: BTreeMap<MemberId, Member>,
    pub waiting: BTreeMap<MemberId, MemberInfo>,
    pub removed: BTreeSet<MemberId>,
    pub tracks: BTreeMap<TrackId, TrackInfo>,
    pub board: Board,
    pub talk: Talk,
    pub quizzes: Quizzes,
    pub activity: Activity,
}

/// Only the header, so a checkpoint of another format is recognised without decoding
/// its body into types that may have changed.
#[derive(Deserialize)]
struct Header {
    format: u32,
}

pub(crate) fn decode(bytes: &[u8], class_id: &str) -> Result<State, CheckpointError> {
    let header: Header =
        serde_json::from_slice(bytes).map_err(|e| CheckpointError::Decode(e.to_string()))?;
    if header.format != CHECKPOINT_FORMAT {
        return Err(CheckpointError::Format {
            found: header.format,
        });
    }
    let state: State =
        serde_json::from_slice(bytes).map_err(|e| CheckpointError::Decode(e.to_string()))?;
    if state.class_id != class_id {
        return Err(CheckpointError::WrongClass {
            expected: class_id.to_owned(),
            found: state.class_id,
        });
    }
    Ok(state)
}
