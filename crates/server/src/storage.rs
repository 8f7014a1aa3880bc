//! Where classes, sessions, members and every room's event log are kept.
//!
//! The rooms talk to [`Storage`] only, so another engine (PostgreSQL) can come without
//! touching them. [`SqliteStorage`] is the embedded default.

use std::path::Path;
use std::sync::Mutex;

use aula_proto::{MemberId, MemberInfo, Role, Seq, SequencedEvent};
use aula_room::CommandKey;
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored event of class {class} at seq {seq} is unreadable: {source}")]
    Corrupt {
        class: String,
        seq: u64,
        source: serde_json::Error,
    },
    #[error("the database lock was poisoned by a panic")]
    Poisoned,
    #[error("database file: {0}")]
    Io(std::io::Error),
}

/// Creates `path` empty with mode 0600 when it does not exist, and sets 0600 when it does.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => set_mode(path, 0o600),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Sets a file's or directory's permission bits (unix only; elsewhere nothing).
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRecord {
    pub id: String,
    pub title: String,
    pub created_at_ms: u64,
    /// The member id of the teacher who owns the class (who created it, or whom the
    /// operator's links name). Stable, so the owner's tokens are the same member.
    pub owner_id: Option<String>,
}

/// A co-teacher the owner (or the operator) let into a class.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CoTeacher {
    pub member_id: String,
    pub name: String,
    pub granted_at_ms: u64,
    /// When the owner took the grant back; its tokens stopped working then.
    pub revoked_at_ms: Option<u64>,
}

/// How a member came in through `POST /api/join`, kept to recognise it after a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRecord {
    pub member_id: String,
    pub name: String,
    /// The invite's id (an open link's `sub`).
    pub invite_id: String,
    /// Whether it came through an open link (not a roster student's personal link).
    pub open: bool,
    pub device: Option<String>,
    pub addr: Option<String>,
}

/// A removed member of an open link, kept out until a teacher lifts it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ban {
    pub member_id: String,
    pub name: String,
    /// The browser's device id it joined with, refused outright.
    #[serde(skip)]
    pub device: Option<String>,
    /// The source address it joined from: joins from there wait for a teacher.
    #[serde(skip)]
    pub addr: Option<String>,
    pub at_ms: u64,
}

