// The tile grid: one tile per visible member, sized so every tile is as large as the
// screen allows (phones in portrait get a single column of taller tiles).

import type { MemberId, MemberInfo } from "../generated/protocol";
import { h, hueOf, initials, playVideo, setText, toggleClass } from "./dom";
import { icon } from "./icons";

export type TrackState = "on" | "off" | "none";

export interface TileModel {
  member: MemberInfo;
  isSelf: boolean;
  /** Self: the local stream. Others: their received audio+video, or null before any. */
  stream: MediaStream | null;
  mic: TrackState;
  cam: TrackState;
  /** A teacher looking at someone else's tile gets the moderation menu. */
  canModerate: boolean;
  /** Position in the raised-hands queue (1 = first), or null when the hand is down. */
  hand: number | null;
  /** This viewer's link carries no video of this member now: sound only. */
  videoPaused: boolean;
}

export interface GridCallbacks {
  onMenu: (member: MemberInfo, anchor: HTMLElement) => void;
  /** Every tile's size changed (CSS pixels): the SFU sends layers that fit it. */
  onTileSize?: (size: { w: number; h: number }) => void;
  /** The browser refused to play sound without a gesture; the tile plays muted for now. */
  onSoundBlocked: () => void;
}

const GAP = 8;

class Tile {
  readonly el: HTMLElement;
  readonly video: HTMLVideoElement;
  private readonly avatar: HTMLElement;
  private readonly nameEl: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly micIcon: HTMLElement;
  private readonly camIcon: HTMLElement;
  private readonly status: HTMLElement;
  private readonly menuBtn: HTMLButtonElement;
  private model: TileModel | null = null;
  private stream: MediaStream | null = null;
  private trackCount = -1;

  constructor(
    readonly id: MemberId,
    private readonly cb: GridCallbacks,
  ) {
    this.video = h("video", { class: "tile-video", autoplay: true });
    this.video.playsInline = true;
    this.avatar = h("div", { class: "avatar" });
    this.nameEl = h("span", { class: "tile-name" });
    this.badge = h("span", { class: "tile-badge" });
    this.micIcon = h("span", { class: "tile-state" });
    this.camIcon = h("span", { class: "tile-state" });
    this.status = h("div", { class: "tile-status", hidden: true });
    this.menuBtn = h(
      "button",
      { class: "tile-menu-btn", type: "button", "aria-haspopup": "menu", "data-testid": "tile-menu" },
      icon("more"),
    );
    this.menuBtn.addEventListener("click", (e) => {
      e.stopPropagation();
      if (this.model) this.cb.onMenu(this.model.member, this.menuBtn);
    });
    this.el = h(
      "div",
      { class: "tile", "data-member": id, "data-testid": "tile" },
      this.video,
      this.avatar,
      this.status,
      h("div", { class: "tile-label" }, this.micIcon, this.camIcon, this.nameEl, this.badge),
      this.menuBtn,
    );
  }

  update(m: TileModel): void {
    this.model = m;
    const { member } = m;
    this.el.dataset.self = String(m.isSelf);
    this.el.dataset.mic = m.mic;
    this.el.dataset.cam = m.cam;
    this.el.dataset.connected = String(member.connected);
    setText(this.nameEl, m.isSelf ? `${member.name} (you)` : member.name);
    const badges = [
      member.role === "teacher" ? "Teacher" : "",
      m.hand != null ? `Hand up #${m.hand}` : "",
      member.connected && !member.tab_visible ? "Away" : "",
    ].filter(Boolean);
    setText(this.badge, badges.join(" · "));
    this.badge.hidden = badges.length === 0;
    this.el.dataset.hand = m.hand != null ? String(m.hand) : "";
    this.el.dataset.away = String(!member.tab_visible);
    toggleClass(this.el, "speaking-presence", member.speaking);
    setText(this.avatar, initials(member.name));
    this.avatar.style.setProperty("--hue", String(hueOf(member.id)));
    this.stateIcon(this.micIcon, m.mic, "mic", "micOff", "Microphone");
    this.stateIcon(this.camIcon, m.cam, "cam", "camOff", "Camera");
    this.menuBtn.hidden = !m.canModerate;
    this.menuBtn.setAttribute("aria-label", `Actions for ${member.name}`);

    const weak = member.connected && m.videoPaused && m.cam === "on";
    this.status.hidden = member.connected && !weak;
    setText(this.status, !member.connected ? "Connection lost…" : weak ? "Video paused: weak connection" : "");
    this.el.dataset.videoPaused = String(weak);

    const showVideo = m.cam === "on" && !weak && !!m.stream?.getVideoTracks().length;
    toggleClass(this.el, "has-video", showVideo);
    toggleClass(this.video, "mirror", m.isSelf);
    // Self view must never play back our own microphone.
    if (m.isSelf) this.video.muted = true;
    this.attach(m.stream);
  }

