// The WebSocket session: hello/resume, the replica, command ids, keep-alive, reconnect.
// It knows nothing of media or the DOM; the app listens to it and drives the peer link.

import { BoardReplica } from "./board/board-state";
import { Emitter, newId } from "./emitter";
import { TERMINAL_CODES } from "./errors";
import type {
  ClientMsg,
  CommandId,
  ErrorCode,
  IceServer,
  MemberInfo,
  RoomCommand,
  RoomSnapshot,
  SequencedEvent,
  ServerMsg,
} from "./generated/protocol";
import { applyEvent, fromSnapshot } from "./room-state";

export const PROTOCOL_VERSION = 1;

export type EventMsg = Extract<ServerMsg, { type: "event" }>;
export type ErrorMsg = Extract<ServerMsg, { type: "error" }>;
export type AckMsg = Extract<ServerMsg, { type: "ack" }>;
/** What a command comes to: the server's ack, or the error that answered its id. */
export type CommandReply = AckMsg | ErrorMsg;

export type SessionPhase =
  | "connecting"
  | "waiting"
  | "joined"
  | "reconnecting"
  /** The user left; nothing more happens. */
  | "left"
  /** The server refused us for good (removed, denied, replaced, bad link). */
  | "ended";

export interface PhaseInfo {
  phase: SessionPhase;
  /** Why we are reconnecting, or why the session ended, in the user's words. */
  reason?: string;
  /** The reconnect attempt about to be made (1, 2, …). */
  attempt?: number;
  /** The error that ended the session. */
  code?: ErrorCode;
}

export interface SessionEvents {
  phase: PhaseInfo;
  /** A `welcome` arrived; media must be (re)negotiated on a fresh peer connection. */
  welcome: { you: MemberInfo; resumed: boolean };
  /** The replica changed, through a snapshot or one applied event. */
  room: { state: RoomSnapshot; event: SequencedEvent | null };
  /** An error the user may need to hear about that answers no pending command. */
  serverError: ErrorMsg;
  offer: string;
  answer: string;
  /** The SFU stopped (or resumed) a track's video for this member's weak link. */
  videoPaused: { track: string; paused: boolean };
}

const PING_EVERY_MS = 10_000;
const PONG_DEADLINE_MS = 15_000;
const CONNECT_DEADLINE_MS = 10_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 5_000;

interface Pending {
  msg: ClientMsg & { type: "command" };
  resolve: (reply: CommandReply) => void;
}

export class Session extends Emitter<SessionEvents> {
  private ws: WebSocket | null = null;
  private phaseInfo: PhaseInfo = { phase: "connecting" };
  private replica: RoomSnapshot | null = null;
  private boardReplica: BoardReplica | null = null;
  private me: MemberInfo | null = null;
  private ice: IceServer[] = [];
  /** Consecutive connections that failed before a welcome; drives the backoff. */
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private watchdogTimer: ReturnType<typeof setInterval> | null = null;
  /** When the oldest unanswered ping went out; null when every ping was answered. */
  private unansweredSince: number | null = null;
  private welcomedOnSocket = false;
  /** Set when the server claimed a resume we cannot use: the next hello asks afresh. */
  private forceFresh = false;
  private readonly pending = new Map<CommandId, Pending>();
  private readonly events: EventMsg[] = [];
  private readonly errorLog: ErrorMsg[] = [];
  private readonly detach: Array<() => void> = [];
  /** Last measured round trip, for diagnostics. */
  rttMs: number | null = null;

  constructor(
    private readonly token: string,
    private readonly url: string = defaultSocketUrl(),
  ) {
    super();
  }

  start(): void {
    const online = () => this.retryNow();
    const offline = () => this.drop("You're offline");
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    this.detach.push(
      () => window.removeEventListener("online", online),
      () => window.removeEventListener("offline", offline),
    );
    this.connect();
  }

