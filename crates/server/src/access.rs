//! Who may still use a token: the class's owner, its live co-teachers, and every member
//! whose tokens were revoked. Storage is the source of truth; this keeps a per-class copy
//! in memory (loaded on first use, written through) so the check on every REST request
//! and every socket is a hash lookup. Revocations are also broadcast, so a live socket of
//! a revoked member closes at once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use aula_proto::{ErrorCode, Role};
use tokio::sync::broadcast;

use crate::auth::Claims;
use crate::storage::{Ban, CoTeacher, Storage, StorageError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every token of this member of this class.
    Member { class: String, member: String },
    /// Every token (the signing secret was rotated).
    All,
}

#[derive(Default)]
struct ClassAccess {
    owner: Option<String>,
    /// Co-teachers whose grant stands.
    teachers: HashSet<String>,
    /// Revoked member → why: `removed` (by a teacher in the room) or `token_revoked`.
    revoked: HashMap<String, ErrorCode>,
}

pub struct Access {
    classes: Mutex<HashMap<String, ClassAccess>>,
    tx: broadcast::Sender<Revocation>,
    /// Counts secret rotations, so a socket that missed broadcasts can tell.
    epoch: AtomicU64,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            classes: Mutex::new(HashMap::new()),
            tx: broadcast::channel(1024).0,
            epoch: AtomicU64::new(0),
        }
    }
}

pub type Refusal = (ErrorCode, String);

fn why(removed: bool) -> ErrorCode {
    if removed {
        ErrorCode::Removed
    } else {
        ErrorCode::TokenRevoked
    }
}

impl Access {
    fn with<T>(
        &self,
        storage: &dyn Storage,
        class: &str,
        f: impl FnOnce(&mut ClassAccess) -> T,
    ) -> Result<T, StorageError> {
        let mut classes = self.classes.lock().unwrap_or_else(|p| p.into_inner());
        if !classes.contains_key(class) {
            let owner = storage.class(class)?.and_then(|c| c.owner_id);
            let teachers = storage
                .co_teachers(class)?
                .into_iter()
                .filter(|t| t.revoked_at_ms.is_none())
                .map(|t| t.member_id)
                .collect();
            let revoked = storage
                .revoked_members(class)?
                .into_iter()
                .map(|(m, removed)| (m, why(removed)))
                .collect();
            classes.insert(
                class.to_owned(),
                ClassAccess {
                    owner,
                    teachers,
                    revoked,
                },
            );
        }
        let entry = classes.get_mut(class).ok_or(StorageError::Poisoned)?;
        Ok(f(entry))
    }

    /// Listen before checking, so no revocation falls between the check and the wait.
    pub fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.tx.subscribe()
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    /// Whether a verified join token may still be used: not revoked, and a teacher's
    /// only while it is the owner or a co-teacher whose grant stands.
    pub fn check(&self, storage: &dyn Storage, claims: &Claims) -> Result<(), Refusal> {
        let verdict = self
            .with(storage, &claims.cls, |a| {
                if let Some(code) = a.revoked.get(&claims.sub) {
                    return Err((*code, "this member's tokens were revoked"));
                }
                if claims.role == Role::Teacher
                    && a.owner.as_deref() != Some(claims.sub.as_str())
                    && !a.teachers.contains(&claims.sub)
                {
                    return Err((ErrorCode::TokenRevoked, "this teacher link was withdrawn"));
                }
                Ok(())
            })
            .map_err(|e| {
                tracing::error!("checking a token: {e}");
                (ErrorCode::Internal, "storage is unavailable".to_string())
            })?;
        verdict.map_err(|(code, why)| (code, why.to_string()))
    }

    pub fn is_owner(
        &self,
        storage: &dyn Storage,
        class: &str,
        member: &str,
    ) -> Result<bool, StorageError> {
        self.with(storage, class, |a| a.owner.as_deref() == Some(member))
    }

    pub fn set_owner(
        &self,
        storage: &dyn Storage,
        class: &str,
        member: &str,
    ) -> Result<(), StorageError> {
        storage.set_class_owner(class, member)?;
        self.with(storage, class, |a| a.owner = Some(member.to_owned()))
    }

    pub fn add_co_teacher(
        &self,
        storage: &dyn Storage,
        class: &str,
        t: &CoTeacher,
    ) -> Result<(), StorageError> {
        storage.add_co_teacher(class, t)?;
        self.with(storage, class, |a| a.teachers.insert(t.member_id.clone()))?;
        Ok(())
    }

    /// Takes a co-teacher's grant back: its tokens stop working and its socket closes.
    /// Whether there was a live grant.
    pub fn revoke_co_teacher(
        &self,
        storage: &dyn Storage,
        class: &str,
        member: &str,
        now_ms: u64,
    ) -> Result<bool, StorageError> {
        let found = storage.revoke_co_teacher(class, member, now_ms)?;
        if found {
            self.with(storage, class, |a| {
                a.teachers.remove(member);
                a.revoked
                    .entry(member.to_owned())
                    .or_insert(ErrorCode::TokenRevoked);
            })?;
            self.notify(class, member);
        }
        Ok(found)
    }

    /// No token of this member works in this class any more; its socket closes.
    /// `removed`: a teacher removed it in the room (it is then told `removed`).
    pub fn revoke(
        &self,
        storage: &dyn Storage,
        class: &str,
        member: &str,
        now_ms: u64,
        removed: bool,
    ) -> Result<(), StorageError> {
        storage.revoke_member(class, member, now_ms, removed)?;
        self.with(storage, class, |a| {
            a.revoked.entry(member.to_owned()).or_insert(why(removed));
        })?;
        self.notify(class, member);
        Ok(())
    }

    /// The signing secret changed: every live socket closes.
    pub fn revoke_all(&self) {
        self.epoch.fetch_add(1, SeqCst);
        let _ = self.tx.send(Revocation::All);
    }

    fn notify(&self, class: &str, member: &str) {
        // Nobody listening (no sockets) is fine.
        let _ = self.tx.send(Revocation::Member {
            class: class.to_owned(),
            member: member.to_owned(),
        });
    }

    /// A teacher removed `member` in the room: its tokens are revoked (a co-teacher's
    /// grant too), and a member who came through an open link is banned from it: its
    /// device is refused, its address waits for a teacher.
    pub fn removed_in_room(
        &self,
        storage: &dyn Storage,
        class: &str,
        member: &str,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        if !self.revoke_co_teacher(storage, class, member, now_ms)? {
            self.revoke(storage, class, member, now_ms, true)?;
        }
        if let Some(j) = storage.join_record(class, member)?
            && j.open
        {
            storage.put_ban(
                class,
                &Ban {
                    member_id: j.member_id,
                    name: j.name,
                    device: j.device,
                    addr: j.addr,
                    at_ms: now_ms,
                },
            )?;
        }
        Ok(())
    }
}
