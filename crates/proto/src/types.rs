use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ErrorCode;
use crate::board::{
    BoardItem, BoardSnapshot, ChatMessage, DrawPolicy, EditCause, ItemId, PageBackground, PageId,
    PageInfo, Reaction, Tool, Viewport,
};
use crate::quiz::{
    AnswerRecord, Question, QuizAnswer, QuizId, QuizInfo, QuizResults, QuizState, Verdict,
};

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
#[derive(
    Serialize, Deserialize, TS, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
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
    /// The class's owner: the teacher who created it. Co-teachers cannot remove it.
    #[serde(default)]
    pub owner: bool,
    /// Whether the member has a live connection now. A member whose link drops stays in
    /// the room, disconnected, for a grace period before it is removed.
    pub connected: bool,
    pub joined_at_ms: u64,
    /// The member's class tab (or app window) is in view. Reported by the client.
    #[serde(default = "yes")]
    pub tab_visible: bool,
    /// The member's microphone carries speech now. Reported by the client.
    #[serde(default)]
    pub speaking: bool,
}

fn yes() -> bool {
    true
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

#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomSettings {
    /// No new student may join; those already in stay.
    pub locked: bool,
    /// New students wait until a teacher admits them.
    pub waiting_room: bool,
    /// Students may post in the chat. Teachers always may.
    #[serde(default = "yes")]
    pub chat_enabled: bool,
    /// Whether a member's tab visibility is recorded (set by the server's operator).
    /// When off, every member counts as in view and students are told so.
    #[serde(default = "yes")]
    pub tab_tracking: bool,
    /// How long the class may stand empty and still be the same session (set by the
    /// server's operator). Sessions split attendance and reports.
    #[serde(default = "session_gap")]
    pub session_gap_ms: u64,
}

fn session_gap() -> u64 {
    DEFAULT_SESSION_GAP_MS
}

/// Fifteen minutes: a school's Wi-Fi dropping everyone for a while is still one class.
pub const DEFAULT_SESSION_GAP_MS: u64 = 15 * 60 * 1000;

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            locked: false,
            waiting_room: false,
            chat_enabled: true,
            tab_tracking: true,
            session_gap_ms: DEFAULT_SESSION_GAP_MS,
        }
    }
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
    pub board: BoardSnapshot,
    /// The messages this member may read, oldest first.
    pub chat: Vec<ChatMessage>,
    /// Raised hands in the order they went up.
    pub hands: Vec<MemberId>,
    /// Quizzes of this class session, oldest first, as this member may see them.
    #[serde(default)]
    pub quizzes: Vec<QuizState>,
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
    PresenceUpdated {
        member: MemberId,
        tab_visible: bool,
        speaking: bool,
    },
    PageAdded {
        page: PageInfo,
        index: u32,
    },
    PageMoved {
        page: PageId,
        index: u32,
    },
    PageBackgroundSet {
        page: PageId,
        background: Option<PageBackground>,
    },
    /// The teacher now shows this page.
    PageShown {
        page: PageId,
    },
    ViewportChanged {
        viewport: Viewport,
    },
    FollowChanged {
        follow: bool,
    },
    DrawPolicyChanged {
        draw: DrawPolicy,
        allowed: Vec<MemberId>,
    },
    /// A freehand stroke opens; its first points are in `item.points`.
    StrokeStarted {
        item: BoardItem,
    },
    /// More points of an open stroke, continuing its delta-coded list.
    StrokePoints {
        item: ItemId,
        points: Vec<i32>,
    },
    StrokeEnded {
        item: ItemId,
    },
    /// A finished item (shape or text) arrives whole.
    ItemPlaced {
        item: BoardItem,
    },
    ItemsErased {
        items: Vec<ItemId>,
        by: MemberId,
        #[serde(default)]
        cause: EditCause,
    },
    /// Erased items come back where they were (an undo of an erase, a redo of a drawing).
    ItemsRestored {
        items: Vec<BoardItem>,
        by: MemberId,
        cause: EditCause,
    },
    ItemsMoved {
        items: Vec<ItemId>,
        dx: i32,
        dy: i32,
        by: MemberId,
        #[serde(default)]
        cause: EditCause,
    },
    ChatPosted {
        message: ChatMessage,
    },
    ChatDeleted {
        message: Seq,
        by: MemberId,
    },
    HandRaised {
        member: MemberId,
    },
    HandLowered {
        member: MemberId,
        by: MemberId,
    },
    Reacted {
        member: MemberId,
        reaction: Reaction,
    },
    /// The right answers are only in the teachers' copy until the reveal.
    QuizStarted {
        quiz: QuizInfo,
    },
    /// Teachers see every answer (without the member for anonymous polls); a student
    /// sees only its own.
    QuizAnswered {
        quiz: QuizId,
        record: AnswerRecord,
        /// The quiz is an anonymous poll: teachers get the answer without the member.
        #[serde(default)]
        anonymous: bool,
    },
    QuizClosed {
        quiz: QuizId,
    },
    /// A teacher marked a short answer; seen by teachers, and by that student once the
    /// quiz is revealed (before, a verdict would let students probe for answers).
    AnswerMarked {
        quiz: QuizId,
        member: MemberId,
        correct: bool,
        /// The quiz was already revealed when it was marked.
        #[serde(default)]
        revealed: bool,
    },
    QuizRevealed {
        quiz: QuizId,
        results: QuizResults,
        /// Each answer's verdict, known now. A student receives only its own; teachers
        /// (who saw every verdict already) none.
        #[serde(default)]
        verdicts: Vec<Verdict>,
    },
    /// Stands in for an event this member may not see (another student's private chat),
    /// so its sequence stays gap-free.
    Redacted,
}

