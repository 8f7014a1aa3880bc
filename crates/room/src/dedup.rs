use std::collections::{HashMap, VecDeque};

use aula_proto::{CommandId, MemberId};

use crate::RoomError;

/// How many recent command ids a room remembers. A client retries within seconds, so
/// this covers every retry of a busy room many times over.
pub const DEFAULT_CAPACITY: usize = 8192;

type Key = (MemberId, CommandId);

/// The outcome of recent commands by (member, command id), so a retry answers the same
/// and changes nothing. Bounded: the oldest ids are forgotten first.
#[derive(Debug, Clone)]
pub struct CommandDedup {
    outcomes: HashMap<Key, Result<(), RoomError>>,
    order: VecDeque<Key>,
    capacity: usize,
}

impl CommandDedup {
    pub fn new(capacity: usize) -> Self {
        CommandDedup {
            outcomes: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, member: &MemberId, id: &CommandId) -> Option<&Result<(), RoomError>> {
        self.outcomes.get(&(member.clone(), id.clone()))
    }

    pub fn insert(&mut self, member: MemberId, id: CommandId, outcome: Result<(), RoomError>) {
        let key = (member, id);
        if self.outcomes.insert(key.clone(), outcome).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.outcomes.remove(&old);
            }
        }
    }
}
