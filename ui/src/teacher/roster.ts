// The class's roster (who is expected, each with a personal link and an address for
// attendance alerts) and the alert threshold, in the teacher window's side panel.

import { h, clear } from "../ui/dom";
import type { AlertSettings, RosterMember } from "../generated/protocol";
import { asUiError, type Bridge } from "./bridge";
import { parseRoster } from "./model";

export class RosterPanel {
  readonly el: HTMLDetailsElement;
  private readonly list: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly threshold: HTMLInputElement;
  private readonly status: HTMLElement;
  roster: RosterMember[] = [];
  alerts: AlertSettings | null = null;

  constructor(
    private readonly bridge: Bridge,
    private readonly classId: string,
  ) {
    this.list = h("ul", { class: "roster-list", "data-testid": "roster-list" });
    this.input = h("textarea", {
      "data-testid": "roster-input",
      rows: 3,
      placeholder: "One student per line: Name, e-mail",
      "aria-label": "Students to add",
    });
    this.threshold = h("input", {
      type: "number",
      min: 1,
      max: 100,
      placeholder: "off",
      "data-testid": "alert-threshold",
      "aria-label": "Attendance alert threshold in percent",
    });
    this.status = h("p", { class: "quiz-meta", "data-testid": "roster-status", role: "status" });
    this.el = h(
      "details",
      { class: "roster", "data-testid": "roster" },
      h("summary", {}, "Roster and alerts"),
      this.list,
      this.input,
      h("button", { type: "button", class: "btn btn-small", "data-testid": "roster-add", onclick: () => void this.add() }, "Add students"),
      h(
        "label",
        { class: "quiz-meta" },
        "Mail a student's address when attendance falls below ",
        this.threshold,
        " % ",
        h("button", { type: "button", class: "btn btn-small", "data-testid": "alert-save", onclick: () => void this.saveThreshold() }, "Save"),
      ),
      this.status,
    );
    this.el.addEventListener("toggle", () => {
      if (this.el.open) void this.load();
    });
  }

  async load(): Promise<void> {
    try {
      const [roster, alerts] = await Promise.all([
        this.bridge.classRoster(this.classId),
        this.bridge.alertSettings(this.classId),
      ]);
      this.alerts = alerts;
      this.threshold.value = alerts.attendance_threshold_pct?.toString() ?? "";
      this.show(roster);
    } catch (e) {
      this.say(asUiError(e).message);
    }
  }

  private async add(): Promise<void> {
    const { students, errors } = parseRoster(this.input.value);
    if (errors.length) return this.say(errors.join("; "));
    if (!students.length) return this.say("Type a name, or a name and an e-mail address, per line.");
    try {
      this.show(await this.bridge.addToRoster(this.classId, students));
      this.input.value = "";
      this.say(`${students.length} added.`);
    } catch (e) {
      this.say(asUiError(e).message);
    }
  }

  private async remove(r: RosterMember): Promise<void> {
    try {
      this.show(await this.bridge.removeFromRoster(this.classId, r.member_id));
      this.say(`${r.name} is off the roster; their personal link no longer works.`);
    } catch (e) {
      this.say(asUiError(e).message);
    }
  }

  private async saveThreshold(): Promise<void> {
    const raw = this.threshold.value.trim();
    const pct = raw === "" ? null : Number(raw);
    if (pct !== null && !(Number.isInteger(pct) && pct >= 1 && pct <= 100)) {
      return this.say("The threshold is a whole percent from 1 to 100, or empty for off.");
    }
    try {
      this.alerts = await this.bridge.setAlertThreshold(this.classId, pct);
      this.say(
        pct === null
          ? "Attendance alerts are off."
          : this.alerts.mail_configured
            ? `Alerts at ${pct}% are on.`
            : `Alerts at ${pct}% are on, but this server has no mail relay: they wait until one is set.`,
      );
    } catch (e) {
      this.say(asUiError(e).message);
    }
  }

  private show(roster: RosterMember[]): void {
    this.roster = roster;
    clear(this.list);
    for (const r of roster) {
      const copy = h("button", { type: "button", class: "btn btn-small", "data-testid": `roster-link-${r.member_id}` }, "Copy link");
      copy.onclick = () =>
        void navigator.clipboard?.writeText(r.student_link).then(
          () => this.say(`${r.name}'s link copied.`),
          () => this.say(r.student_link),
        );
      const remove = h("button", { type: "button", class: "btn btn-small", "data-testid": `roster-remove-${r.member_id}`, "aria-label": `Take ${r.name} off the roster` }, "Remove");
      remove.onclick = () => void this.remove(r);
      this.list.append(
        h("li", { "data-testid": "roster-entry" }, h("strong", {}, r.name), " ", r.email ?? "(no address)", " ", copy, remove),
      );
    }
  }

  private say(text: string): void {
    this.status.textContent = text;
  }
}
