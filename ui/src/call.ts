// One stay in a class: the session, the peer link it renegotiates after every welcome,
// and the class screen drawn from the replica.

import { errorText } from "./errors";
import type {
  ErrorCode,
  MemberId,
  MemberInfo,
  RoomCommand,
  RoomEvent,
  RoomSnapshot,
  TrackId,
  TrackKind,
} from "./generated/protocol";
import {
  type CandidatePairInfo,
  type InboundMemberStats,
  inboundStats,
  type LevelMeter,
  type LocalMedia,
  type MediaKind,
  PeerLink,
  audioLevels,
  selectedCandidatePairs,
} from "./media";
import { findMember, trackOf, visibleMembers } from "./room-state";
import { type CommandReply, type PhaseInfo, Session } from "./session";
import { SpeakerDetector } from "./speaker";
import { ConnectionBanner } from "./ui/banner";
import { Controls } from "./ui/controls";
import { DevicePickers } from "./ui/devices";
import { h } from "./ui/dom";
import { Grid, type TileModel, type TrackState } from "./ui/grid";
import { icon } from "./ui/icons";
import { connectingScreen, waitingScreen } from "./ui/screens";
import { closeMemberMenu, openMemberMenu, PeoplePanel, type TeacherActions } from "./ui/teacher";
import { toast } from "./ui/toasts";
import { TalkPanel, showReaction } from "./ui/talk";
import { QuizPanel } from "./ui/quiz";
import { Heatmap } from "./ui/heatmap";
import { Whiteboard } from "./board/whiteboard";
import type { Reaction } from "./generated/protocol";

export interface CallEnd {
  phase: "left" | "ended";
  code?: ErrorCode;
}

const SPEAKER_POLL_MS = 250;
const MEDIA_RETRY_FIRST_MS = 1_000;
const VIEW_SIZE_DEBOUNCE_MS = 300;
const MEDIA_RETRY_MAX_MS = 10_000;

export class Call {
  readonly session: Session;
  link: PeerLink | null = null;
  private readonly el: HTMLElement;
  private readonly grid: Grid;
  private readonly controls: Controls;
  private readonly panel: PeoplePanel;
  private readonly banner: ConnectionBanner;
  private readonly chips: HTMLElement;
  private readonly soundPrompt: HTMLElement;
  private overlay: HTMLElement | null = null;
  private settingsSheet: { el: HTMLElement; pickers: DevicePickers } | null = null;
  private readonly speaker = new SpeakerDetector();
  private speakerTimer: ReturnType<typeof setInterval> | null = null;
  private mediaRetryTimer: ReturnType<typeof setTimeout> | null = null;
  private mediaFailures = 0;
  private renderQueued = false;
  private readonly off: Array<() => void> = [];
  /** Own-track commands not yet answered, so a late sync does not undo a fresh toggle. */
  private readonly inflight = new Set<MediaKind>();
  /** Tracks whose video the SFU paused because this member's link is too weak. */
  private readonly pausedVideo = new Set<string>();
  /** The tiles' height in device pixels, and what the server was last told. */
  private tileHeight = 0;
  private sentTileHeight = -1;
  private viewSizeTimer: ReturnType<typeof setTimeout> | null = null;
  private ended = false;
  readonly whiteboard: Whiteboard;
  private readonly talk: TalkPanel;
  private readonly quiz: QuizPanel;
  heatmap: Heatmap | null = null;
  private readonly reactionsLayer: HTMLElement;
  readonly reactionLog: Array<{ member: MemberId; reaction: Reaction }> = [];
  private presenceSent = "";
  private speaking = false;
  private speechPolls = 0;
  private quietPolls = 0;

