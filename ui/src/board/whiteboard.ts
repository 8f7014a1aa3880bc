// The shared whiteboard: toolbar, pages, canvas and input, for teachers and students.
// Local strokes are drawn from the pointer at once; the server's events only confirm them.
// Input becomes small commands: a stroke starts, appends quantized points every 50 ms,
// then ends. Rendering runs on animation frames and only when something changed.

import type {
  BoardItem,
  DrawPolicy,
  ItemId,
  MemberId,
  PageId,
  Role,
  RoomCommand,
  Tool,
} from "../generated/protocol";
import type { CommandReply } from "../session";
import { h } from "../ui/dom";
import { toast } from "../ui/toasts";
import { errorText } from "../errors";
import { BoardReplica, PAGE_HEIGHT, PAGE_WIDTH, type Point, encodePoints } from "./board-state";
import { type PageToExport, download, pageHash, pagePng, pagesPdf } from "./export";
import { type Ctx, distanceTo, drawItem, itemBounds } from "./render";

export interface BoardHost {
  me(): { id: MemberId; role: Role } | null;
  board(): BoardReplica | null;
  students(): Array<{ id: MemberId; name: string }>;
  command(cmd: RoomCommand): Promise<CommandReply>;
  assetUrl(asset: string): string;
  uploadBackground?(file: File): Promise<{ asset: string; width: number; height: number }>;
}

type ToolChoice = Tool | "eraser" | "area_eraser" | "select";

const FLUSH_MS = 50;
const COLORS = [0x111111, 0xe53935, 0x1e88e5, 0x43a047, 0xfdd835, 0x8e24aa, 0xffffff];
const WIDTHS = [2, 4, 8, 16];
const KEYS: Record<string, ToolChoice> = {
  p: "pen",
  h: "highlighter",
  l: "line",
  a: "arrow",
  r: "rect",
  o: "ellipse",
  t: "text",
  e: "eraser",
  x: "area_eraser",
  v: "select",
};

interface PendingStroke {
  item: BoardItem;
  points: Point[];
  /** Points already sent. */
  sent: number;
  /** Every command for it is sent; it settles once the board holds it whole. */
  ended: boolean;
  /** The board has held it: if it goes again, someone erased it. */
  seen?: boolean;
}

export class Whiteboard {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly toolbar: HTMLElement;
  private readonly pagebar: HTMLElement;
  private tool: ToolChoice = "pen";
  private color = COLORS[0]!;
  private width = WIDTHS[1]!;
  /** The page this client looks at when not following the teacher. */
  private ownPage: PageId | null = null;
  /** Own items drawn ahead of the server, by id. */
  private readonly pending = new Map<ItemId, PendingStroke>();
  private readonly selection = new Set<ItemId>();
  private drag: {
    kind: "stroke" | "shape" | "area" | "select" | "move";
    id?: ItemId;
    from: [number, number];
    to: [number, number];
    path?: number[];
  } | null = null;
  private flushTimer: ReturnType<typeof setInterval> | null = null;
  private frame = 0;
  private drawnKey = "";
  private cache: { canvas: OffscreenCanvas; key: string; count: number; lastZ: number } | null = null;
  private readonly images = new Map<string, HTMLImageElement>();
  private readonly resize: ResizeObserver;
  private itemCounter = 0;
  private readonly idSalt = Math.random().toString(36).slice(2, 8);
  private lastViewportSent = 0;
  private textInput: HTMLTextAreaElement | null = null;

  constructor(private readonly host: BoardHost) {
    this.canvas = h("canvas", { class: "wb-canvas", "data-testid": "board-canvas", tabindex: "0" }) as HTMLCanvasElement;
    this.ctx = this.canvas.getContext("2d")!;
    this.toolbar = h("div", { class: "wb-toolbar", role: "toolbar", "aria-label": "Whiteboard tools" });
    this.pagebar = h("div", { class: "wb-pages" });
    this.el = h(
      "section",
      { class: "whiteboard", "data-testid": "whiteboard", "aria-label": "Whiteboard" },
      this.toolbar,
      h("div", { class: "wb-surface" }, this.canvas),
      this.pagebar,
    );
    this.canvas.style.touchAction = "none";
    this.canvas.addEventListener("pointerdown", (e) => this.onDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onUp(e));
    this.canvas.addEventListener("pointercancel", (e) => this.onUp(e));
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    this.canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    this.resize = new ResizeObserver(() => this.invalidate());
    this.resize.observe(this.el);
    this.renderToolbar();
    this.loop();
  }

