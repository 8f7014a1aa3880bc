// The control bar at the bottom of the class screen.

import { h, setText, toggleClass } from "./dom";
import { icon, type IconName } from "./icons";

export interface ControlsCallbacks {
  onMic: () => void;
  onCam: () => void;
  onPeople: () => void;
  onSettings: () => void;
  onLeave: () => void;
}

export interface ControlsState {
  micOn: boolean;
  micAvailable: boolean;
  camOn: boolean;
  camAvailable: boolean;
  peopleCount: number;
  /** Students waiting to be admitted; only teachers see a badge. */
  waitingCount: number;
  panelOpen: boolean;
}

export class Controls {
  readonly el: HTMLElement;
  private readonly mic: HTMLButtonElement;
  private readonly cam: HTMLButtonElement;
  private readonly people: HTMLButtonElement;
  private readonly peopleCount: HTMLElement;
  private readonly waitingBadge: HTMLElement;

  constructor(cb: ControlsCallbacks) {
    this.mic = btn("mic", "Microphone", cb.onMic, "ctl-mic");
    this.cam = btn("cam", "Camera", cb.onCam, "ctl-cam");
    this.peopleCount = h("span", { class: "ctl-count" });
    this.waitingBadge = h("span", { class: "badge", hidden: true, "data-testid": "waiting-badge" });
    this.people = btn("people", "People", cb.onPeople, "ctl-people");
    this.people.append(this.peopleCount, this.waitingBadge);
    const settings = btn("tune", "Devices", cb.onSettings, "ctl-settings");
    const leave = btn("leave", "Leave", cb.onLeave, "ctl-leave");
    leave.classList.add("ctl-leave");
    this.el = h(
      "nav",
      { class: "controls", "aria-label": "Call controls" },
      h("div", { class: "controls-group" }, this.mic, this.cam, settings),
      h("div", { class: "controls-group" }, this.people, leave),
    );
  }

  update(s: ControlsState): void {
    this.toggle(this.mic, s.micOn, s.micAvailable, "mic", "micOff", "microphone", "Mute", "Unmute");
    this.toggle(this.cam, s.camOn, s.camAvailable, "cam", "camOff", "camera", "Stop video", "Start video");
    setText(this.peopleCount, String(s.peopleCount));
    this.waitingBadge.hidden = s.waitingCount === 0;
    setText(this.waitingBadge, String(s.waitingCount));
    this.people.setAttribute("aria-expanded", String(s.panelOpen));
    this.people.setAttribute(
      "aria-label",
      s.waitingCount ? `People (${s.peopleCount}), ${s.waitingCount} waiting` : `People (${s.peopleCount})`,
    );
  }

  private toggle(
    b: HTMLButtonElement,
    on: boolean,
    available: boolean,
    onIcon: IconName,
    offIcon: IconName,
    noun: string,
    turnOff: string,
    turnOn: string,
  ): void {
    const state = `${on}:${available}`;
    if (b.dataset.state === state) return;
    b.dataset.state = state;
    b.querySelector(".icon")?.replaceWith(icon(on ? onIcon : offIcon));
    toggleClass(b, "off", !on);
    b.disabled = !available;
    b.setAttribute("aria-pressed", String(!on));
    const label = !available ? `No ${noun}` : on ? turnOff : turnOn;
    b.setAttribute("aria-label", label);
    b.title = label;
    const text = b.querySelector(".ctl-label");
    if (text) setText(text, label);
  }
}

function btn(name: IconName, label: string, onclick: () => void, testid: string): HTMLButtonElement {
  return h(
    "button",
    { class: "ctl", type: "button", "aria-label": label, title: label, "data-testid": testid, onclick },
    icon(name),
    h("span", { class: "ctl-label" }, label),
  );
}