  constructor(
    private readonly token: string,
    private readonly local: LocalMedia,
    private readonly meter: LevelMeter,
    private readonly onEnd: (end: CallEnd) => void,
  ) {
    this.session = new Session(token);
    const actions = this.teacherActions();
    this.grid = new Grid({
      onMenu: (m, anchor) => {
        const room = this.session.room;
        if (room) openMemberMenu(anchor, m, room, actions);
      },
      onSoundBlocked: () => (this.soundPrompt.hidden = false),
      onTileSize: ({ h }) => {
        this.tileHeight = Math.round(h * (window.devicePixelRatio || 1));
        this.scheduleViewSize();
      },
    });
    this.controls = new Controls({
      onMic: () => this.toggle("audio"),
      onCam: () => this.toggle("video"),
      onPeople: () => this.setPanel(!this.panel.open),
      onSettings: () => this.openSettings(),
      onLeave: () => this.leave(),
    });
    this.panel = new PeoplePanel(actions, () => this.setPanel(false));
    this.whiteboard = new Whiteboard({
      me: () => {
        const me = this.session.self;
        return me ? { id: me.id, role: me.role } : null;
      },
      board: () => this.session.board,
      students: () => (this.session.room?.members ?? []).filter((m) => m.role === "student").map((m) => ({ id: m.id, name: m.name })),
      command: (cmd) => this.session.command(cmd),
      assetUrl: (asset) => `/api/classes/${encodeURIComponent(this.session.room?.class_id ?? "")}/assets/${encodeURIComponent(asset)}`,
    });
    this.talk = new TalkPanel((cmd) => {
      void this.session.command(cmd).then((reply) => {
        if (reply.type === "error") toast(errorText(reply.code), "error");
      });
    });
    this.quiz = new QuizPanel((cmd) => {
      void this.session.command(cmd).then((reply) => {
        if (reply.type === "error") toast(errorText(reply.code), "error");
      });
    });
    this.talk.el.prepend(this.quiz.el);
    this.reactionsLayer = h("div", { class: "reactions-layer", "aria-hidden": "true" });
    this.banner = new ConnectionBanner(() => this.session.retryNow());
    this.chips = h("div", { class: "chips" });
    this.soundPrompt = h(
      "button",
      {
        class: "sound-prompt btn btn-primary",
        type: "button",
        hidden: true,
        "data-testid": "enable-sound",
        onclick: () => {
          this.soundPrompt.hidden = true;
          this.grid.unmuteAll();
        },
      },
      "Tap to turn on sound",
    );
    this.el = h(
      "main",
      { class: "call", "data-testid": "call" },
      this.banner.el,
      h("header", { class: "topbar" }, h("span", { class: "brand" }, "Aula"), this.chips),
      h("div", { class: "stage" }, h("div", { class: "class-main" }, this.whiteboard.el, this.grid.el), this.talk.el, this.panel.el),
      this.reactionsLayer,
      this.soundPrompt,
      this.controls.el,
    );
  }

  mount(root: HTMLElement): void {
    root.replaceChildren(this.el);
    this.showOverlay(connectingScreen());
    this.wire();
    this.session.start();
    this.speakerTimer = setInterval(() => void this.pollSpeaker(), SPEAKER_POLL_MS);
    this.render();
  }

  leave(): void {
    this.session.leave();
  }

  // ---- test-hook plumbing ----

  command(cmd: RoomCommand): Promise<CommandReply> {
    return this.session.command(cmd);
  }

  async inboundStats(): Promise<InboundMemberStats[]> {
    const room = this.session.room;
    const me = this.session.self?.id ?? null;
    const members = room ? visibleMembers(room, me).filter((m) => m.id !== me).map((m) => m.id) : [];
    return inboundStats(this.link, members, (m) => this.grid.videoOf(m)?.videoWidth ?? 0);
  }

  selectedCandidatePairs(): Promise<CandidatePairInfo[]> {
    return selectedCandidatePairs(this.link);
  }

  get activeSpeaker(): MemberId | null {
    return this.grid.activeSpeaker;
  }

  // ---- wiring ----