  private attach(stream: MediaStream | null): void {
    const count = stream?.getTracks().length ?? 0;
    if (stream === this.stream && count === this.trackCount) return;
    this.stream = stream;
    this.trackCount = count;
    const want = stream && count > 0 ? stream : null;
    if (this.video.srcObject !== want) this.video.srcObject = want;
    if (want) void playVideo(this.video, () => this.cb.onSoundBlocked());
  }

  setSpeaking(on: boolean): void {
    toggleClass(this.el, "speaking", on);
  }

  /** After a user gesture: sound may play now. */
  unmute(): void {
    if (this.model && !this.model.isSelf && this.video.muted) {
      this.video.muted = false;
      void playVideo(this.video, () => this.cb.onSoundBlocked());
    }
  }

  private stateIcon(el: HTMLElement, s: TrackState, on: "mic" | "cam", off: "micOff" | "camOff", noun: string): void {
    if (el.dataset.state === s) return;
    el.dataset.state = s;
    el.replaceChildren(icon(s === "on" ? on : off, s === "on" ? `${noun} on` : s === "off" ? `${noun} off` : `No ${noun.toLowerCase()}`));
    toggleClass(el, "is-off", s !== "on");
  }

  destroy(): void {
    this.video.srcObject = null;
    this.el.remove();
  }
}

export class Grid {
  readonly el: HTMLElement;
  private readonly tiles = new Map<MemberId, Tile>();
  private speaker: MemberId | null = null;
  private readonly resize: ResizeObserver;
  private tileSize = { w: 0, h: 0 };

  constructor(private readonly cb: GridCallbacks) {
    this.el = h("div", { class: "grid", "data-testid": "grid" });
    this.resize = new ResizeObserver(() => this.layout());
    this.resize.observe(this.el);
  }

  update(models: TileModel[]): void {
    const seen = new Set<MemberId>();
    let prev: Element | null = null;
    for (const m of models) {
      seen.add(m.member.id);
      let tile = this.tiles.get(m.member.id);
      if (!tile) {
        tile = new Tile(m.member.id, this.cb);
        this.tiles.set(m.member.id, tile);
      }
      tile.update(m);
      tile.setSpeaking(m.member.id === this.speaker);
      // Keep DOM order equal to model order without re-inserting (which would pause video).
      const want: ChildNode | null = prev ? prev.nextSibling : this.el.firstChild;
      if (want !== tile.el) this.el.insertBefore(tile.el, want);
      prev = tile.el;
    }
    for (const [id, tile] of this.tiles) {
      if (!seen.has(id)) {
        tile.destroy();
        this.tiles.delete(id);
      }
    }
    this.layout();
  }

  setSpeaker(id: MemberId | null): void {
    if (id === this.speaker) return;
    this.speaker = id;
    for (const [mid, tile] of this.tiles) tile.setSpeaking(mid === id);
  }

  get activeSpeaker(): MemberId | null {
    return this.speaker;
  }

  videoOf(id: MemberId): HTMLVideoElement | null {
    return this.tiles.get(id)?.video ?? null;
  }

  unmuteAll(): void {
    for (const t of this.tiles.values()) t.unmute();
  }

  /** Picks the column count that gives the largest tiles in the space available. */
  private layout(): void {
    const n = this.tiles.size;
    // Content box: tiles must fit inside whatever padding the stylesheet gives the grid.
    const cs = getComputedStyle(this.el);
    const W = this.el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 1;
    const H = this.el.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom) - 1;
    if (!n || W <= 0 || H <= 0) return;
    const aspect = W < H ? 4 / 3 : 16 / 9;
    let best = { w: 0, h: 0 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      let w = (W - GAP * (cols - 1)) / cols;
      let hh = w / aspect;
      if (hh * rows + GAP * (rows - 1) > H) {
        hh = (H - GAP * (rows - 1)) / rows;
        w = hh * aspect;
      }
      if (w * hh > best.w * best.h) best = { w, h: hh };
    }
    this.el.style.setProperty("--tile-w", `${Math.floor(best.w)}px`);
    this.el.style.setProperty("--tile-h", `${Math.floor(best.h)}px`);
    const size = { w: Math.floor(best.w), h: Math.floor(best.h) };
    if (size.w !== this.tileSize.w || size.h !== this.tileSize.h) {
      this.tileSize = size;
      this.cb.onTileSize?.(size);
    }
  }

  destroy(): void {
    this.resize.disconnect();
    for (const t of this.tiles.values()) t.destroy();
    this.tiles.clear();
    this.el.remove();
  }
}