  destroy(): void {
    cancelAnimationFrame(this.frame);
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.resize.disconnect();
    this.el.remove();
  }

  /** Something changed (an event, the members); draw on the next frame. */
  invalidate(): void {
    this.drawnKey = "";
  }

  // ---- what is shown ----

  private get me() {
    return this.host.me();
  }

  private get isTeacher(): boolean {
    return this.me?.role === "teacher";
  }

  /** Students following the teacher see the teacher's page; others choose. */
  page(): PageId {
    const b = this.host.board();
    if (!b) return "p1";
    if (this.isTeacher) return b.current;
    if (b.follow || !this.ownPage || !b.hasPage(this.ownPage)) return b.current;
    return this.ownPage;
  }

  private viewport() {
    const b = this.host.board();
    return b && (this.isTeacher || b.follow) ? b.viewport : { x: 0, y: 0, zoom: 100 };
  }

  /** Page units → canvas pixels. */
  private transform(): { scale: number; ox: number; oy: number } {
    const vp = this.viewport();
    const fit = Math.min(this.canvas.width / PAGE_WIDTH, this.canvas.height / PAGE_HEIGHT);
    const scale = (fit * vp.zoom) / 100;
    const ox = (this.canvas.width - PAGE_WIDTH * fit) / 2 - vp.x * scale;
    const oy = (this.canvas.height - PAGE_HEIGHT * fit) / 2 - vp.y * scale;
    return { scale, ox, oy };
  }

  private toPage(e: PointerEvent | MouseEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    const dpr = this.canvas.width / Math.max(1, r.width);
    const t = this.transform();
    return [Math.round(((e.clientX - r.left) * dpr - t.ox) / t.scale), Math.round(((e.clientY - r.top) * dpr - t.oy) / t.scale)];
  }

  private mayDraw(): boolean {
    const me = this.me;
    const b = this.host.board();
    return !!me && !!b && b.mayDraw(me.id, me.role);
  }

  // ---- rendering ----

  private loop(): void {
    this.frame = requestAnimationFrame(() => {
      this.draw();
      this.loop();
    });
  }

