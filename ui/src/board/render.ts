// Drawing board items on a 2D canvas. Every item is drawn by a pure function of its data,
// in stacking order, so equal boards give equal pixels on every screen (and in exports).

import type { BoardItem } from "../generated/protocol";
import { PAGE_HEIGHT, PAGE_WIDTH, decodePoints, type Point } from "./board-state";

export type Ctx = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

export const TEXT_FONT = "DejaVu Sans, Arial, sans-serif";

export function cssColor(rgb: number): string {
  return `#${(rgb & 0xffffff).toString(16).padStart(6, "0")}`;
}

/** The width of a pen segment ending at a point of pressure `p` (0: no pressure reported). */
export function pressureWidth(width: number, p: number): number {
  return p > 0 ? width * (0.25 + (0.75 * p) / 255) : width;
}

export function drawItem(ctx: Ctx, item: BoardItem): void {
  const pts = decodePoints(item.points);
  if (pts.length === 0) return;
  ctx.save();
  ctx.strokeStyle = cssColor(item.color);
  ctx.fillStyle = cssColor(item.color);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = item.width;
  switch (item.tool) {
    case "pen":
      drawPen(ctx, pts, item.width);
      break;
    case "highlighter":
      ctx.globalAlpha = 0.35;
      ctx.lineCap = "square";
      smoothPath(ctx, pts);
      ctx.stroke();
      break;
    case "line":
    case "arrow": {
      const [a, b] = ends(pts);
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
      if (item.tool === "arrow") drawArrowHead(ctx, a, b, item.width);
      break;
    }
    case "rect": {
      const [a, b] = ends(pts);
      ctx.strokeRect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
      break;
    }
    case "ellipse": {
      const [a, b] = ends(pts);
      ctx.beginPath();
      ctx.ellipse((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, Math.abs(b[0] - a[0]) / 2, Math.abs(b[1] - a[1]) / 2, 0, 0, Math.PI * 2);
      ctx.stroke();
      break;
    }
    case "text": {
      const [x, y] = pts[0]!;
      ctx.font = `${item.width}px ${TEXT_FONT}`;
      ctx.textBaseline = "top";
      const lines = (item.text ?? "").split("\n");
      lines.forEach((line, i) => ctx.fillText(line, x, y + i * item.width * 1.25));
      break;
    }
  }
  ctx.restore();
}

function ends(pts: Point[]): [Point, Point] {
  return [pts[0]!, pts[pts.length - 1]!];
}

/** Quadratic curves through the midpoints: the stroke reads smooth at any sampling rate. */
function smoothPath(ctx: Ctx, pts: Point[]): void {
  ctx.beginPath();
  const first = pts[0]!;
  ctx.moveTo(first[0], first[1]);
  if (pts.length === 1) {
    ctx.lineTo(first[0] + 0.01, first[1]);
    return;
  }
  for (let i = 1; i < pts.length - 1; i++) {
    const p = pts[i]!;
    const n = pts[i + 1]!;
    ctx.quadraticCurveTo(p[0], p[1], (p[0] + n[0]) / 2, (p[1] + n[1]) / 2);
  }
  const last = pts[pts.length - 1]!;
  ctx.lineTo(last[0], last[1]);
}

/** A pen with pressure is drawn piece by piece, each piece as wide as its pressure. */
function drawPen(ctx: Ctx, pts: Point[], width: number): void {
  if (pts.every((p) => p[2] === 0)) {
    smoothPath(ctx, pts);
    ctx.stroke();
    return;
  }
  if (pts.length === 1) {
    const p = pts[0]!;
    ctx.beginPath();
    ctx.arc(p[0], p[1], pressureWidth(width, p[2]) / 2, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  let from: [number, number] = [pts[0]![0], pts[0]![1]];
  for (let i = 1; i < pts.length; i++) {
    const p = pts[i]!;
    const n = pts[i + 1];
    const to: [number, number] = n ? [(p[0] + n[0]) / 2, (p[1] + n[1]) / 2] : [p[0], p[1]];
    ctx.beginPath();
    ctx.lineWidth = pressureWidth(width, p[2]);
    ctx.moveTo(from[0], from[1]);
    if (n) ctx.quadraticCurveTo(p[0], p[1], to[0], to[1]);
    else ctx.lineTo(to[0], to[1]);
    ctx.stroke();
    from = to;
  }
}

function drawArrowHead(ctx: Ctx, a: Point, b: Point, width: number): void {
  const angle = Math.atan2(b[1] - a[1], b[0] - a[0]);
  const len = Math.max(12, width * 4);
  ctx.beginPath();
  ctx.moveTo(b[0], b[1]);
  ctx.lineTo(b[0] - len * Math.cos(angle - Math.PI / 7), b[1] - len * Math.sin(angle - Math.PI / 7));
  ctx.lineTo(b[0] - len * Math.cos(angle + Math.PI / 7), b[1] - len * Math.sin(angle + Math.PI / 7));
  ctx.closePath();
  ctx.fill();
}

/** A page as exported and as hashed by tests: white, full size, background, then items. */
export function drawPage(ctx: Ctx, items: readonly BoardItem[], background: CanvasImageSource | null): void {
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, PAGE_WIDTH, PAGE_HEIGHT);
  if (background) ctx.drawImage(background, 0, 0, PAGE_WIDTH, PAGE_HEIGHT);
  for (const it of items) drawItem(ctx, it);
  ctx.restore();
}

/** The axis-aligned box around an item, in page units, for selection and hit tests. */
export function itemBounds(item: BoardItem): { x0: number; y0: number; x1: number; y1: number } {
  const pts = decodePoints(item.points);
  if (item.tool === "text" && pts[0]) {
    const lines = (item.text ?? "").split("\n");
    const longest = Math.max(0, ...lines.map((l) => [...l].length));
    const [x, y] = pts[0];
    return { x0: x, y0: y, x1: x + longest * item.width * 0.6, y1: y + lines.length * item.width * 1.25 };
  }
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y] of pts) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  const pad = item.width / 2;
  return { x0: x0 - pad, y0: y0 - pad, x1: x1 + pad, y1: y1 + pad };
}