/// How one member receives an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// As it is.
    Same,
    /// As `redacted`.
    Hidden,
    /// With parts left out.
    Changed(RoomEvent),
}

impl RoomEvent {
    /// How a member receives this event: private chat is for its student and teachers,
    /// right answers wait for the reveal, answers are for teachers and their student.
    pub fn seen_by(&self, member: &MemberId, role: Role) -> Seen {
        let teacher = role == Role::Teacher;
        match self {
            RoomEvent::ChatPosted { message } if !message.visible_to(member, role) => Seen::Hidden,
            RoomEvent::QuizStarted { quiz } if !teacher && !quiz.question.correct.is_empty() => {
                Seen::Changed(RoomEvent::QuizStarted {
                    quiz: quiz.for_role(role),
                })
            }
            RoomEvent::QuizAnswered {
                quiz,
                record,
                anonymous,
            } => {
                if record.member.as_ref() == Some(member) {
                    // A student learns whether it was right at the reveal, not before:
                    // otherwise throw-away identities could try every option first.
                    if teacher || record.correct.is_none() {
                        Seen::Same
                    } else {
                        Seen::Changed(RoomEvent::QuizAnswered {
                            quiz: quiz.clone(),
                            record: AnswerRecord {
                                correct: None,
                                ..record.clone()
                            },
                            anonymous: *anonymous,
                        })
                    }
                } else if !teacher {
                    Seen::Hidden
                } else if *anonymous {
                    Seen::Changed(RoomEvent::QuizAnswered {
                        quiz: quiz.clone(),
                        record: AnswerRecord {
                            member: None,
                            ..record.clone()
                        },
                        anonymous: true,
                    })
                } else {
                    Seen::Same
                }
            }
            RoomEvent::AnswerMarked {
                member: m,
                revealed,
                ..
            } if !teacher && (m != member || !revealed) => Seen::Hidden,
            RoomEvent::QuizRevealed {
                quiz,
                results,
                verdicts,
            } => {
                let mine: Vec<Verdict> = if teacher {
                    Vec::new()
                } else {
                    verdicts
                        .iter()
                        .filter(|v| &v.member == member)
                        .cloned()
                        .collect()
                };
                if mine.len() == verdicts.len() {
                    Seen::Same
                } else {
                    Seen::Changed(RoomEvent::QuizRevealed {
                        quiz: quiz.clone(),
                        results: results.clone(),
                        verdicts: mine,
                    })
                }
            }
            _ => Seen::Same,
        }
    }
}

