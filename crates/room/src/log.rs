use std::collections::VecDeque;

use aula_proto::{RoomEvent, Seq, SequencedEvent};

/// A room's gap-free, in-memory event log: the newest `capacity` events.
#[derive(Debug, Clone)]
pub struct EventLog {
    events: VecDeque<SequencedEvent>,
    last: Seq,
    capacity: usize,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ResumeError {
    /// The client is further behind than the log reaches; it needs a snapshot.
    #[error("events after {after:?} are no longer held (oldest held is {oldest:?})")]
    TooOld { after: Seq, oldest: Seq },
    /// The client claims to have seen events that do not exist (for example a log that
    /// was reset); it needs a snapshot.
    #[error("sequence {after:?} is ahead of the log, which ends at {last:?}")]
    Ahead { after: Seq, last: Seq },
    /// A stored log with a hole or out of order: refuse it rather than serve gaps.
    #[error("stored log is not contiguous: expected {expected:?}, found {found:?}")]
    Gap { expected: Seq, found: Seq },
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            events: VecDeque::new(),
            last: Seq(0),
            capacity: capacity.max(1),
        }
    }

    pub fn last_seq(&self) -> Seq {
        self.last
    }

    /// An empty log that continues after `last`: a replica that started from a snapshot
    /// holds none of the events before it.
    pub fn starting_after(last: Seq, capacity: usize) -> Self {
        EventLog {
            events: VecDeque::new(),
            last,
            capacity: capacity.max(1),
        }
    }

    pub fn append(&mut self, at_ms: u64, event: RoomEvent) -> SequencedEvent {
        self.last = Seq(self.last.0 + 1);
        let ev = SequencedEvent {
            seq: self.last,
            at_ms,
            event,
        };
        self.keep(ev.clone());
        ev
    }

    /// Re-reads an event from storage; it must be the next one.
    pub fn push_existing(&mut self, ev: SequencedEvent) -> Result<(), ResumeError> {
        let expected = Seq(self.last.0 + 1);
        if ev.seq != expected {
            return Err(ResumeError::Gap {
                expected,
                found: ev.seq,
            });
        }
        self.last = ev.seq;
        self.keep(ev);
        Ok(())
    }

    fn keep(&mut self, ev: SequencedEvent) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }

    /// Exactly the events after `after`, in order.
    pub fn since(&self, after: Seq) -> Result<Vec<SequencedEvent>, ResumeError> {
        self.page(after, usize::MAX)
    }

    /// The first `limit` events after `after`, in order: a page of a long resume.
    pub fn page(&self, after: Seq, limit: usize) -> Result<Vec<SequencedEvent>, ResumeError> {
        if after > self.last {
            return Err(ResumeError::Ahead {
                after,
                last: self.last,
            });
        }
        let oldest = self.events.front().map_or(Seq(self.last.0 + 1), |e| e.seq);
        if after.0 + 1 < oldest.0 {
            return Err(ResumeError::TooOld { after, oldest });
        }
        let skip = (after.0 + 1 - oldest.0) as usize;
        Ok(self.events.iter().skip(skip).take(limit).cloned().collect())
    }
}