pub trait Storage: Send + Sync + 'static {
    fn create_class(&self, class: &ClassRecord) -> Result<(), StorageError>;
    fn class(&self, id: &str) -> Result<Option<ClassRecord>, StorageError>;
    fn latest_class(&self) -> Result<Option<ClassRecord>, StorageError>;
    fn append_events(&self, class_id: &str, events: &[SequencedEvent]) -> Result<(), StorageError>;
    /// The events a member's command made, and that the command was applied, in one
    /// transaction: after a crash either both are stored or neither.
    fn append_command(
        &self,
        class_id: &str,
        events: &[SequencedEvent],
        member: &MemberId,
        key: CommandKey,
    ) -> Result<(), StorageError>;
    /// The newest `per_member` applied commands of each member, oldest first.
    fn applied_commands(
        &self,
        class_id: &str,
        per_member: usize,
    ) -> Result<Vec<(MemberId, CommandKey)>, StorageError>;
    fn events(&self, class_id: &str) -> Result<Vec<SequencedEvent>, StorageError>;
    /// The class's newest checkpoint: the seq it was taken at, and its bytes.
    fn checkpoint(&self, class_id: &str) -> Result<Option<(Seq, Vec<u8>)>, StorageError>;
    /// Replaces the class's checkpoint, and forgets applied commands older than each
    /// member's newest `keep_per_member` (the only ones a restore reads back).
    fn put_checkpoint(
        &self,
        class_id: &str,
        seq: Seq,
        at_ms: u64,
        body: &[u8],
        keep_per_member: usize,
    ) -> Result<(), StorageError>;
    /// At most `limit` events after `after`, in order: a page of a long resume.
    fn events_after(
        &self,
        class_id: &str,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StorageError>;
    fn record_member(&self, class_id: &str, member: &MemberInfo) -> Result<(), StorageError>;
    fn start_session(&self, class_id: &str, at_ms: u64) -> Result<i64, StorageError>;
    fn end_session(&self, session_id: i64, at_ms: u64) -> Result<(), StorageError>;
    fn meta(&self, key: &str) -> Result<Option<String>, StorageError>;
    fn set_meta(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Adds or renames roster entries (by member id).
    fn put_roster(&self, class_id: &str, entries: &[RosterEntry]) -> Result<(), StorageError>;
    fn roster(&self, class_id: &str) -> Result<Vec<RosterEntry>, StorageError>;
    /// Whether the entry existed.
    fn remove_roster(&self, class_id: &str, member: &str) -> Result<bool, StorageError>;
    fn set_attendance_threshold(&self, class_id: &str, pct: Option<u8>)
    -> Result<(), StorageError>;
    fn attendance_threshold(&self, class_id: &str) -> Result<Option<u8>, StorageError>;
    /// Records where each student stands against the threshold and queues a mail for
    /// each who has just fallen below it, all in one transaction. A student already
    /// below gets no second mail until it has been above again. Returns how many mails
    /// were queued.
    fn queue_attendance_alerts(
        &self,
        class_id: &str,
        standings: &[AlertStanding],
        now_ms: u64,
    ) -> Result<usize, StorageError>;
    /// Mails due for a (re)try, oldest first.
    fn due_mail(&self, now_ms: u64, limit: usize) -> Result<Vec<QueuedMail>, StorageError>;
    fn mail_sent(&self, id: i64, now_ms: u64) -> Result<(), StorageError>;
    /// A failed try: retried at `retry_at_ms`, or given up when that is `None`.
    fn mail_failed(
        &self,
        id: i64,
        error: &str,
        retry_at_ms: Option<u64>,
    ) -> Result<(), StorageError>;
    fn mail_log(&self) -> Result<Vec<QueuedMail>, StorageError>;
    fn all_classes(&self) -> Result<Vec<ClassRecord>, StorageError>;
    fn set_class_owner(&self, class_id: &str, owner: &str) -> Result<(), StorageError>;
    fn add_co_teacher(&self, class_id: &str, t: &CoTeacher) -> Result<(), StorageError>;
    /// Every grant, revoked ones included, oldest first.
    fn co_teachers(&self, class_id: &str) -> Result<Vec<CoTeacher>, StorageError>;
    /// Marks a live grant revoked and the member's tokens revoked, in one transaction.
    /// Whether there was a live grant.
    fn revoke_co_teacher(
        &self,
        class_id: &str,
        member: &str,
        at_ms: u64,
    ) -> Result<bool, StorageError>;
    /// From now on no token of this member works in this class. `removed`: a teacher
    /// removed it in the room (rather than its link being withdrawn).
    fn revoke_member(
        &self,
        class_id: &str,
        member: &str,
        at_ms: u64,
        removed: bool,
    ) -> Result<(), StorageError>;
    /// (member, removed in the room)
    fn revoked_members(&self, class_id: &str) -> Result<Vec<(String, bool)>, StorageError>;
    fn record_join(&self, class_id: &str, j: &JoinRecord, at_ms: u64) -> Result<(), StorageError>;
    fn join_record(&self, class_id: &str, member: &str)
    -> Result<Option<JoinRecord>, StorageError>;
    fn put_ban(&self, class_id: &str, ban: &Ban) -> Result<(), StorageError>;
    fn bans(&self, class_id: &str) -> Result<Vec<Ban>, StorageError>;
    /// Whether a ban of that member existed.
    fn lift_ban(&self, class_id: &str, member: &str) -> Result<bool, StorageError>;
}

/// A student expected in a class, with an address for attendance alerts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RosterEntry {
    pub member_id: String,
    pub name: String,
    pub email: Option<String>,
}