  private wire(): void {
    const s = this.session;
    this.off.push(
      s.on("phase", (p) => this.onPhase(p)),
      s.on("welcome", () => {
        this.mediaFailures = 0;
        this.restartMedia();
      }),
      s.on("room", ({ state, event }) => {
        if (event) this.onOwnEvent(state, event.event);
        if (event?.event.kind === "reacted") {
          const { member, reaction } = event.event;
          this.reactionLog.push({ member, reaction });
          showReaction(this.reactionsLayer, reaction, findMember(state, member)?.name ?? "");
        }
        this.whiteboard.invalidate();
        this.scheduleRender();
      }),
      s.on("serverError", (e) => {
        toast(errorText(e.code), "error");
        if (e.code === "media_rejected") this.scheduleMediaRetry();
      }),
      s.on("offer", (sdp) => {
        const link = this.link;
        link?.handleOffer(sdp).catch((err) => {
          if (link !== this.link) return;
          console.warn("aula: could not apply the server's offer", err);
          this.scheduleMediaRetry();
        });
      }),
      s.on("answer", (sdp) => this.link?.handleAnswer(sdp)),
      s.on("videoPaused", ({ track, paused }) => {
        if (paused) this.pausedVideo.add(track);
        else this.pausedVideo.delete(track);
        this.scheduleRender();
      }),
      this.local.on("track", ({ kind, track }) => this.onLocalTrack(kind, track)),
      this.local.on("enabled", () => this.scheduleRender()),
    );
    const visibility = () => this.reportPresence();
    document.addEventListener("visibilitychange", visibility);
    this.off.push(() => document.removeEventListener("visibilitychange", visibility));
    const pagehide = (e: PageTransitionEvent) => {
      // A real unload (not a trip into the back/forward cache): tell the room at once
      // rather than leave a frozen tile for the grace period.
      if (!e.persisted) this.session.leave();
    };
    window.addEventListener("pagehide", pagehide);
    this.off.push(() => window.removeEventListener("pagehide", pagehide));
  }

  private onPhase(p: PhaseInfo): void {
    switch (p.phase) {
      case "connecting":
        break;
      case "waiting":
        this.showOverlay(waitingScreen(this.local, () => this.leave()));
        this.banner.hide();
        break;
      case "joined":
        this.showOverlay(null);
        this.banner.hide();
        this.startHeatmap();
        this.presenceSent = "";
        this.reportPresence();
        break;
      case "reconnecting":
        this.banner.reconnecting(p.reason ?? "Connection lost", p.attempt ?? 1);
        break;
      case "left":
      case "ended":
        this.teardown();
        this.onEnd({ phase: p.phase, ...(p.code ? { code: p.code } : {}) });
        return;
    }
    this.scheduleRender();
  }

  private showOverlay(el: HTMLElement | null): void {
    this.overlay?.remove();
    this.overlay = el;
    if (el) this.el.append(el);
  }

  // ---- media ----

  /** A fresh peer connection with the same local tracks, and the one offer it makes. */
  private restartMedia(): void {
    if (this.mediaRetryTimer) clearTimeout(this.mediaRetryTimer);
    this.mediaRetryTimer = null;
    this.link?.close();
    const me = this.session.self;
    const link = new PeerLink(this.local, (m) => this.session.send(m), me?.role !== "observer", this.session.iceServers);
    this.link = link;
    link.on("remote", () => this.scheduleRender());
    link.on("failed", () => {
      if (link === this.link) this.scheduleMediaRetry();
    });
    link
      .start()
      .then(() => {
        if (link !== this.link) return;
        this.mediaFailures = 0;
        // A new media session starts with no size: say it again.
        this.sentTileHeight = -1;
        this.scheduleViewSize();
        this.syncOwnTracks();
        this.scheduleRender();
      })
      .catch((err) => {
        if (link !== this.link || link.isClosed) return;
        console.warn("aula: media negotiation failed", err);
        this.scheduleMediaRetry();
      });
    this.scheduleRender();
  }

  /**
   * Tells the server how tall the tiles are, so the SFU sends no simulcast layer larger
   * than they show. Debounced: a window being resized sends one message, not hundreds.
   */
  private scheduleViewSize(): void {
    if (this.viewSizeTimer) return;
    this.viewSizeTimer = setTimeout(() => {
      this.viewSizeTimer = null;
      if (this.ended || this.tileHeight <= 0 || this.tileHeight === this.sentTileHeight || !this.link) return;
      if (this.session.send({ type: "view_size", height: this.tileHeight })) this.sentTileHeight = this.tileHeight;
    }, VIEW_SIZE_DEBOUNCE_MS);
  }

