// Every call into the Tauri shell, in one place: the UI never invokes by name elsewhere,
// and unit tests can stand a fake in for this module's interface.

import type { AlertSettings, ClassReport, RosterMember, RosterStudent } from "../generated/protocol";
import type {
  AppInfo,
  BankQuestion,
  CachedClass,
  ClassHistory,
  CommandSent,
  Devices,
  LanStatus,
  LinkState,
  LiveInfo,
  MediaErrorEvent,
  PreviewFrame,
  RoomCommand,
  RoomSnapshot,
  SequencedEvent,
  TileFrame,
  UiError,
} from "./contract";

/** What a report covers: the latest session, or every session by week or month. */
export type ReportPeriod = "session" | "week" | "month";

export interface Bridge {
  appInfo(): Promise<AppInfo>;
  lanStatus(): Promise<LanStatus>;
  /** Opens the embedded server to the LAN on `address`, or closes it (null). */
  setLan(address: string | null): Promise<LanStatus>;
  listClasses(): Promise<CachedClass[]>;
  createClass(title: string): Promise<CachedClass>;
  listDevices(): Promise<Devices>;
  startPreview(cameraId: string): Promise<void>;
  stopPreview(): Promise<void>;
  goLive(classId: string, cameraId: string | null, microphoneId: string | null): Promise<LiveInfo>;
  setScreenShare(screenId: string | null): Promise<void>;
  setMicrophone(enabled: boolean): Promise<void>;
  setCamera(enabled: boolean): Promise<void>;
  roomCommand(command: RoomCommand): Promise<CommandSent>;
  endClass(): Promise<void>;
  classHistory(classId: string): Promise<ClassHistory>;
  listQuestions(): Promise<BankQuestion[]>;
  saveQuestion(question: BankQuestion): Promise<BankQuestion>;
  deleteQuestion(id: string): Promise<void>;
  askQuestion(id: string): Promise<CommandSent>;
  classReport(classId: string): Promise<ClassReport>;
  /**
   * Writes a report as CSV or PDF under the app's data directory; the file's path. The
   * latest session's, or every session by week or month in the teacher's time zone.
   */
  exportReport(classId: string, format: "csv" | "pdf", period: ReportPeriod): Promise<string>;
  /** The class's roster with each student's personal link. */
  classRoster(classId: string): Promise<RosterMember[]>;
  addToRoster(classId: string, students: RosterStudent[]): Promise<RosterMember[]>;
  /** Takes a student off the roster (its personal link stops working); the roster left. */
  removeFromRoster(classId: string, memberId: string): Promise<RosterMember[]>;
  alertSettings(classId: string): Promise<AlertSettings>;
  /** Attendance-alert threshold in percent; null turns alerts off. */
  setAlertThreshold(classId: string, pct: number | null): Promise<AlertSettings>;
  onLinkState(f: (s: LinkState) => void): void;
  /** The whole room: when going live, after each reconnect, and if events fell behind. */
  onRoom(f: (s: RoomSnapshot) => void): void;
  /** Each event after that snapshot, in sequence. */
  onRoomEvent(f: (e: SequencedEvent) => void): void;
  onTileFrame(f: (t: TileFrame) => void): void;
  onPreviewFrame(f: (p: PreviewFrame) => void): void;
  onMediaError(f: (e: MediaErrorEvent) => void): void;
}

/** Whatever a command rejected with, as the typed error the shell sends. */
export function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return { code: String((e as UiError).code), message: String((e as UiError).message) };
  }
  return { code: "internal", message: String(e) };
}

export async function tauriBridge(): Promise<Bridge> {
  const { invoke } = await import("@tauri-apps/api/core");
  const { listen } = await import("@tauri-apps/api/event");
  const on = <T>(name: string, f: (p: T) => void) => {
    void listen<T>(name, (e) => f(e.payload));
  };
  return {
    appInfo: () => invoke("app_info"),
    lanStatus: () => invoke("lan_status"),
    setLan: (address) => invoke("set_lan", { address }),
    listClasses: () => invoke("list_classes"),
    createClass: (title) => invoke("create_class", { title }),
    listDevices: () => invoke("list_devices"),
    startPreview: (cameraId) => invoke("start_preview", { cameraId }),
    stopPreview: () => invoke("stop_preview"),
    goLive: (classId, cameraId, microphoneId) => invoke("go_live", { classId, cameraId, microphoneId }),
    setScreenShare: (screenId) => invoke("set_screen_share", { screenId }),
    setMicrophone: (enabled) => invoke("set_microphone", { enabled }),
    setCamera: (enabled) => invoke("set_camera", { enabled }),
    roomCommand: (command) => invoke("room_command", { command }),
    endClass: () => invoke("end_class"),
    classHistory: (classId) => invoke("class_history", { classId }),
    listQuestions: () => invoke("list_questions"),
    saveQuestion: (question) => invoke("save_question", { question }),
    deleteQuestion: (id) => invoke("delete_question", { id }),
    askQuestion: (id) => invoke("ask_question", { id }),
    classReport: (classId) => invoke("class_report", { classId }),
    exportReport: (classId, format, period) =>
      invoke("export_report", {
        classId,
        format,
        period,
        utcOffsetMin: -new Date().getTimezoneOffset(),
      }),
    classRoster: (classId) => invoke("class_roster", { classId }),
    addToRoster: (classId, students) => invoke("add_to_roster", { classId, students }),
    removeFromRoster: (classId, memberId) => invoke("remove_from_roster", { classId, memberId }),
    alertSettings: (classId) => invoke("alert_settings", { classId }),
    setAlertThreshold: (classId, pct) => invoke("set_alert_threshold", { classId, pct }),
    onLinkState: (f) => on("link-state", f),
    onRoom: (f) => on<{ snapshot: RoomSnapshot }>("room", (p) => f(p.snapshot)),
    onRoomEvent: (f) => on("room-event", f),
    onTileFrame: (f) => on("tile-frame", f),
    onPreviewFrame: (f) => on("preview-frame", f),
    onMediaError: (f) => on("media-error", f),
  };
}
