// The teacher window: class list (from the local cache, so it works offline), go-live
// with device pickers and a preview, the live class (tiles of students, moderation,
// waiting room, share link + QR, connection banner), and the history of past classes.
// It renders what the Rust core says; every rule lives in Rust.

import "./teacher.css";
import { h, clear } from "../ui/dom";
import { asUiError, type Bridge, type ReportPeriod, tauriBridge } from "./bridge";
import type { CachedClass, Devices, LanStatus, LinkState, LiveInfo, RoomSnapshot, TileFrame } from "./contract";
import { bannerText, describeEvents, reportRows, studentTiles } from "./model";
import { BoardReplica } from "../board/board-state";
import { Whiteboard } from "../board/whiteboard";
import { applyEvent, fromSnapshot } from "../room-state";
import { TalkPanel } from "../ui/talk";
import { QuizPanel } from "../ui/quiz";
import { RosterPanel } from "./roster";
import { Heatmap } from "../ui/heatmap";
import type { ClassReport, RoomCommand } from "../generated/protocol";

// "loading" until the first screen is drawn: tests and hooks must not see "home" before its controls exist.
type Screen = "loading" | "home" | "golive" | "live" | "ended" | "history";

interface TileState {
  frames: number;
  width: number;
  height: number;
}

declare global {
  interface Window {
    aulaTeacher: {
      state(): {
        screen: Screen;
        link: LinkState;
        snapshot: RoomSnapshot | null;
        tiles: Record<string, TileState>;
      };
    };
  }
}

export async function startTeacher(root: HTMLElement): Promise<void> {
  const app = new TeacherApp(root, await tauriBridge());
  window.aulaTeacher = { state: () => app.state() };
  await app.home();
}

class TeacherApp {
  private screen: Screen = "loading";
  private link: LinkState = { state: "offline", reason: null, attempt: 0 };
  private room: RoomSnapshot | null = null;
  /** The live board, moved forward by each room event (the snapshot's board is its start). */
  private board: BoardReplica | null = null;
  private whiteboard: Whiteboard | null = null;
  private talk: TalkPanel | null = null;
  private quiz: QuizPanel | null = null;
  private heatmap: Heatmap | null = null;
  private roster: RosterPanel | null = null;
  private tiles: Record<string, TileState> = {};
  private queued = 0;
  private live: LiveInfo | null = null;
  private micOn = true;
  private camOn = true;
  private sharing = false;
  private readonly main: HTMLElement;
  private readonly banner: HTMLElement;

  constructor(
    private readonly root: HTMLElement,
    private readonly bridge: Bridge,
  ) {
    clear(root);
    root.classList.add("teacher");
    this.banner = h("div", { class: "t-banner", "data-testid": "banner", hidden: true });
    this.main = h("main", { class: "t-main" });
    root.append(this.banner, this.main);
    bridge.onLinkState((s) => {
      this.link = s;
      if (s.state === "live") this.queued = 0;
      this.renderBanner();
      const el = this.main.querySelector("[data-testid=link-state]");
      if (el) {
        el.setAttribute("data-state", s.state);
        el.textContent = s.state;
      }
    });
    bridge.onRoom((snap) => {
      this.room = fromSnapshot(snap);
      this.board = BoardReplica.fromSnapshot(snap.board);
      this.whiteboard?.invalidate();
      if (this.screen === "live") this.renderLive();
    });
    bridge.onRoomEvent((ev) => {
      if (!this.room) return;
      const out = applyEvent(this.room, ev);
      // A gap cannot be repaired here: the shell sends the whole room when it fell behind.
      if (out.kind !== "applied") return;
      this.room = out.state;
      this.board?.apply(ev.seq, ev.event);
      this.whiteboard?.invalidate();
      if (this.screen === "live" && !isBoardEvent(ev.event.kind)) this.renderLive();
    });
    bridge.onTileFrame((t) => this.showTileFrame(t));
    bridge.onPreviewFrame((p) => {
      const img = this.main.querySelector<HTMLImageElement>("[data-testid=preview] img");
      if (img) img.src = `data:image/jpeg;base64,${p.jpeg_base64}`;
    });
    bridge.onMediaError((e) => this.toast(`${e.kind}: ${e.message}`));
  }

