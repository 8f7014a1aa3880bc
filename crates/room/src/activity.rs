//! Attendance and the activity behind engagement, followed from the room's events alone:
//! join and leave times with every interval, time with the tab in view, camera time,
//! chat lines and board items per member. Time comes from the events' `at_ms`.

use std::collections::BTreeMap;

pub use aula_proto::Attendance;
use aula_proto::{MemberId, Role, RoomEvent, TrackId, TrackKind};

/// A member is flagged when its tab was hidden for more than this share of its time.
pub const MOSTLY_HIDDEN: f64 = 0.5;

pub use aula_proto::DEFAULT_SESSION_GAP_MS;

/// What a member had accrued when a session began, so a session's figures are the
/// difference between its end and its start.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub present_ms: u64,
    pub hidden_ms: u64,
    pub camera_ms: u64,
    pub chat_messages: u32,
    pub board_items: u32,
}

/// One class session: from the first connection into an empty class to the moment it
/// was last empty for longer than the session gap.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub started_at_ms: u64,
    /// `None` while someone is connected (or the class was empty less than the gap ago
    /// and someone came back).
    pub ended_at_ms: Option<u64>,
    baseline: BTreeMap<MemberId, Totals>,
}

impl Session {
    /// The session's end, or `now` while it runs.
    pub fn end_or(&self, now_ms: u64) -> u64 {
        self.ended_at_ms.unwrap_or(now_ms).max(self.started_at_ms)
    }
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberActivity {
    pub name: String,
    pub role: Option<Role>,
    /// Connected intervals `[from, to)`; the last is open while connected.
    pub intervals: Vec<(u64, Option<u64>)>,
    tab_hidden_since: Option<u64>,
    hidden_ms: u64,
    camera_on_since: Option<u64>,
    camera_ms: u64,
    pub chat_messages: u32,
    pub board_items: u32,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct Activity {
    members: BTreeMap<MemberId, MemberActivity>,
    /// Camera tracks and their owners, to follow camera time.
    cameras: BTreeMap<TrackId, (MemberId, bool)>,
    /// Members connected now.
    connected: usize,
    sessions: Vec<Session>,
    session_gap_ms: u64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            members: BTreeMap::new(),
            cameras: BTreeMap::new(),
            connected: 0,
            sessions: Vec::new(),
            session_gap_ms: DEFAULT_SESSION_GAP_MS,
        }
    }
}

/// Attendance from connected intervals and accrued hidden and camera time (each capped
/// at the time present).
fn attendance(
    member: &MemberId,
    name: &str,
    intervals: Vec<(u64, u64)>,
    last_leave_ms: Option<u64>,
    hidden_ms: u64,
    camera_ms: u64,
) -> Attendance {
    let present_ms: u64 = intervals.iter().map(|(a, b)| b - a).sum();
    let hidden_ms = hidden_ms.min(present_ms);
    Attendance {
        member: member.clone(),
        name: name.to_owned(),
        first_join_ms: intervals.first().map(|i| i.0),
        last_leave_ms,
        intervals,
        present_ms,
        active_ms: present_ms - hidden_ms,
        hidden_ms,
        camera_ms: camera_ms.min(present_ms),
        mostly_hidden: present_ms > 0 && hidden_ms as f64 > MOSTLY_HIDDEN * present_ms as f64,
    }
}

impl MemberActivity {
    fn connected(&self) -> bool {
        self.intervals.last().is_some_and(|(_, to)| to.is_none())
    }

    fn connect(&mut self, at: u64) {
        if !self.connected() {
            self.intervals.push((at, None));
        }
    }

    fn disconnect(&mut self, at: u64) {
        if let Some((from, to @ None)) = self.intervals.last_mut() {
            *to = Some(at.max(*from));
        }
        self.set_hidden(false, at);
        self.set_camera(false, at);
    }