  private scheduleMediaRetry(): void {
    if (this.ended || this.mediaRetryTimer || this.session.phase !== "joined") return;
    this.mediaFailures += 1;
    if (this.mediaFailures === 2) toast("Audio and video are reconnecting…");
    const delay = Math.min(MEDIA_RETRY_FIRST_MS * 2 ** (this.mediaFailures - 1), MEDIA_RETRY_MAX_MS);
    this.mediaRetryTimer = setTimeout(() => {
      this.mediaRetryTimer = null;
      if (this.session.phase === "joined") this.restartMedia();
    }, delay);
  }

  private ownTrackId(kind: MediaKind): TrackId | null {
    const me = this.session.self;
    const mid = this.link?.publishedMid(kind);
    return me && mid ? `${me.id}:${mid}` : null;
  }

  private onLocalTrack(kind: MediaKind, track: MediaStreamTrack | null): void {
    const link = this.link;
    if (link && this.session.phase === "joined") {
      if (link.publishedMid(kind)) {
        void link.replaceTrack(kind, track).catch((err) => console.warn("aula: replaceTrack failed", err));
        if (!track) this.sendOwnState(kind, false);
      } else if (track) {
        // A device that appeared after we offered: only a new offer can publish it.
        this.restartMedia();
      }
    }
    this.scheduleRender();
  }

  /**
   * Brings the room's view of our tracks in line with ours after (re)publishing. Off wins:
   * a track the room has off stays off here (a teacher may have muted us meanwhile), and a
   * track we have off is turned off in the room (new tracks start enabled).
   */
  private syncOwnTracks(): void {
    const room = this.session.room;
    if (!room) return;
    for (const kind of ["audio", "video"] as const) {
      const id = this.ownTrackId(kind);
      const t = id ? room.tracks.find((x) => x.id === id) : undefined;
      if (!t || this.inflight.has(kind)) continue;
      const localOn = this.local.isOn(kind);
      if (!t.enabled && localOn) this.local.setEnabled(kind, false);
      else if (t.enabled && !localOn) this.sendOwnState(kind, false);
    }
  }

  private onOwnEvent(room: RoomSnapshot, e: RoomEvent): void {
    const me = this.session.self;
    if (!me) return;
    if (e.kind === "track_published" && e.track.owner === me.id) {
      this.syncOwnTracks();
    } else if (e.kind === "track_state_changed" && e.by !== me.id) {
      const t = room.tracks.find((x) => x.id === e.track);
      if (!t || t.owner !== me.id) return;
      const kind: MediaKind = t.kind === "microphone" ? "audio" : "video";
      if (this.local.isOn(kind) !== e.enabled) {
        this.local.setEnabled(kind, e.enabled);
        const byName = findMember(room, e.by)?.name ?? "The teacher";
        if (!e.enabled) toast(kind === "audio" ? `${byName} muted your microphone` : `${byName} turned off your camera`);
      }
    }
  }

  private toggle(kind: MediaKind): void {
    const track = kind === "audio" ? this.local.audio : this.local.video;
    if (!track) return;
    const on = !this.local.isOn(kind);
    this.local.setEnabled(kind, on);
    this.sendOwnState(kind, on);
  }

  private sendOwnState(kind: MediaKind, enabled: boolean): void {
    const id = this.ownTrackId(kind);
    const t = id ? this.session.room?.tracks.find((x) => x.id === id) : undefined;
    if (!id || !t || t.enabled === enabled) return;
    this.inflight.add(kind);
    void this.session.command({ kind: "set_track_enabled", track: id, enabled }).then((reply) => {
      this.inflight.delete(kind);
      if (reply.type === "error") toast(errorText(reply.code), "error");
    });
  }