  get phase(): SessionPhase {
    return this.phaseInfo.phase;
  }
  get phaseDetail(): PhaseInfo {
    return this.phaseInfo;
  }
  get room(): RoomSnapshot | null {
    return this.replica;
  }
  /** The live whiteboard, moved forward by every event after the snapshot. */
  get board(): BoardReplica | null {
    return this.boardReplica;
  }
  get self(): MemberInfo | null {
    return this.me;
  }
  /** STUN/TURN servers from the last welcome (TURN credentials are minted per welcome). */
  get iceServers(): readonly IceServer[] {
    return this.ice;
  }
  /** The last sequence number applied to the replica; 0 before any snapshot. */
  get lastSeq(): number {
    return this.replica?.seq ?? 0;
  }
  get eventLog(): readonly EventMsg[] {
    return this.events;
  }
  get errors(): readonly ErrorMsg[] {
    return this.errorLog;
  }
  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a room command. The id is kept across reconnects and the command resent after
   * each welcome until answered, so it is applied exactly once (the server dedups ids).
   */
  command(command: RoomCommand): Promise<CommandReply> {
    const msg = { type: "command", id: newId(), command } as ClientMsg & { type: "command" };
    if (this.phase === "left" || this.phase === "ended") {
      return Promise.resolve(syntheticError(msg.id, "the session is over"));
    }
    return new Promise((resolve) => {
      this.pending.set(msg.id, { msg, resolve });
      if (this.phase === "joined") this.sendRaw(msg);
    });
  }

  /** Sends a frame as is; false when there is no open socket to send it on. */
  send(msg: ClientMsg): boolean {
    return this.sendRaw(msg);
  }

  sendRaw(msg: unknown): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  leave(): void {
    if (this.phase === "left" || this.phase === "ended") return;
    this.sendRaw({ type: "leave" } satisfies ClientMsg);
    this.finish({ phase: "left" });
  }

  /**
   * Drops the current connection as if the network had, and reconnects with backoff.
   * Used on a missed pong, an event gap, going offline, and by tests.
   */
  drop(reason: string): void {
    if (this.phase === "left" || this.phase === "ended") return;
    const ws = this.ws;
    if (ws) {
      this.detachSocket(ws);
      // A dead link may take minutes to finish a close handshake; do not wait for it.
      ws.close(4000, "client reconnecting");
    }
    this.lost(reason);
  }

  // ---- connection lifecycle ----

