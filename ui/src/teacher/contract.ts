// The teacher window's contract with the Tauri shell (src-tauri/src/commands.rs and
// live.rs). Types generated from Rust are re-exported; the rest mirror the shell's
// serde structs, field for field.

import type { ClassReport, RoomCommand, RoomSnapshot, SequencedEvent } from "../generated/protocol";
import type {
  BankQuestion,
  CachedClass,
  DeviceInfo,
  LinkPhase,
  LinkState,
  SessionRecord,
} from "../generated/teacher";

export type { BankQuestion, CachedClass, DeviceInfo, LinkPhase, LinkState, RoomCommand, RoomSnapshot, SequencedEvent, SessionRecord };

export interface UiError {
  code: string;
  message: string;
}

export interface AppInfo {
  version: string;
  server_url: string;
  embedded: boolean;
  student_base_url: string;
}

/** The embedded server opened to the laptop's network (`LanState` in server.rs). */
export interface LanState {
  address: string;
  base_url: string;
  fingerprint: string | null;
  exposes: string;
}

/** `LanStatus` in commands.rs. */
export interface LanStatus {
  available: boolean;
  addresses: string[];
  lan: LanState | null;
}

export interface Devices {
  cameras: DeviceInfo[];
  microphones: DeviceInfo[];
  screens: DeviceInfo[];
}

export interface LiveInfo {
  class_id: string;
  title: string;
  student_link: string;
  qr_svg: string;
  /** The teacher's own member id in this class. */
  member_id: string;
}

export interface CommandSent {
  id: string;
  queued: boolean;
}

export interface ClassHistory {
  class: CachedClass;
  snapshot: RoomSnapshot | null;
  events: SequencedEvent[];
  sessions: SessionRecord[];
  pending_commands: number;
  /** Attendance and engagement as last fetched while live. */
  report: ClassReport | null;
}

export interface TileFrame {
  track_id: string;
  member_id: string;
  jpeg_base64: string;
  width: number;
  height: number;
  frames_decoded: number;
}

export interface PreviewFrame {
  source: "camera" | "screen";
  jpeg_base64: string;
  width: number;
  height: number;
}

export interface MediaErrorEvent {
  kind: "camera" | "microphone" | "screen";
  code: string;
  message: string;
}
