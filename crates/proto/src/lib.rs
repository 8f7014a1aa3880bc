//! Aula's wire protocol.
//!
//! Every client speaks JSON over one WebSocket. Each frame is one message, tagged by `type`.
//! The first client frame is always [`ClientMsg::Hello`], which carries the protocol version.
//! `docs/PROTOCOL.md` describes every message; `ui/src/generated/protocol.ts` is generated
//! from these types (see [`typescript_bindings`]) and a test fails when it drifts.

mod decode;
mod error;
mod types;

pub use decode::{ClientDecodeError, MAX_CLIENT_FRAME_BYTES, decode_client};
pub use error::ErrorCode;
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
        MemberInfo::decl(&cfg),
        TrackInfo::decl(&cfg),
        RoomSettings::decl(&cfg),
        RoomSnapshot::decl(&cfg),
        LeaveReason::decl(&cfg),
        RoomEvent::decl(&cfg),
        SequencedEvent::decl(&cfg),
        RoomCommand::decl(&cfg),
        PublishedTrack::decl(&cfg),
        ClientMsg::decl(&cfg),
        ErrorCode::decl(&cfg),
        ServerMsg::decl(&cfg),
        ClassCreated::decl(&cfg),
        CreateClass::decl(&cfg),
        InviteCreated::decl(&cfg),
        JoinRequest::decl(&cfg),
        JoinGranted::decl(&cfg),
        ApiError::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/proto by `UPDATE_BINDINGS=1 cargo test -p aula-proto`. Do not edit.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.pop();
    out
}
