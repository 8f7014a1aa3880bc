// `window.aula`: what end-to-end tests (Playwright) read and drive. Part of the product on
// purpose: it only exposes what the page already knows and sends what the page could send.
//
//   aula.state(): AulaState
//       { phase, me, snapshot, lastSeq } — phase is "prejoin" | "joining" | "connecting" |
//       "waiting" | "joined" | "reconnecting" | "left" | "ended" | "invalid_link";
//       me is our MemberInfo from the last welcome (null before); snapshot is a copy of the
//       replica (class_id, seq, settings, members, waiting, tracks) or null before a welcome;
//       lastSeq is the last event seq applied (0 before any).
//   aula.eventLog(): EventMsg[]
//       Every `event` frame received, in arrival order, duplicates included.
//   aula.errors(): ErrorMsg[]
//       Every `error` frame received, in arrival order.
//   aula.send(obj: unknown): boolean
//       Sends a raw frame on the current socket; false when none is open.
//   aula.command(cmd: RoomCommand): Promise<CommandReply>
//       Sends a command with a fresh id; resolves with the `ack` or the `error` for that id
//       (resent with the same id after a reconnect until answered).
//   aula.inboundStats(): Promise<InboundMemberStats[]>
//       Per remote member: { memberId, framesDecoded, videoWidth, audioBytesReceived }.
//   aula.selectedCandidatePairs(): Promise<CandidatePairInfo[]>
//       The selected/nominated ICE pairs: { local, remote: { address, port, protocol,
//       candidateType }, state, nominated, bytesSent, bytesReceived }.
//   aula.join(name?: string): Promise<void>
//       Fills the name (invite links) and presses Join; resolves once the class is starting.
//   aula.leave(): void                      — presses Leave.
//   aula.dropConnection(reason?: string): void
//       Kills the WebSocket as a network failure would, to exercise reconnect and resume.
//   aula.activeSpeaker(): MemberId | null   — the highlighted tile's member.
//   aula.sentCodecs(): Promise<string[]>
//       The codec of every stream we send, as "mime fmtp" (e.g. which H.264 profile).
//   aula.board(): BoardSnapshot | null
//       The live whiteboard replica in the server's snapshot form (equal boards are equal).
//   aula.boardHash(page?: PageId): Promise<string | null>
//       SHA-256 of the page rendered at 1920×1080 (the export rendering): equal pixels.
//   aula.boardPending(): number      — own strokes and shapes not yet confirmed.
//   aula.exportBoard(kind: "png" | "pdf"): Promise<string | null>
//       Presses the PNG (current page) or PDF (all pages) export; the file as base64.
//   aula.reactions(): Array<{ member, reaction }>  — reactions shown, oldest first.
//   aula.engagement(): ClassReport | null — the heatmap's last report (teachers).
//   aula.refreshEngagement(): Promise<ClassReport | null> — fetches it now.
//   aula.receivedTracks(): ReceivedTrack[]
//       Every live track received from the SFU: { trackId (the room's `<member>.<mid>`),
//       kind, track (the MediaStreamTrack, for in-page checks such as reading the teacher
//       app's frame stamp) }.

import type { App, AppPhase } from "./app";
import type {
  BoardSnapshot,
  ClassReport,
  MemberId,
  MemberInfo,
  PageId,
  Reaction,
  RoomCommand,
  RoomSnapshot,
} from "./generated/protocol";
import type { CandidatePairInfo, InboundMemberStats } from "./media";
import { fromSnapshot } from "./room-state";
import type { CommandReply, ErrorMsg, EventMsg } from "./session";

export interface AulaState {
  phase: AppPhase;
  me: MemberInfo | null;
  snapshot: RoomSnapshot | null;
  lastSeq: number;
}

