// The people panel (everyone) with the teacher's controls: room settings, the waiting
// list, and per-member moderation; plus the per-tile moderation menu.

import type { MemberId, MemberInfo, RoomSnapshot } from "../generated/protocol";
import { trackOf, visibleMembers } from "../room-state";
import { clear, h, hueOf, initials } from "./dom";
import { icon } from "./icons";

export interface TeacherActions {
  mute: (member: MemberId) => void;
  stopCamera: (member: MemberId) => void;
  remove: (member: MemberId) => void;
  setLocked: (locked: boolean) => void;
  setWaitingRoom: (enabled: boolean) => void;
  admit: (member: MemberId) => void;
  deny: (member: MemberId) => void;
}

export class PeoplePanel {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly settingsEl: HTMLElement;
  private readonly lockInput: HTMLInputElement;
  private readonly waitingRoomInput: HTMLInputElement;
  private readonly waitingEl: HTMLElement;
  private readonly membersEl: HTMLElement;
  private isTeacher = false;

  constructor(
    private readonly actions: TeacherActions,
    onClose: () => void,
  ) {
    this.lockInput = h("input", { type: "checkbox", role: "switch", "data-testid": "toggle-lock" });
    this.waitingRoomInput = h("input", { type: "checkbox", role: "switch", "data-testid": "toggle-waiting-room" });
    // The switch shows the room's state, not the click: it flips back until the server agrees.
    this.lockInput.addEventListener("change", () => {
      const want = this.lockInput.checked;
      this.lockInput.checked = !want;
      actions.setLocked(want);
    });
    this.waitingRoomInput.addEventListener("change", () => {
      const want = this.waitingRoomInput.checked;
      this.waitingRoomInput.checked = !want;
      actions.setWaitingRoom(want);
    });
    this.settingsEl = h(
      "section",
      { class: "panel-section", "aria-label": "Class settings" },
      h("h3", {}, "Class settings"),
      h(
        "label",
        { class: "switch-row" },
        h("span", {}, h("strong", {}, "Lock class"), h("small", {}, "No new students can join")),
        this.lockInput,
      ),
      h(
        "label",
        { class: "switch-row" },
        h("span", {}, h("strong", {}, "Waiting room"), h("small", {}, "Admit students one by one")),
        this.waitingRoomInput,
      ),
    );
    this.waitingEl = h("section", { class: "panel-section waiting-list", "data-testid": "waiting-list" });
    this.membersEl = h("section", { class: "panel-section", "data-testid": "member-list" });
    this.body = h("div", { class: "panel-body" }, this.settingsEl, this.waitingEl, this.membersEl);
    this.el = h(
      "aside",
      { class: "panel", "aria-label": "People", hidden: true, "data-testid": "people-panel" },
      h(
        "header",
        { class: "panel-header" },
        h("h2", {}, "People"),
        h("button", { class: "icon-btn", type: "button", "aria-label": "Close", onclick: onClose }, icon("close")),
      ),
      this.body,
    );
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  setOpen(open: boolean): void {
    this.el.hidden = !open;
  }

  update(room: RoomSnapshot, me: MemberInfo | null): void {
    this.isTeacher = me?.role === "teacher";
    this.settingsEl.hidden = !this.isTeacher;
    this.lockInput.checked = room.settings.locked;
    this.waitingRoomInput.checked = room.settings.waiting_room;

    clear(this.waitingEl);
    this.waitingEl.hidden = !this.isTeacher || room.waiting.length === 0;
    if (this.isTeacher && room.waiting.length) {
      this.waitingEl.append(
        h(
          "div",
          { class: "section-head" },
          h("h3", {}, `Waiting to join (${room.waiting.length})`),
          room.waiting.length > 1
            ? h(
                "button",
                {
                  class: "btn btn-small",
                  type: "button",
                  onclick: () => room.waiting.forEach((w) => this.actions.admit(w.id)),
                },
                "Admit all",
              )
            : null,
        ),
      );
      for (const w of room.waiting) {
        this.waitingEl.append(
          h(
            "div",
            { class: "person", "data-member": w.id, "data-testid": "waiting-row" },
            avatar(w),
            h("span", { class: "person-name" }, w.name),
            h(
              "div",
              { class: "person-actions" },
              h(
                "button",
                { class: "btn btn-small btn-primary", type: "button", "data-testid": "admit", onclick: () => this.actions.admit(w.id) },
                "Admit",
              ),
              h(
                "button",
                { class: "btn btn-small", type: "button", "data-testid": "deny", onclick: () => this.actions.deny(w.id) },
                "Deny",
              ),
            ),
          ),
        );
      }
    }

    clear(this.membersEl);
    const members = visibleMembers(room, me?.id ?? null);
    this.membersEl.append(h("h3", {}, `In class (${members.length})`));
    for (const m of members) {
      const mic = trackOf(room, m.id, "microphone");
      const cam = trackOf(room, m.id, "camera");
      const isMe = m.id === me?.id;
      const row = h(
        "div",
        { class: "person", "data-member": m.id, "data-testid": "member-row" },
        avatar(m),
        h(
          "span",
          { class: "person-name" },
          isMe ? `${m.name} (you)` : m.name,
          m.role === "teacher" ? h("small", { class: "tile-badge" }, "Teacher") : null,
          m.connected ? null : h("small", { class: "muted-text" }, " · reconnecting"),
        ),
        h(
          "span",
          { class: "person-state" },
          icon(mic?.enabled ? "mic" : "micOff", mic?.enabled ? "Microphone on" : "Microphone off"),
          icon(cam?.enabled ? "cam" : "camOff", cam?.enabled ? "Camera on" : "Camera off"),
        ),
      );
      if (this.isTeacher && !isMe) {
        row.append(
          h(
            "button",
            {
              class: "icon-btn",
              type: "button",
              "aria-label": `Actions for ${m.name}`,
              onclick: (e: Event) => {
                e.stopPropagation();
                openMemberMenu(e.currentTarget as HTMLElement, m, room, this.actions);
              },
            },
            icon("more"),
          ),
        );
      }
      this.membersEl.append(row);
    }
  }
}

function avatar(m: MemberInfo): HTMLElement {
  const a = h("span", { class: "avatar avatar-small" }, initials(m.name));
  a.style.setProperty("--hue", String(hueOf(m.id)));
  return a;
}

let openMenu: HTMLElement | null = null;

export function closeMemberMenu(): void {
  openMenu?.remove();
  openMenu = null;
}

/** The moderation menu for one member, anchored to the button that opened it. */
export function openMemberMenu(anchor: HTMLElement, m: MemberInfo, room: RoomSnapshot, actions: TeacherActions): void {
  closeMemberMenu();
  const mic = trackOf(room, m.id, "microphone");
  const cam = trackOf(room, m.id, "camera");
  const item = (label: string, testid: string, enabled: boolean, run: () => void, danger = false) =>
    h(
      "button",
      {
        class: danger ? "menu-item danger" : "menu-item",
        type: "button",
        role: "menuitem",
        disabled: !enabled,
        "data-testid": testid,
        onclick: (e: Event) => {
          e.stopPropagation();
          run();
        },
      },
      label,
    );
  const menu = h("div", { class: "menu", role: "menu", "data-testid": "member-menu", "data-member": m.id });
  const title = h("div", { class: "menu-title" }, m.name);
  const main = () => {
    menu.replaceChildren(
      title,
      item(mic?.enabled ? "Mute microphone" : "Microphone is off", "menu-mute", !!mic?.enabled, () => {
        actions.mute(m.id);
        closeMemberMenu();
      }),
      item(cam?.enabled ? "Stop camera" : "Camera is off", "menu-stop-camera", !!cam?.enabled, () => {
        actions.stopCamera(m.id);
        closeMemberMenu();
      }),
      item("Remove from class…", "menu-remove", true, confirmRemove, true),
    );
  };
  // An in-page confirmation: native confirm() blocks the page and is auto-dismissed in tests.
  const confirmRemove = () => {
    menu.replaceChildren(
      h("div", { class: "menu-title" }, `Remove ${m.name}?`),
      h("p", { class: "menu-note" }, "They won't be able to rejoin with this link."),
      h(
        "div",
        { class: "menu-row" },
        h("button", { class: "btn btn-small", type: "button", onclick: (e: Event) => (e.stopPropagation(), main()) }, "Cancel"),
        h(
          "button",
          {
            class: "btn btn-small btn-danger",
            type: "button",
            "data-testid": "confirm-remove",
            onclick: (e: Event) => {
              e.stopPropagation();
              actions.remove(m.id);
              closeMemberMenu();
            },
          },
          "Remove",
        ),
      ),
    );
  };
  main();
  document.body.append(menu);
  openMenu = menu;
  const r = anchor.getBoundingClientRect();
  const mw = menu.offsetWidth;
  const mh = menu.offsetHeight;
  const left = Math.max(8, Math.min(r.right - mw, innerWidth - mw - 8));
  const below = r.bottom + 4 + mh <= innerHeight - 8;
  menu.style.left = `${left}px`;
  menu.style.top = `${below ? r.bottom + 4 : Math.max(8, r.top - mh - 4)}px`;
  (menu.querySelector("button:not([disabled])") as HTMLElement | null)?.focus();
}

// Any click elsewhere or Escape closes the menu.
document.addEventListener("click", (e) => {
  if (openMenu && !openMenu.contains(e.target as Node)) closeMemberMenu();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") closeMemberMenu();
});

