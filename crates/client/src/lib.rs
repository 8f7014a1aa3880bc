//! The teacher's side of a class, without a window: what the Tauri shell drives and what
//! the end-to-end tests run headless.
//!
//! - [`cache`]: the offline-first SQLite cache (classes, sessions, roster, event log,
//!   settings, the outbox of commands made while offline, the question bank).
//! - [`rest`]: the server's REST API.
//! - [`session`]: a live class: signaling with reconnect and resume, the room replica,
//!   and the WebRTC peer connection that publishes the teacher's media and receives the
//!   students'.

pub mod cache;
mod error;
mod publish;
pub mod rate;
pub mod remote;
pub mod rest;
mod rtc;
pub mod session;

pub use cache::{BankQuestion, Cache, CacheError, CachedClass};
pub use error::ClientError;
pub use publish::{Publisher, Sources};
pub use remote::{RemoteTrackStats, RemoteTracks};
pub use rest::Api;
pub use session::{
    LinkPhase, LinkState, RoomReader, Session, SessionConfig, SessionEvent, SharedCache,
};

/// The teacher window's types that come from Rust, as TypeScript:
/// `ui/src/generated/teacher.ts`, checked by `tests/bindings.rs`.
pub fn typescript_bindings() -> String {
    use ts_rs::{Config, TS};
    let cfg = Config::new().with_large_int("number");
    let decls = [
        cache::CachedClass::decl(&cfg),
        cache::SessionRecord::decl(&cfg),
        cache::RosterEntry::decl(&cfg),
        cache::BankQuestion::decl(&cfg),
        session::LinkPhase::decl(&cfg),
        session::LinkReason::decl(&cfg),
        session::LinkState::decl(&cfg),
        remote::RemoteTrackStats::decl(&cfg),
        aula_media::DeviceKind::decl(&cfg),
        aula_media::DeviceInfo::decl(&cfg),
    ];
    aula_proto::render_bindings("crates/client and crates/media", "aula-client", &decls)
}