  private teacherActions(): TeacherActions {
    const run = (cmd: RoomCommand) =>
      void this.session.command(cmd).then((reply) => {
        if (reply.type === "error") toast(errorText(reply.code), "error");
      });
    return {
      mute: (member) => run({ kind: "mute_member", member }),
      stopCamera: (member) => run({ kind: "stop_camera", member }),
      remove: (member) => run({ kind: "remove_member", member }),
      setLocked: (locked) => run({ kind: "set_locked", locked }),
      setWaitingRoom: (enabled) => run({ kind: "set_waiting_room", enabled }),
      admit: (member) => run({ kind: "admit", member }),
      deny: (member) => run({ kind: "deny", member }),
    };
  }

  // ---- speaker ----

  private async pollSpeaker(): Promise<void> {
    const room = this.session.room;
    const me = this.session.self;
    if (!room || !me || this.session.phase !== "joined") return;
    let levels = new Map<MemberId, number>();
    let statsLocal: number | null = null;
    const link = this.link;
    if (link && !link.isClosed) {
      try {
        const got = await audioLevels(link);
        levels = got.remote;
        statsLocal = got.local;
      } catch {
        /* the link was closed under us */
      }
    }
    for (const [id] of levels) {
      if (!trackOf(room, id, "microphone")?.enabled) levels.delete(id);
    }
    if (this.local.isOn("audio")) {
      // The analyser answers at once; stats stand in while autoplay rules keep it asleep.
      // RMS reads about a third of the peak-based level WebRTC reports.
      const own = this.meter.running ? this.meter.level() * 3 : (statsLocal ?? 0);
      levels.set(me.id, own);
    }
    this.grid.setSpeaker(this.speaker.update(levels, performance.now()));
    // Speaking, with hysteresis and hold times: every change goes to the whole class, so
    // half a second of voice turns it on and 1.5 s of quiet turns it off, not each word.
    const own = levels.get(me.id) ?? 0;
    this.speechPolls = own > 0.12 ? this.speechPolls + 1 : 0;
    this.quietPolls = own < 0.04 ? this.quietPolls + 1 : 0;
    if (!this.speaking && this.speechPolls * SPEAKER_POLL_MS >= 500) this.speaking = true;
    else if (this.speaking && this.quietPolls * SPEAKER_POLL_MS >= 1500) this.speaking = false;
    this.reportPresence();
  }

  /** Teachers get the engagement heatmap, fed by the class report every few seconds. */
  private startHeatmap(): void {
    const room = this.session.room;
    if (this.heatmap || this.session.self?.role !== "teacher" || !room) return;
    const url = `/api/classes/${encodeURIComponent(room.class_id)}/report`;
    this.heatmap = new Heatmap(async () => {
      const r = await fetch(url, { headers: { authorization: `Bearer ${this.token}` } });
      if (!r.ok) throw new Error(`report: HTTP ${r.status}`);
      return r.json();
    });
    this.talk.el.prepend(this.heatmap.el);
    this.heatmap.start();
  }

  /** Tells the room whether this tab is in view and whether we are speaking. */
  private reportPresence(): void {
    if (this.session.phase !== "joined") return;
    const tabVisible = document.visibilityState === "visible";
    const key = `${tabVisible}:${this.speaking}`;
    if (key === this.presenceSent) return;
    this.presenceSent = key;
    void this.session.command({ kind: "set_presence", tab_visible: tabVisible, speaking: this.speaking }).then((reply) => {
      // Refused (too many changes): say it again on a later poll.
      if (reply.type === "error" && this.presenceSent === key) this.presenceSent = "";
    });
  }

  // ---- rendering ----

  private setPanel(open: boolean): void {
    this.panel.setOpen(open);
    this.scheduleRender();
  }

