//! Attendance and the activity behind engagement, followed from the room's events alone:
//! join and leave times with every interval, time with the tab in view, camera time,
//! chat lines and board items per member. Time comes from the events' `at_ms`.

use std::collections::BTreeMap;

pub use aula_proto::Attendance;
use aula_proto::{MemberId, Role, RoomEvent, TrackId, TrackKind};

/// A member is flagged when its tab was hidden for more than this share of its time.
pub const MOSTLY_HIDDEN: f64 = 0.5;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

#[derive(Debug, Clone, Default)]
pub struct Activity {
    members: BTreeMap<MemberId, MemberActivity>,
    /// Camera tracks and their owners, to follow camera time.
    cameras: BTreeMap<TrackId, (MemberId, bool)>,
    /// When the class first had someone in it.
    pub started_at_ms: Option<u64>,
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
        let present_ms: u64 = intervals.iter().map(|(a, b)| b - a).sum();
        let open = |since: Option<u64>| since.map_or(0, |s| now_ms.saturating_sub(s));
        let hidden_ms = (self.hidden_ms + open(self.tab_hidden_since)).min(present_ms);
        let camera_ms = (self.camera_ms + open(self.camera_on_since)).min(present_ms);
        Attendance {
            member: member.clone(),
            name: self.name.clone(),
            first_join_ms: intervals.first().map(|i| i.0),
            last_leave_ms: self.intervals.last().and_then(|i| i.1),
            intervals,
            present_ms,
            active_ms: present_ms - hidden_ms,
            hidden_ms,
            camera_ms,
            mostly_hidden: present_ms > 0 && hidden_ms as f64 > MOSTLY_HIDDEN * present_ms as f64,
        }
    }
}

impl Activity {
    pub fn member(&self, id: &MemberId) -> Option<&MemberActivity> {
        self.members.get(id)
    }

    pub fn members(&self) -> impl Iterator<Item = (&MemberId, &MemberActivity)> {
        self.members.iter()
    }

    pub fn apply(&mut self, at: u64, event: &RoomEvent) {
        match event {
            RoomEvent::MemberJoined { member } => {
                self.started_at_ms.get_or_insert(at);
                let m = self.members.entry(member.id.clone()).or_default();
                m.name = member.name.clone();
                m.role = Some(member.role);
                m.connect(at);
            }
            RoomEvent::WaitingResolved {
                member,
                admitted: true,
            } => {
                self.started_at_ms.get_or_insert(at);
                self.members.entry(member.clone()).or_default().connect(at);
            }
            RoomEvent::MemberWaiting { member } => {
                let m = self.members.entry(member.id.clone()).or_default();
                m.name = member.name.clone();
                m.role = Some(member.role);
            }
            RoomEvent::PresenceChanged { member, connected } => {
                if let Some(m) = self.members.get_mut(member) {
                    if *connected {
                        m.connect(at);
                    } else {
                        m.disconnect(at);
                    }
                }
            }
            RoomEvent::MemberLeft { member, .. } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.disconnect(at);
                }
            }
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