/** Distance from a point to an item's drawn outline, for the stroke eraser. */
export function distanceTo(item: BoardItem, x: number, y: number): number {
  const pts = decodePoints(item.points);
  const segs: Array<[number, number, number, number]> = [];
  if (item.tool === "text" || item.tool === "rect") {
    const b = itemBounds(item);
    if (item.tool === "text" && x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1) return 0;
    segs.push([b.x0, b.y0, b.x1, b.y0], [b.x1, b.y0, b.x1, b.y1], [b.x1, b.y1, b.x0, b.y1], [b.x0, b.y1, b.x0, b.y0]);
  } else if (item.tool === "ellipse" && pts.length >= 2) {
    const [a, b] = ends(pts);
    const cx = (a[0] + b[0]) / 2;
    const cy = (a[1] + b[1]) / 2;
    const rx = Math.abs(b[0] - a[0]) / 2;
    const ry = Math.abs(b[1] - a[1]) / 2;
    let prev: [number, number] = [cx + rx, cy];
    for (let k = 1; k <= 32; k++) {
      const t = (k / 32) * Math.PI * 2;
      const next: [number, number] = [cx + rx * Math.cos(t), cy + ry * Math.sin(t)];
      segs.push([prev[0], prev[1], next[0], next[1]]);
      prev = next;
    }
  } else if (pts.length === 1) {
    segs.push([pts[0]![0], pts[0]![1], pts[0]![0], pts[0]![1]]);
  } else {
    for (let i = 1; i < pts.length; i++) segs.push([pts[i - 1]![0], pts[i - 1]![1], pts[i]![0], pts[i]![1]]);
  }
  let best = Infinity;
  for (const [ax, ay, bx, by] of segs) {
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2));
    best = Math.min(best, Math.hypot(x - (ax + t * dx), y - (ay + t * dy)));
  }
  return Math.max(0, best - item.width / 2);
}
