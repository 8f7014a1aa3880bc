use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ErrorCode;

/// What a member may do in a class. Checked by the server on every command.
#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Teacher,
    Student,
    /// Receives everything, publishes nothing, is not shown in the roster: the recorder.
    Observer,
}

/// A member's stable id, taken from the `sub` of its join token, so it survives reconnects.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct MemberId(pub String);

/// A published track: `<member id>.<transceiver mid>`. Receivers see it as the
/// WebRTC track's msid, and the stream id is the owner's [`MemberId`].
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct TrackId(pub String);

/// Made by the client for every command, so that a retried command has no second effect.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct CommandId(pub String);

/// Position in a room's event log. Gap-free, starting at 1; 0 means "nothing seen yet".
#[derive(
    Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Camera,
    Microphone,
    Screen,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    /// Whether the member has a live connection now. A member whose link drops stays in
    /// the room, disconnected, for a grace period before it is removed.
    pub connected: bool,
    pub joined_at_ms: u64,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct TrackInfo {
    pub id: TrackId,
    pub owner: MemberId,
    pub kind: TrackKind,
    /// Off when the owner turned it off or a teacher muted or stopped it; the SFU then
    /// forwards none of its packets.
    pub enabled: bool,
}

#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RoomSettings {
    /// No new student may join; those already in stay.
    pub locked: bool,
    /// New students wait until a teacher admits them.
    pub waiting_room: bool,
}

/// Everything a client needs to draw the room, as of `seq`.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub class_id: String,
    pub seq: Seq,
    pub settings: RoomSettings,
    pub members: Vec<MemberInfo>,
    pub waiting: Vec<MemberInfo>,
    pub tracks: Vec<TrackInfo>,
}

#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    Removed,
    /// The link dropped and did not come back within the grace period.
    TimedOut,
}

/// Something that happened in a room. Every one is sequenced and sent to every member.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    MemberJoined {
        member: MemberInfo,
    },
    MemberLeft {
        member: MemberId,
        reason: LeaveReason,
    },
    PresenceChanged {
        member: MemberId,
        connected: bool,
    },
    MemberWaiting {
        member: MemberInfo,
    },
    WaitingResolved {
        member: MemberId,
        admitted: bool,
    },
    TrackPublished {
        track: TrackInfo,
    },
    TrackUnpublished {
        track: TrackId,
    },
    TrackStateChanged {
        track: TrackId,
        enabled: bool,
        by: MemberId,
    },
    SettingsChanged {
        settings: RoomSettings,
        by: MemberId,
    },
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct SequencedEvent {
    pub seq: Seq,
    /// Server time when the event was applied, in ms since the Unix epoch.
    pub at_ms: u64,
    pub event: RoomEvent,
}

/// What a member asks the room to do. Who may send each one is in `docs/PROTOCOL.md`
/// and enforced in `aula-room`.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomCommand {
    /// Turn one's own track on or off. A teacher may also turn anyone's track off.
    SetTrackEnabled { track: TrackId, enabled: bool },
    /// Teacher only: turn off every microphone track of a member.
    MuteMember { member: MemberId },
    /// Teacher only: turn off every camera track of a member.
    StopCamera { member: MemberId },
    /// Teacher only: remove a member; its token can no longer join this class.
    RemoveMember { member: MemberId },
    /// Teacher only.
    SetLocked { locked: bool },
    /// Teacher only.
    SetWaitingRoom { enabled: bool },
    /// Teacher only: let a waiting member in.
    Admit { member: MemberId },
    /// Teacher only: turn a waiting member away.
    Deny { member: MemberId },
}

/// A transceiver the client publishes in its offer, named by its `mid`.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct PublishedTrack {
    pub mid: String,
    pub kind: TrackKind,
}

/// Messages from a client to the server.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Must be the first frame. `resume_from` is the last sequence number the client saw
    /// when it reconnects; the server then sends exactly the events after it.
    Hello {
        v: u32,
        token: String,
        #[serde(default)]
        resume_from: Option<Seq>,
    },
    Command {
        id: CommandId,
        command: RoomCommand,
    },
    /// The client's WebRTC offer, with every candidate gathered, naming what each
    /// sending transceiver carries. A new offer replaces the client's media session.
    Offer {
        sdp: String,
        tracks: Vec<PublishedTrack>,
    },
    /// The answer to a server [`ServerMsg::Offer`].
    Answer {
        sdp: String,
    },
    Ping {
        t: f64,
    },
    Leave,
}

/// Messages from the server to a client.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Sent once the member is in the room. `snapshot` is absent when the server could
    /// resume from the client's `resume_from`; the missed events follow as `event`s.
    Welcome {
        v: u32,
        you: MemberInfo,
        snapshot: Option<RoomSnapshot>,
        resumed_from: Option<Seq>,
    },
    /// The member is in the waiting room; `welcome` follows if a teacher admits it.
    Waiting,
    Event(SequencedEvent),
    /// The command with this id was applied (or had been, when `duplicate`).
    Ack {
        id: CommandId,
        duplicate: bool,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The command that failed, when the error answers one.
        id: Option<CommandId>,
    },
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Pong {
        t: f64,
    },
}

// ---- REST ----

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct CreateClass {
    pub title: String,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct ClassCreated {
    pub class_id: String,
    pub title: String,
    pub teacher_token: String,
    pub teacher_link: String,
    pub student_link: String,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct InviteCreated {
    pub invite: String,
    pub student_link: String,
    pub expires_at_ms: u64,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    pub invite: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct JoinGranted {
    pub token: String,
    pub member_id: MemberId,
    pub class_id: String,
    pub role: Role,
    pub expires_at_ms: u64,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}