    fn set_hidden(&mut self, hidden: bool, at: u64) {
        match (hidden, self.tab_hidden_since) {
            (true, None) => self.tab_hidden_since = Some(at),
            (false, Some(since)) => {
                self.hidden_ms += at.saturating_sub(since);
                self.tab_hidden_since = None;
            }
            _ => {}
        }
    }

    fn set_camera(&mut self, on: bool, at: u64) {
        match (on, self.camera_on_since) {
            (true, None) => self.camera_on_since = Some(at),
            (false, Some(since)) => {
                self.camera_ms += at.saturating_sub(since);
                self.camera_on_since = None;
            }
            _ => {}
        }
    }

    pub fn attendance(&self, member: &MemberId, now_ms: u64) -> Attendance {
        let intervals: Vec<(u64, u64)> = self
            .intervals
            .iter()
            .map(|(from, to)| (*from, to.unwrap_or(now_ms).max(*from)))
            .collect();
        let open = |since: Option<u64>| since.map_or(0, |s| now_ms.saturating_sub(s));
        let hidden_ms = self.hidden_ms + open(self.tab_hidden_since);
        let camera_ms = self.camera_ms + open(self.camera_on_since);
        let last_leave = self.intervals.last().and_then(|i| i.1);
        attendance(
            member, &self.name, intervals, last_leave, hidden_ms, camera_ms,
        )
    }
}

impl MemberActivity {
    fn totals(&self, id: &MemberId, now_ms: u64) -> Totals {
        let a = self.attendance(id, now_ms);
        Totals {
            present_ms: a.present_ms,
            hidden_ms: a.hidden_ms,
            camera_ms: a.camera_ms,
            chat_messages: self.chat_messages,
            board_items: self.board_items,
        }
    }
}

impl Activity {
    /// Every session so far, oldest first; the last may still run.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// A member's attendance and activity within one session: intervals cut to the
    /// session, time and counts accrued since it began. `None` if it was not there.
    pub fn in_session(
        &self,
        id: &MemberId,
        session: usize,
        now_ms: u64,
    ) -> Option<(Attendance, Totals)> {
        let s = self.sessions.get(session)?;
        let m = self.members.get(id)?;
        // Nobody is connected between sessions, so every interval lies inside the one
        // session it began in.
        let from = s.started_at_ms;
        let next = self.sessions.get(session + 1).map(|n| n.started_at_ms);
        let intervals: Vec<(u64, u64)> = m
            .intervals
            .iter()
            .filter(|(a, _)| *a >= from && next.is_none_or(|n| *a < n))
            .map(|(a, b)| (*a, b.unwrap_or(now_ms).max(*a)))
            .collect();
        if intervals.is_empty() {
            return None;
        }
        // Nothing accrues while the class is empty, so a session's end totals are the
        // next session's start totals, or today's.
        let end = match self.sessions.get(session + 1) {
            Some(next) => next.baseline.get(id).copied().unwrap_or_default(),
            None => m.totals(id, now_ms),
        };
        let start = s.baseline.get(id).copied().unwrap_or_default();
        let open = m.connected() && s.ended_at_ms.is_none() && self.sessions.len() == session + 1;
        let last_leave = if open {
            None
        } else {
            intervals.last().map(|i| i.1)
        };
        let attendance = attendance(
            id,
            &m.name,
            intervals,
            last_leave,
            end.hidden_ms.saturating_sub(start.hidden_ms),
            end.camera_ms.saturating_sub(start.camera_ms),
        );
        let (present_ms, hidden_ms, camera_ms) = (
            attendance.present_ms,
            attendance.hidden_ms,
            attendance.camera_ms,
        );
        let totals = Totals {
            present_ms,
            hidden_ms,
            camera_ms,
            chat_messages: end.chat_messages.saturating_sub(start.chat_messages),
            board_items: end.board_items.saturating_sub(start.board_items),
        };
        Some((attendance, totals))
    }

    fn connect(&mut self, id: &MemberId, at: u64) {
        let Some(m) = self.members.get(id) else {
            return;
        };
        if m.connected() {
            return;
        }
        if self.connected == 0 {
            self.open_session(at);
        }
        self.connected += 1;
        if let Some(m) = self.members.get_mut(id) {
            m.connect(at);
        }
    }