impl ChatMessage {
    pub fn visible_to(&self, member: &MemberId, role: Role) -> bool {
        match &self.private_with {
            None => true,
            Some(student) => role != Role::Student || student == member,
        }
    }
}

impl SequencedEvent {
    /// This event as `member` receives it.
    pub fn for_member(&self, member: &MemberId, role: Role) -> SequencedEvent {
        let event = match self.event.seen_by(member, role) {
            Seen::Same => return self.clone(),
            Seen::Hidden => RoomEvent::Redacted,
            Seen::Changed(e) => e,
        };
        SequencedEvent {
            seq: self.seq,
            at_ms: self.at_ms,
            event,
        }
    }
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
    SetTrackEnabled {
        track: TrackId,
        enabled: bool,
    },
    /// Teacher only: turn off every microphone track of a member.
    MuteMember {
        member: MemberId,
    },
    /// Teacher only: turn off every camera track of a member.
    StopCamera {
        member: MemberId,
    },
    /// Teacher only: remove a member; its token can no longer join this class.
    RemoveMember {
        member: MemberId,
    },
    /// Teacher only.
    SetLocked {
        locked: bool,
    },
    /// Teacher only.
    SetWaitingRoom {
        enabled: bool,
    },
    /// Teacher only: let a waiting member in.
    Admit {
        member: MemberId,
    },
    /// Teacher only: turn a waiting member away.
    Deny {
        member: MemberId,
    },
    /// Report one's own tab visibility and speech.
    SetPresence {
        tab_visible: bool,
        speaking: bool,
    },
    /// Teacher only. `index` is the position among pages; at the end when absent.
    AddPage {
        page: PageId,
        index: Option<u32>,
    },
    /// Teacher only.
    MovePage {
        page: PageId,
        index: u32,
    },
    /// Teacher only.
    SetPageBackground {
        page: PageId,
        background: Option<PageBackground>,
    },
    /// Teacher only: the page everyone following the teacher sees.
    ShowPage {
        page: PageId,
    },
    /// Teacher only.
    SetViewport {
        viewport: Viewport,
    },
    /// Teacher only: students see the teacher's page and viewport.
    SetFollow {
        follow: bool,
    },
    /// Teacher only: who may draw besides teachers.
    SetDrawPolicy {
        draw: DrawPolicy,
        allowed: Vec<MemberId>,
    },
    /// Opens a freehand stroke (pen or highlighter) with its first points.
    StartStroke {
        item: ItemId,
        page: PageId,
        tool: Tool,
        color: u32,
        width: u16,
        points: Vec<i32>,
    },
    AppendStroke {
        item: ItemId,
        points: Vec<i32>,
    },
    EndStroke {
        item: ItemId,
    },
    /// A whole shape or text item.
    PlaceItem {
        item: ItemId,
        page: PageId,
        tool: Tool,
        color: u32,
        width: u16,
        points: Vec<i32>,
        text: Option<String>,
    },
    /// Erase whole items (the stroke eraser, or delete on a selection). Students may only
    /// erase their own.
    EraseItems {
        items: Vec<ItemId>,
    },
    /// Erase every item the eraser's path touches: absolute `[x, y, …]` pairs, and the
    /// eraser's radius. Students only erase their own items.
    EraseArea {
        page: PageId,
        path: Vec<i32>,
        radius: u16,
    },
    MoveItems {
        items: Vec<ItemId>,
        dx: i32,
        dy: i32,
    },
    /// Undo one's own last board edit.
    Undo,
    Redo,
    /// Teacher only: erase everything on a page.
    ClearPage {
        page: PageId,
    },
    /// To the class, or privately between a student and the teachers: a student sets
    /// `private_with` to itself, a teacher to the student.
    SendChat {
        text: String,
        private_with: Option<MemberId>,
    },
    /// Teacher only.
    DeleteChat {
        message: Seq,
    },
    /// Teacher only: whether students may post.
    SetChatEnabled {
        enabled: bool,
    },
    RaiseHand,
    /// One's own hand, or (teachers) anyone's.
    LowerHand {
        member: MemberId,
    },
    /// Teacher only.
    LowerAllHands,
    React {
        reaction: Reaction,
    },
    /// Teacher only: ask a question now (from the bank or on the spot).
    StartQuiz {
        quiz: QuizId,
        question: Question,
        time_limit_ms: Option<u32>,
        anonymous: bool,
    },
    /// Students: once per quiz, while it is open; a second answer changes nothing.
    AnswerQuiz {
        quiz: QuizId,
        answer: QuizAnswer,
    },
    /// Teacher only: no more answers.
    CloseQuiz {
        quiz: QuizId,
    },
    /// Teacher only: mark a short answer right or wrong.
    MarkAnswer {
        quiz: QuizId,
        member: MemberId,
        correct: bool,
    },
    /// Teacher only: show everyone the right answers and the results (closes the quiz).
    RevealQuiz {
        quiz: QuizId,
    },
}

