//! The pure classroom core.
//!
//! A [`Room`] takes commands with the current time and the acting member, checks every
//! rule, and answers with the events that follow. Every state change goes through
//! [`Room::apply_event`], so a room rebuilt from its stored event log is the same room.
//! No I/O and no clock: time is always a parameter, in ms since the Unix epoch.

mod activity;
mod board;
mod checkpoint;
pub mod dedup;
pub mod engagement;
pub mod geometry;
mod log;
pub mod names;
mod quiz;
pub mod summary;
mod talk;

use std::collections::{BTreeMap, BTreeSet};

use aula_proto::{
    ChatMessage, CommandId, ErrorCode, LeaveReason, MemberId, MemberInfo, Role, RoomCommand,
    RoomEvent, RoomSettings, RoomSnapshot, Seq, SequencedEvent, TrackId, TrackInfo, TrackKind,
};

pub use activity::{Activity, Attendance, MOSTLY_HIDDEN, MemberActivity, Session, Totals};
pub use board::*;
pub use checkpoint::{CHECKPOINT_FORMAT, CheckpointError};
pub use dedup::{CommandDedup, CommandKey, command_key};
pub use log::{EventLog, ResumeError};
pub use quiz::{MAX_OPTIONS, MAX_QUIZZES, Quiz, Quizzes};
pub use talk::{CHAT_HISTORY, MAX_CHAT_CHARS, RateLimit, Talk};

/// Who changes a room's settings on the operator's behalf (server configuration).
pub const OPERATOR: &str = "operator";

/// How many events a room keeps in memory for resume. Older ones are read back from
/// storage page by page (the server), or replaced by a snapshot (a client's replica).
pub const DEFAULT_LOG_CAPACITY: usize = 8_192;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RoomError {
    #[error("{0} may not do this")]
    Forbidden(&'static str),
    #[error("the room is locked")]
    RoomLocked,
    #[error("this member was removed from the class")]
    Removed,
    #[error("no such member in the room")]
    UnknownMember,
    #[error("no such track")]
    UnknownTrack,
    #[error("{0}")]
    InvalidCommand(&'static str),
    #[error("{0}")]
    Limit(&'static str),
    #[error("no such item or page on the board")]
    UnknownItem,
    #[error("{0}; wait a moment")]
    RateLimited(&'static str),
}

impl RoomError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::Forbidden(_) => ErrorCode::Forbidden,
            RoomError::RoomLocked => ErrorCode::RoomLocked,
            RoomError::Removed => ErrorCode::Removed,
            RoomError::UnknownMember => ErrorCode::UnknownMember,
            RoomError::UnknownTrack => ErrorCode::UnknownTrack,
            RoomError::InvalidCommand(_) => ErrorCode::InvalidCommand,
            RoomError::Limit(_) => ErrorCode::LimitExceeded,
            RoomError::UnknownItem => ErrorCode::UnknownItem,
            RoomError::RateLimited(_) => ErrorCode::RateLimited,
        }
    }
}

/// Who is knocking: what a verified join token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    /// The class's owner (the teacher who created it): no co-teacher may remove it.
    pub owner: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// In the room. `rejoined` when the member was already there (a reconnect).
    Admitted { rejoined: bool },
    /// In the waiting room until a teacher admits or denies it.
    Waiting,
}

/// The answer to a command: the events it caused, already in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The command id had been seen before; nothing was applied again.
    pub duplicate: bool,
    pub events: Vec<SequencedEvent>,
}

#[derive(Debug, Clone)]
pub struct Room {
    class_id: String,
    settings: RoomSettings,
    members: BTreeMap<MemberId, Member>,
    waiting: BTreeMap<MemberId, MemberInfo>,
    removed: BTreeSet<MemberId>,
    tracks: BTreeMap<TrackId, TrackInfo>,
    log: EventLog,
    dedup: CommandDedup,
    board: Board,
    talk: Talk,
    quizzes: Quizzes,
    activity: Activity,
    /// Rate limits live only on the server's room: they slow members down, they are not
    /// room state, so replicas and restored rooms start them afresh.
    chat_rate: RateLimit,
    reaction_rate: RateLimit,
    presence_rate: RateLimit,
}

/// Chat: 5 at once, then one a second.
const CHAT_RATE: (u32, u64) = (5, 1000);
/// Reactions: 10 at once, then one every 250 ms.
const REACTION_RATE: (u32, u64) = (10, 250);
/// Presence (tab visibility, speaking): 10 at once, then one every 500 ms. Every change
/// reaches the whole class, so clients debounce speech before they report it.
const PRESENCE_RATE: (u32, u64) = (10, 500);

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
struct Member {
    info: MemberInfo,
    disconnected_since: Option<u64>,
}

impl Room {
    pub fn new(class_id: impl Into<String>) -> Self {
        Self::with_capacity(class_id, DEFAULT_LOG_CAPACITY)
    }