  private connect(): void {
    this.retryTimer = null;
    this.welcomedOnSocket = false;
    this.unansweredSince = null;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.lost(`Can't open a connection (${String(err)})`);
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      if (this.ws === ws && !this.welcomedOnSocket && this.phase !== "waiting") {
        this.drop("The server did not answer");
      }
    }, CONNECT_DEADLINE_MS);

    ws.onopen = () => {
      if (this.ws !== ws) return;
      const resume = this.forceFresh ? null : this.replica ? this.replica.seq : null;
      this.forceFresh = false;
      const hello: ClientMsg = { type: "hello", v: PROTOCOL_VERSION, token: this.token, resume_from: resume };
      ws.send(JSON.stringify(hello));
      this.startKeepAlive(ws);
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      if (typeof e.data !== "string") return;
      let msg: ServerMsg;
      try {
        msg = JSON.parse(e.data) as ServerMsg;
      } catch {
        console.warn("aula: ignoring a frame that is not JSON", e.data);
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.detachSocket(ws);
      this.lost(describeClose(e));
    };
    // `close` always follows `error`, and carries the better description.
    ws.onerror = () => {};
  }

  private detachSocket(ws: WebSocket): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (this.ws === ws) this.ws = null;
    this.stopTimers();
  }

  private lost(reason: string): void {
    if (this.phase === "left" || this.phase === "ended") return;
    this.failures += 1;
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (this.failures - 1), BACKOFF_MAX_MS);
    this.setPhase({ phase: "reconnecting", reason, attempt: this.failures });
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Skips the rest of the backoff, e.g. when the browser says the network is back. */
  retryNow(): void {
    if (this.phase === "reconnecting" && this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  private startKeepAlive(ws: WebSocket): void {
    this.pingTimer = setInterval(() => {
      if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      this.unansweredSince ??= performance.now();
      ws.send(JSON.stringify({ type: "ping", t: performance.now() } satisfies ClientMsg));
    }, PING_EVERY_MS);
    this.watchdogTimer = setInterval(() => {
      if (this.ws !== ws || this.unansweredSince === null) return;
      if (performance.now() - this.unansweredSince > PONG_DEADLINE_MS) {
        this.drop("No answer from the server for 15 seconds");
      }
    }, 1_000);
  }

  private stopTimers(): void {
    for (const t of [this.pingTimer, this.watchdogTimer]) if (t) clearInterval(t);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.pingTimer = this.watchdogTimer = this.connectTimer = null;
  }

  private finish(info: PhaseInfo): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    if (ws) {
      this.detachSocket(ws);
      ws.close(1000, info.phase);
    }
    for (const d of this.detach.splice(0)) d();
    for (const [id, p] of this.pending) p.resolve(syntheticError(id, `the session ${info.phase}`));
    this.pending.clear();
    this.setPhase(info);
  }

  private setPhase(info: PhaseInfo): void {
    this.phaseInfo = info;
    this.emit("phase", info);
  }

  // ---- frames ----

  private onMessage(msg: ServerMsg): void {
    switch (msg.type) {
      case "welcome":
        this.onWelcome(msg);
        break;
      case "waiting":
        this.failures = 0;
        this.setPhase({ phase: "waiting" });
        break;
      case "event":
        this.onEvent(msg);
        break;
      case "ack": {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        p?.resolve(msg);
        break;
      }
      case "error":
        this.onError(msg);
        break;
      case "offer":
        this.emit("offer", msg.sdp);
        break;
      case "answer":
        this.emit("answer", msg.sdp);
        break;
      case "pong":
        this.unansweredSince = null;
        this.rttMs = performance.now() - msg.t;
        break;
      case "video_paused":
        this.emit("videoPaused", { track: msg.track, paused: msg.paused });
        break;
    }
  }

  private onWelcome(msg: Extract<ServerMsg, { type: "welcome" }>): void {
    if (msg.snapshot) {
      this.replica = fromSnapshot(msg.snapshot);
      this.boardReplica = BoardReplica.fromSnapshot(msg.snapshot.board);
    } else if (!this.replica) {
      // The server resumed a history we do not hold; only a snapshot can help.
      this.forceFresh = true;
      this.drop("Resynchronising the class");
      return;
    }
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.welcomedOnSocket = true;
    this.failures = 0;
    this.me = msg.you;
    this.ice = msg.ice_servers ?? [];
    this.setPhase({ phase: "joined" });
    this.emit("welcome", { you: msg.you, resumed: !msg.snapshot });
    this.emit("room", { state: this.replica, event: null });
    for (const p of this.pending.values()) this.sendRaw(p.msg);
  }

  private onEvent(msg: EventMsg): void {
    this.events.push(msg);
    if (!this.replica) return;
    const ev: SequencedEvent = { seq: msg.seq, at_ms: msg.at_ms, event: msg.event };
    const out = applyEvent(this.replica, ev);
    if (out.kind === "duplicate") return;
    if (out.kind === "gap") {
      console.warn(`aula: event gap, expected ${out.expected} got ${out.got}; resuming`);
      this.drop("Catching up on missed updates");
      return;
    }
    this.replica = out.state;
    this.boardReplica?.apply(ev.seq, ev.event);
    this.emit("room", { state: out.state, event: ev });
    const e = ev.event;
    if (e.kind === "member_left" && e.member === this.me?.id && e.reason === "removed") {
      this.finish({ phase: "ended", code: "removed" });
    }
  }

  private onError(msg: ErrorMsg): void {
    this.errorLog.push(msg);
    console.warn(`aula: server error ${msg.code}: ${msg.message}`);
    const p = msg.id != null ? this.pending.get(msg.id) : undefined;
    if (p && msg.id != null) {
      this.pending.delete(msg.id);
      p.resolve(msg);
    }
    const refusedAtDoor = !this.welcomedOnSocket && (msg.code === "room_locked" || msg.code === "not_found");
    if (TERMINAL_CODES.has(msg.code) || refusedAtDoor) {
      this.finish({ phase: "ended", code: msg.code });
      return;
    }
    if (msg.code === "hello_required") {
      this.drop("Reconnecting");
      return;
    }
    if (!p) this.emit("serverError", msg);
  }
}

function syntheticError(id: CommandId, why: string): ErrorMsg {
  return { type: "error", code: "invalid_command", message: why, id } as ErrorMsg;
}

export function defaultSocketUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

function describeClose(e: CloseEvent): string {
  if (e.reason) return e.reason;
  switch (e.code) {
    case 1000:
      return "The server closed the connection";
    case 1001:
      return "The server is restarting";
    case 1006:
      return navigator.onLine === false ? "You're offline" : "Connection lost";
    case 1008:
    case 1009:
      return "The server refused a message";
    case 1011:
      return "The server had a problem";
    case 1013:
      return "The server is busy";
    default:
      return `Connection closed (${e.code})`;
  }
}