export interface AulaHooks {
  state(): AulaState;
  eventLog(): EventMsg[];
  errors(): ErrorMsg[];
  send(obj: unknown): boolean;
  command(cmd: RoomCommand): Promise<CommandReply>;
  inboundStats(): Promise<InboundMemberStats[]>;
  selectedCandidatePairs(): Promise<CandidatePairInfo[]>;
  join(name?: string): Promise<void>;
  leave(): void;
  dropConnection(reason?: string): void;
  activeSpeaker(): MemberId | null;
  receivedTracks(): ReceivedTrack[];
  sentCodecs(): Promise<string[]>;
  board(): BoardSnapshot | null;
  boardHash(page?: PageId): Promise<string | null>;
  boardPending(): number;
  exportBoard(kind: "png" | "pdf"): Promise<string | null>;
  reactions(): Array<{ member: MemberId; reaction: Reaction }>;
  engagement(): ClassReport | null;
  refreshEngagement(): Promise<ClassReport | null>;
}

export interface ReceivedTrack {
  trackId: string;
  kind: string;
  track: MediaStreamTrack;
}

declare global {
  interface Window {
    aula: AulaHooks;
  }
}

export function installHooks(app: App): AulaHooks {
  const session = () => app.call?.session ?? null;
  const hooks: AulaHooks = {
    state: () => {
      const s = session();
      const room = s?.room ?? null;
      return {
        phase: app.phase,
        me: s?.self ? { ...s.self } : null,
        snapshot: room ? { ...fromSnapshot(room), board: s?.board?.toSnapshot() ?? room.board } : null,
        lastSeq: s?.lastSeq ?? 0,
      };
    },
    eventLog: () => structuredClone([...(session()?.eventLog ?? [])]),
    errors: () => structuredClone([...(session()?.errors ?? [])]),
    send: (obj) => session()?.sendRaw(obj) ?? false,
    command: (cmd) => {
      const call = app.call;
      if (!call) return Promise.reject(new Error("not in a class yet"));
      return call.command(cmd);
    },
    inboundStats: () => app.call?.inboundStats() ?? Promise.resolve([]),
    selectedCandidatePairs: () => app.call?.selectedCandidatePairs() ?? Promise.resolve([]),
    join: (name) => app.join(name),
    leave: () => app.call?.leave(),
    dropConnection: (reason = "Connection dropped (test)") => session()?.drop(reason),
    activeSpeaker: () => app.call?.activeSpeaker ?? null,
    sentCodecs: async () => {
      const link = app.call?.link;
      if (!link || link.isClosed) return [];
      const stats = [...(await link.pc.getStats()).values()] as Array<Record<string, unknown>>;
      const codecs = new Map(stats.filter((s) => s.type === "codec").map((s) => [s.id, s]));
      return stats
        .filter((s) => s.type === "outbound-rtp")
        .map((s) => codecs.get(s.codecId as string))
        .filter((c) => !!c)
        .map((c) => `${String(c?.mimeType)} ${String(c?.sdpFmtpLine ?? "")}`);
    },
    board: () => session()?.board?.toSnapshot() ?? null,
    boardHash: (page) => app.call?.whiteboard.hash(page) ?? Promise.resolve(null),
    boardPending: () => app.call?.whiteboard.unconfirmed ?? 0,
    exportBoard: async (kind) => {
      const wb = app.call?.whiteboard;
      const blob = wb ? await (kind === "png" ? wb.exportPng() : wb.exportPdf()) : null;
      if (!blob) return null;
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let bin = "";
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(bin);
    },
    reactions: () => [...(app.call?.reactionLog ?? [])],
    engagement: () => app.call?.heatmap?.last ?? null,
    refreshEngagement: async () => {
      const hm = app.call?.heatmap;
      if (!hm) return null;
      await hm.refresh();
      return hm.last;
    },
    receivedTracks: () => {
      const link = app.call?.link;
      if (!link || link.isClosed) return [];
      return link.pc
        .getReceivers()
        .filter((r) => r.track.readyState === "live")
        .map((r) => ({ trackId: r.track.id, kind: r.track.kind, track: r.track }));
    },
  };
  window.aula = hooks;
  return hooks;
}