  private draw(): void {
    const b = this.host.board();
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr));
    const hgt = Math.max(1, Math.round(r.height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
      this.drawnKey = "";
    }
    const key = `${b?.version}:${this.page()}:${this.pending.size}:${this.drag ? Math.random() : ""}:${this.selection.size}:${w}x${hgt}:${JSON.stringify(this.viewport())}`;
    if (!b) return;
    if (this.pending.size) this.prune(b);
    if (key === this.drawnKey) return;
    this.drawnKey = this.drag || this.pendingGrowing() ? "" : key;
    this.renderPagebar(b);
    const ctx = this.ctx;
    const t = this.transform();
    const page = this.page();
    const items = b.pageItems(page);
    // Items already final (closed, not ours in flight) form a prefix kept in a cache.
    let prefix = 0;
    while (prefix < items.length && !items[prefix]!.open && !this.pending.has(items[prefix]!.id)) prefix++;
    const bg = b.pages.find((p) => p.id === page)?.background;
    const cacheKey = `${page}:${b.layoutVersion}:${w}x${hgt}:${t.scale}:${t.ox}:${t.oy}:${bg?.asset ?? ""}:${this.imageReady(bg?.asset)}`;
    let cache = this.cache;
    const fits = cache && cache.key === cacheKey && cache.count <= prefix && (cache.count === 0 || items[cache.count - 1]!.z === cache.lastZ);
    if (!cache || !fits) {
      const canvas = new OffscreenCanvas(w, hgt);
      const c = canvas.getContext("2d")!;
      c.fillStyle = "#d9dde3";
      c.fillRect(0, 0, w, hgt);
      c.setTransform(t.scale, 0, 0, t.scale, t.ox, t.oy);
      c.fillStyle = "#ffffff";
      c.fillRect(0, 0, PAGE_WIDTH, PAGE_HEIGHT);
      const img = bg ? this.image(bg.asset) : null;
      if (img) c.drawImage(img, 0, 0, PAGE_WIDTH, PAGE_HEIGHT);
      cache = { canvas, key: cacheKey, count: 0, lastZ: 0 };
      this.cache = cache;
    }
    if (cache.count < prefix) {
      const c = cache.canvas.getContext("2d")!;
      c.setTransform(t.scale, 0, 0, t.scale, t.ox, t.oy);
      for (let i = cache.count; i < prefix; i++) drawItem(c, items[i]!);
      cache.count = prefix;
      cache.lastZ = items[prefix - 1]!.z;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(cache.canvas, 0, 0);
    ctx.setTransform(t.scale, 0, 0, t.scale, t.ox, t.oy);
    for (let i = prefix; i < items.length; i++) {
      const it = items[i]!;
      const mine = this.pending.get(it.id);
      drawItem(ctx, mine ? this.localItem(mine) : it);
    }
    for (const p of this.pending.values()) {
      if (!b.items.has(p.item.id) && p.item.page === page) drawItem(ctx, this.localItem(p));
    }
    this.drawOverlay(ctx, b);
  }

  private pendingGrowing(): boolean {
    return this.drag?.kind === "stroke";
  }

  private localItem(p: PendingStroke): BoardItem {
    return { ...p.item, points: encodePoints(p.points, null) };
  }

  private drawOverlay(ctx: Ctx, b: BoardReplica): void {
    const d = this.drag;
    ctx.save();
    if (d && d.kind === "shape" && this.tool !== "text") {
      const pts = [d.from[0], d.from[1], 0, d.to[0] - d.from[0], d.to[1] - d.from[1], 0];
      drawItem(ctx, this.draftItem(this.tool as Tool, pts, null));
    }
    if (d && (d.kind === "select" || d.kind === "area")) {
      ctx.setLineDash([8, 6]);
      ctx.strokeStyle = "#1e88e5";
      ctx.lineWidth = 2;
      if (d.kind === "select") {
        ctx.strokeRect(Math.min(d.from[0], d.to[0]), Math.min(d.from[1], d.to[1]), Math.abs(d.to[0] - d.from[0]), Math.abs(d.to[1] - d.from[1]));
      } else if (d.path) {
        ctx.lineWidth = 24;
        ctx.strokeStyle = "rgba(229,57,53,0.25)";
        ctx.setLineDash([]);
        ctx.beginPath();
        for (let i = 0; i + 1 < d.path.length; i += 2) ctx.lineTo(d.path[i]!, d.path[i + 1]!);
        ctx.stroke();
      }
    }
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#1e88e5";
    ctx.lineWidth = 2;
    for (const id of this.selection) {
      const it = b.items.get(id);
      if (!it) continue;
      const bb = itemBounds(it);
      const off = d?.kind === "move" ? [d.to[0] - d.from[0], d.to[1] - d.from[1]] : [0, 0];
      ctx.strokeRect(bb.x0 - 4 + off[0]!, bb.y0 - 4 + off[1]!, bb.x1 - bb.x0 + 8, bb.y1 - bb.y0 + 8);
    }
    ctx.restore();
  }

  private image(asset: string): HTMLImageElement | null {
    let img = this.images.get(asset);
    if (!img) {
      img = new Image();
      img.onload = () => this.invalidate();
      img.src = this.host.assetUrl(asset);
      this.images.set(asset, img);
    }
    return img.complete && img.naturalWidth > 0 ? img : null;
  }

  private imageReady(asset: string | undefined): boolean {
    return !!asset && !!this.images.get(asset)?.complete;
  }

  // ---- input ----

  private newId(): ItemId {
    this.itemCounter += 1;
    return `${this.me!.id}/${this.idSalt}${this.itemCounter.toString(36)}`;
  }

  private draftItem(tool: Tool, points: number[], text: string | null): BoardItem {
    const item: BoardItem = {
      id: "",
      page: this.page(),
      author: this.me?.id ?? "",
      tool,
      color: this.color,
      width: tool === "text" ? Math.max(16, this.width * 6) : this.width,
      points,
      z: 0,
    };
    if (text != null) item.text = text;
    return item;
  }

  private send(cmd: RoomCommand, onDone?: (ok: boolean) => void): void {
    void this.host.command(cmd).then((reply) => {
      if (reply.type === "error") {
        // Retries of the same stroke would fail the same way; say it once.
        if (cmd.kind !== "append_stroke" && cmd.kind !== "end_stroke") toast(errorText(reply.code), "error");
      }
      onDone?.(reply.type === "ack");
    });
  }

  private onDown(e: PointerEvent): void {
    this.canvas.focus();
    if (e.button !== 0 && e.pointerType === "mouse") return;
    const at = this.toPage(e);
    this.textInput?.blur();
    if (this.tool === "select") {
      const b = this.host.board();
      const hit = b && [...this.selection].some((id) => {
        const it = b.items.get(id);
        if (!it) return false;
        const bb = itemBounds(it);
        return at[0] >= bb.x0 && at[0] <= bb.x1 && at[1] >= bb.y0 && at[1] <= bb.y1;
      });
      this.drag = { kind: hit ? "move" : "select", from: at, to: at };
      this.canvas.setPointerCapture(e.pointerId);
      return;
    }
    if (!this.mayDraw()) {
      toast("The teacher has not let you draw", "info");
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    switch (this.tool) {
      case "pen":
      case "highlighter": {
        const id = this.newId();
        const p = pressure(e);
        const item = { ...this.draftItem(this.tool, [at[0], at[1], p], null), id, open: true };
        this.pending.set(id, { item, points: [[at[0], at[1], p]], sent: 1, ended: false });
        this.send({ kind: "start_stroke", item: id, page: item.page, tool: this.tool, color: item.color, width: item.width, points: [at[0], at[1], p] });
        this.drag = { kind: "stroke", id, from: at, to: at };
        this.flushTimer = setInterval(() => this.flush(), FLUSH_MS);
        break;
      }
      case "eraser": {
        const b = this.host.board();
        if (!b) return;
        const me = this.me!;
        const hit = b
          .pageItems(this.page())
          .filter((it) => this.isTeacher || it.author === me.id)
          .reverse()
          .find((it) => distanceTo(it, at[0], at[1]) <= 8);
        if (hit) this.send({ kind: "erase_items", items: [hit.id] });
        break;
      }
      case "area_eraser":
        this.drag = { kind: "area", from: at, to: at, path: [at[0], at[1]] };
        break;
      case "text":
        this.openTextInput(e, at);
        break;
      default:
        this.drag = { kind: "shape", from: at, to: at };
    }
  }

  private onMove(e: PointerEvent): void {
    const d = this.drag;
    if (!d) return;
    const events = e.getCoalescedEvents?.() ?? [e];
    for (const ev of events.length ? events : [e]) {
      const at = this.toPage(ev);
      d.to = at;
      if (d.kind === "stroke" && d.id) {
        const p = this.pending.get(d.id);
        const last = p?.points[p.points.length - 1];
        const pr = pressure(ev);
        if (p && last && (last[0] !== at[0] || last[1] !== at[1])) p.points.push([at[0], at[1], pr]);
      } else if (d.kind === "area" && d.path) {
        const n = d.path.length;
        if (Math.hypot(at[0] - d.path[n - 2]!, at[1] - d.path[n - 1]!) >= 6 && n / 2 < 500) d.path.push(at[0], at[1]);
      }
    }
  }

  private onUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    const b = this.host.board();
    switch (d.kind) {
      case "stroke": {
        this.flush();
        if (this.flushTimer) clearInterval(this.flushTimer);
        this.flushTimer = null;
        const id = d.id!;
        const p = this.pending.get(id);
        if (p) p.ended = true;
        this.send({ kind: "end_stroke", item: id }, (ok) => !ok && this.settle(id));
        break;
      }
      case "shape": {
        const tool = this.tool as Tool;
        if (d.from[0] === d.to[0] && d.from[1] === d.to[1]) break;
        const points = [d.from[0], d.from[1], 0, d.to[0] - d.from[0], d.to[1] - d.from[1], 0];
        this.place(tool, points, null);
        break;
      }
      case "area":
        if (d.path && d.path.length >= 2) this.send({ kind: "erase_area", page: this.page(), path: d.path, radius: 12 });
        break;
      case "select": {
        if (!b) break;
        const x0 = Math.min(d.from[0], d.to[0]);
        const x1 = Math.max(d.from[0], d.to[0]);
        const y0 = Math.min(d.from[1], d.to[1]);
        const y1 = Math.max(d.from[1], d.to[1]);
        this.selection.clear();
        const me = this.me;
        for (const it of b.pageItems(this.page())) {
          if (!this.isTeacher && it.author !== me?.id) continue;
          const bb = itemBounds(it);
          const click = x1 - x0 < 3 && y1 - y0 < 3;
          const hit = click
            ? distanceTo(it, x0, y0) <= 6
            : bb.x0 < x1 && bb.x1 > x0 && bb.y0 < y1 && bb.y1 > y0;
          if (hit) this.selection.add(it.id);
        }
        break;
      }
      case "move": {
        const dx = d.to[0] - d.from[0];
        const dy = d.to[1] - d.from[1];
        if ((dx || dy) && this.selection.size) this.send({ kind: "move_items", items: [...this.selection], dx, dy });
        break;
      }
    }
    this.invalidate();
  }

  private place(tool: Tool, points: number[], text: string | null): void {
    const id = this.newId();
    const item = { ...this.draftItem(tool, points, text), id };
    const abs = [] as Point[];
    for (let i = 0; i + 2 < points.length; i += 3) {
      const prev = abs[abs.length - 1];
      abs.push(prev ? [prev[0] + points[i]!, prev[1] + points[i + 1]!, 0] : [points[i]!, points[i + 1]!, 0]);
    }
    this.pending.set(id, { item, points: abs, sent: abs.length, ended: true });
    this.send(
      { kind: "place_item", item: id, page: item.page, tool, color: item.color, width: item.width, points, text },
      (ok) => !ok && this.settle(id),
    );
  }

  /** The server refused an item: it is not drawn any more. */
  private settle(id: ItemId): void {
    this.pending.delete(id);
    this.invalidate();
  }

  /**
   * Own items the board now holds whole are drawn from the board from here on. Judged
   * from the replica, not from acks, so it works the same when the acks come from a
   * queue (the teacher app offline) as when they come from the server.
   */
  private prune(b: BoardReplica): void {
    for (const [id, p] of this.pending) {
      const it = b.items.get(id);
      if (it) p.seen = true;
      const gone = p.seen && !it;
      if (gone || (p.ended && it && !it.open && it.points.length >= p.points.length * 3)) {
        this.pending.delete(id);
        this.drawnKey = "";
      }
    }
  }

  /** Sends the points drawn since the last flush. */
  private flush(): void {
    for (const [id, p] of this.pending) {
      if (p.sent >= p.points.length || !p.item.open) continue;
      // The room takes at most 1000 points a message; a flush holds far fewer.
      const fresh = p.points.slice(p.sent, p.sent + 500);
      const from = p.points[p.sent - 1]!;
      p.sent += fresh.length;
      this.send({ kind: "append_stroke", item: id, points: encodePoints(fresh, from) });
    }
  }

  private openTextInput(e: PointerEvent, at: [number, number]): void {
    const input = h("textarea", {
      class: "wb-text-input",
      "data-testid": "board-text-input",
      rows: "2",
      placeholder: "Type, then Enter",
    }) as HTMLTextAreaElement;
    const r = this.el.getBoundingClientRect();
    input.style.left = `${e.clientX - r.left}px`;
    input.style.top = `${e.clientY - r.top}px`;
    const commit = () => {
      if (this.textInput !== input) return;
      this.textInput = null;
      const text = input.value.replace(/\s+$/, "");
      input.remove();
      if (text.trim()) this.place("text", [at[0], at[1], 0], text);
      this.canvas.focus();
    };
    input.addEventListener("keydown", (ev) => {
      ev.stopPropagation();
      if (ev.key === "Enter" && !ev.shiftKey) {
        ev.preventDefault();
        commit();
      } else if (ev.key === "Escape") {
        input.value = "";
        commit();
      }
    });
    input.addEventListener("blur", commit);
    this.textInput = input;
    this.el.append(input);
    setTimeout(() => input.focus(), 0);
  }

  private onKey(e: KeyboardEvent): void {
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key.toLowerCase();
    if (mod && k === "z") {
      e.preventDefault();
      this.send({ kind: e.shiftKey ? "redo" : "undo" });
    } else if (mod && k === "y") {
      e.preventDefault();
      this.send({ kind: "redo" });
    } else if ((e.key === "Delete" || e.key === "Backspace") && this.selection.size) {
      e.preventDefault();
      this.send({ kind: "erase_items", items: [...this.selection] });
      this.selection.clear();
    } else if (e.key === "Escape") {
      this.selection.clear();
      this.invalidate();
    } else if (e.key === "PageDown" || e.key === "PageUp") {
      e.preventDefault();
      this.stepPage(e.key === "PageDown" ? 1 : -1);
    } else if (!mod && KEYS[k]) {
      this.setTool(KEYS[k]!);
    } else if (!mod && k === "[") {
      this.width = WIDTHS[Math.max(0, WIDTHS.indexOf(this.width) - 1)]!;
      this.renderToolbar();
    } else if (!mod && k === "]") {
      this.width = WIDTHS[Math.min(WIDTHS.length - 1, WIDTHS.indexOf(this.width) + 1)]!;
      this.renderToolbar();
    } else if (!mod && k >= "1" && k <= String(COLORS.length)) {
      this.color = COLORS[Number(k) - 1]!;
      this.renderToolbar();
    }
  }

  private onWheel(e: WheelEvent): void {
    if (!this.isTeacher || !e.ctrlKey) return;
    e.preventDefault();
    const b = this.host.board();
    if (!b) return;
    const zoom = Math.max(10, Math.min(1000, Math.round(b.viewport.zoom * (e.deltaY < 0 ? 1.1 : 0.9))));
    this.setViewport({ ...b.viewport, zoom });
  }

  private setViewport(viewport: { x: number; y: number; zoom: number }): void {
    const now = performance.now();
    // Follow mode replays the teacher's view on every screen; a few updates a second do.
    if (now - this.lastViewportSent < 150) return;
    this.lastViewportSent = now;
    this.send({ kind: "set_viewport", viewport });
  }

  private stepPage(dir: number): void {
    const b = this.host.board();
    if (!b) return;
    const i = b.pages.findIndex((p) => p.id === this.page());
    const next = b.pages[i + dir];
    if (!next) return;
    this.showPage(next.id);
  }

  private showPage(page: PageId): void {
    this.selection.clear();
    if (this.isTeacher) this.send({ kind: "show_page", page });
    else this.ownPage = page;
    this.invalidate();
  }

  setTool(tool: ToolChoice): void {
    this.tool = tool;
    if (tool !== "select") this.selection.clear();
    this.renderToolbar();
    this.invalidate();
  }

  // ---- toolbar and pages ----

  private renderToolbar(): void {
    const tools: Array<[ToolChoice, string, string]> = [
      ["pen", "Pen", "P"],
      ["highlighter", "Highlighter", "H"],
      ["line", "Line", "L"],
      ["arrow", "Arrow", "A"],
      ["rect", "Rectangle", "R"],
      ["ellipse", "Ellipse", "O"],
      ["text", "Text", "T"],
      ["eraser", "Eraser", "E"],
      ["area_eraser", "Area eraser", "X"],
      ["select", "Select", "V"],
    ];
    const btn = (label: string, testid: string, on: boolean, run: () => void, title?: string) =>
      h("button", { type: "button", class: `wb-btn${on ? " on" : ""}`, "data-testid": testid, title: title ?? label, "aria-pressed": String(on), onclick: run }, label);
    this.toolbar.replaceChildren(
      ...tools.map(([t, label, key]) => btn(label, `tool-${t}`, this.tool === t, () => this.setTool(t), `${label} (${key})`)),
      h("span", { class: "wb-sep" }),
      ...COLORS.map((c, i) =>
        h("button", {
          type: "button",
          class: `wb-swatch${this.color === c ? " on" : ""}`,
          style: `background:#${c.toString(16).padStart(6, "0")}`,
          title: `Colour ${i + 1}`,
          "aria-label": `Colour ${i + 1}`,
          "data-testid": `color-${i + 1}`,
          onclick: () => {
            this.color = c;
            this.renderToolbar();
          },
        }),
      ),
      h("span", { class: "wb-sep" }),
      ...WIDTHS.map((w) => btn(`${w}`, `width-${w}`, this.width === w, () => {
        this.width = w;
        this.renderToolbar();
      }, `Width ${w}`)),
      h("span", { class: "wb-sep" }),
      btn("Undo", "board-undo", false, () => this.send({ kind: "undo" }), "Undo (Ctrl+Z)"),
      btn("Redo", "board-redo", false, () => this.send({ kind: "redo" }), "Redo (Ctrl+Shift+Z)"),
      btn("PNG", "export-png", false, () => void this.exportPng(), "Export this page as PNG"),
      btn("PDF", "export-pdf", false, () => void this.exportPdf(), "Export all pages as PDF"),
    );
  }

  private renderPagebar(b: BoardReplica): void {
    const me = this.me;
    const key = JSON.stringify([b.pages.map((p) => p.id), this.page(), b.follow, b.draw, b.allowed, this.isTeacher, me ? b.mayDraw(me.id, me.role) : false]);
    if (this.pagebar.dataset.key === key) return;
    this.pagebar.dataset.key = key;
    const current = this.page();
    const parts: HTMLElement[] = b.pages.map((p, i) =>
      h("button", { type: "button", class: `wb-page${p.id === current ? " on" : ""}`, "data-testid": `page-${i + 1}`, "aria-current": String(p.id === current), onclick: () => this.showPage(p.id) }, `${i + 1}`),
    );
    if (this.isTeacher) {
      const idx = b.pages.findIndex((p) => p.id === current);
      parts.push(
        h("button", { type: "button", class: "wb-btn", "data-testid": "page-add", onclick: () => {
          const page = `p-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`;
          this.send({ kind: "add_page", page, index: idx + 1 }, (ok) => ok && this.send({ kind: "show_page", page }));
        } }, "+ Page"),
        h("button", { type: "button", class: "wb-btn", "data-testid": "page-left", disabled: idx <= 0, onclick: () => this.send({ kind: "move_page", page: current, index: idx - 1 }) }, "◀ Move"),
        h("button", { type: "button", class: "wb-btn", "data-testid": "page-right", disabled: idx >= b.pages.length - 1, onclick: () => this.send({ kind: "move_page", page: current, index: idx + 1 }) }, "Move ▶"),
        h("button", { type: "button", class: "wb-btn", "data-testid": "page-clear", onclick: () => this.send({ kind: "clear_page", page: current }) }, "Clear page"),
        h("label", { class: "wb-check" }, checkbox(b.follow, "board-follow", (v) => this.send({ kind: "set_follow", follow: v })), "Students follow me"),
        this.drawPolicyPicker(b),
      );
      if (this.host.uploadBackground) {
        const file = h("input", { type: "file", accept: "image/png,image/jpeg", hidden: true, "data-testid": "page-background-file" }) as HTMLInputElement;
        file.onchange = () => {
          const f = file.files?.[0];
          if (!f || !this.host.uploadBackground) return;
          this.host.uploadBackground(f).then(
            (bg) => this.send({ kind: "set_page_background", page: current, background: bg }),
            (err: unknown) => toast(err instanceof Error ? err.message : String(err), "error"),
          );
        };
        parts.push(file, h("button", { type: "button", class: "wb-btn", "data-testid": "page-background", onclick: () => file.click() }, "Background…"));
      }
    } else {
      parts.push(
        h("span", { class: "wb-status", "data-testid": "board-status" }, b.follow ? "Following the teacher" : "", me && b.mayDraw(me.id, me.role) ? " · You may draw" : " · View only"),
      );
    }
    this.pagebar.replaceChildren(...parts);
  }

  private drawPolicyPicker(b: BoardReplica): HTMLElement {
    const select = h(
      "select",
      { "data-testid": "draw-policy", "aria-label": "Who may draw" },
      ...(["teachers_only", "everyone", "chosen"] as DrawPolicy[]).map((p) =>
        h("option", { value: p, selected: b.draw === p }, p === "teachers_only" ? "Only I draw" : p === "everyone" ? "Everyone draws" : "Chosen students draw"),
      ),
    ) as HTMLSelectElement;
    select.onchange = () => this.send({ kind: "set_draw_policy", draw: select.value as DrawPolicy, allowed: b.allowed });
    const chosen = h(
      "details",
      { class: "wb-chosen" },
      h("summary", {}, "Chosen"),
      ...this.host.students().map((s) =>
        h("label", { class: "wb-check" }, checkbox(b.allowed.includes(s.id), `draw-allow-${s.id}`, (v) => {
          const allowed = v ? [...b.allowed, s.id] : b.allowed.filter((m) => m !== s.id);
          this.send({ kind: "set_draw_policy", draw: b.draw, allowed });
        }), s.name),
      ),
    );
    return h("span", { class: "wb-policy" }, select, chosen);
  }

  // ---- export and test hooks ----

  private exportable(page: PageId): PageToExport | null {
    const b = this.host.board();
    const info = b?.pages.find((p) => p.id === page);
    if (!b || !info) return null;
    return { info, items: b.pageItems(page), background: info.background ? this.image(info.background.asset) : null };
  }

  async exportPng(page: PageId = this.page()): Promise<Blob | null> {
    const p = this.exportable(page);
    if (!p) return null;
    const blob = await pagePng(p);
    download(blob, `aula-board-${pageNumber(this.host.board(), page)}.png`);
    return blob;
  }

  async exportPdf(): Promise<Blob | null> {
    const b = this.host.board();
    if (!b) return null;
    const pages = b.pages.map((p) => this.exportable(p.id)).filter((p): p is PageToExport => !!p);
    const blob = await pagesPdf(pages);
    download(blob, "aula-board.pdf");
    return blob;
  }

  async hash(page: PageId = this.page()): Promise<string | null> {
    const p = this.exportable(page);
    return p ? pageHash(p) : null;
  }

  /** Own strokes and shapes the server has not confirmed yet. */
  get unconfirmed(): number {
    return this.pending.size;
  }
}

function pressure(e: PointerEvent): number {
  // Mice report 0.5 while pressed: no real pressure, so a uniform line.
  return e.pointerType === "pen" ? Math.max(1, Math.min(255, Math.round(e.pressure * 255))) : 0;
}

function checkbox(checked: boolean, testid: string, onChange: (v: boolean) => void): HTMLInputElement {
  const c = h("input", { type: "checkbox", "data-testid": testid }) as HTMLInputElement;
  c.checked = checked;
  c.onchange = () => onChange(c.checked);
  return c;
}

function pageNumber(b: BoardReplica | null, page: PageId): number {
  return (b?.pages.findIndex((p) => p.id === page) ?? 0) + 1;
}