  private openSettings(): void {
    if (this.settingsSheet) return;
    const pickers = new DevicePickers(this.local);
    const close = () => {
      pickers.destroy();
      el.remove();
      this.settingsSheet = null;
    };
    const el = h(
      "div",
      { class: "sheet-backdrop", "data-testid": "settings-sheet", onclick: (e: Event) => e.target === el && close() },
      h(
        "div",
        { class: "sheet", role: "dialog", "aria-label": "Devices" },
        h(
          "header",
          { class: "panel-header" },
          h("h2", {}, "Devices"),
          h("button", { class: "icon-btn", type: "button", "aria-label": "Close", onclick: close }, icon("close")),
        ),
        pickers.el,
      ),
    );
    this.settingsSheet = { el, pickers };
    this.el.append(el);
  }

  private scheduleRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
    // rAF does not run in a hidden tab; state must still be current when it comes back.
    setTimeout(() => {
      if (this.renderQueued) {
        this.renderQueued = false;
        this.render();
      }
    }, 200);
  }

  private render(): void {
    if (this.ended) return;
    const room = this.session.room;
    const me = this.session.self;
    const micAvailable = !!this.local.audio;
    const camAvailable = !!this.local.video;
    this.controls.update({
      micOn: this.local.isOn("audio"),
      micAvailable,
      camOn: this.local.isOn("video"),
      camAvailable,
      peopleCount: room ? visibleMembers(room, me?.id ?? null).length : 0,
      waitingCount: me?.role === "teacher" && room ? room.waiting.length : 0,
      panelOpen: this.panel.open,
    });
    if (!room) return;
    this.renderChips(room);
    const isTeacher = me?.role === "teacher";
    const models: TileModel[] = visibleMembers(room, me?.id ?? null).map((m) => this.tileModel(room, m, me, isTeacher));
    this.grid.update(models);
    this.talk.update(room, me);
    this.quiz.update(room, me);
    if (this.panel.open) this.panel.update(room, me);
  }

  private tileModel(room: RoomSnapshot, m: MemberInfo, me: MemberInfo | null, isTeacher: boolean): TileModel {
    const isSelf = m.id === me?.id;
    if (isSelf) {
      const st = (kind: MediaKind): TrackState =>
        this.local.isOn(kind) ? "on" : (kind === "audio" ? this.local.audio : this.local.video) ? "off" : "none";
      return {
        member: m,
        isSelf,
        stream: this.local.stream,
        mic: st("audio"),
        cam: st("video"),
        canModerate: false,
        hand: handOf(room, m.id),
        videoPaused: false,
      };
    }
    const st = (kind: TrackKind): TrackState => {
      const t = trackOf(room, m.id, kind);
      return !t ? "none" : t.enabled ? "on" : "off";
    };
    return {
      member: m,
      isSelf,
      stream: this.link?.streams.get(m.id) ?? null,
      mic: st("microphone"),
      cam: st("camera"),
      canModerate: isTeacher,
      hand: handOf(room, m.id),
      videoPaused: this.pausedVideo.has(trackOf(room, m.id, "camera")?.id ?? ""),
    };
  }

  private renderChips(room: RoomSnapshot): void {
    const key = `${room.settings.locked}:${room.settings.waiting_room}`;
    if (this.chips.dataset.key === key) return;
    this.chips.dataset.key = key;
    this.chips.replaceChildren(
      ...(room.settings.locked ? [h("span", { class: "chip", "data-testid": "chip-locked" }, icon("lock"), "Locked")] : []),
      ...(room.settings.waiting_room
        ? [h("span", { class: "chip", "data-testid": "chip-waiting-room" }, icon("hourglass"), "Waiting room")]
        : []),
    );
  }

  private teardown(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.speakerTimer) clearInterval(this.speakerTimer);
    this.heatmap?.stop();
    if (this.mediaRetryTimer) clearTimeout(this.mediaRetryTimer);
    for (const f of this.off.splice(0)) f();
    this.link?.close();
    this.settingsSheet?.pickers.destroy();
    closeMemberMenu();
    this.whiteboard.destroy();
    this.grid.destroy();
    this.el.remove();
  }
}


function handOf(room: RoomSnapshot, id: MemberId): number | null {
  const i = room.hands.indexOf(id);
  return i < 0 ? null : i + 1;
}