/// A transceiver the client publishes in its offer, named by its `mid`.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct PublishedTrack {
    pub mid: String,
    pub kind: TrackKind,
    /// Its simulcast layers (rids), lowest first, with the size each is sent at; empty
    /// for a track sent as one encoding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(optional, as = "Option<Vec<LayerSize>>")]
    pub layers: Vec<LayerSize>,
}

/// One simulcast layer of a published track.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct LayerSize {
    pub rid: String,
    pub width: u32,
    pub height: u32,
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
    /// How tall (device pixels) this client shows others' video tiles: the SFU sends no
    /// simulcast layer much taller. Sent when the layout changes and after each offer.
    ViewSize {
        height: u32,
    },
}

/// A STUN or TURN server, in the shape of WebRTC's `RTCIceServer`.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct IceServer {
    /// `turn:host:3478?transport=udp`, `turn:host:3478?transport=tcp`, `turns:host:443?transport=tcp`, `stun:…`.
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
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
        snapshot: Option<Box<RoomSnapshot>>,
        resumed_from: Option<Seq>,
        /// STUN/TURN servers for this member's peer connection, with short-lived TURN
        /// credentials minted for it (fresh on every welcome). Empty: host candidates only.
        #[serde(default)]
        ice_servers: Vec<IceServer>,
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
    /// This member's link cannot carry even the lowest video layer of `track`: the SFU
    /// sends its audio only until the link recovers (`paused: false`).
    VideoPaused {
        track: TrackId,
        paused: bool,
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
    /// A random id the browser keeps (localStorage) for this device: 8–64 characters of
    /// `A-Za-z0-9_-`. A student a teacher removed cannot come back through the same
    /// open link from the same device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct JoinGranted {
    pub token: String,
    pub member_id: MemberId,
    pub class_id: String,
    pub role: Role,
    pub expires_at_ms: u64,
}

/// `POST /api/check`: a connectivity check, open for a couple of minutes. Anyone may
/// start one (the page is for students before they have a link, and for a school's IT
/// desk); each source address may start a few a minute.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct CheckStarted {
    pub check: String,
    /// The server's STUN/TURN servers, with credentials that expire with the check.
    pub ice_servers: Vec<IceServer>,
    pub expires_at_ms: u64,
    /// Largest `bytes` the bandwidth endpoints take.
    pub max_transfer_bytes: u64,
}

/// `POST /api/check/{check}/offer`: one peer connection of the check, offered by the
/// browser (receive-only audio, so only ICE and DTLS run). The answer carries the SFU's
/// host candidate.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct CheckOffer {
    pub sdp: String,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct CheckAnswer {
    pub sdp: String,
}

/// `POST /api/check/{check}/upload`: how many bytes of the body arrived.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct CheckUploaded {
    pub bytes: u64,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}
