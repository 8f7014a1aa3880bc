// Whole-screen states around the class: connecting, waiting room, ended, broken link.

import type { LocalMedia } from "../media";
import { h, playVideo } from "./dom";
import { icon, type IconName } from "./icons";

export interface MessageScreenOptions {
  icon?: IconName;
  title: string;
  text: string;
  testid: string;
  actions?: Array<{ label: string; primary?: boolean; run: () => void; testid?: string }>;
}

export function messageScreen(o: MessageScreenOptions): HTMLElement {
  return h(
    "main",
    { class: "message-screen", "data-testid": o.testid },
    h(
      "div",
      { class: "message-card" },
      o.icon ? icon(o.icon) : null,
      h("h1", {}, o.title),
      h("p", {}, o.text),
      o.actions?.length
        ? h(
            "div",
            { class: "message-actions" },
            ...o.actions.map((a) =>
              h(
                "button",
                { class: a.primary ? "btn btn-primary" : "btn", type: "button", onclick: a.run, "data-testid": a.testid },
                a.label,
              ),
            ),
          )
        : null,
    ),
  );
}

/** Shown over the class while a teacher decides; keeps the self view so it feels alive. */
export function waitingScreen(local: LocalMedia, onLeave: () => void): HTMLElement {
  const video = h("video", { class: "preview-video mirror", autoplay: true });
  video.muted = true;
  video.playsInline = true;
  video.hidden = !local.isOn("video");
  if (local.video) {
    video.srcObject = local.stream;
    void playVideo(video);
  }
  return h(
    "div",
    { class: "overlay-screen", "data-testid": "waiting-screen" },
    h(
      "div",
      { class: "message-card" },
      h("div", { class: "waiting-preview" }, video),
      icon("hourglass"),
      h("h1", {}, "Waiting for the teacher"),
      h("p", {}, "The teacher will let you in soon. Keep this page open."),
      h("div", { class: "message-actions" }, h("button", { class: "btn", type: "button", onclick: onLeave }, "Leave")),
    ),
  );
}

export function connectingScreen(): HTMLElement {
  return h(
    "div",
    { class: "overlay-screen", "data-testid": "connecting-screen" },
    h("div", { class: "message-card" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("h1", {}, "Joining class…")),
  );
}
