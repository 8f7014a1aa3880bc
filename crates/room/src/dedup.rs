use std::collections::{HashMap, VecDeque};

use aula_proto::{CommandId, MemberId};

use crate::RoomError;

/// How many recent command ids each member keeps. A client replays at most what it sent
/// and did not see acknowledged; the teacher app and the web client keep fewer than this
/// unacknowledged at once, so a replay always finds its first effect here.
pub const PER_MEMBER: usize = 4096;

/// Ids a room keeps in all. Past it, the member with the most ids loses its oldest, so a
/// flood by some members never evicts another member's recent ids.
pub const PER_ROOM: usize = 256 * 1024;

/// A command id as remembered: a 64-bit FNV-1a hash of the id, in the member's own
/// namespace. Ids are client-made, up to 128 bytes; keeping 8 bytes bounds the memory
/// of a flood. A collision needs two of one member's own recent ids to collide (about
/// 1 in 10^12 at `PER_MEMBER`), and could only make that member's own command a no-op.
pub type CommandKey = u64;

pub fn command_key(id: &CommandId) -> CommandKey {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.0.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[derive(Debug, Clone, Default)]
struct Window {
    outcomes: HashMap<CommandKey, Result<(), RoomError>>,
    order: VecDeque<CommandKey>,
}

impl Window {
    fn evict_oldest(&mut self) -> bool {
        match self.order.pop_front() {
            Some(old) => {
                self.outcomes.remove(&old);
                true
            }
            None => false,
        }
    }
}

/// The outcome of each member's recent commands by command id, so a retry answers the
/// same and changes nothing. Kept per member, bounded per member and per room. Applied
/// commands are also stored with their events by the server and handed back to
/// [`crate::Room::restore`], so a retry after a restart or an idle unload is still
/// recognised; a refused command is only remembered in memory (retrying it after a
/// restart asks again, which can never apply it twice).
#[derive(Debug, Clone)]
pub struct CommandDedup {
    members: HashMap<MemberId, Window>,
    total: usize,
    per_member: usize,
    per_room: usize,
}

impl Default for CommandDedup {
    fn default() -> Self {
        CommandDedup::new(PER_MEMBER, PER_ROOM)
    }
}

impl CommandDedup {
    pub fn new(per_member: usize, per_room: usize) -> Self {
        CommandDedup {
            members: HashMap::new(),
            total: 0,
            per_member: per_member.max(1),
            per_room: per_room.max(1),
        }
    }

    pub fn get(&self, member: &MemberId, id: &CommandId) -> Option<&Result<(), RoomError>> {
        self.members.get(member)?.outcomes.get(&command_key(id))
    }

    pub fn insert(&mut self, member: MemberId, id: &CommandId, outcome: Result<(), RoomError>) {
        self.insert_key(member, command_key(id), outcome);
    }

    /// Remembers a command applied before (from storage).
    pub fn insert_key(
        &mut self,
        member: MemberId,
        key: CommandKey,
        outcome: Result<(), RoomError>,
    ) {
        let w = self.members.entry(member).or_default();
        if w.outcomes.insert(key, outcome).is_none() {
            w.order.push_back(key);
            self.total += 1;
        }
        if w.order.len() > self.per_member && w.evict_oldest() {
            self.total -= 1;
        }
        while self.total > self.per_room {
            let Some(biggest) = self.members.values_mut().max_by_key(|w| w.order.len()) else {
                break;
            };
            if !biggest.evict_oldest() {
                break;
            }
            self.total -= 1;
        }
    }

    /// How many ids are remembered in all (for tests and metrics).
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> MemberId {
        MemberId(s.into())
    }
    fn c(n: usize) -> CommandId {
        CommandId(format!("cmd-{n}"))
    }

    #[test]
    fn a_flood_by_others_keeps_a_members_recent_ids() {
        let mut d = CommandDedup::new(100, 1000);
        d.insert(m("teacher"), &c(0), Ok(()));
        for s in 0..32 {
            for n in 0..1000 {
                d.insert(m(&format!("s{s}")), &c(n), Ok(()));
            }
        }
        assert!(d.get(&m("teacher"), &c(0)).is_some());
        assert!(d.len() <= 1000);
        // Each student kept its newest ids, not its oldest.
        assert!(d.get(&m("s3"), &c(999)).is_some());
        assert!(d.get(&m("s3"), &c(0)).is_none());
    }

    #[test]
    fn each_member_keeps_its_own_window() {
        let mut d = CommandDedup::new(3, 100);
        for n in 0..5 {
            d.insert(m("a"), &c(n), Ok(()));
        }
        assert!(d.get(&m("a"), &c(1)).is_none());
        assert!(d.get(&m("a"), &c(2)).is_some());
        assert!(d.get(&m("b"), &c(4)).is_none());
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn keys_differ_for_different_ids() {
        assert_ne!(command_key(&c(1)), command_key(&c(2)));
        assert_eq!(command_key(&c(7)), command_key(&c(7)));
    }
}