    pub fn with_capacity(class_id: impl Into<String>, log_capacity: usize) -> Self {
        Room {
            class_id: class_id.into(),
            settings: RoomSettings::default(),
            members: BTreeMap::new(),
            waiting: BTreeMap::new(),
            removed: BTreeSet::new(),
            tracks: BTreeMap::new(),
            log: EventLog::new(log_capacity),
            dedup: CommandDedup::default(),
            board: Board::default(),
            talk: Talk::default(),
            quizzes: Quizzes::default(),
            activity: Activity::default(),
            chat_rate: RateLimit::new(CHAT_RATE.0, CHAT_RATE.1),
            reaction_rate: RateLimit::new(REACTION_RATE.0, REACTION_RATE.1),
            presence_rate: RateLimit::new(PRESENCE_RATE.0, PRESENCE_RATE.1),
        }
    }

    /// Rebuilds a room from its stored log, for a server that restarted. Every member is
    /// then disconnected until it reconnects, and nobody publishes media any more.
    /// `applied` are the commands stored as applied (oldest first), so their retries are
    /// still recognised.
    pub fn restore(
        class_id: impl Into<String>,
        stored: impl IntoIterator<Item = SequencedEvent>,
        applied: impl IntoIterator<Item = (MemberId, CommandKey)>,
        now_ms: u64,
    ) -> Result<Self, ResumeError> {
        let mut room = Room::new(class_id);
        room.replay(stored)?;
        Ok(room.reopened(applied, now_ms))
    }

    /// As [`Room::restore`], from a [`Room::checkpoint`] and the stored events after it
    /// (`tail` must start right after the checkpoint's seq). The room is the same one a
    /// replay of the whole log builds.
    pub fn restore_from_checkpoint(
        class_id: impl Into<String>,
        checkpoint: &[u8],
        tail: impl IntoIterator<Item = SequencedEvent>,
        applied: impl IntoIterator<Item = (MemberId, CommandKey)>,
        now_ms: u64,
    ) -> Result<Self, CheckpointError> {
        let mut room = Room::new(class_id);
        let state = checkpoint::decode(checkpoint, &room.class_id)?;
        room.log = EventLog::starting_after(state.seq, DEFAULT_LOG_CAPACITY);
        room.settings = state.settings;
        room.members = state.members;
        room.waiting = state.waiting;
        room.removed = state.removed;
        room.tracks = state.tracks;
        room.board = state.board;
        room.talk = state.talk;
        room.quizzes = state.quizzes;
        room.activity = state.activity;
        room.replay(tail)?;
        Ok(room.reopened(applied, now_ms))
    }

    /// The room's state as of its last event, encoded: with the events after it, enough
    /// to rebuild the room ([`Room::restore_from_checkpoint`]).
    pub fn checkpoint(&self) -> Result<Vec<u8>, CheckpointError> {
        serde_json::to_vec(&checkpoint::StateRef {
            format: CHECKPOINT_FORMAT,
            class_id: &self.class_id,
            seq: self.log.last_seq(),
            settings: &self.settings,
            members: &self.members,
            waiting: &self.waiting,
            removed: &self.removed,
            tracks: &self.tracks,
            board: &self.board,
            talk: &self.talk,
            quizzes: &self.quizzes,
            activity: &self.activity,
        })
        .map_err(|e| CheckpointError::Decode(e.to_string()))
    }

    fn replay(
        &mut self,
        events: impl IntoIterator<Item = SequencedEvent>,
    ) -> Result<(), ResumeError> {
        for ev in events {
            self.log.push_existing(ev.clone())?;
            self.apply_event(&ev);
        }
        Ok(())
    }

    /// A restored room as the server reopens it: retries of stored commands recognised,
    /// and every member disconnected and every track gone until they come back.
    fn reopened(
        mut self,
        applied: impl IntoIterator<Item = (MemberId, CommandKey)>,
        now_ms: u64,
    ) -> Self {
        for (member, key) in applied {
            self.dedup.insert_key(member, key, Ok(()));
        }
        let mut follow = Vec::new();
        for track in self.tracks.keys() {
            follow.push(RoomEvent::TrackUnpublished {
                track: track.clone(),
            });
        }
        for (id, m) in &self.members {
            if m.info.connected {
                follow.push(RoomEvent::PresenceChanged {
                    member: id.clone(),
                    connected: false,
                });
            }
        }
        self.emit_all(now_ms, follow);
        self
    }