/// A roster student's attendance as of a session's end, for the alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertStanding {
    pub member_id: String,
    pub below: bool,
    /// The mail to queue if it has just fallen below: (to, subject, body).
    pub mail: Option<(String, String, String)>,
    /// Names the alert (class, student, session) so retries and replays queue it once.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueuedMail {
    pub id: i64,
    pub key: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: u32,
    pub sent_at_ms: Option<u64>,
    pub failed: bool,
    pub last_error: Option<String>,
}

/// Forward-only migrations; `PRAGMA user_version` says how many have run.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE classes (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id TEXT NOT NULL REFERENCES classes(id),
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER
);
CREATE TABLE members (
    class_id TEXT NOT NULL REFERENCES classes(id),
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    first_joined_at_ms INTEGER NOT NULL,
    PRIMARY KEY (class_id, member_id)
);
CREATE TABLE events (
    class_id TEXT NOT NULL REFERENCES classes(id),
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (class_id, seq)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE roster (
    class_id TEXT NOT NULL REFERENCES classes(id),
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (class_id, member_id)
);
CREATE TABLE attendance_alerts (
    class_id TEXT PRIMARY KEY REFERENCES classes(id),
    threshold_pct INTEGER
);
CREATE TABLE alert_standing (
    class_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    below INTEGER NOT NULL,
    PRIMARY KEY (class_id, member_id)
);
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    queued_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_ms INTEGER NOT NULL,
    sent_at_ms INTEGER,
    failed INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX mail_due ON mail_outbox (next_try_ms) WHERE sent_at_ms IS NULL AND failed = 0;
"#,
    // Commands applied, written in the transaction of the events they made, so a retry
    // after a restart is recognised (`Room::restore` gets the newest per member).
    r#"
CREATE TABLE applied_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id TEXT NOT NULL REFERENCES classes(id),
    member_id TEXT NOT NULL,
    command_key INTEGER NOT NULL
);
CREATE INDEX applied_commands_by_member ON applied_commands (class_id, member_id, id);
"#,
    r#"
ALTER TABLE classes ADD COLUMN owner_id TEXT;
CREATE TABLE co_teachers (
    class_id TEXT NOT NULL REFERENCES classes(id),
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    granted_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    PRIMARY KEY (class_id, member_id)
);
CREATE TABLE revoked_members (
    class_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (class_id, member_id)
);
CREATE TABLE joins (
    class_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    invite_id TEXT NOT NULL,
    open INTEGER NOT NULL,
    device TEXT,
    addr TEXT,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (class_id, member_id)
);
CREATE TABLE bans (
    class_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    device TEXT,
    addr TEXT,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (class_id, member_id)
);
CREATE INDEX bans_device ON bans (class_id, device);
CREATE INDEX bans_addr ON bans (class_id, addr);
"#,
    // The newest checkpoint of each class's room state: a restart reads it and the
    // events after it, not the whole log.
    r#"
CREATE TABLE checkpoints (
    class_id TEXT PRIMARY KEY REFERENCES classes(id),
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    body BLOB NOT NULL
);
"#,
];

pub struct SqliteStorage {
    conn: Mutex<Connection>,
}

impl SqliteStorage {
    /// Opens (or creates) the database readable by its owner only: the file holds the
    /// signing secret and the operator key. SQLite gives the `-wal` and `-shm` files the
    /// database file's mode; files left by an older version are tightened here too.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        private_file(path).map_err(StorageError::Io)?;
        let storage = Self::init(Connection::open(path)?)?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            if p.exists() {
                set_mode(&p, 0o600).map_err(StorageError::Io)?;
            }
        }
        Ok(storage)
    }

    pub fn in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // WAL with NORMAL survives a process crash; only a power cut may lose the last
        // transactions, which the clients still hold and replay.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn.lock().map_err(|_| StorageError::Poisoned)?;
        f(&mut conn)
    }
}

