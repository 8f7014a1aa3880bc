//! The teacher app's local cache: every class the teacher ran, its roster, its event log
//! and the commands made while the link was down. The app reads past classes from here
//! with no network, and replays the queued commands, with their ids, when the link returns.

use std::path::Path;

use aula_proto::{CommandId, MemberInfo, RoomCommand, RoomSnapshot, Seq, SequencedEvent};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Forward-only: each entry moves the schema from version `i` to `i + 1`. Never edit one
/// that has shipped; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: classes, their event log and the latest snapshot.
    "CREATE TABLE classes (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        server_url TEXT NOT NULL,
        teacher_token TEXT NOT NULL,
        student_link TEXT,
        created_at_ms INTEGER NOT NULL,
        last_live_ms INTEGER
     );
     CREATE TABLE events (
        class_id TEXT NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (class_id, seq)
     ) WITHOUT ROWID;
     CREATE TABLE snapshots (
        class_id TEXT PRIMARY KEY REFERENCES classes(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL
     );",
    // 2: sessions, roster, settings and the offline outbox.
    "CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        class_id TEXT NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms INTEGER
     );
     CREATE TABLE roster (
        class_id TEXT NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        member_id TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        PRIMARY KEY (class_id, member_id)
     ) WITHOUT ROWID;
     CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE outbox (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        class_id TEXT NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        command_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        queued_at_ms INTEGER NOT NULL
     );",
    // 3: the question bank, reusable across classes.
    "CREATE TABLE questions (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        used_count INTEGER NOT NULL DEFAULT 0
     );",
    // 4: each class's latest session reports, so attendance and engagement stay
    // readable (and exportable) with no network.
    "CREATE TABLE reports (
        class_id TEXT PRIMARY KEY REFERENCES classes(id),
        fetched_at_ms INTEGER NOT NULL,
        body TEXT NOT NULL
     );",
];

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("local cache: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("local cache holds a record it cannot read: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("local cache was written by a newer Aula (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("class {0} is not in the local cache")]
    UnknownClass(String),
}

impl CacheError {
    /// The typed code the UI branches on.
    pub fn code(&self) -> &'static str {
        match self {
            CacheError::Sqlite(e) if is_disk_full(e) => "disk_full",
            CacheError::Sqlite(_) => "cache_error",
            CacheError::Corrupt(_) => "cache_corrupt",
            CacheError::TooNew { .. } => "cache_too_new",
            CacheError::UnknownClass(_) => "not_found",
        }
    }
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

/// A question kept in the teacher's bank, to ask in any class.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct BankQuestion {
    pub id: String,
    #[ts(type = "import(\"./protocol\").Question")]
    pub question: aula_proto::Question,
    pub time_limit_ms: Option<u32>,
    pub anonymous: bool,
    pub created_at_ms: u64,
    /// How many times it was asked.
    #[serde(default)]
    pub used_count: u32,
}

/// A class as the teacher app remembers it.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct CachedClass {
    pub id: String,
    pub title: String,
    #[ts(type = "number")]
    pub created_at_ms: u64,
    #[ts(type = "number | null")]
    pub last_live_ms: Option<u64>,
    pub student_link: Option<String>,
    /// Filled in by the app from its live session; the cache itself does not know.
    pub live: bool,
    #[ts(type = "number")]
    pub event_count: u64,
}

/// What the cache needs to reconnect to a class: not shown to the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassCredentials {
    pub server_url: String,
    pub teacher_token: String,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    #[ts(type = "number")]
    pub started_at_ms: u64,
    #[ts(type = "number | null")]
    pub ended_at_ms: Option<u64>,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct RosterEntry {
    pub member_id: String,
    pub name: String,
    pub role: String,
    #[ts(type = "number")]
    pub first_seen_ms: u64,
    #[ts(type = "number")]
    pub last_seen_ms: u64,
}

pub struct Cache {
    conn: Connection,
}

impl Cache {
    pub fn open(path: &Path) -> Result<Cache, CacheError> {
        Self::setup(Connection::open(path)?)
    }

    pub fn open_in_memory() -> Result<Cache, CacheError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Cache, CacheError> {
        // WAL: the UI reads history while the live session writes events.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut cache = Cache { conn };
        cache.migrate()?;
        Ok(cache)
    }

