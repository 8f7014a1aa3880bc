//! Chat, raised hands, reactions and presence: the class talking back.

use std::collections::BTreeMap;

use aula_proto::{ChatMessage, MemberId, Role, RoomEvent, Seq};

pub const MAX_CHAT_CHARS: usize = 2_000;
/// Messages kept for snapshots. Older ones stay in the stored log and the teacher's cache.
pub const CHAT_HISTORY: usize = 5_000;

/// A token bucket per member for one kind of message: `burst` at once, then one every
/// `every_ms`. It slows a flooding member down without touching anyone else.
#[derive(Debug, Clone)]
pub struct RateLimit {
    burst: u32,
    every_ms: u64,
    buckets: BTreeMap<MemberId, (u32, u64)>,
}

impl RateLimit {
    pub fn new(burst: u32, every_ms: u64) -> Self {
        RateLimit {
            burst,
            every_ms: every_ms.max(1),
            buckets: BTreeMap::new(),
        }
    }

    /// Takes a token if there is one. Time only moves forward: an earlier `now_ms` than
    /// seen before refills nothing.
    pub fn take(&mut self, member: &MemberId, now_ms: u64) -> bool {
        let (tokens, last) = self
            .buckets
            .entry(member.clone())
            .or_insert((self.burst, now_ms));
        let refill = now_ms.saturating_sub(*last) / self.every_ms;
        if refill > 0 {
            *tokens = (*tokens as u64 + refill).min(self.burst as u64) as u32;
            *last += refill * self.every_ms;
        }
        if *tokens == 0 {
            return false;
        }
        *tokens -= 1;
        true
    }

    pub fn forget(&mut self, member: &MemberId) {
        self.buckets.remove(member);
    }
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Default)]
pub struct Talk {
    chat: BTreeMap<Seq, ChatMessage>,
    hands: Vec<MemberId>,
}

impl Talk {
    pub fn from_snapshot(chat: &[ChatMessage], hands: &[MemberId]) -> Self {
        Talk {
            chat: chat.iter().map(|m| (m.id, m.clone())).collect(),
            hands: hands.to_vec(),
        }
    }

    /// The messages a member may read, oldest first.
    pub fn chat_for(&self, member: &MemberId, role: Role) -> Vec<ChatMessage> {
        self.chat
            .values()
            .filter(|m| m.visible_to(member, role))
            .cloned()
            .collect()
    }

    pub fn chat(&self) -> impl Iterator<Item = &ChatMessage> {
        self.chat.values()
    }

    pub fn message(&self, id: Seq) -> Option<&ChatMessage> {
        self.chat.get(&id)
    }

    pub fn hands(&self) -> &[MemberId] {
        &self.hands
    }

    pub fn hand_raised(&self, member: &MemberId) -> bool {
        self.hands.contains(member)
    }

    pub fn apply(&mut self, seq: Seq, at_ms: u64, event: &RoomEvent) {
        match event {
            RoomEvent::ChatPosted { message } => {
                let mut m = message.clone();
                m.id = seq;
                m.at_ms = at_ms;
                self.chat.insert(seq, m);
                while self.chat.len() > CHAT_HISTORY {
                    self.chat.pop_first();
                }
            }
            RoomEvent::ChatDeleted { message, .. } => {
                if let Some(m) = self.chat.get_mut(message) {
                    m.deleted = true;
                    m.text.clear();
                }
            }
            RoomEvent::HandRaised { member } if !self.hands.contains(member) => {
                self.hands.push(member.clone());
            }
            RoomEvent::HandLowered { member, .. } => self.hands.retain(|m| m != member),
            RoomEvent::MemberLeft { member, .. } => self.hands.retain(|m| m != member),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_one_per_interval() {
        let mut r = RateLimit::new(3, 1000);
        let m = MemberId("a".into());
        assert!((0..3).all(|_| r.take(&m, 0)));
        assert!(!r.take(&m, 500));
        assert!(r.take(&m, 1000));
        assert!(!r.take(&m, 1999));
        assert!(r.take(&m, 5000));
        // Others are not slowed by one member's flood.
        assert!(r.take(&MemberId("b".into()), 1000));
    }
}
