// The teacher's live engagement heatmap: one cell per student, coloured by its score
// (red 0 → green 100), refreshed every few seconds from the class report; sortable; a
// click shows the five signals behind the score and how the score moved over the class.

import type { ClassReport, StudentReport } from "../generated/protocol";
import { h } from "./dom";

export const REFRESH_MS = 5_000;
/** Scores kept per student for the sparkline: 10 minutes at one every 5 s. */
const HISTORY = 120;

type Sort = "score_asc" | "score_desc" | "name";

export function scoreColor(score: number): string {
  const s = Math.max(0, Math.min(100, score));
  return `hsl(${Math.round(s * 1.2)}, 65%, 38%)`;
}

export function sortStudents(list: readonly StudentReport[], sort: Sort): StudentReport[] {
  const byName = (a: StudentReport, b: StudentReport) => a.name.localeCompare(b.name) || (a.member < b.member ? -1 : 1);
  return [...list].sort((a, b) =>
    sort === "name" ? byName(a, b) : (sort === "score_asc" ? a.score - b.score : b.score - a.score) || byName(a, b),
  );
}

function minutes(ms: number): string {
  return `${(ms / 60_000).toFixed(1)} min`;
}

export class Heatmap {
  readonly el: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly sort: HTMLSelectElement;
  private report: ClassReport | null = null;
  private readonly history = new Map<string, number[]>();
  private selected: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly fetchReport: () => Promise<ClassReport>) {
    this.sort = h(
      "select",
      { "data-testid": "heatmap-sort", "aria-label": "Sort students" },
      h("option", { value: "score_asc" }, "Lowest first"),
      h("option", { value: "score_desc" }, "Highest first"),
      h("option", { value: "name" }, "By name"),
    ) as HTMLSelectElement;
    this.sort.onchange = () => this.render();
    this.grid = h("div", { class: "heat-grid", "data-testid": "heatmap-grid" });
    this.detail = h("div", { class: "heat-detail", "data-testid": "heatmap-detail" });
    this.el = h(
      "details",
      { class: "heatmap", "data-testid": "heatmap" },
      h("summary", {}, "Engagement ", this.sort),
      this.grid,
      this.detail,
      h("p", { class: "quiz-meta" }, "Score 0–100 from attendance, camera, quizzes, chat and board (docs/ENGAGEMENT.md)."),
    );
  }

  start(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get last(): ClassReport | null {
    return this.report;
  }

  async refresh(): Promise<void> {
    try {
      const r = await this.fetchReport();
      this.report = r;
      for (const s of r.students) {
        const list = this.history.get(s.member) ?? [];
        list.push(s.score);
        if (list.length > HISTORY) list.shift();
        this.history.set(s.member, list);
      }
      this.render();
    } catch (e) {
      console.warn("aula: engagement report unavailable", e);
    }
  }

  private render(): void {
    const r = this.report;
    if (!r) return;
    const sorted = sortStudents(r.students, this.sort.value as Sort);
    this.grid.replaceChildren(
      ...sorted.map((s) =>
        h(
          "button",
          {
            type: "button",
            class: `heat-cell${s.member === this.selected ? " on" : ""}`,
            style: `background:${scoreColor(s.score)}`,
            "data-testid": `heat-${s.member}`,
            "data-score": String(s.score),
            title: `${s.name}: ${s.score}`,
            onclick: () => {
              this.selected = this.selected === s.member ? null : s.member;
              this.render();
            },
          },
          h("span", { class: "heat-name" }, s.name),
          h("strong", {}, String(s.score)),
          s.mostly_hidden ? h("small", {}, "mostly away") : null,
        ),
      ),
    );
    const s = r.students.find((x) => x.member === this.selected);
    if (!s) {
      this.detail.replaceChildren();
      return;
    }
    const part = (label: string, v: number | null) =>
      h("li", {}, h("span", {}, label), h("span", { class: "quiz-bar", style: `width:${Math.round((v ?? 0) * 100)}%` }), h("span", {}, v == null ? "—" : `${Math.round(v * 100)}%`));
    this.detail.replaceChildren(
      h("h3", {}, `${s.name}: ${s.score}`),
      h(
        "ol",
        { class: "quiz-bars" },
        part("Attendance", s.parts.attendance),
        part("Camera", s.parts.camera),
        part("Quizzes", s.parts.quiz),
        part("Chat", s.parts.chat),
        part("Board", s.parts.board),
      ),
      h("p", { class: "quiz-meta" }, `Present ${minutes(s.present_ms)}, tab in view ${minutes(s.active_ms)}, hidden ${minutes(s.hidden_ms)}, camera ${minutes(s.camera_ms)}; ${s.intervals.length} connection(s); ${s.quizzes_answered} answered, ${s.quizzes_right} right; ${s.chat_messages} messages; ${s.board_items} board items.`),
      this.sparkline(this.history.get(s.member) ?? []),
    );
  }

  /** The score over the last readings, as a small inline chart. */
  private sparkline(scores: number[]): Element {
    const w = 200;
    const ht = 40;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${ht}`);
    svg.setAttribute("class", "heat-spark");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `Score over time: ${scores.join(", ")}`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    const step = scores.length > 1 ? w / (scores.length - 1) : 0;
    line.setAttribute("points", scores.map((v, i) => `${(i * step).toFixed(1)},${(ht - (v / 100) * ht).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#43a047");
    line.setAttribute("stroke-width", "2");
    svg.append(line);
    return svg;
  }
}
