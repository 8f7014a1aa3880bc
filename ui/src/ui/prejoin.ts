// The pre-join screen: see and hear yourself, pick devices, enter a name, join.

import type { LevelMeter, LocalMedia } from "../media";
import { DevicePickers } from "./devices";
import { h, initials, playVideo, setText, toggleClass } from "./dom";
import { icon } from "./icons";

export interface PrejoinOptions {
  local: LocalMedia;
  meter: LevelMeter;
  /** Students joining by invite type a name; a teacher's name is in the token. */
  askName: boolean;
  initialName: string;
  heading: string;
  /** Does the join; rejects with a user-facing message to show under the button. */
  onJoin: (name: string) => Promise<void>;
}

const NAME_MAX = 64;

export class PrejoinView {
  readonly el: HTMLElement;
  private readonly video: HTMLVideoElement;
  private readonly avatar: HTMLElement;
  private readonly micBtn: HTMLButtonElement;
  private readonly camBtn: HTMLButtonElement;
  private readonly levelBar: HTMLElement;
  private readonly nameInput: HTMLInputElement | null;
  private readonly joinBtn: HTMLButtonElement;
  private readonly errorEl: HTMLElement;
  private readonly pickers: DevicePickers;
  private readonly off: Array<() => void> = [];
  private levelTimer: ReturnType<typeof setInterval>;
  private busy = false;

  constructor(private readonly o: PrejoinOptions) {
    this.video = h("video", { class: "preview-video", autoplay: true, "data-testid": "preview" });
    this.video.muted = true;
    this.video.playsInline = true;
    this.avatar = h("div", { class: "avatar avatar-large" }, initials(o.initialName || "You"));
    this.micBtn = h("button", { class: "round-btn", type: "button", "data-testid": "prejoin-mic" });
    this.camBtn = h("button", { class: "round-btn", type: "button", "data-testid": "prejoin-cam" });
    this.micBtn.addEventListener("click", () => o.local.setEnabled("audio", !o.local.micOn));
    this.camBtn.addEventListener("click", () => o.local.setEnabled("video", !o.local.camOn));
    this.levelBar = h("div", { class: "level-fill" });

    this.pickers = new DevicePickers(o.local);
    this.nameInput = o.askName
      ? h("input", {
          id: "display-name",
          type: "text",
          autocomplete: "name",
          maxlength: NAME_MAX,
          required: true,
          placeholder: "Your name",
          value: o.initialName,
          "data-testid": "name",
        })
      : null;
    this.joinBtn = h("button", { class: "btn btn-primary btn-join", type: "submit", "data-testid": "join" }, "Join class");
    this.errorEl = h("div", { class: "form-error", role: "alert", "data-testid": "join-error", hidden: true });

    const form = h(
      "form",
      { class: "prejoin-form", novalidate: true },
      h("h1", {}, o.heading),
      this.nameInput &&
        h("div", { class: "field" }, h("label", { for: "display-name" }, "Your name"), this.nameInput),
      this.pickers.el,
      this.joinBtn,
      this.errorEl,
      h(
        "p",
        { class: "prejoin-check" },
        "Video or sound not working? ",
        h("a", { href: "/check", "data-testid": "check-link" }, "Test your connection"),
      ),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.submit();
    });
    this.nameInput?.addEventListener("input", () => {
      setText(this.avatar, initials(this.nameInput?.value || "You"));
      this.showError(null);
    });

    this.el = h(
      "main",
      { class: "prejoin", "data-testid": "prejoin" },
      h(
        "section",
        { class: "preview" },
        h("div", { class: "preview-frame" }, this.video, this.avatar, h("div", { class: "level" }, this.levelBar)),
        h("div", { class: "preview-controls" }, this.micBtn, this.camBtn),
      ),
      form,
    );

    this.off.push(o.local.on("track", () => this.render()));
    this.off.push(o.local.on("enabled", () => this.render()));
    this.render();
    this.levelTimer = setInterval(() => {
      this.levelBar.style.transform = `scaleX(${Math.min(1, o.meter.level() * 5).toFixed(3)})`;
    }, 100);
  }

  /** Joins with `name` (or the typed one); used by the Join button and by tests. */
  async submit(name?: string): Promise<void> {
    if (this.busy) return;
    if (name !== undefined && this.nameInput) {
      this.nameInput.value = name;
      setText(this.avatar, initials(name || "You"));
    }
    const typed = (this.nameInput?.value ?? this.o.initialName).trim().slice(0, NAME_MAX);
    if (this.nameInput && !typed) {
      this.showError("Please enter your name so others know who you are.");
      this.nameInput.focus();
      throw new Error("a name is required");
    }
    this.busy = true;
    this.joinBtn.disabled = true;
    setText(this.joinBtn, "Joining…");
    this.showError(null);
    try {
      await this.o.onJoin(typed);
    } catch (err) {
      this.showError(err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      this.busy = false;
      this.joinBtn.disabled = false;
      setText(this.joinBtn, "Join class");
    }
  }

  focus(): void {
    (this.nameInput ?? this.joinBtn).focus();
  }

  private showError(text: string | null): void {
    this.errorEl.hidden = !text;
    setText(this.errorEl, text ?? "");
  }

  private render(): void {
    const { local } = this.o;
    const camVisible = local.isOn("video");
    toggleClass(this.video, "hidden", !camVisible);
    this.avatar.hidden = camVisible;
    // Attached only with a camera track: an element waiting for frames that never come
    // would hold up the page's load event.
    const want = local.video ? local.stream : null;
    if (this.video.srcObject !== want) this.video.srcObject = want;
    if (camVisible) void playVideo(this.video);
    this.button(this.micBtn, local.isOn("audio"), !!local.audio, "mic", "micOff", "microphone");
    this.button(this.camBtn, camVisible, !!local.video, "cam", "camOff", "camera");
    this.o.meter.setTrack(local.audio);
  }

  private button(
    btn: HTMLButtonElement,
    on: boolean,
    available: boolean,
    onIcon: "mic" | "cam",
    offIcon: "micOff" | "camOff",
    noun: string,
  ): void {
    btn.replaceChildren(icon(on ? onIcon : offIcon));
    btn.disabled = !available;
    toggleClass(btn, "off", !on);
    btn.setAttribute("aria-pressed", String(on));
    btn.setAttribute("aria-label", !available ? `No ${noun}` : on ? `Turn ${noun} off` : `Turn ${noun} on`);
    btn.title = btn.getAttribute("aria-label") ?? "";
  }

  destroy(): void {
    clearInterval(this.levelTimer);
    this.pickers.destroy();
    for (const f of this.off.splice(0)) f();
    this.video.srcObject = null;
    this.el.remove();
  }
}