pub fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    class_id: &str,
    events: &[SequencedEvent],
) -> Result<(), StorageError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO events (class_id, seq, at_ms, body) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for ev in events {
        let body = serde_json::to_string(&ev.event).map_err(|source| StorageError::Corrupt {
            class: class_id.to_owned(),
            seq: ev.seq.0,
            source,
        })?;
        stmt.execute(params![class_id, ev.seq.0 as i64, ev.at_ms as i64, body])?;
    }
    Ok(())
}

type EventRow = (u64, u64, String);

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        r.get::<_, i64>(0)? as u64,
        r.get::<_, i64>(1)? as u64,
        r.get::<_, String>(2)?,
    ))
}

fn decode_events(
    class_id: &str,
    rows: impl Iterator<Item = rusqlite::Result<EventRow>>,
) -> Result<Vec<SequencedEvent>, StorageError> {
    let mut out = Vec::new();
    for row in rows {
        let (seq, at_ms, body) = row?;
        let event = serde_json::from_str(&body).map_err(|source| StorageError::Corrupt {
            class: class_id.to_owned(),
            seq,
            source,
        })?;
        out.push(SequencedEvent {
            seq: Seq(seq),
            at_ms,
            event,
        });
    }
    Ok(out)
}

fn class_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClassRecord> {
    Ok(ClassRecord {
        id: r.get(0)?,
        title: r.get(1)?,
        created_at_ms: r.get::<_, i64>(2)? as u64,
        owner_id: r.get(3)?,
    })
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Teacher => "teacher",
        Role::Student => "student",
        Role::Observer => "observer",
    }
}

