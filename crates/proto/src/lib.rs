//! Aula's wire protocol.
//!
//! Every client speaks JSON over one WebSocket. Each frame is one message, tagged by `type`.
//! The first client frame is always [`ClientMsg::Hello`], which carries the protocol version.
//! `docs/PROTOCOL.md` describes every message; `ui/src/generated/protocol.ts` is generated
//! from these types (see [`typescript_bindings`]) and a test fails when it drifts.

mod board;
mod decode;
mod error;
mod quiz;
mod types;

pub use board::*;
pub use decode::{ClientDecodeError, MAX_CLIENT_FRAME_BYTES, decode_client};
pub use error::ErrorCode;
pub use quiz::*;
pub use types::*;

/// The protocol version this build speaks. A client that says another version in
/// `hello` is refused with [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Every type that crosses the wire, in the order it is written to the TypeScript file.
pub fn typescript_bindings() -> String {
    use ts_rs::{Config, TS};
    let cfg = Config::new().with_large_int("number");
    let decls = [
        Role::decl(&cfg),
        MemberId::decl(&cfg),
        TrackId::decl(&cfg),
        CommandId::decl(&cfg),
        Seq::decl(&cfg),
        TrackKind::decl(&cfg),
        ItemId::decl(&cfg),
        PageId::decl(&cfg),
        Tool::decl(&cfg),
        BoardItem::decl(&cfg),
        PageBackground::decl(&cfg),
        PageInfo::decl(&cfg),
        Viewport::decl(&cfg),
        DrawPolicy::decl(&cfg),
        EditCause::decl(&cfg),
        PageSnapshot::decl(&cfg),
        BoardSnapshot::decl(&cfg),
        ChatMessage::decl(&cfg),
        Reaction::decl(&cfg),
        QuizId::decl(&cfg),
        QuestionKind::decl(&cfg),
        Question::decl(&cfg),
        QuizInfo::decl(&cfg),
        QuizAnswer::decl(&cfg),
        QuizResults::decl(&cfg),
        AnswerRecord::decl(&cfg),
        Verdict::decl(&cfg),
        QuizState::decl(&cfg),
        EngagementParts::decl(&cfg),
        Attendance::decl(&cfg),
        StudentReport::decl(&cfg),
        ClassReport::decl(&cfg),
        Period::decl(&cfg),
        SessionSummary::decl(&cfg),
        StudentSummary::decl(&cfg),
        PeriodReport::decl(&cfg),
        RosterStudent::decl(&cfg),
        RosterAdd::decl(&cfg),
        RosterMember::decl(&cfg),
        AlertSettings::decl(&cfg),
        MemberInfo::decl(&cfg),
        TrackInfo::decl(&cfg),
        RoomSettings::decl(&cfg),
        RoomSnapshot::decl(&cfg),
        LeaveReason::decl(&cfg),
        RoomEvent::decl(&cfg),
        SequencedEvent::decl(&cfg),
        RoomCommand::decl(&cfg),
        LayerSize::decl(&cfg),
        PublishedTrack::decl(&cfg),
        ClientMsg::decl(&cfg),
        ErrorCode::decl(&cfg),
        IceServer::decl(&cfg),
        ServerMsg::decl(&cfg),
        ClassCreated::decl(&cfg),
        CreateClass::decl(&cfg),
        InviteCreated::decl(&cfg),
        JoinRequest::decl(&cfg),
        JoinGranted::decl(&cfg),
        CheckStarted::decl(&cfg),
        CheckOffer::decl(&cfg),
        CheckAnswer::decl(&cfg),
        CheckUploaded::decl(&cfg),
        ApiError::decl(&cfg),
    ];
    render_bindings("crates/proto", "aula-proto", &decls)
}

/// One generated TypeScript file from ts-rs declarations, with a header naming where it
/// comes from and how to regenerate it.
pub fn render_bindings(source: &str, package: &str, decls: &[String]) -> String {
    let mut out = format!(
        "// Generated from {source} by `UPDATE_BINDINGS=1 cargo test -p {package}`. Do not edit.\n\n"
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(d);
        out.push_str("\n\n");
    }
    out.pop();
    out
}

/// The drift check behind each crate's bindings test: rewrites `path` when
/// `UPDATE_BINDINGS` is set, and otherwise fails when the committed file differs.
pub fn check_bindings(path: &std::path::Path, fresh: &str, package: &str) {
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("creating the bindings directory");
        }
        std::fs::write(path, fresh).expect("writing the bindings");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: run `UPDATE_BINDINGS=1 cargo test -p {package}` and commit it",
        path.display()
    );
}
