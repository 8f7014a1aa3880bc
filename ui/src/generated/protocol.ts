// Generated from crates/proto by `UPDATE_BINDINGS=1 cargo test -p aula-proto`. Do not edit.

export type Role = "teacher" | "student" | "observer";

export type MemberId = string;

export type TrackId = string;

export type CommandId = string;

export type Seq = number;

export type TrackKind = "camera" | "microphone" | "screen";

export type MemberInfo = { id: MemberId, name: string, role: Role, 
/**
 * Whether the member has a live connection now. A member whose link drops stays in
 * the room, disconnected, for a grace period before it is removed.
 */
connected: boolean, joined_at_ms: number, };

export type TrackInfo = { id: TrackId, owner: MemberId, kind: TrackKind, 
/**
 * Off when the owner turned it off or a teacher muted or stopped it; the SFU then
 * forwards none of its packets.
 */
enabled: boolean, };

export type RoomSettings = { 
/**
 * No new student may join; those already in stay.
 */
locked: boolean, 
/**
 * New students wait until a teacher admits them.
 */
waiting_room: boolean, };

export type RoomSnapshot = { class_id: string, seq: Seq, settings: RoomSettings, members: Array<MemberInfo>, waiting: Array<MemberInfo>, tracks: Array<TrackInfo>, };

export type LeaveReason = "left" | "removed" | "timed_out";

export type RoomEvent = { "kind": "member_joined", member: MemberInfo, } | { "kind": "member_left", member: MemberId, reason: LeaveReason, } | { "kind": "presence_changed", member: MemberId, connected: boolean, } | { "kind": "member_waiting", member: MemberInfo, } | { "kind": "waiting_resolved", member: MemberId, admitted: boolean, } | { "kind": "track_published", track: TrackInfo, } | { "kind": "track_unpublished", track: TrackId, } | { "kind": "track_state_changed", track: TrackId, enabled: boolean, by: MemberId, } | { "kind": "settings_changed", settings: RoomSettings, by: MemberId, };

export type SequencedEvent = { seq: Seq, 
/**
 * Server time when the event was applied, in ms since the Unix epoch.
 */
at_ms: number, event: RoomEvent, };

export type RoomCommand = { "kind": "set_track_enabled", track: TrackId, enabled: boolean, } | { "kind": "mute_member", member: MemberId, } | { "kind": "stop_camera", member: MemberId, } | { "kind": "remove_member", member: MemberId, } | { "kind": "set_locked", locked: boolean, } | { "kind": "set_waiting_room", enabled: boolean, } | { "kind": "admit", member: MemberId, } | { "kind": "deny", member: MemberId, };

export type PublishedTrack = { mid: string, kind: TrackKind, };

export type ClientMsg = { "type": "hello", v: number, token: string, resume_from: Seq | null, } | { "type": "command", id: CommandId, command: RoomCommand, } | { "type": "offer", sdp: string, tracks: Array<PublishedTrack>, } | { "type": "answer", sdp: string, } | { "type": "ping", t: number, } | { "type": "leave" };

export type ErrorCode = "bad_message" | "message_too_large" | "unknown_type" | "unsupported_version" | "hello_required" | "invalid_token" | "token_expired" | "forbidden" | "room_locked" | "removed" | "denied" | "rate_limited" | "unknown_member" | "unknown_track" | "invalid_command" | "media_rejected" | "replaced" | "not_found" | "invalid_request" | "internal" | "shutting_down";

export type ServerMsg = { "type": "welcome", v: number, you: MemberInfo, snapshot: RoomSnapshot | null, resumed_from: Seq | null, } | { "type": "waiting" } | { "type": "event" } & SequencedEvent | { "type": "ack", id: CommandId, duplicate: boolean, } | { "type": "error", code: ErrorCode, message: string, 
/**
 * The command that failed, when the error answers one.
 */
id: CommandId | null, } | { "type": "offer", sdp: string, } | { "type": "answer", sdp: string, } | { "type": "pong", t: number, };

export type ClassCreated = { class_id: string, title: string, teacher_token: string, teacher_link: string, student_link: string, };

export type CreateClass = { title: string, };

export type InviteCreated = { invite: string, student_link: string, expires_at_ms: number, };

export type JoinRequest = { invite: string, name: string, };

export type JoinGranted = { token: string, member_id: MemberId, class_id: string, role: Role, expires_at_ms: number, };

export type ApiError = { code: ErrorCode, message: string, };
