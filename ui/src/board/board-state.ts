// The client's replica of the whiteboard. It mirrors `Board::apply` in crates/room/src/board.rs:
// events carry explicit effects (which items were erased, restored or moved), so replaying
// them never re-decides anything and every replica ends up identical to the server's board.
// Mutable on purpose: a stroke grows by a few points 20 times a second, and copying the
// board for each would cost more than drawing it.

import type {
  BoardItem,
  BoardSnapshot,
  DrawPolicy,
  ItemId,
  MemberId,
  PageId,
  PageInfo,
  Role,
  RoomEvent,
  Viewport,
} from "../generated/protocol";

export const PAGE_WIDTH = 1920;
export const PAGE_HEIGHT = 1080;

export type Point = [number, number, number];

/** The absolute points of a delta-coded `[x, y, p, …]` list. */
export function decodePoints(points: readonly number[]): Point[] {
  const out: Point[] = [];
  let x = 0;
  let y = 0;
  let p = 0;
  for (let i = 0; i + 2 < points.length; i += 3) {
    if (i === 0) {
      x = points[0]!;
      y = points[1]!;
      p = points[2]!;
    } else {
      x += points[i]!;
      y += points[i + 1]!;
      p += points[i + 2]!;
    }
    out.push([x, y, p]);
  }
  return out;
}

/** Delta-codes absolute points that continue after `from` (or start a list when null). */
export function encodePoints(points: readonly Point[], from: Point | null): number[] {
  const out: number[] = [];
  let prev = from;
  for (const pt of points) {
    if (prev) out.push(pt[0] - prev[0], pt[1] - prev[1], pt[2] - prev[2]);
    else out.push(pt[0], pt[1], pt[2]);
    prev = pt;
  }
  return out;
}

export class BoardReplica {
  pages: PageInfo[] = [];
  readonly items = new Map<ItemId, BoardItem>();
  /** Per page, item ids sorted by z (stacking order). */
  private readonly stacks = new Map<PageId, ItemId[]>();
  current: PageId = "p1";
  viewport: Viewport = { x: 0, y: 0, zoom: 100 };
  follow = false;
  draw: DrawPolicy = "teachers_only";
  allowed: MemberId[] = [];
  /** Bumped on every change, so a renderer knows when to draw again. */
  version = 0;
  /** Bumped when items were removed, moved or re-added: cached drawings are stale. */
  layoutVersion = 0;

  static fromSnapshot(s: BoardSnapshot): BoardReplica {
    const b = new BoardReplica();
    b.pages = s.pages.map((p) => ({ ...p.info }));
    for (const p of s.pages) {
      b.stacks.set(p.info.id, []);
      for (const it of p.items) b.insert(cloneItem(it));
    }
    b.current = s.current;
    b.viewport = { ...s.viewport };
    b.follow = s.follow;
    b.draw = s.draw;
    b.allowed = [...s.allowed];
    return b;
  }

  /** The board in the server's snapshot form: equal replicas serialise equally. */
  toSnapshot(): BoardSnapshot {
    return {
      pages: this.pages.map((info) => ({
        info: { ...info },
        items: this.pageItems(info.id).map(cloneItem),
      })),
      current: this.current,
      viewport: { ...this.viewport },
      follow: this.follow,
      draw: this.draw,
      allowed: [...this.allowed].sort(),
    };
  }

  pageItems(page: PageId): BoardItem[] {
    const ids = this.stacks.get(page) ?? [];
    const out: BoardItem[] = [];
    for (const id of ids) {
      const it = this.items.get(id);
      if (it) out.push(it);
    }
    return out;
  }

  hasPage(page: PageId): boolean {
    return this.stacks.has(page);
  }

  mayDraw(member: MemberId, role: Role): boolean {
    if (role === "teacher") return true;
    if (role === "observer") return false;
    if (this.draw === "everyone") return true;
    return this.draw === "chosen" && this.allowed.includes(member);
  }

  /** Applies one event the server sequenced. Non-board events are ignored. */
  apply(seq: number, e: RoomEvent): void {
    switch (e.kind) {
      case "page_added": {
        const at = Math.min(e.index, this.pages.length);
        if (!this.stacks.has(e.page.id)) this.stacks.set(e.page.id, []);
        this.pages.splice(at, 0, { ...e.page });
        break;
      }
      case "page_moved": {
        const from = this.pages.findIndex((p) => p.id === e.page);
        if (from >= 0) {
          const [info] = this.pages.splice(from, 1);
          this.pages.splice(Math.min(e.index, this.pages.length), 0, info!);
        }
        break;
      }
      case "page_background_set": {
        const p = this.pages.find((x) => x.id === e.page);
        if (p) {
          if (e.background) p.background = { ...e.background };
          else delete p.background;
        }
        this.layoutVersion++;
        break;
      }
      case "page_shown":
        this.current = e.page;
        break;
      case "viewport_changed":
        this.viewport = { ...e.viewport };
        break;
      case "follow_changed":
        this.follow = e.follow;
        break;
      case "draw_policy_changed":
        this.draw = e.draw;
        this.allowed = [...e.allowed];
        break;
      case "stroke_started":
      case "item_placed":
        this.insert({ ...cloneItem(e.item), z: seq });
        break;
      case "stroke_points": {
        const it = this.items.get(e.item);
        if (it?.open) it.points.push(...e.points);
        break;
      }
      case "stroke_ended": {
        const it = this.items.get(e.item);
        if (it) delete it.open;
        break;
      }
      case "items_erased":
        for (const id of e.items) this.remove(id);
        this.layoutVersion++;
        break;
      case "items_restored":
        for (const it of e.items) {
          const copy = cloneItem(it);
          delete copy.open;
          this.insert(copy);
        }
        this.layoutVersion++;
        break;
      case "items_moved":
        for (const id of e.items) {
          const it = this.items.get(id);
          if (it && it.points.length >= 2) {
            it.points[0]! += e.dx;
            it.points[1]! += e.dy;
          }
        }
        this.layoutVersion++;
        break;
      case "member_left":
        for (const it of this.items.values()) {
          if (it.open && it.author === e.member) delete it.open;
        }
        break;
      default:
        return;
    }
    this.version++;
  }

  private insert(item: BoardItem): void {
    const stack = this.stacks.get(item.page);
    if (!stack) return;
    this.items.set(item.id, item);
    // Items usually arrive in z order; a restore goes back to where it was.
    let i = stack.length;
    while (i > 0 && (this.items.get(stack[i - 1]!)?.z ?? 0) > item.z) i--;
    if (stack[i] !== item.id) stack.splice(i, 0, item.id);
  }

  private remove(id: ItemId): void {
    const it = this.items.get(id);
    if (!it) return;
    this.items.delete(id);
    const stack = this.stacks.get(it.page);
    if (stack) {
      const i = stack.indexOf(id);
      if (i >= 0) stack.splice(i, 1);
    }
  }
}

export function cloneItem(it: BoardItem): BoardItem {
  const c: BoardItem = { ...it, points: [...it.points] };
  if (it.text == null) delete c.text;
  if (!it.open) delete c.open;
  return c;
}
