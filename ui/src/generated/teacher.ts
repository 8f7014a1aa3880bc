// Generated from crates/client and crates/media by `UPDATE_BINDINGS=1 cargo test -p aula-client`. Do not edit.

export type CachedClass = { id: string, title: string, created_at_ms: number, last_live_ms: number | null, student_link: string | null, 
/**
 * Filled in by the app from its live session; the cache itself does not know.
 */
live: boolean, event_count: number, };

export type SessionRecord = { started_at_ms: number, ended_at_ms: number | null, };

export type RosterEntry = { member_id: string, name: string, role: string, first_seen_ms: number, last_seen_ms: number, };

export type BankQuestion = { id: string, question: import("./protocol").Question, time_limit_ms: number | null, anonymous: boolean, created_at_ms: number, 
/**
 * How many times it was asked.
 */
used_count: number, };

export type LinkPhase = "offline" | "connecting" | "live" | "reconnecting" | "ended";

export type LinkReason = { code: string, message: string, };

export type LinkState = { state: LinkPhase, reason: LinkReason | null, attempt: number, };

export type RemoteTrackStats = { 
/**
 * The room's track id (`<member>.<mid>`), from the track's msid.
 */
track_id: string, 
/**
 * The owner, from the stream id.
 */
member_id: string, kind: string, codec: string, packets: number, frames_decoded: number, decode_errors: number, width: number, height: number, };

export type DeviceKind = "camera" | "microphone" | "screen";

export type DeviceInfo = { id: string, name: string, kind: DeviceKind, };