impl Storage for SqliteStorage {
    fn create_class(&self, c: &ClassRecord) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO classes (id, title, created_at_ms, owner_id) VALUES (?1, ?2, ?3, ?4)",
                params![c.id, c.title, c.created_at_ms as i64, c.owner_id],
            )?;
            Ok(())
        })
    }

    fn class(&self, id: &str) -> Result<Option<ClassRecord>, StorageError> {
        self.with(|db| {
            Ok(db
                .query_row(
                    "SELECT id, title, created_at_ms, owner_id FROM classes WHERE id = ?1",
                    [id],
                    class_row,
                )
                .optional()?)
        })
    }

    fn latest_class(&self) -> Result<Option<ClassRecord>, StorageError> {
        self.with(|db| {
            Ok(db
                .query_row(
                    "SELECT id, title, created_at_ms, owner_id FROM classes ORDER BY created_at_ms DESC, rowid DESC LIMIT 1",
                    [],
                    class_row,
                )
                .optional()?)
        })
    }

    fn append_events(&self, class_id: &str, events: &[SequencedEvent]) -> Result<(), StorageError> {
        if events.is_empty() {
            return Ok(());
        }
        self.with(|db| {
            let tx = db.transaction()?;
            insert_events(&tx, class_id, events)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn append_command(
        &self,
        class_id: &str,
        events: &[SequencedEvent],
        member: &MemberId,
        key: CommandKey,
    ) -> Result<(), StorageError> {
        self.with(|db| {
            let tx = db.transaction()?;
            insert_events(&tx, class_id, events)?;
            tx.prepare_cached(
                "INSERT INTO applied_commands (class_id, member_id, command_key) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![class_id, member.0, key as i64])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn applied_commands(
        &self,
        class_id: &str,
        per_member: usize,
    ) -> Result<Vec<(MemberId, CommandKey)>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT member_id, command_key FROM (
                   SELECT id, member_id, command_key,
                          ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY id DESC) AS newest
                   FROM applied_commands WHERE class_id = ?1)
                 WHERE newest <= ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map(
                params![class_id, per_member.min(i64::MAX as usize) as i64],
                |r| Ok((MemberId(r.get(0)?), r.get::<_, i64>(1)? as u64)),
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn events_after(
        &self,
        class_id: &str,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT seq, at_ms, body FROM events WHERE class_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                // SQLite reads a negative limit as none; `usize::MAX` means all.
                params![class_id, after.0 as i64, limit.min(i64::MAX as usize) as i64],
                event_row,
            )?;
            decode_events(class_id, rows)
        })
    }

    fn checkpoint(&self, class_id: &str) -> Result<Option<(Seq, Vec<u8>)>, StorageError> {
        self.with(|db| {
            Ok(db
                .prepare_cached("SELECT seq, body FROM checkpoints WHERE class_id = ?1")?
                .query_row([class_id], |r| {
                    Ok((Seq(r.get::<_, i64>(0)? as u64), r.get(1)?))
                })
                .optional()?)
        })
    }

    fn put_checkpoint(
        &self,
        class_id: &str,
        seq: Seq,
        at_ms: u64,
        body: &[u8],
        keep_per_member: usize,
    ) -> Result<(), StorageError> {
        self.with(|db| {
            let tx = db.transaction()?;
            tx.prepare_cached(
                "INSERT INTO checkpoints (class_id, seq, at_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (class_id) DO UPDATE SET seq = ?2, at_ms = ?3, body = ?4",
            )?
            .execute(params![class_id, seq.0 as i64, at_ms as i64, body])?;
            tx.prepare_cached(
                "DELETE FROM applied_commands WHERE id IN (
                   SELECT id FROM (
                     SELECT id, ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY id DESC) AS newest
                     FROM applied_commands WHERE class_id = ?1)
                   WHERE newest > ?2)",
            )?
            .execute(params![class_id, keep_per_member.min(i64::MAX as usize) as i64])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn events(&self, class_id: &str) -> Result<Vec<SequencedEvent>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT seq, at_ms, body FROM events WHERE class_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([class_id], event_row)?;
            decode_events(class_id, rows)
        })
    }

    fn record_member(&self, class_id: &str, m: &MemberInfo) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO members (class_id, member_id, name, role, first_joined_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (class_id, member_id) DO UPDATE SET name = excluded.name",
                params![class_id, m.id.0, m.name, role_str(m.role), m.joined_at_ms as i64],
            )?;
            Ok(())
        })
    }

    fn start_session(&self, class_id: &str, at_ms: u64) -> Result<i64, StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO sessions (class_id, started_at_ms) VALUES (?1, ?2)",
                params![class_id, at_ms as i64],
            )?;
            Ok(db.last_insert_rowid())
        })
    }

    fn end_session(&self, session_id: i64, at_ms: u64) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "UPDATE sessions SET ended_at_ms = ?2 WHERE id = ?1",
                params![session_id, at_ms as i64],
            )?;
            Ok(())
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.with(|db| {
            Ok(db
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    fn put_roster(&self, class_id: &str, entries: &[RosterEntry]) -> Result<(), StorageError> {
        self.with(|db| {
            let tx = db.transaction()?;
            for e in entries {
                tx.execute(
                    "INSERT INTO roster (class_id, member_id, name, email) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (class_id, member_id) DO UPDATE SET name = excluded.name, email = excluded.email",
                    params![class_id, e.member_id, e.name, e.email],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn roster(&self, class_id: &str) -> Result<Vec<RosterEntry>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT member_id, name, email FROM roster WHERE class_id = ?1 ORDER BY name, member_id",
            )?;
            let rows = stmt.query_map([class_id], |r| {
                Ok(RosterEntry {
                    member_id: r.get(0)?,
                    name: r.get(1)?,
                    email: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn remove_roster(&self, class_id: &str, member: &str) -> Result<bool, StorageError> {
        self.with(|db| {
            Ok(db.execute(
                "DELETE FROM roster WHERE class_id = ?1 AND member_id = ?2",
                params![class_id, member],
            )? > 0)
        })
    }

    fn set_attendance_threshold(
        &self,
        class_id: &str,
        pct: Option<u8>,
    ) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO attendance_alerts (class_id, threshold_pct) VALUES (?1, ?2)
                 ON CONFLICT (class_id) DO UPDATE SET threshold_pct = excluded.threshold_pct",
                params![class_id, pct],
            )?;
            Ok(())
        })
    }

    fn attendance_threshold(&self, class_id: &str) -> Result<Option<u8>, StorageError> {
        self.with(|db| {
            Ok(db
                .query_row(
                    "SELECT threshold_pct FROM attendance_alerts WHERE class_id = ?1",
                    [class_id],
                    |r| r.get::<_, Option<u8>>(0),
                )
                .optional()?
                .flatten())
        })
    }

    fn queue_attendance_alerts(
        &self,
        class_id: &str,
        standings: &[AlertStanding],
        now_ms: u64,
    ) -> Result<usize, StorageError> {
        self.with(|db| {
            let tx = db.transaction()?;
            let mut queued = 0;
            for s in standings {
                let was_below: bool = tx
                    .query_row(
                        "SELECT below FROM alert_standing WHERE class_id = ?1 AND member_id = ?2",
                        params![class_id, s.member_id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(false);
                tx.execute(
                    "INSERT INTO alert_standing (class_id, member_id, below) VALUES (?1, ?2, ?3)
                     ON CONFLICT (class_id, member_id) DO UPDATE SET below = excluded.below",
                    params![class_id, s.member_id, s.below],
                )?;
                if s.below
                    && !was_below
                    && let Some((to, subject, body)) = &s.mail
                {
                    queued += tx.execute(
                        "INSERT INTO mail_outbox (key, to_addr, subject, body, queued_at_ms, next_try_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (key) DO NOTHING",
                        params![s.key, to, subject, body, now_ms as i64],
                    )?;
                }
            }
            tx.commit()?;
            Ok(queued)
        })
    }

    fn due_mail(&self, now_ms: u64, limit: usize) -> Result<Vec<QueuedMail>, StorageError> {
        self.mail_query(
            "WHERE sent_at_ms IS NULL AND failed = 0 AND next_try_ms <= ?1 ORDER BY id LIMIT ?2",
            params![now_ms as i64, limit as i64],
        )
    }

    fn mail_sent(&self, id: i64, now_ms: u64) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "UPDATE mail_outbox SET sent_at_ms = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                params![id, now_ms as i64],
            )?;
            Ok(())
        })
    }

    fn mail_failed(
        &self,
        id: i64,
        error: &str,
        retry_at_ms: Option<u64>,
    ) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?2,
                 next_try_ms = COALESCE(?3, next_try_ms), failed = (?3 IS NULL) WHERE id = ?1",
                params![id, error, retry_at_ms.map(|t| t as i64)],
            )?;
            Ok(())
        })
    }

    fn mail_log(&self) -> Result<Vec<QueuedMail>, StorageError> {
        self.mail_query("ORDER BY id", params![])
    }

    fn all_classes(&self) -> Result<Vec<ClassRecord>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT id, title, created_at_ms, owner_id FROM classes ORDER BY created_at_ms, rowid",
            )?;
            let rows = stmt.query_map([], class_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn set_class_owner(&self, class_id: &str, owner: &str) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "UPDATE classes SET owner_id = ?2 WHERE id = ?1",
                params![class_id, owner],
            )?;
            Ok(())
        })
    }

    fn add_co_teacher(&self, class_id: &str, t: &CoTeacher) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO co_teachers (class_id, member_id, name, granted_at_ms, revoked_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![class_id, t.member_id, t.name, t.granted_at_ms as i64, t.revoked_at_ms.map(|v| v as i64)],
            )?;
            Ok(())
        })
    }

    fn co_teachers(&self, class_id: &str) -> Result<Vec<CoTeacher>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT member_id, name, granted_at_ms, revoked_at_ms FROM co_teachers WHERE class_id = ?1 ORDER BY granted_at_ms, rowid",
            )?;
            let rows = stmt.query_map([class_id], |r| {
                Ok(CoTeacher {
                    member_id: r.get(0)?,
                    name: r.get(1)?,
                    granted_at_ms: r.get::<_, i64>(2)? as u64,
                    revoked_at_ms: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn revoke_co_teacher(
        &self,
        class_id: &str,
        member: &str,
        at_ms: u64,
    ) -> Result<bool, StorageError> {
        self.with(|db| {
            let tx = db.transaction()?;
            let n = tx.execute(
                "UPDATE co_teachers SET revoked_at_ms = ?3 WHERE class_id = ?1 AND member_id = ?2 AND revoked_at_ms IS NULL",
                params![class_id, member, at_ms as i64],
            )?;
            if n > 0 {
                tx.execute(
                    "INSERT OR IGNORE INTO revoked_members (class_id, member_id, at_ms) VALUES (?1, ?2, ?3)",
                    params![class_id, member, at_ms as i64],
                )?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn revoke_member(
        &self,
        class_id: &str,
        member: &str,
        at_ms: u64,
        removed: bool,
    ) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT OR IGNORE INTO revoked_members (class_id, member_id, at_ms, removed) VALUES (?1, ?2, ?3, ?4)",
                params![class_id, member, at_ms as i64, removed],
            )?;
            Ok(())
        })
    }

    fn revoked_members(&self, class_id: &str) -> Result<Vec<(String, bool)>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT member_id, removed FROM revoked_members WHERE class_id = ?1",
            )?;
            let rows = stmt.query_map([class_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn record_join(&self, class_id: &str, j: &JoinRecord, at_ms: u64) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO joins (class_id, member_id, invite_id, open, device, addr, at_ms, name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (class_id, member_id) DO UPDATE SET invite_id = excluded.invite_id, open = excluded.open, name = excluded.name,
                   device = excluded.device, addr = excluded.addr, at_ms = excluded.at_ms",
                params![class_id, j.member_id, j.invite_id, j.open, j.device, j.addr, at_ms as i64, j.name],
            )?;
            Ok(())
        })
    }

    fn join_record(
        &self,
        class_id: &str,
        member: &str,
    ) -> Result<Option<JoinRecord>, StorageError> {
        self.with(|db| {
            Ok(db
                .query_row(
                    "SELECT member_id, invite_id, open, device, addr, name FROM joins WHERE class_id = ?1 AND member_id = ?2",
                    params![class_id, member],
                    |r| {
                        Ok(JoinRecord {
                            member_id: r.get(0)?,
                            name: r.get(5)?,
                            invite_id: r.get(1)?,
                            open: r.get(2)?,
                            device: r.get(3)?,
                            addr: r.get(4)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn put_ban(&self, class_id: &str, b: &Ban) -> Result<(), StorageError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO bans (class_id, member_id, name, device, addr, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (class_id, member_id) DO UPDATE SET name = excluded.name, device = excluded.device,
                   addr = excluded.addr, at_ms = excluded.at_ms",
                params![class_id, b.member_id, b.name, b.device, b.addr, b.at_ms as i64],
            )?;
            Ok(())
        })
    }

    fn bans(&self, class_id: &str) -> Result<Vec<Ban>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT member_id, name, device, addr, at_ms FROM bans WHERE class_id = ?1 ORDER BY at_ms, rowid",
            )?;
            let rows = stmt.query_map([class_id], |r| {
                Ok(Ban {
                    member_id: r.get(0)?,
                    name: r.get(1)?,
                    device: r.get(2)?,
                    addr: r.get(3)?,
                    at_ms: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn lift_ban(&self, class_id: &str, member: &str) -> Result<bool, StorageError> {
        self.with(|db| {
            Ok(db.execute(
                "DELETE FROM bans WHERE class_id = ?1 AND member_id = ?2",
                params![class_id, member],
            )? > 0)
        })
    }
}

impl SqliteStorage {
    fn mail_query(
        &self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<QueuedMail>, StorageError> {
        self.with(|db| {
            let mut stmt = db.prepare_cached(&format!(
                "SELECT id, key, to_addr, subject, body, attempts, sent_at_ms, failed, last_error FROM mail_outbox {filter}"
            ))?;
            let rows = stmt.query_map(args, |r| {
                Ok(QueuedMail {
                    id: r.get(0)?,
                    key: r.get(1)?,
                    to: r.get(2)?,
                    subject: r.get(3)?,
                    body: r.get(4)?,
                    attempts: r.get(5)?,
                    sent_at_ms: r.get::<_, Option<i64>>(6)?.map(|t| t as u64),
                    failed: r.get(7)?,
                    last_error: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aula_proto::{MemberId, RoomEvent, Seq};

    #[test]
    fn events_round_trip_in_order() {
        let s = SqliteStorage::in_memory().unwrap();
        s.create_class(&ClassRecord {
            id: "c".into(),
            title: "T".into(),
            created_at_ms: 1,
            owner_id: None,
        })
        .unwrap();
        let evs: Vec<SequencedEvent> = (1..=3)
            .map(|i| SequencedEvent {
                seq: Seq(i),
                at_ms: i * 10,
                event: RoomEvent::PresenceChanged {
                    member: MemberId("m".into()),
                    connected: i % 2 == 0,
                },
            })
            .collect();
        s.append_events("c", &evs[..2]).unwrap();
        s.append_events("c", &evs[2..]).unwrap();
        assert_eq!(s.events("c").unwrap(), evs);
        // The same seq twice is refused, whole batch or nothing.
        assert!(s.append_events("c", &evs[2..]).is_err());
        assert_eq!(s.events("c").unwrap().len(), 3);
        assert!(s.events("other").unwrap().is_empty());
    }

    #[test]
    fn migrations_run_once_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aula.db");
        {
            let s = SqliteStorage::open(&path).unwrap();
            s.set_meta("k", "v1").unwrap();
            s.set_meta("k", "v2").unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.meta("k").unwrap().as_deref(), Some("v2"));
        let conn = s.conn.lock().unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }

    #[test]
    fn events_need_an_existing_class() {
        let s = SqliteStorage::in_memory().unwrap();
        let ev = SequencedEvent {
            seq: Seq(1),
            at_ms: 0,
            event: RoomEvent::PresenceChanged {
                member: MemberId("m".into()),
                connected: true,
            },
        };
        assert!(s.append_events("ghost", &[ev]).is_err());
    }

    #[test]
    fn a_checkpoint_replaces_the_last_and_trims_applied_commands() {
        let s = SqliteStorage::in_memory().unwrap();
        s.create_class(&ClassRecord {
            id: "c".into(),
            title: "T".into(),
            created_at_ms: 1,
            owner_id: None,
        })
        .unwrap();
        assert_eq!(s.checkpoint("c").unwrap(), None);
        let (a, b) = (MemberId("a".into()), MemberId("b".into()));
        for k in 0..10u64 {
            s.append_command("c", &[], &a, k).unwrap();
        }
        s.append_command("c", &[], &b, 99).unwrap();
        s.put_checkpoint("c", Seq(5), 1, b"one", 3).unwrap();
        s.put_checkpoint("c", Seq(9), 2, b"two", 3).unwrap();
        assert_eq!(s.checkpoint("c").unwrap(), Some((Seq(9), b"two".to_vec())));
        assert_eq!(
            s.applied_commands("c", usize::MAX).unwrap(),
            vec![(a.clone(), 7), (a.clone(), 8), (a, 9), (b, 99)]
        );
    }
}