  state() {
    const engagement = this.heatmap?.last ?? null;
    const snapshot = this.room ? { ...this.room, board: this.board?.toSnapshot() ?? this.room.board } : null;
    const roster = this.roster ? { students: this.roster.roster, alerts: this.roster.alerts } : null;
    return { screen: this.screen, link: this.link, snapshot, tiles: { ...this.tiles }, engagement, roster };
  }

  /** Board and chat commands go through the shell's outbox: queued while offline. */
  private runCommand(command: RoomCommand) {
    return this.bridge.roomCommand(command).then(
      (sent) => {
        if (sent.queued) {
          this.queued += 1;
          this.renderBanner();
        }
        return { type: "ack" as const, id: sent.id, duplicate: false };
      },
      (e: unknown) => {
        const err = asUiError(e);
        this.toast(err.message);
        return { type: "error" as const, code: err.code as never, message: err.message, id: null };
      },
    );
  }

  private liveBoard(): HTMLElement {
    this.whiteboard?.destroy();
    this.whiteboard = new Whiteboard({
      me: () => (this.live ? { id: this.live.member_id, role: "teacher" } : null),
      board: () => this.board,
      students: () => (this.room?.members ?? []).filter((m) => m.role === "student").map((m) => ({ id: m.id, name: m.name })),
      command: (cmd) => this.runCommand(cmd),
      assetUrl: () => "",
    });
    this.talk = new TalkPanel((cmd) => void this.runCommand(cmd));
    this.quiz = new QuizPanel((cmd) => void this.runCommand(cmd), {
      list: () => this.bridge.listQuestions(),
      save: (q) => this.bridge.saveQuestion(q),
      remove: (id) => this.bridge.deleteQuestion(id),
      ask: (id) =>
        this.bridge.askQuestion(id).then(
          (sent) => {
            if (sent.queued) {
              this.queued += 1;
              this.renderBanner();
            }
          },
          (e: unknown) => this.toast(asUiError(e).message),
        ),
    });
    this.talk.el.prepend(this.quiz.el);
    this.heatmap?.stop();
    const classId = this.live?.class_id ?? "";
    this.heatmap = new Heatmap(() => this.bridge.classReport(classId));
    const span = h(
      "select",
      { "data-testid": "report-period", "aria-label": "Report over" },
      h("option", { value: "session" }, "This session"),
      h("option", { value: "week" }, "By week"),
      h("option", { value: "month" }, "By month"),
    ) as HTMLSelectElement;
    const exportAs = (format: "csv" | "pdf") =>
      this.bridge.exportReport(classId, format, span.value as ReportPeriod).then(
        (path) => this.toast(`Report saved: ${path}`),
        (e: unknown) => this.toast(asUiError(e).message),
      );
    this.heatmap.el.append(
      span,
      h("button", { type: "button", class: "btn btn-small", "data-testid": "report-csv", onclick: () => void exportAs("csv") }, "Export CSV"),
      h("button", { type: "button", class: "btn btn-small", "data-testid": "report-pdf", onclick: () => void exportAs("pdf") }, "Export PDF"),
    );
    this.talk.el.prepend(this.heatmap.el);
    this.roster = new RosterPanel(this.bridge, classId);
    this.heatmap.el.after(this.roster.el);
    this.heatmap.start();
    return h("div", { class: "t-class" }, this.whiteboard.el, this.talk.el);
  }

  private toast(text: string): void {
    const t = h("div", { class: "t-toast", role: "status" }, text);
    this.root.append(t);
    setTimeout(() => t.remove(), 6000);
  }

  private renderBanner(): void {
    const text = this.screen === "live" ? bannerText(this.link, this.queued) : null;
    this.banner.hidden = !text;
    this.banner.textContent = text ?? "";
  }

  private show(screen: Screen, ...children: Node[]): void {
    this.screen = screen;
    clear(this.main);
    this.main.append(...children);
    this.renderBanner();
  }

  // ---- home ----

