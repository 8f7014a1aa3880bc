// Device pickers and device-problem messages, shared by the pre-join screen and the
// in-class settings sheet. They act on LocalMedia; peers follow through its events.

import type { DeviceProblem, LocalMedia, MediaKind } from "../media";
import { clear, h } from "./dom";

const NOUN: Record<MediaKind, string> = { audio: "microphone", video: "camera" };

export function problemText(kind: MediaKind, problem: DeviceProblem): string {
  const noun = NOUN[kind];
  const fallback = kind === "audio" ? "You can still join and listen." : "You can still join; others will see your initials.";
  switch (problem) {
    case "denied":
      return `${cap(noun)} access is blocked. Allow it in your browser's site settings, then press Try again. ${fallback}`;
    case "missing":
      return `No ${noun} found. ${fallback}`;
    case "in_use":
      return `Your ${noun} is in use by another app. Close that app, then press Try again.`;
    case "insecure":
      return `Your browser only allows the ${noun} on a secure page: ask for the link that starts with https://. ${fallback}`;
    case "failed":
      return `The ${noun} could not be started. ${fallback}`;
  }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export class DevicePickers {
  readonly el: HTMLElement;
  private readonly selects: Record<MediaKind, HTMLSelectElement>;
  private readonly notes: Record<MediaKind, HTMLElement>;
  private readonly off: Array<() => void> = [];

  constructor(private readonly local: LocalMedia) {
    this.selects = {
      audio: h("select", { id: "pick-audio", "data-testid": "pick-audio" }),
      video: h("select", { id: "pick-video", "data-testid": "pick-video" }),
    };
    this.notes = {
      audio: h("div", { class: "device-note", role: "alert", "data-testid": "problem-audio" }),
      video: h("div", { class: "device-note", role: "alert", "data-testid": "problem-video" }),
    };
    const field = (kind: MediaKind) =>
      h(
        "div",
        { class: "field" },
        h("label", { for: `pick-${kind}` }, kind === "audio" ? "Microphone" : "Camera"),
        this.selects[kind],
        this.notes[kind],
      );
    this.el = h("div", { class: "device-pickers" }, field("audio"), field("video"));

    for (const kind of ["audio", "video"] as const) {
      this.selects[kind].addEventListener("change", () => {
        const id = this.selects[kind].value;
        if (id) void this.local.switchDevice(kind, id).catch(() => this.render());
      });
    }
    this.off.push(this.local.on("problem", () => this.render()));
    this.off.push(this.local.on("track", () => void this.refresh()));
    const onChange = () => void this.refresh();
    navigator.mediaDevices?.addEventListener?.("devicechange", onChange);
    this.off.push(() => navigator.mediaDevices?.removeEventListener?.("devicechange", onChange));
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const lists = await this.local.devices().catch(() => ({ audio: [], video: [] }));
    for (const kind of ["audio", "video"] as const) {
      const sel = this.selects[kind];
      const current = this.local.deviceIds[kind];
      clear(sel);
      const list = lists[kind];
      if (list.length === 0) {
        sel.appendChild(h("option", { value: "" }, `No ${NOUN[kind]}`));
        sel.disabled = true;
      } else {
        sel.disabled = false;
        list.forEach((d, i) => {
          // Labels stay empty until permission is granted.
          const label = d.label || `${cap(NOUN[kind])} ${i + 1}`;
          sel.appendChild(h("option", { value: d.deviceId, selected: d.deviceId === current }, label));
        });
      }
    }
    this.render();
  }

  private render(): void {
    for (const kind of ["audio", "video"] as const) {
      const p = this.local.problems[kind];
      const note = this.notes[kind];
      clear(note);
      note.hidden = !p;
      if (!p) continue;
      note.dataset.problem = p;
      note.appendChild(h("span", {}, problemText(kind, p)));
      if (p === "insecure") {
        note.appendChild(h("a", { href: "/check", class: "device-check" }, "Check this device and network"));
      } else {
        note.appendChild(
          h(
            "button",
            {
              class: "btn btn-small",
              type: "button",
              onclick: () => void this.local.acquireKind(kind).then(() => this.refresh()),
            },
            "Try again",
          ),
        );
      }
    }
  }

  destroy(): void {
    for (const f of this.off.splice(0)) f();
  }
}