    /// A replica of a room as a client sees it: built from the server's snapshot, then
    /// moved forward by [`Room::apply_sequenced`]. The teacher app keeps one so its view
    /// follows the same rules as the server's room, not a second copy of them.
    pub fn from_snapshot(snapshot: &RoomSnapshot) -> Self {
        let mut room = Room::new(snapshot.class_id.clone());
        room.log = EventLog::starting_after(snapshot.seq, DEFAULT_LOG_CAPACITY);
        room.settings = snapshot.settings;
        for info in &snapshot.members {
            let disconnected_since = (!info.connected).then_some(info.joined_at_ms);
            room.members.insert(
                info.id.clone(),
                Member {
                    info: info.clone(),
                    disconnected_since,
                },
            );
        }
        for info in &snapshot.waiting {
            room.waiting.insert(info.id.clone(), info.clone());
        }
        for track in &snapshot.tracks {
            room.tracks.insert(track.id.clone(), track.clone());
        }
        room.board = Board::from_snapshot(&snapshot.board);
        room.talk = Talk::from_snapshot(&snapshot.chat, &snapshot.hands);
        room.quizzes = Quizzes::from_snapshot(&snapshot.quizzes);
        room
    }

    /// Applies an event the server sequenced. It must be the next one: a replica with a
    /// gap would silently disagree with the server, so the caller asks for a snapshot.
    pub fn apply_sequenced(&mut self, ev: &SequencedEvent) -> Result<(), ResumeError> {
        if ev.seq <= self.log.last_seq() {
            // Already applied (a resume that overlaps): applying twice would be the bug.
            return Ok(());
        }
        self.log.push_existing(ev.clone())?;
        self.apply_event(ev);
        Ok(())
    }

    pub fn class_id(&self) -> &str {
        &self.class_id
    }

    pub fn settings(&self) -> RoomSettings {
        self.settings
    }

    pub fn last_seq(&self) -> Seq {
        self.log.last_seq()
    }

    pub fn member(&self, id: &MemberId) -> Option<&MemberInfo> {
        self.members.get(id).map(|m| &m.info)
    }

    pub fn is_waiting(&self, id: &MemberId) -> bool {
        self.waiting.contains_key(id)
    }

    pub fn track(&self, id: &TrackId) -> Option<&TrackInfo> {
        self.tracks.get(id)
    }

    pub fn tracks(&self) -> impl Iterator<Item = &TrackInfo> {
        self.tracks.values()
    }

    pub fn board(&self) -> &Board {
        &self.board
    }

    pub fn talk(&self) -> &Talk {
        &self.talk
    }

    pub fn quizzes(&self) -> &Quizzes {
        &self.quizzes
    }

    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Every member's attendance so far (students and teachers), by member id.
    pub fn attendance(&self, now_ms: u64) -> Vec<Attendance> {
        self.activity
            .members()
            .map(|(id, m)| m.attendance(id, now_ms))
            .collect()
    }

    /// The sessions of this class so far, oldest first.
    pub fn sessions(&self) -> &[Session] {
        self.activity.sessions()
    }

    /// The signals behind each student's engagement score in the current (last) session,
    /// and the score.
    pub fn engagement(&self, now_ms: u64) -> Vec<(MemberId, engagement::Signals, u8)> {
        let last = self.activity.sessions().len().saturating_sub(1);
        self.session_engagement(last, now_ms)
            .into_iter()
            .map(|(id, _, _, s, score)| (id, s, score))
            .collect()
    }

    /// Each student present in a session, with its attendance and activity there, the
    /// signals behind its engagement score and the score.
    fn session_engagement(
        &self,
        session: usize,
        now_ms: u64,
    ) -> Vec<(MemberId, Attendance, Totals, engagement::Signals, u8)> {
        let Some(span) = self.activity.sessions().get(session) else {
            return Vec::new();
        };
        let (from, to) = (span.started_at_ms, span.end_or(now_ms));
        // Anonymous quizzes count for nobody: a per-student figure would tell who answered
        // and whether they were right.
        let quizzes: Vec<&quiz::Quiz> = self
            .quizzes
            .iter()
            .filter(|q| (from..=to).contains(&q.info.started_at_ms) && !q.info.anonymous)
            .collect();
        self.activity
            .members()
            .filter(|(_, m)| m.role == Some(Role::Student))
            .filter_map(|(id, _)| {
                let (a, t) = self.activity.in_session(id, session, now_ms)?;
                let mut s = engagement::Signals {
                    class_ms: to - from,
                    active_ms: a.active_ms,
                    camera_ms: a.camera_ms,
                    present_ms: a.present_ms,
                    chat_messages: t.chat_messages,
                    board_items: t.board_items,
                    ..Default::default()
                };
                for q in &quizzes {
                    // Polls ask for an opinion: they count as asked and answered, never right.
                    s.quizzes_asked += 1;
                    if let Some(r) = q.answers.iter().find(|r| r.member.as_ref() == Some(id)) {
                        s.quizzes_answered += 1;
                        s.answer_speed += engagement::speed(r.response_ms);
                        let poll = q.info.question.kind == aula_proto::QuestionKind::Poll;
                        if r.correct == Some(true) || poll {
                            s.quizzes_right += 1;
                        }
                    }
                }
                let score = engagement::score(&s);
                Some((id.clone(), a, t, s, score))
            })
            .collect()
    }