  async home(): Promise<void> {
    let classes: CachedClass[] = [];
    let error: string | null = null;
    try {
      classes = await this.bridge.listClasses();
    } catch (e) {
      error = asUiError(e).message;
    }
    const info = await this.bridge.appInfo().catch(() => null);
    const title = h("input", {
      type: "text",
      maxlength: 120,
      placeholder: "Class title, e.g. Algebra — 9B",
      "aria-label": "Class title",
      "data-testid": "new-class-title",
    });
    const formError = h("p", { class: "t-error", hidden: true });
    const form = h(
      "form",
      { class: "t-new" },
      title,
      h("button", { class: "btn btn-primary", type: "submit", "data-testid": "new-class-submit" }, "New class"),
      formError,
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void (async () => {
        try {
          const c = await this.bridge.createClass(title.value);
          await this.goLiveScreen(c);
        } catch (e) {
          formError.hidden = false;
          formError.textContent = asUiError(e).message;
        }
      })();
    });
    const list = h(
      "ul",
      { class: "t-classes", "data-testid": "class-list" },
      ...classes.map((c) =>
        h(
          "li",
          { class: "t-class", "data-testid": "class-item", "data-class-id": c.id },
          h(
            "button",
            { class: "t-class-open", onclick: () => void this.openClass(c) },
            h("span", { class: "t-class-title" }, c.title),
            h(
              "span",
              { class: "t-class-meta" },
              c.last_live_ms ? `Last live ${new Date(c.last_live_ms).toLocaleString()}` : "Not run yet",
              ` · ${c.event_count} events`,
            ),
          ),
          h("button", { class: "btn btn-small", onclick: () => void this.goLiveScreen(c) }, "Go live"),
        ),
      ),
    );
    this.show(
      "home",
      h("header", { class: "t-head" }, h("h1", {}, "Aula"), h("span", { class: "t-server" }, info ? `${info.embedded ? "Hosting on this laptop" : "Server"}: ${info.server_url}` : "")),
      await this.lanPanel(),
      form,
      error ? h("p", { class: "t-error" }, error) : h("span", {}),
      h("h2", {}, "Your classes"),
      classes.length ? list : h("div", { "data-testid": "class-list", class: "t-empty" }, "No classes yet. Create one above."),
    );
  }

  /**
   * "Students on this network can join": the embedded server opened to the LAN, with what
   * that exposes and what a student's browser will say about its certificate.
   */
  private async lanPanel(): Promise<Node> {
    let status: LanStatus | null = null;
    try {
      status = await this.bridge.lanStatus();
    } catch {
      /* an older shell: no panel */
    }
    if (!status?.available) return h("span", {});
    const panel = h("section", { class: "t-lan", "data-testid": "lan-panel", "data-on": String(!!status.lan) });
    const render = (st: LanStatus, error: string | null = null) => {
      const on = !!st.lan;
      panel.dataset.on = String(on);
      const toggle = h("input", {
        type: "checkbox",
        role: "switch",
        id: "lan-switch",
        "data-testid": "lan-switch",
        checked: on,
        disabled: !on && st.addresses.length === 0,
      });
      const choice = h(
        "select",
        { "data-testid": "lan-address", "aria-label": "Network address", disabled: on },
        ...st.addresses.map((a) => h("option", { value: a, selected: a === st.lan?.address }, a)),
      );
      toggle.addEventListener("change", () => {
        toggle.disabled = true;
        choice.disabled = true;
        busy.hidden = false;
        this.bridge
          .setLan(toggle.checked ? choice.value || null : null)
          .then((next) => render(next))
          .catch((e) => render(st, asUiError(e).message));
      });
      const busy = h("span", { class: "t-note", hidden: true }, "Restarting the class server…");
      const body = on
        ? h(
            "div",
            { class: "t-lan-body" },
            h("p", {}, "Students open ", h("code", { "data-testid": "lan-url" }, st.lan!.base_url), " (the link and QR code of each class use it)."),
            h(
              "p",
              {},
              "Their browser will first warn that the connection is not private: this laptop made its own certificate. They choose Advanced, then Proceed. To be sure it is this laptop, its fingerprint (SHA-256) is ",
              h("code", { class: "t-fingerprint", "data-testid": "lan-fingerprint" }, st.lan!.fingerprint ?? "unknown"),
              ".",
            ),
            h("p", { class: "t-note", "data-testid": "lan-exposes" }, st.lan!.exposes),
          )
        : h(
            "p",
            { class: "t-note" },
            st.addresses.length
              ? "Off: only this laptop can reach its class server. Turn it on to let students on the same Wi-Fi or school network join with a link."
              : "This laptop has no private network address (it is not on a LAN), so only this laptop can join.",
          );
      panel.replaceChildren(
        h(
          "div",
          { class: "t-lan-row" },
          toggle,
          h("label", { for: "lan-switch" }, "Students on this network can join"),
          st.addresses.length > 0 ? choice : h("span", {}),
          busy,
        ),
        body,
        error ? h("p", { class: "t-error", "data-testid": "lan-error" }, error) : h("span", {}),
      );
    };
    render(status);
    return panel;
  }

  /** A class that was run opens its history (offline too); a fresh one opens go-live. */
  private async openClass(c: CachedClass): Promise<void> {
    if (c.last_live_ms || c.event_count > 0) await this.historyScreen(c.id);
    else await this.goLiveScreen(c);
  }

  // ---- go live ----

  private async goLiveScreen(c: CachedClass): Promise<void> {
    let devices: Devices = { cameras: [], microphones: [], screens: [] };
    try {
      devices = await this.bridge.listDevices();
    } catch (e) {
      this.toast(asUiError(e).message);
    }
    const picker = (testid: string, items: { id: string; name: string }[], label: string) =>
      h(
        "label",
        { class: "field" },
        label,
        h(
          "select",
          { "data-testid": testid },
          h("option", { value: "" }, `No ${label.toLowerCase()}`),
          ...items.map((d, i) => h("option", { value: d.id, selected: i === 0 }, d.name)),
        ),
      );
    const cam = picker("camera-select", devices.cameras, "Camera");
    const mic = picker("microphone-select", devices.microphones, "Microphone");
    const camSel = cam.querySelector("select") as HTMLSelectElement;
    const micSel = mic.querySelector("select") as HTMLSelectElement;
    const note = h("p", { class: "t-note" });
    const realCams = devices.cameras.filter((d) => !d.id.startsWith("synthetic:")).length;
    const realMics = devices.microphones.filter((d) => !d.id.startsWith("synthetic:")).length;
    note.textContent = [
      realCams ? "" : "No camera was found on this computer; the test pattern stands in.",
      realMics ? "" : "No microphone was found; the test tone stands in.",
    ]
      .filter(Boolean)
      .join(" ");
    const preview = h("div", { class: "t-preview", "data-testid": "preview" }, h("img", { alt: "Camera preview" }));
    const restartPreview = () => {
      void this.bridge.stopPreview();
      if (camSel.value) this.bridge.startPreview(camSel.value).catch((e) => this.toast(asUiError(e).message));
    };
    camSel.addEventListener("change", restartPreview);
    const go = h("button", { class: "btn btn-primary t-go", "data-testid": "go-live" }, "Go live");
    go.addEventListener("click", () => {
      go.setAttribute("disabled", "");
      go.textContent = "Going live…";
      void (async () => {
        try {
          this.live = await this.bridge.goLive(c.id, camSel.value || null, micSel.value || null);
          this.micOn = !!micSel.value;
          this.camOn = !!camSel.value;
          this.sharing = false;
          this.tiles = {};
          this.liveScreen(devices);
        } catch (e) {
          go.removeAttribute("disabled");
          go.textContent = "Go live";
          this.toast(asUiError(e).message);
        }
      })();
    });
    this.show(
      "golive",
      h("header", { class: "t-head" }, h("button", { class: "btn btn-small", onclick: () => { void this.bridge.stopPreview(); void this.home(); } }, "← Classes"), h("h1", {}, c.title)),
      h("div", { class: "t-golive" }, preview, h("div", { class: "t-pickers" }, cam, mic, note, go)),
    );
    restartPreview();
  }

  // ---- live ----

  private liveScreen(devices: Devices): void {
    const live = this.live;
    if (!live) return;
    const qr = h("img", { class: "t-qr", "data-testid": "qr", alt: "QR code of the student link" });
    qr.src = `data:image/svg+xml;base64,${btoa(live.qr_svg)}`;
    const copy = h("button", { class: "btn btn-small" }, "Copy");
    copy.addEventListener("click", () => void navigator.clipboard?.writeText(live.student_link));
    const mute = h("button", { class: "btn", "data-testid": "mute-mic" });
    const camBtn = h("button", { class: "btn", "data-testid": "camera-toggle" });
    const share = h("button", { class: "btn", "data-testid": "share-screen" });
    const paint = () => {
      mute.textContent = this.micOn ? "Mute" : "Unmute";
      camBtn.textContent = this.camOn ? "Camera off" : "Camera on";
      share.textContent = this.sharing ? "Stop sharing" : "Share screen";
    };
    paint();
    mute.addEventListener("click", () => {
      this.micOn = !this.micOn;
      paint();
      this.bridge.setMicrophone(this.micOn).catch((e) => this.toast(asUiError(e).message));
    });
    camBtn.addEventListener("click", () => {
      this.camOn = !this.camOn;
      paint();
      this.bridge.setCamera(this.camOn).catch((e) => this.toast(asUiError(e).message));
    });
    share.addEventListener("click", () => {
      const screen = devices.screens.find((s) => !s.id.startsWith("synthetic:")) ?? devices.screens[0];
      const next = !this.sharing;
      this.bridge
        .setScreenShare(next ? (screen?.id ?? null) : null)
        .then(() => {
          this.sharing = next;
          paint();
        })
        .catch((e) => this.toast(asUiError(e).message));
    });
    const end = h("button", { class: "btn btn-danger", "data-testid": "end-class" }, "End class");
    end.addEventListener("click", () => this.confirmEnd());
    // On a LAN class, what students compare their browser's warning against.
    const lanNote = h("p", { class: "t-note", "data-testid": "live-fingerprint", hidden: true });
    void this.bridge
      .lanStatus()
      .then((st) => {
        if (!st.lan?.fingerprint) return;
        lanNote.textContent = `Open to this network. Students' browsers warn about this laptop's own certificate; its fingerprint is ${st.lan.fingerprint}.`;
        lanNote.hidden = false;
      })
      .catch(() => {});
    this.show(
      "live",
      h(
        "header",
        { class: "t-live-head" },
        h("h1", {}, live.title),
        h("span", { class: "t-link-state", "data-testid": "link-state", "data-state": this.link.state }, this.link.state),
        h("div", { class: "t-controls" }, mute, camBtn, share, end),
      ),
      h(
        "section",
        { class: "t-share" },
        qr,
        h("div", {}, h("p", {}, "Students join at"), h("code", { "data-testid": "student-link" }, live.student_link), copy, lanNote),
      ),
      h("section", { class: "t-waiting", "data-testid": "waiting" }),
      this.liveBoard(),
      h("section", { class: "t-grid", "data-testid": "grid" }),
    );
    this.renderLive();
  }

  private confirmEnd(): void {
    const dialog = h(
      "div",
      { class: "t-dialog", role: "dialog", "aria-modal": "true" },
      h("p", {}, "End the class for everyone?"),
      h("button", { class: "btn", onclick: () => dialog.remove() }, "Cancel"),
      h(
        "button",
        {
          class: "btn btn-danger",
          "data-testid": "confirm-end",
          onclick: () => {
            dialog.remove();
            void this.bridge.endClass().finally(() => this.endedScreen());
          },
        },
        "End class",
      ),
    );
    this.root.append(dialog);
  }

  private renderLive(): void {
    const grid = this.main.querySelector<HTMLElement>("[data-testid=grid]");
    const waiting = this.main.querySelector<HTMLElement>("[data-testid=waiting]");
    if (!grid || !waiting) return;
    if (this.room && this.live) {
      const me = this.room.members.find((m) => m.id === this.live?.member_id) ?? null;
      this.talk?.update(this.room, me);
      this.quiz?.update(this.room, me);
    }
    const models = studentTiles(this.room);
    const keep = new Set(models.map((m) => m.member.id));
    for (const el of [...grid.querySelectorAll<HTMLElement>("[data-testid=tile]")]) {
      if (!keep.has(el.dataset.memberId ?? "")) el.remove();
    }
    for (const m of models) {
      let tile = grid.querySelector<HTMLElement>(`[data-testid=tile][data-member-id="${CSS.escape(m.member.id)}"]`);
      if (!tile) {
        tile = this.newTile(m.member.id);
        grid.append(tile);
      }
      (tile.querySelector(".t-tile-name") as HTMLElement).textContent = m.member.name;
      tile.classList.toggle("t-offline", !m.member.connected);
      tile.dataset.mic = m.micOn === null ? "none" : m.micOn ? "on" : "off";
      tile.dataset.cam = m.camOn === null ? "none" : m.camOn ? "on" : "off";
      tile.querySelector(".t-hand")?.toggleAttribute("hidden", !m.handRaised);
      tile.querySelector(".t-away")?.toggleAttribute("hidden", !m.member.connected || m.member.tab_visible);
      tile.classList.toggle("t-speaking", m.member.speaking);
      // Text, not emoji: a laptop without an emoji font shows empty boxes.
      (tile.querySelector(".t-mic") as HTMLElement).textContent =
        m.micOn === true ? "" : m.micOn === false ? "Muted" : "No mic";
    }
    if (!models.length && !grid.querySelector(".t-empty")) {
      grid.append(h("p", { class: "t-empty" }, "No students yet. Share the link or the QR code."));
    } else if (models.length) {
      grid.querySelector(".t-empty")?.remove();
    }
    clear(waiting);
    for (const w of this.room?.waiting ?? []) {
      waiting.append(
        h(
          "div",
          { class: "t-wait", "data-testid": "waiting-item", "data-member-id": w.id },
          `${w.name} is waiting`,
          h("button", { class: "btn btn-small", "data-testid": "admit", onclick: () => this.command({ kind: "admit", member: w.id }) }, "Admit"),
          h("button", { class: "btn btn-small", "data-testid": "deny", onclick: () => this.command({ kind: "deny", member: w.id }) }, "Deny"),
        ),
      );
    }
  }

  private command(command: Parameters<Bridge["roomCommand"]>[0]): void {
    this.bridge
      .roomCommand(command)
      .then((r) => {
        if (r.queued) {
          this.queued += 1;
          this.renderBanner();
        }
      })
      .catch((e) => this.toast(asUiError(e).message));
  }

  private newTile(memberId: string): HTMLElement {
    const menu = h(
      "div",
      { class: "t-menu", hidden: true },
      h("button", { "data-testid": "tile-mute", onclick: () => this.command({ kind: "mute_member", member: memberId }) }, "Mute"),
      h("button", { "data-testid": "tile-stop-camera", onclick: () => this.command({ kind: "stop_camera", member: memberId }) }, "Stop camera"),
      h("button", { "data-testid": "tile-remove", onclick: () => this.command({ kind: "remove_member", member: memberId }) }, "Remove"),
    );
    const menuBtn = h("button", { class: "t-menu-btn", "data-testid": "tile-menu", "aria-label": "Student actions" }, "⋯");
    menuBtn.addEventListener("click", () => menu.toggleAttribute("hidden"));
    return h(
      "div",
      { class: "t-tile", "data-testid": "tile", "data-member-id": memberId, "data-frames": "0", "data-has-video": "false" },
      h("img", { class: "t-tile-video", alt: "" }),
      h("div", { class: "t-tile-bar" }, h("span", { class: "t-tile-name" }), h("span", { class: "t-hand", hidden: true }, "Hand up"), h("span", { class: "t-away", hidden: true }, "Away"), h("span", { class: "t-mic" })),
      menuBtn,
      menu,
    );
  }

  private showTileFrame(t: TileFrame): void {
    this.tiles[t.member_id] = { frames: t.frames_decoded, width: t.width, height: t.height };
    const tile = this.main.querySelector<HTMLElement>(`[data-testid=tile][data-member-id="${CSS.escape(t.member_id)}"]`);
    if (!tile) return;
    const img = tile.querySelector<HTMLImageElement>(".t-tile-video");
    if (img) img.src = `data:image/jpeg;base64,${t.jpeg_base64}`;
    tile.dataset.frames = String(t.frames_decoded);
    tile.dataset.hasVideo = "true";
  }

  // ---- ended / history ----

  private endedScreen(): void {
    this.heatmap?.stop();
    this.heatmap = null;
    this.whiteboard?.destroy();
    this.whiteboard = null;
    const n = studentTiles(this.room).length;
    this.live = null;
    this.show(
      "ended",
      h("h1", {}, "Class ended"),
      h("p", {}, `${n} student${n === 1 ? "" : "s"} were in the class. Everything is kept on this laptop.`),
      h("button", { class: "btn btn-primary", onclick: () => void this.home() }, "Back to classes"),
    );
  }

  /** The attendance and engagement last fetched while live, exportable offline. */
  private historyReport(classId: string, report: ClassReport | null): HTMLElement[] {
    if (!report) return [];
    const exportAs = (format: "csv" | "pdf") =>
      this.bridge.exportReport(classId, format, "session").then(
        (path) => this.toast(`Report saved: ${path}`),
        (e: unknown) => this.toast(asUiError(e).message),
      );
    const when = new Date(report.generated_at_ms).toLocaleString();
    return [
      h("h2", {}, "Attendance and engagement"),
      h("p", { class: "t-note" }, `Session ${report.session} of ${report.sessions}, as of ${when}.`),
      reportTable(report),
      h(
        "p",
        {},
        h("button", { type: "button", class: "btn btn-small", "data-testid": "history-report-csv", onclick: () => void exportAs("csv") }, "Export CSV"),
        " ",
        h("button", { type: "button", class: "btn btn-small", "data-testid": "history-report-pdf", onclick: () => void exportAs("pdf") }, "Export PDF"),
      ),
    ];
  }

  private async historyScreen(classId: string): Promise<void> {
    try {
      const hist = await this.bridge.classHistory(classId);
      const lines = describeEvents(hist.events);
      // The board as the class left it, from the cache alone: the last snapshot and the
      // events after it. Read-only, with its PNG/PDF export.
      let boardEl: HTMLElement | null = null;
      if (hist.snapshot) {
        const board = BoardReplica.fromSnapshot(hist.snapshot.board);
        for (const ev of hist.events) if (ev.seq > hist.snapshot.seq) board.apply(ev.seq, ev.event);
        this.whiteboard?.destroy();
        this.whiteboard = new Whiteboard({
          me: () => null,
          board: () => board,
          students: () => [],
          command: () => Promise.resolve({ type: "error" as const, code: "forbidden" as const, message: "a past class", id: null }),
          assetUrl: () => "",
        });
        boardEl = h("div", { class: "t-class t-history-board", "data-testid": "history-board" }, this.whiteboard.el);
      }
      this.show(
        "history",
        h(
          "header",
          { class: "t-head" },
          h("button", { class: "btn btn-small", onclick: () => void this.home() }, "← Classes"),
          h("h1", {}, hist.class.title),
          h("button", { class: "btn btn-primary", onclick: () => void this.goLiveScreen(hist.class) }, "Go live again"),
        ),
        h(
          "section",
          { "data-testid": "history", class: "t-history" },
          h("h2", {}, "Sessions"),
          h("ul", {}, ...hist.sessions.map((s) => h("li", {}, `${new Date(s.started_at_ms).toLocaleString()} – ${s.ended_at_ms ? new Date(s.ended_at_ms).toLocaleTimeString() : "not closed"}`))),
          h("h2", {}, "Who was there"),
          h("ul", {}, ...(hist.snapshot?.members ?? []).map((m) => h("li", {}, `${m.name || "Teacher"} (${m.role})`))),
          ...this.historyReport(classId, hist.report),
          boardEl ? h("h2", {}, "The board") : null,
          boardEl,
          h("h2", {}, "What happened"),
          h("ol", {}, ...lines.map((l) => h("li", { "data-testid": "history-event" }, l))),
          hist.pending_commands ? h("p", { class: "t-note" }, `${hist.pending_commands} change(s) wait to be sent to the server.`) : h("span", {}),
        ),
      );
    } catch (e) {
      this.toast(asUiError(e).message);
    }
  }
}

function reportTable(report: ClassReport): HTMLElement {
  const head = ["Student", "Present (min)", "In view", "Hidden", "Quizzes", "Score"];
  return h(
    "table",
    { class: "t-report", "data-testid": "history-report" },
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))),
    h("tbody", {}, ...reportRows(report).map((row) => h("tr", {}, ...row.map((c) => h("td", {}, c))))),
  );
}

function isBoardEvent(kind: string): boolean {
  return kind.startsWith("stroke_") || kind.startsWith("item") || kind.startsWith("page_") || kind === "viewport_changed";
}
