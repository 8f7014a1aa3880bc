// The class talking back: chat (to everyone, or privately between a student and the
// teachers), the raised-hands queue, and reactions. Drawn from the room replica only.

import type { ChatMessage, MemberId, MemberInfo, Reaction, RoomCommand, RoomSnapshot } from "../generated/protocol";
import { h, setText } from "./dom";

export const REACTIONS: Array<[Reaction, string, string]> = [
  ["thumbs_up", "👍", "Thumbs up"],
  ["clap", "👏", "Clap"],
  ["heart", "❤️", "Heart"],
  ["laugh", "😂", "Laugh"],
  ["surprised", "😮", "Surprised"],
  ["confused", "😕", "Confused"],
];

export class TalkPanel {
  readonly el: HTMLElement;
  private readonly hands: HTMLElement;
  private readonly list: HTMLElement;
  private readonly to: HTMLSelectElement;
  private readonly input: HTMLTextAreaElement;
  private readonly chatToggle: HTMLElement;
  private readonly handBtn: HTMLButtonElement;
  private readonly notice: HTMLElement;
  private readonly tracking: HTMLElement;
  private key = "";

  constructor(private readonly run: (cmd: RoomCommand) => void) {
    this.hands = h("div", { class: "talk-hands", "data-testid": "hand-queue" });
    this.list = h("ol", { class: "talk-list", "data-testid": "chat-list", "aria-live": "polite" });
    this.to = h("select", { "data-testid": "chat-to", "aria-label": "Send to" }) as HTMLSelectElement;
    this.input = h("textarea", { class: "talk-input", rows: "2", maxlength: "2000", placeholder: "Message", "data-testid": "chat-input", "aria-label": "Message" }) as HTMLTextAreaElement;
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        this.sendMessage();
      }
    });
    this.chatToggle = h("span");
    this.notice = h("p", { class: "talk-notice", "data-testid": "chat-off", hidden: true }, "The teacher has turned chat off.");
    this.tracking = h(
      "p",
      { class: "talk-notice", "data-testid": "tracking-notice", hidden: true },
      "Your teacher sees your attendance, including whether this tab is in view, and an engagement score.",
    );
    this.handBtn = h("button", { type: "button", class: "btn", "data-testid": "raise-hand" }, "Raise hand") as HTMLButtonElement;
    this.el = h(
      "aside",
      { class: "talk", "data-testid": "talk", "aria-label": "Chat and hands" },
      h("div", { class: "talk-bar" }, this.handBtn, ...REACTIONS.map(([r, emoji, label]) =>
        h("button", { type: "button", class: "talk-react", title: label, "aria-label": label, "data-testid": `react-${r}`, onclick: () => this.run({ kind: "react", reaction: r }) }, emoji),
      )),
      this.tracking,
      this.hands,
      h("h2", { class: "talk-title" }, "Chat", this.chatToggle),
      this.list,
      this.notice,
      h("form", { class: "talk-form", onsubmit: (e: Event) => { e.preventDefault(); this.sendMessage(); } }, this.to, this.input, h("button", { type: "submit", class: "btn btn-primary", "data-testid": "chat-send" }, "Send")),
    );
  }

  private sendMessage(): void {
    const text = this.input.value.trim();
    if (!text) return;
    const v = this.to.value;
    this.run({ kind: "send_chat", text, private_with: v === "" ? null : v });
    this.input.value = "";
  }

  update(room: RoomSnapshot, me: MemberInfo | null): void {
    const key = JSON.stringify([room.chat.length, room.chat.filter((m) => m.deleted).length, room.hands, room.settings.chat_enabled, room.members.map((m) => [m.id, m.name, m.role]), me?.id]);
    if (key === this.key) return;
    this.key = key;
    const teacher = me?.role === "teacher";
    const names = new Map(room.members.map((m) => [m.id, m.name] as const));
    const name = (id: MemberId) => names.get(id) ?? "Someone who left";
    const staff = new Set(room.members.filter((m) => m.role === "teacher").map((m) => m.id));
    const raised = !!me && room.hands.includes(me.id);
    setText(this.handBtn, raised ? "Lower hand" : "Raise hand");
    this.handBtn.setAttribute("aria-pressed", String(raised));
    this.handBtn.onclick = () => me && this.run(raised ? { kind: "lower_hand", member: me.id } : { kind: "raise_hand" });

    const queue = room.hands.map((id, i) =>
      h("li", { "data-testid": `hand-${id}` }, `${i + 1}. ${name(id)}`,
        teacher ? h("button", { type: "button", class: "btn btn-small", "data-testid": `lower-${id}`, onclick: () => this.run({ kind: "lower_hand", member: id }) }, "Lower") : null),
    );
    this.hands.replaceChildren(
      ...(room.hands.length
        ? [h("h2", { class: "talk-title" }, `Hands (${room.hands.length})`,
            teacher ? h("button", { type: "button", class: "btn btn-small", "data-testid": "lower-all", onclick: () => this.run({ kind: "lower_all_hands" }) }, "Lower all") : null),
          h("ol", {}, ...queue)]
        : []),
    );

    this.chatToggle.replaceChildren(
      teacher
        ? h("button", { type: "button", class: "btn btn-small", "data-testid": "chat-toggle", onclick: () => this.run({ kind: "set_chat_enabled", enabled: !room.settings.chat_enabled }) },
            room.settings.chat_enabled ? "Turn chat off" : "Turn chat on")
        : "",
    );
    this.tracking.hidden = teacher || !me;
    this.tracking.textContent = room.settings.tab_tracking
      ? "Your teacher sees your attendance, including whether this tab is in view, and an engagement score."
      : "Your teacher sees your attendance and an engagement score. Whether this tab is in view is not recorded.";
    const off = !teacher && !room.settings.chat_enabled;
    this.notice.hidden = !off;
    this.input.disabled = off;

    const prev = this.to.value;
    const options = teacher
      ? [["", "Everyone"], ...room.members.filter((m) => m.role === "student").map((m) => [m.id, `${m.name} (private)`])]
      : [["", "Everyone"], [me?.id ?? "", "Teacher (private)"]];
    this.to.replaceChildren(...options.map(([v, label]) => h("option", { value: v! }, label!)));
    if (options.some(([v]) => v === prev)) this.to.value = prev;

    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.replaceChildren(...room.chat.map((m) => this.messageEl(m, name, teacher, me?.id, staff.has(m.from))));
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }

  private messageEl(m: ChatMessage, name: (id: MemberId) => string, teacher: boolean, me: MemberId | undefined, fromStaff: boolean): HTMLElement {
    const priv = m.private_with != null;
    const who = priv ? (teacher ? `${name(m.from)} → private with ${name(m.private_with!)}` : m.from === me ? "You → teacher (private)" : `${name(m.from)} (private)`) : name(m.from);
    return h(
      "li",
      { class: `talk-msg${priv ? " private" : ""}${m.deleted ? " deleted" : ""}`, "data-testid": "chat-message", "data-seq": String(m.id) },
      // The role comes from the server's member list, never from the name: a student
      // cannot be shown as the teacher however it is called.
      h("span", { class: "talk-who" }, who, fromStaff ? h("span", { class: "role-tag", "data-testid": "chat-teacher-badge" }, "Teacher") : null),
      h("span", { class: "talk-text" }, m.deleted ? "Message removed by the teacher" : m.text),
      teacher && !m.deleted
        ? h("button", { type: "button", class: "btn btn-small", "aria-label": "Delete message", "data-testid": `chat-delete-${m.id}`, onclick: () => this.run({ kind: "delete_chat", message: m.id }) }, "Delete")
        : null,
    );
  }
}

/** A reaction floating up over the class for a couple of seconds. */
export function showReaction(host: HTMLElement, reaction: Reaction, who: string): void {
  const emoji = REACTIONS.find(([r]) => r === reaction)?.[1] ?? "•";
  const el = h("div", { class: "reaction-float", "data-testid": "reaction" }, emoji, h("small", {}, who));
  el.style.left = `${10 + Math.random() * 70}%`;
  host.append(el);
  setTimeout(() => el.remove(), 2500);
}