    pub fn schema_version(&self) -> Result<i64, CacheError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<(), CacheError> {
        let found = self.schema_version()?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(CacheError::TooNew { found, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn upsert_class(
        &self,
        id: &str,
        title: &str,
        creds: &ClassCredentials,
        student_link: Option<&str>,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT INTO classes (id, title, server_url, teacher_token, student_link, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET title = excluded.title,
                server_url = excluded.server_url, teacher_token = excluded.teacher_token,
                student_link = COALESCE(excluded.student_link, classes.student_link)",
            params![
                id,
                title,
                creds.server_url,
                creds.teacher_token,
                student_link,
                now_ms as i64
            ],
        )?;
        Ok(())
    }

    pub fn set_student_link(&self, class_id: &str, link: &str) -> Result<(), CacheError> {
        self.conn.execute(
            "UPDATE classes SET student_link = ?2 WHERE id = ?1",
            params![class_id, link],
        )?;
        Ok(())
    }

    pub fn classes(&self) -> Result<Vec<CachedClass>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.title, c.created_at_ms, c.last_live_ms, c.student_link,
                    (SELECT COUNT(*) FROM events e WHERE e.class_id = c.id)
             FROM classes c ORDER BY COALESCE(c.last_live_ms, c.created_at_ms) DESC, c.id",
        )?;
        let rows = stmt.query_map([], class_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn class(&self, id: &str) -> Result<CachedClass, CacheError> {
        self.conn
            .query_row(
                "SELECT c.id, c.title, c.created_at_ms, c.last_live_ms, c.student_link,
                        (SELECT COUNT(*) FROM events e WHERE e.class_id = c.id)
                 FROM classes c WHERE c.id = ?1",
                [id],
                class_row,
            )
            .optional()?
            .ok_or_else(|| CacheError::UnknownClass(id.to_owned()))
    }

    pub fn credentials(&self, id: &str) -> Result<ClassCredentials, CacheError> {
        self.conn
            .query_row(
                "SELECT server_url, teacher_token FROM classes WHERE id = ?1",
                [id],
                |r| {
                    Ok(ClassCredentials {
                        server_url: r.get(0)?,
                        teacher_token: r.get(1)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| CacheError::UnknownClass(id.to_owned()))
    }

    pub fn start_session(&self, class_id: &str, now_ms: u64) -> Result<i64, CacheError> {
        self.conn.execute(
            "UPDATE classes SET last_live_ms = ?2 WHERE id = ?1",
            params![class_id, now_ms as i64],
        )?;
        self.conn.execute(
            "INSERT INTO sessions (class_id, started_at_ms) VALUES (?1, ?2)",
            params![class_id, now_ms as i64],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn end_session(&self, session: i64, now_ms: u64) -> Result<(), CacheError> {
        self.conn.execute(
            "UPDATE sessions SET ended_at_ms = ?2 WHERE id = ?1 AND ended_at_ms IS NULL",
            params![session, now_ms as i64],
        )?;
        Ok(())
    }

    pub fn sessions(&self, class_id: &str) -> Result<Vec<SessionRecord>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT started_at_ms, ended_at_ms FROM sessions WHERE class_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([class_id], |r| {
            Ok(SessionRecord {
                started_at_ms: r.get::<_, i64>(0)? as u64,
                ended_at_ms: r.get::<_, Option<i64>>(1)?.map(|v| v as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores events the server sequenced, and the roster they imply. Idempotent: a
    /// resume that overlaps stores nothing twice.
    pub fn append_events(
        &mut self,
        class_id: &str,
        events: &[SequencedEvent],
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (class_id, seq, at_ms, body) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for ev in events {
                put.execute(params![
                    class_id,
                    ev.seq.0 as i64,
                    ev.at_ms as i64,
                    serde_json::to_string(&ev.event)?
                ])?;
                if let aula_proto::RoomEvent::MemberJoined { member } = &ev.event {
                    upsert_roster(&tx, class_id, member, ev.at_ms)?;
                }
                if let aula_proto::RoomEvent::MemberLeft { member, .. }
                | aula_proto::RoomEvent::PresenceChanged { member, .. } = &ev.event
                {
                    tx.execute(
                        "UPDATE roster SET last_seen_ms = ?3 WHERE class_id = ?1 AND member_id = ?2",
                        params![class_id, member.0, ev.at_ms as i64],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn events(&self, class_id: &str) -> Result<Vec<SequencedEvent>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at_ms, body FROM events WHERE class_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([class_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at_ms, body) = row?;
            out.push(SequencedEvent {
                seq: Seq(seq as u64),
                at_ms: at_ms as u64,
                event: serde_json::from_str(&body)?,
            });
        }
        Ok(out)
    }

    /// The room as last seen, which is where a reconnect resumes from.
    pub fn save_snapshot(
        &mut self,
        snapshot: &RoomSnapshot,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO snapshots (class_id, seq, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(class_id) DO UPDATE SET seq = excluded.seq, body = excluded.body",
            params![
                snapshot.class_id,
                snapshot.seq.0 as i64,
                serde_json::to_string(snapshot)?
            ],
        )?;
        for member in &snapshot.members {
            upsert_roster(&tx, &snapshot.class_id, member, now_ms)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn snapshot(&self, class_id: &str) -> Result<Option<RoomSnapshot>, CacheError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM snapshots WHERE class_id = ?1",
                [class_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    pub fn roster(&self, class_id: &str) -> Result<Vec<RosterEntry>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT member_id, name, role, first_seen_ms, last_seen_ms FROM roster
             WHERE class_id = ?1 ORDER BY first_seen_ms, member_id",
        )?;
        let rows = stmt.query_map([class_id], |r| {
            Ok(RosterEntry {
                member_id: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                first_seen_ms: r.get::<_, i64>(3)? as u64,
                last_seen_ms: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Queues a command before it is sent, so that nothing the teacher did is lost if the
    /// link drops before the server acknowledges it.
    pub fn queue_command(
        &self,
        class_id: &str,
        id: &CommandId,
        command: &RoomCommand,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO outbox (class_id, command_id, body, queued_at_ms)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                class_id,
                id.0,
                serde_json::to_string(command)?,
                now_ms as i64
            ],
        )?;
        Ok(())
    }

    /// Queued commands in the order they were made.
    pub fn pending_commands(
        &self,
        class_id: &str,
    ) -> Result<Vec<(CommandId, RoomCommand)>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT command_id, body FROM outbox WHERE class_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([class_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push((CommandId(id), serde_json::from_str(&body)?));
        }
        Ok(out)
    }

    /// The server answered the command (applied, duplicate or refused): it leaves the queue.
    pub fn command_done(&self, id: &CommandId) -> Result<(), CacheError> {
        self.conn
            .execute("DELETE FROM outbox WHERE command_id = ?1", [&id.0])?;
        Ok(())
    }

    /// Keeps a class's latest report (the heatmap fetches one every few seconds while
    /// live, so the last one is the class as it ended).
    pub fn save_report(
        &self,
        report: &aula_proto::ClassReport,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT INTO reports (class_id, fetched_at_ms, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(class_id) DO UPDATE SET fetched_at_ms = excluded.fetched_at_ms, body = excluded.body",
            params![report.class_id, now_ms as i64, serde_json::to_string(report)?],
        )?;
        Ok(())
    }

    /// The class's last fetched report, if any.
    pub fn report(&self, class_id: &str) -> Result<Option<aula_proto::ClassReport>, CacheError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM reports WHERE class_id = ?1",
                [class_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// Saves (or replaces) a question in the bank.
    pub fn save_question(&self, q: &BankQuestion) -> Result<(), CacheError> {
        let body = serde_json::to_string(q)?;
        self.conn.execute(
            "INSERT INTO questions (id, body, created_at_ms, used_count) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET body = excluded.body",
            params![q.id, body, q.created_at_ms as i64, q.used_count],
        )?;
        Ok(())
    }

    /// The bank, newest first.
    pub fn questions(&self) -> Result<Vec<BankQuestion>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, used_count FROM questions ORDER BY created_at_ms DESC, id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (body, used) = row?;
            let mut q: BankQuestion = serde_json::from_str(&body)?;
            q.used_count = used;
            out.push(q);
        }
        Ok(out)
    }

    pub fn question(&self, id: &str) -> Result<Option<BankQuestion>, CacheError> {
        Ok(self.questions()?.into_iter().find(|q| q.id == id))
    }

    pub fn delete_question(&self, id: &str) -> Result<(), CacheError> {
        self.conn
            .execute("DELETE FROM questions WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn question_used(&self, id: &str) -> Result<(), CacheError> {
        self.conn.execute(
            "UPDATE questions SET used_count = used_count + 1 WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

fn class_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CachedClass> {
    Ok(CachedClass {
        id: r.get(0)?,
        title: r.get(1)?,
        created_at_ms: r.get::<_, i64>(2)? as u64,
        last_live_ms: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
        student_link: r.get(4)?,
        live: false,
        event_count: r.get::<_, i64>(5)? as u64,
    })
}

fn upsert_roster(
    tx: &rusqlite::Transaction<'_>,
    class_id: &str,
    member: &MemberInfo,
    seen_ms: u64,
) -> rusqlite::Result<()> {
    let role = serde_json::to_value(member.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    tx.execute(
        "INSERT INTO roster (class_id, member_id, name, role, first_seen_ms, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT(class_id, member_id) DO UPDATE SET name = excluded.name,
            last_seen_ms = MAX(roster.last_seen_ms, excluded.last_seen_ms)",
        params![class_id, member.id.0, member.name, role, seen_ms as i64],
    )?;
    Ok(())
}

/// The schema as each migration left it, for the migration test.
#[doc(hidden)]
pub fn migrations() -> &'static [&'static str] {
    MIGRATIONS
}