    fn disconnect(&mut self, id: &MemberId, at: u64) {
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        if !m.connected() {
            return;
        }
        m.disconnect(at);
        self.connected = self.connected.saturating_sub(1);
        if self.connected == 0
            && let Some(s) = self.sessions.last_mut()
        {
            s.ended_at_ms = Some(at.max(s.started_at_ms));
        }
    }

    /// Someone connects to an empty class: the last session goes on if it ended less
    /// than the gap ago, or a new one begins.
    fn open_session(&mut self, at: u64) {
        if let Some(last) = self.sessions.last_mut()
            && let Some(ended) = last.ended_at_ms
            && at.saturating_sub(ended) < self.session_gap_ms
        {
            last.ended_at_ms = None;
            return;
        }
        let baseline = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.totals(id, at)))
            .collect();
        self.sessions.push(Session {
            started_at_ms: at,
            ended_at_ms: None,
            baseline,
        });
    }

    pub fn member(&self, id: &MemberId) -> Option<&MemberActivity> {
        self.members.get(id)
    }

    pub fn members(&self) -> impl Iterator<Item = (&MemberId, &MemberActivity)> {
        self.members.iter()
    }

    pub fn apply(&mut self, at: u64, event: &RoomEvent) {
        match event {
            RoomEvent::MemberJoined { member } => {
                let m = self.members.entry(member.id.clone()).or_default();
                m.name = member.name.clone();
                m.role = Some(member.role);
                self.connect(&member.id, at);
            }
            RoomEvent::WaitingResolved {
                member,
                admitted: true,
            } => {
                self.members.entry(member.clone()).or_default();
                self.connect(member, at);
            }
            RoomEvent::SettingsChanged { settings, .. } => {
                self.session_gap_ms = settings.session_gap_ms;
            }
            RoomEvent::MemberWaiting { member } => {
                let m = self.members.entry(member.id.clone()).or_default();
                m.name = member.name.clone();
                m.role = Some(member.role);
            }
            RoomEvent::PresenceChanged { member, connected } => {
                if *connected {
                    self.connect(member, at);
                } else {
                    self.disconnect(member, at);
                }
            }
            RoomEvent::MemberLeft { member, .. } => self.disconnect(member, at),
            RoomEvent::PresenceUpdated {
                member,
                tab_visible,
                ..
            } => {
                if let Some(m) = self.members.get_mut(member)
                    && m.connected()
                {
                    m.set_hidden(!tab_visible, at);
                }
            }
            RoomEvent::TrackPublished { track } if track.kind == TrackKind::Camera => {
                self.cameras
                    .insert(track.id.clone(), (track.owner.clone(), track.enabled));
                self.camera_changed(&track.owner, at);
            }
            RoomEvent::TrackStateChanged { track, enabled, .. } => {
                if let Some((owner, on)) = self.cameras.get_mut(track) {
                    *on = *enabled;
                    let owner = owner.clone();
                    self.camera_changed(&owner, at);
                }
            }
            RoomEvent::TrackUnpublished { track } => {
                if let Some((owner, _)) = self.cameras.remove(track) {
                    self.camera_changed(&owner, at);
                }
            }
            RoomEvent::ChatPosted { message } => {
                if let Some(m) = self.members.get_mut(&message.from) {
                    m.chat_messages += 1;
                }
            }
            RoomEvent::StrokeStarted { item } | RoomEvent::ItemPlaced { item } => {
                if let Some(m) = self.members.get_mut(&item.author) {
                    m.board_items += 1;
                }
            }
            _ => {}
        }
    }

    /// A member's camera is on while any of its camera tracks is enabled.
    fn camera_changed(&mut self, owner: &MemberId, at: u64) {
        let on = self.cameras.values().any(|(o, on)| o == owner && *on);
        if let Some(m) = self.members.get_mut(owner) {
            m.set_camera(on && m.connected(), at);
        }
    }
}