    /// Attendance, engagement and quizzes of the current (last) session, as a teacher
    /// reads them.
    pub fn report(&self, now_ms: u64) -> aula_proto::ClassReport {
        let last = self.activity.sessions().len().saturating_sub(1);
        self.session_report(last, now_ms)
    }

    /// Every session's report, oldest first.
    pub fn session_reports(&self, now_ms: u64) -> Vec<aula_proto::ClassReport> {
        (0..self.activity.sessions().len())
            .map(|i| self.session_report(i, now_ms))
            .collect()
    }

    /// One session's report (0-based); an empty report past the last session.
    pub fn session_report(&self, session: usize, now_ms: u64) -> aula_proto::ClassReport {
        let span = self.activity.sessions().get(session);
        let window = span.map(|s| (s.started_at_ms, s.end_or(now_ms)));
        let mut students: Vec<aula_proto::StudentReport> = self
            .session_engagement(session, now_ms)
            .into_iter()
            .map(|(_, a, t, s, score)| {
                let p = engagement::parts(&s);
                aula_proto::StudentReport {
                    attendance: a,
                    chat_messages: t.chat_messages,
                    board_items: t.board_items,
                    quizzes_answered: s.quizzes_answered,
                    quizzes_right: s.quizzes_right,
                    score,
                    parts: aula_proto::EngagementParts {
                        attendance: p.attendance,
                        camera: p.camera,
                        quiz: p.quiz,
                        chat: p.chat,
                        board: p.board,
                    },
                }
            })
            .collect();
        students.sort_by(|a, b| {
            let (a, b) = (&a.attendance, &b.attendance);
            a.name.cmp(&b.name).then_with(|| a.member.cmp(&b.member))
        });
        aula_proto::ClassReport {
            class_id: self.class_id.clone(),
            generated_at_ms: now_ms,
            session: span.map_or(0, |_| session as u32 + 1),
            sessions: self.activity.sessions().len() as u32,
            started_at_ms: window.map(|w| w.0),
            ended_at_ms: span.and_then(|s| s.ended_at_ms),
            students,
            quizzes: self
                .quizzes
                .iter()
                .filter(|q| window.is_some_and(|(a, b)| (a..=b).contains(&q.info.started_at_ms)))
                .map(|q| q.state_for(&MemberId(String::new()), Role::Teacher))
                .collect(),
        }
    }

    /// The operator's choice about recording tab visibility, applied to this room. When it
    /// is turned off, anyone recorded as away counts as in view again.
    pub fn set_tab_tracking(&mut self, now_ms: u64, enabled: bool) -> Vec<SequencedEvent> {
        if self.settings.tab_tracking == enabled {
            return Vec::new();
        }
        let mut events = vec![RoomEvent::SettingsChanged {
            settings: RoomSettings {
                tab_tracking: enabled,
                ..self.settings
            },
            by: MemberId(OPERATOR.into()),
        }];
        if !enabled {
            for m in self.members.values().filter(|m| !m.info.tab_visible) {
                events.push(RoomEvent::PresenceUpdated {
                    member: m.info.id.clone(),
                    tab_visible: true,
                    speaking: m.info.speaking,
                });
            }
        }
        self.emit_all(now_ms, events)
    }

    /// The operator's session gap (how long a class may stand empty and stay one
    /// session), applied to this room as a settings change.
    pub fn set_session_gap(&mut self, now_ms: u64, gap_ms: u64) -> Vec<SequencedEvent> {
        if self.settings.session_gap_ms == gap_ms {
            return Vec::new();
        }
        let event = RoomEvent::SettingsChanged {
            settings: RoomSettings {
                session_gap_ms: gap_ms,
                ..self.settings
            },
            by: MemberId(OPERATOR.into()),
        };
        self.emit_all(now_ms, [event])
    }

    /// Quizzes whose time limit passed close now.
    pub fn expire_quizzes(&mut self, now_ms: u64) -> Vec<SequencedEvent> {
        let events = self.quizzes.expire(now_ms);
        self.emit_all(now_ms, events)
    }

    /// Everything, private chat and every quiz answer included: for storage and tests.
    pub fn snapshot(&self) -> RoomSnapshot {
        let everyone = (MemberId(String::new()), Role::Teacher);
        self.snapshot_with(self.talk.chat().cloned().collect(), &everyone)
    }

    /// What one member may see: another student's private chat and quiz answers, and the
    /// right answers of a quiz not yet revealed, are left out.
    pub fn snapshot_for(&self, member: &MemberId, role: Role) -> RoomSnapshot {
        self.snapshot_with(self.talk.chat_for(member, role), &(member.clone(), role))
    }

