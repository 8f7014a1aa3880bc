// Short-lived notices (server errors, "the teacher muted you"). One live region, so screen
// readers announce each once; identical texts in a row are merged rather than stacked.

import { h } from "./dom";

export type ToastKind = "info" | "error";

const SHOW_MS = 5_000;
const MAX_VISIBLE = 3;

let region: HTMLElement | null = null;

function container(): HTMLElement {
  if (!region || !region.isConnected) {
    region = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.appendChild(region);
  }
  return region;
}

export function toast(text: string, kind: ToastKind = "info"): void {
  const box = container();
  const last = box.lastElementChild as HTMLElement | null;
  if (last && last.dataset.text === text) {
    // Bump the existing one instead of stacking duplicates.
    last.dataset.count = String(Number(last.dataset.count ?? "1") + 1);
    restartTimer(last);
    return;
  }
  const el = h(
    "div",
    { class: `toast toast-${kind}`, "data-text": text, "data-count": "1" },
    h("span", { class: "toast-text" }, text),
    h("button", { class: "toast-close", type: "button", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"),
  );
  box.appendChild(el);
  while (box.children.length > MAX_VISIBLE) box.firstElementChild?.remove();
  restartTimer(el);
}

const timers = new WeakMap<HTMLElement, ReturnType<typeof setTimeout>>();

function restartTimer(el: HTMLElement): void {
  const t = timers.get(el);
  if (t) clearTimeout(t);
  timers.set(
    el,
    setTimeout(() => el.remove(), SHOW_MS),
  );
}