    fn snapshot_with(&self, chat: Vec<ChatMessage>, viewer: &(MemberId, Role)) -> RoomSnapshot {
        RoomSnapshot {
            class_id: self.class_id.clone(),
            seq: self.log.last_seq(),
            settings: self.settings,
            members: self.members.values().map(|m| m.info.clone()).collect(),
            waiting: self.waiting.values().cloned().collect(),
            tracks: self.tracks.values().cloned().collect(),
            board: self.board.snapshot(),
            chat,
            hands: self.talk.hands().to_vec(),
            quizzes: self.quizzes.states_for(&viewer.0, viewer.1),
        }
    }

    /// The events after `after`, for a client that reconnects.
    pub fn events_since(&self, after: Seq) -> Result<Vec<SequencedEvent>, ResumeError> {
        self.log.since(after)
    }

    /// At most `limit` of the events after `after`, from memory; `TooOld` when memory no
    /// longer holds the first of them.
    pub fn events_page(
        &self,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, ResumeError> {
        self.log.page(after, limit)
    }

    /// A member arrives (or comes back) with a verified identity.
    pub fn join(
        &mut self,
        now_ms: u64,
        who: Identity,
    ) -> Result<(JoinOutcome, Vec<SequencedEvent>), RoomError> {
        self.join_as(now_ms, who, false)
    }

    /// As [`Room::join`], but a new student waits for a teacher whatever the
    /// waiting-room setting (the server holds joins it has reason to doubt).
    pub fn join_held(
        &mut self,
        now_ms: u64,
        who: Identity,
    ) -> Result<(JoinOutcome, Vec<SequencedEvent>), RoomError> {
        self.join_as(now_ms, who, true)
    }

    /// Members in the room (connected or within their grace) plus those waiting.
    pub fn headcount(&self) -> usize {
        self.members.len() + self.waiting.len()
    }

    fn join_as(
        &mut self,
        now_ms: u64,
        who: Identity,
        hold: bool,
    ) -> Result<(JoinOutcome, Vec<SequencedEvent>), RoomError> {
        if self.removed.contains(&who.id) {
            return Err(RoomError::Removed);
        }
        if let Some(m) = self.members.get(&who.id) {
            let events = if m.info.connected {
                Vec::new()
            } else {
                self.emit_all(
                    now_ms,
                    [RoomEvent::PresenceChanged {
                        member: who.id,
                        connected: true,
                    }],
                )
            };
            return Ok((JoinOutcome::Admitted { rejoined: true }, events));
        }
        if self.waiting.contains_key(&who.id) {
            return Ok((JoinOutcome::Waiting, Vec::new()));
        }
        let info = MemberInfo {
            id: who.id,
            name: who.name,
            role: who.role,
            owner: who.owner && who.role == Role::Teacher,
            connected: true,
            joined_at_ms: now_ms,
            tab_visible: true,
            speaking: false,
        };
        if who.role == Role::Student {
            if self.settings.locked {
                return Err(RoomError::RoomLocked);
            }
            if self.settings.waiting_room || hold {
                let events = self.emit_all(now_ms, [RoomEvent::MemberWaiting { member: info }]);
                return Ok((JoinOutcome::Waiting, events));
            }
        }
        let events = self.emit_all(now_ms, [RoomEvent::MemberJoined { member: info }]);
        Ok((JoinOutcome::Admitted { rejoined: false }, events))
    }

    /// The member's link dropped. It stays in the room, disconnected, until it comes back
    /// or [`Room::expire_disconnected`] removes it. A waiting member simply leaves.
    pub fn disconnect(&mut self, now_ms: u64, id: &MemberId) -> Vec<SequencedEvent> {
        if self.waiting.contains_key(id) {
            return self.emit_all(
                now_ms,
                [RoomEvent::MemberLeft {
                    member: id.clone(),
                    reason: LeaveReason::Left,
                }],
            );
        }
        match self.members.get(id) {
            Some(m) if m.info.connected => self.emit_all(
                now_ms,
                [RoomEvent::PresenceChanged {
                    member: id.clone(),
                    connected: false,
                }],
            ),
            _ => Vec::new(),
        }
    }

    /// The member left on purpose.
    pub fn leave(&mut self, now_ms: u64, id: &MemberId) -> Vec<SequencedEvent> {
        if !self.members.contains_key(id) && !self.waiting.contains_key(id) {
            return Vec::new();
        }
        let mut events = self.unpublish_events(id);
        events.push(RoomEvent::MemberLeft {
            member: id.clone(),
            reason: LeaveReason::Left,
        });
        self.emit_all(now_ms, events)
    }

    /// Removes members whose link has been down for longer than `grace_ms`.
    pub fn expire_disconnected(&mut self, now_ms: u64, grace_ms: u64) -> Vec<SequencedEvent> {
        let expired: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.disconnected_since
                    .is_some_and(|t| now_ms.saturating_sub(t) >= grace_ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut events = Vec::new();
        for id in expired {
            events.extend(self.unpublish_events(&id));
            events.push(RoomEvent::MemberLeft {
                member: id,
                reason: LeaveReason::TimedOut,
            });
        }
        self.emit_all(now_ms, events)
    }

    /// The member's media session now carries these tracks (from its WebRTC offer).
    /// Tracks it no longer sends are unpublished; new ones start enabled.
    pub fn set_published_tracks(
        &mut self,
        now_ms: u64,
        owner: &MemberId,
        tracks: &[(String, TrackKind)],
    ) -> Result<Vec<SequencedEvent>, RoomError> {
        let member = self.members.get(owner).ok_or(RoomError::UnknownMember)?;
        if member.info.role == Role::Observer && !tracks.is_empty() {
            return Err(RoomError::Forbidden("an observer"));
        }
        let wanted: BTreeMap<TrackId, TrackKind> = tracks
            .iter()
            .map(|(mid, kind)| (track_id(owner, mid), *kind))
            .collect();
        let mut events = Vec::new();
        for (id, t) in &self.tracks {
            if &t.owner == owner && wanted.get(id) != Some(&t.kind) {
                events.push(RoomEvent::TrackUnpublished { track: id.clone() });
            }
        }
        for (id, kind) in wanted {
            if self.tracks.get(&id).is_none_or(|t| t.kind != kind) {
                events.push(RoomEvent::TrackPublished {
                    track: TrackInfo {
                        id,
                        owner: owner.clone(),
                        kind,
                        enabled: true,
                    },
                });
            }
        }
        Ok(self.emit_all(now_ms, events))
    }

    /// Applies a member's command once per command id.
    pub fn apply(
        &mut self,
        now_ms: u64,
        actor: &MemberId,
        id: &CommandId,
        command: RoomCommand,
    ) -> Result<Applied, RoomError> {
        if let Some(previous) = self.dedup.get(actor, id) {
            return previous.clone().map(|()| Applied {
                duplicate: true,
                events: Vec::new(),
            });
        }
        let outcome = match self.rate_limit(now_ms, actor, &command) {
            Ok(()) => self.decide(now_ms, actor, command),
            Err(e) => Err(e),
        };
        self.dedup.insert(
            actor.clone(),
            id,
            outcome.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let events = outcome?;
        Ok(Applied {
            duplicate: false,
            events: self.emit_all(now_ms, events),
        })
    }

    fn rate_limit(
        &mut self,
        now_ms: u64,
        actor: &MemberId,
        command: &RoomCommand,
    ) -> Result<(), RoomError> {
        let (limit, what) = match command {
            RoomCommand::SendChat { .. } => (&mut self.chat_rate, "too many chat messages"),
            RoomCommand::React { .. } => (&mut self.reaction_rate, "too many reactions"),
            RoomCommand::SetPresence { .. } => {
                (&mut self.presence_rate, "too many presence updates")
            }
            _ => return Ok(()),
        };
        if limit.take(actor, now_ms) {
            Ok(())
        } else {
            Err(RoomError::RateLimited(what))
        }
    }

    /// Checks a command against the rules and says what would happen. Changes nothing.
    fn decide(
        &self,
        now_ms: u64,
        actor: &MemberId,
        command: RoomCommand,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        let me = self.members.get(actor).ok_or(RoomError::UnknownMember)?;
        let teacher = me.info.role == Role::Teacher;
        let need_teacher = || crate::teachers_only(me.info.role);
        let by = actor.clone();
        match command {
            RoomCommand::SetTrackEnabled { track, enabled } => {
                let t = self.tracks.get(&track).ok_or(RoomError::UnknownTrack)?;
                let own = &t.owner == actor;
                // Teachers may silence anyone, but only the owner may switch its own
                // camera or microphone back on: nobody is put on air by someone else.
                if !(own || (teacher && !enabled)) {
                    return Err(RoomError::Forbidden(role_name(me.info.role)));
                }
                if t.enabled == enabled {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::TrackStateChanged { track, enabled, by }])
            }
            RoomCommand::MuteMember { member } => {
                need_teacher()?;
                self.disable_kind(&member, TrackKind::Microphone, by)
            }
            RoomCommand::StopCamera { member } => {
                need_teacher()?;
                self.disable_kind(&member, TrackKind::Camera, by)
            }
            RoomCommand::RemoveMember { member } => {
                need_teacher()?;
                if &member == actor {
                    return Err(RoomError::InvalidCommand("a teacher cannot remove itself"));
                }
                let target = match (self.members.get(&member), self.waiting.get(&member)) {
                    (Some(m), _) => &m.info,
                    (None, Some(w)) => w,
                    (None, None) => return Err(RoomError::UnknownMember),
                };
                // Co-teachers are the owner's to take back; nobody removes the owner.
                if target.owner {
                    return Err(RoomError::Forbidden("anyone, on the class's owner,"));
                }
                if target.role == Role::Teacher && !me.info.owner {
                    return Err(RoomError::Forbidden("a co-teacher, on another teacher,"));
                }
                let mut events = self.unpublish_events(&member);
                events.push(RoomEvent::MemberLeft {
                    member,
                    reason: LeaveReason::Removed,
                });
                Ok(events)
            }
            RoomCommand::SetLocked { locked } => {
                need_teacher()?;
                Ok(self.settings_change(
                    RoomSettings {
                        locked,
                        ..self.settings
                    },
                    by,
                ))
            }
            RoomCommand::SetWaitingRoom { enabled } => {
                need_teacher()?;
                Ok(self.settings_change(
                    RoomSettings {
                        waiting_room: enabled,
                        ..self.settings
                    },
                    by,
                ))
            }
            RoomCommand::Admit { member } => {
                need_teacher()?;
                self.resolve_waiting(member, true)
            }
            RoomCommand::Deny { member } => {
                need_teacher()?;
                self.resolve_waiting(member, false)
            }
            RoomCommand::SetPresence {
                tab_visible,
                speaking,
            } => {
                // With tracking off, nobody is ever recorded as away.
                let tab_visible = tab_visible || !self.settings.tab_tracking;
                if me.info.tab_visible == tab_visible && me.info.speaking == speaking {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::PresenceUpdated {
                    member: by,
                    tab_visible,
                    speaking,
                }])
            }
            RoomCommand::SendChat { text, private_with } => {
                let role = me.info.role;
                if role == Role::Observer {
                    return Err(RoomError::Forbidden("an observer"));
                }
                if role == Role::Student && !self.settings.chat_enabled {
                    return Err(RoomError::Forbidden("while chat is off, a student"));
                }
                if text.trim().is_empty() {
                    return Err(RoomError::InvalidCommand("the message is empty"));
                }
                if text.chars().count() > MAX_CHAT_CHARS {
                    return Err(RoomError::Limit("messages are at most 2000 characters"));
                }
                match (&private_with, role) {
                    (Some(s), Role::Student) if s != actor => {
                        return Err(RoomError::Forbidden(
                            "talking privately to anyone but the teachers, a student",
                        ));
                    }
                    (Some(s), _) if s != actor => {
                        let student = self.members.get(s).ok_or(RoomError::UnknownMember)?;
                        if student.info.role != Role::Student {
                            return Err(RoomError::InvalidCommand(
                                "private chat is between a student and the teachers",
                            ));
                        }
                    }
                    (Some(_), _) if role != Role::Student => {
                        return Err(RoomError::InvalidCommand(
                            "private chat is between a student and the teachers",
                        ));
                    }
                    _ => {}
                }
                Ok(vec![RoomEvent::ChatPosted {
                    message: ChatMessage {
                        // Stamped with the event's sequence number and time when emitted.
                        id: Seq(0),
                        from: by,
                        private_with,
                        text,
                        at_ms: 0,
                        deleted: false,
                    },
                }])
            }
            RoomCommand::DeleteChat { message } => {
                need_teacher()?;
                match self.talk.message(message) {
                    Some(m) if !m.deleted => Ok(vec![RoomEvent::ChatDeleted { message, by }]),
                    Some(_) => Ok(Vec::new()),
                    None => Err(RoomError::UnknownItem),
                }
            }
            RoomCommand::SetChatEnabled { enabled } => {
                need_teacher()?;
                Ok(self.settings_change(
                    RoomSettings {
                        chat_enabled: enabled,
                        ..self.settings
                    },
                    by,
                ))
            }
            RoomCommand::RaiseHand => {
                if me.info.role == Role::Observer {
                    return Err(RoomError::Forbidden("an observer"));
                }
                if self.talk.hand_raised(actor) {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::HandRaised { member: by }])
            }
            RoomCommand::LowerHand { member } => {
                if &member != actor {
                    need_teacher()?;
                }
                if !self.talk.hand_raised(&member) {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::HandLowered { member, by }])
            }
            RoomCommand::LowerAllHands => {
                need_teacher()?;
                Ok(self
                    .talk
                    .hands()
                    .iter()
                    .map(|m| RoomEvent::HandLowered {
                        member: m.clone(),
                        by: by.clone(),
                    })
                    .collect())
            }
            RoomCommand::React { reaction } => {
                if me.info.role == Role::Observer {
                    return Err(RoomError::Forbidden("an observer"));
                }
                Ok(vec![RoomEvent::Reacted {
                    member: by,
                    reaction,
                }])
            }
            quiz @ (RoomCommand::StartQuiz { .. }
            | RoomCommand::AnswerQuiz { .. }
            | RoomCommand::CloseQuiz { .. }
            | RoomCommand::MarkAnswer { .. }
            | RoomCommand::RevealQuiz { .. }) => {
                self.quizzes.decide(now_ms, actor, me.info.role, quiz)
            }
            board_command => self.board.decide(actor, me.info.role, board_command),
        }
    }

    fn resolve_waiting(
        &self,
        member: MemberId,
        admitted: bool,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        if !self.waiting.contains_key(&member) {
            return Err(RoomError::InvalidCommand("that member is not waiting"));
        }
        Ok(vec![RoomEvent::WaitingResolved { member, admitted }])
    }

    fn disable_kind(
        &self,
        member: &MemberId,
        kind: TrackKind,
        by: MemberId,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        if !self.members.contains_key(member) {
            return Err(RoomError::UnknownMember);
        }
        Ok(self
            .tracks
            .values()
            .filter(|t| &t.owner == member && t.kind == kind && t.enabled)
            .map(|t| RoomEvent::TrackStateChanged {
                track: t.id.clone(),
                enabled: false,
                by: by.clone(),
            })
            .collect())
    }

    fn settings_change(&self, settings: RoomSettings, by: MemberId) -> Vec<RoomEvent> {
        if settings == self.settings {
            Vec::new()
        } else {
            vec![RoomEvent::SettingsChanged { settings, by }]
        }
    }

    fn unpublish_events(&self, owner: &MemberId) -> Vec<RoomEvent> {
        self.tracks
            .values()
            .filter(|t| &t.owner == owner)
            .map(|t| RoomEvent::TrackUnpublished {
                track: t.id.clone(),
            })
            .collect()
    }

    fn emit_all(
        &mut self,
        now_ms: u64,
        events: impl IntoIterator<Item = RoomEvent>,
    ) -> Vec<SequencedEvent> {
        events
            .into_iter()
            .map(|mut event| {
                if let RoomEvent::ChatPosted { message } = &mut event {
                    message.id = Seq(self.log.last_seq().0 + 1);
                    message.at_ms = now_ms;
                }
                let ev = self.log.append(now_ms, event);
                self.apply_event(&ev);
                ev
            })
            .collect()
    }

    /// The only place room state changes. Replaying a log through it rebuilds the room.
    fn apply_event(&mut self, ev: &SequencedEvent) {
        let (event, at_ms) = (&ev.event, ev.at_ms);
        self.board.apply(ev.seq, event);
        self.talk.apply(ev.seq, at_ms, event);
        self.quizzes.apply(event);
        self.activity.apply(at_ms, event);
        match event {
            RoomEvent::MemberJoined { member } => {
                self.members.insert(
                    member.id.clone(),
                    Member {
                        info: member.clone(),
                        disconnected_since: None,
                    },
                );
            }
            RoomEvent::MemberLeft { member, reason } => {
                self.members.remove(member);
                self.waiting.remove(member);
                self.tracks.retain(|_, t| &t.owner != member);
                if *reason == LeaveReason::Removed {
                    self.removed.insert(member.clone());
                }
            }
            RoomEvent::PresenceChanged { member, connected } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.info.connected = *connected;
                    m.disconnected_since = if *connected { None } else { Some(at_ms) };
                    if !*connected {
                        m.info.speaking = false;
                    }
                }
            }
            RoomEvent::PresenceUpdated {
                member,
                tab_visible,
                speaking,
            } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.info.tab_visible = *tab_visible;
                    m.info.speaking = *speaking;
                }
            }
            RoomEvent::MemberWaiting { member } => {
                self.waiting.insert(member.id.clone(), member.clone());
            }
            RoomEvent::WaitingResolved { member, admitted } => {
                if let Some(mut info) = self.waiting.remove(member)
                    && *admitted
                {
                    info.joined_at_ms = at_ms;
                    self.members.insert(
                        member.clone(),
                        Member {
                            info,
                            disconnected_since: None,
                        },
                    );
                }
            }
            RoomEvent::TrackPublished { track } => {
                self.tracks.insert(track.id.clone(), track.clone());
            }
            RoomEvent::TrackUnpublished { track } => {
                self.tracks.remove(track);
            }
            RoomEvent::TrackStateChanged { track, enabled, .. } => {
                if let Some(t) = self.tracks.get_mut(track) {
                    t.enabled = *enabled;
                }
            }
            RoomEvent::SettingsChanged { settings, .. } => self.settings = *settings,
            // Board and talk events were applied above.
            _ => {}
        }
    }
}

/// The id of a member's track, shared by the room, the SFU (as the msid) and clients.
pub fn track_id(owner: &MemberId, mid: &str) -> TrackId {
    TrackId(format!("{}.{}", owner.0, mid))
}

/// Refuses anyone but a teacher, naming the role in the error.
pub(crate) fn teachers_only(role: Role) -> Result<(), RoomError> {
    if role == Role::Teacher {
        Ok(())
    } else {
        Err(RoomError::Forbidden(role_name(role)))
    }
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Teacher => "a teacher",
        Role::Student => "a student",
        Role::Observer => "an observer",
    }
}
