// Quizzes and polls in the class view: the teacher asks (on the spot), watches the
// answers arrive as a bar chart, closes, marks short answers and reveals; students answer
// once and see the results when the teacher reveals them. Drawn from the replica only.

import type { MemberInfo, Question, QuestionKind, QuizState, RoomCommand, RoomSnapshot } from "../generated/protocol";
import type { BankQuestion } from "../generated/teacher";
import { h } from "./dom";

const KINDS: Array<[QuestionKind, string]> = [
  ["single_choice", "Single choice"],
  ["multiple_choice", "Multiple choice"],
  ["true_false", "True or false"],
  ["short_answer", "Short answer"],
  ["poll", "Poll (no right answer)"],
];

/** Answers per option, from the answers this viewer holds (all of them, for a teacher). */
export function tally(q: QuizState): number[] {
  const counts = q.info.question.options.map(() => 0);
  for (const a of q.answers) for (const c of a.answer.choices) if (c < counts.length) counts[c]! += 1;
  return counts;
}

/** Parses "1, 3" (1-based option numbers) into option indices; null when malformed. */
export function parseRight(text: string, options: number): number[] | null {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  const out: number[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > options) return null;
    if (!out.includes(n - 1)) out.push(n - 1);
  }
  return out;
}

/** The teacher app's question bank (absent in the browser, which has no local cache). */
export interface QuestionBank {
  list(): Promise<BankQuestion[]>;
  save(q: BankQuestion): Promise<BankQuestion>;
  remove(id: string): Promise<void>;
  ask(id: string): Promise<void>;
}

export class QuizPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly form: HTMLElement;
  private key = "";
  /** Choices picked but not sent yet, per quiz. */
  private readonly picked = new Map<string, Set<number>>();

  private readonly bankEl: HTMLElement;

  constructor(
    private readonly run: (cmd: RoomCommand) => void,
    private readonly bank: QuestionBank | null = null,
  ) {
    this.list = h("div", { class: "quiz-list", "data-testid": "quiz-list" });
    this.form = h("div", { class: "quiz-form" });
    this.bankEl = h("details", { class: "quiz-bank", "data-testid": "quiz-bank", hidden: !bank });
    this.el = h("section", { class: "quiz", "data-testid": "quiz" }, this.form, this.bankEl, this.list);
    if (bank) {
      this.bankEl.addEventListener("toggle", () => void this.renderBank());
      void this.renderBank();
    }
  }

  /** The saved questions, each to ask now or delete. */
  private async renderBank(): Promise<void> {
    const bank = this.bank;
    if (!bank) return;
    const items = await bank.list().catch(() => [] as BankQuestion[]);
    this.bankEl.replaceChildren(
      h("summary", {}, `Question bank (${items.length})`),
      ...items.map((q) =>
        h(
          "div",
          { class: "quiz-bank-item", "data-testid": "bank-item" },
          h("span", {}, q.question.prompt, q.used_count ? h("small", {}, ` · asked ${q.used_count}×`) : null),
          h("button", { type: "button", class: "btn btn-small btn-primary", "data-testid": `bank-ask-${q.id}`, onclick: () => void bank.ask(q.id).then(() => this.renderBank()) }, "Ask"),
          h("button", { type: "button", class: "btn btn-small", "aria-label": "Delete from the bank", onclick: () => void bank.remove(q.id).then(() => this.renderBank()) }, "Delete"),
        ),
      ),
    );
  }

  update(room: RoomSnapshot, me: MemberInfo | null): void {
    const teacher = me?.role === "teacher";
    const key = JSON.stringify([room.quizzes, me?.id, teacher, [...this.picked].map(([k, v]) => [k, [...v]])]);
    if (key === this.key) return;
    this.key = key;
    if (teacher && !this.form.firstChild) this.form.append(this.newQuestionForm());
    const quizzes = [...room.quizzes].reverse();
    this.list.replaceChildren(...quizzes.map((q) => (teacher ? this.teacherView(q) : this.studentView(q, me))));
  }

  private newQuestionForm(): HTMLElement {
    const details = h("details", { class: "quiz-new" }, h("summary", { "data-testid": "quiz-new" }, "Ask a question"));
    const prompt = h("input", { type: "text", maxlength: "1000", placeholder: "Question", "data-testid": "quiz-prompt" }) as HTMLInputElement;
    const kind = h("select", { "data-testid": "quiz-kind" }, ...KINDS.map(([k, label]) => h("option", { value: k }, label))) as HTMLSelectElement;
    const options = h("textarea", { rows: "3", placeholder: "Options, one per line", "data-testid": "quiz-options" }) as HTMLTextAreaElement;
    const right = h("input", { type: "text", placeholder: "Right option numbers, e.g. 2", "data-testid": "quiz-right" }) as HTMLInputElement;
    const limit = h("input", { type: "number", min: "0", max: "3600", placeholder: "Seconds (none)", "data-testid": "quiz-limit" }) as HTMLInputElement;
    const anonymous = h("input", { type: "checkbox", "data-testid": "quiz-anonymous" }) as HTMLInputElement;
    const error = h("p", { class: "quiz-error", role: "alert" });
    const submit = h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": "quiz-start" }, "Ask now");
    submit.addEventListener("click", () => {
      const k = kind.value as QuestionKind;
      const opts = k === "short_answer" ? [] : k === "true_false" ? ["True", "False"] : options.value.split("\n").map((s) => s.trim()).filter(Boolean);
      const correct = k === "short_answer" || k === "poll" ? [] : parseRight(right.value, opts.length);
      if (!prompt.value.trim()) return void (error.textContent = "Write the question.");
      if (correct === null) return void (error.textContent = `Right answers are option numbers from 1 to ${opts.length}.`);
      const seconds = Number(limit.value);
      error.textContent = "";
      this.run({
        kind: "start_quiz",
        quiz: `q-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`,
        question: { prompt: prompt.value.trim(), kind: k, options: opts, correct },
        time_limit_ms: seconds > 0 ? Math.round(seconds * 1000) : null,
        anonymous: anonymous.checked,
      });
      prompt.value = "";
      options.value = "";
      right.value = "";
      // Out of the way, so the live chart shows.
      details.open = false;
    });
    const read = (): { question: Question; time_limit_ms: number | null; anonymous: boolean } | null => {
      const k = kind.value as QuestionKind;
      const opts = k === "short_answer" ? [] : k === "true_false" ? ["True", "False"] : options.value.split("\n").map((s) => s.trim()).filter(Boolean);
      const correct = k === "short_answer" || k === "poll" ? [] : parseRight(right.value, opts.length);
      if (!prompt.value.trim()) return void (error.textContent = "Write the question."), null;
      if (correct === null) return void (error.textContent = `Right answers are option numbers from 1 to ${opts.length}.`), null;
      const seconds = Number(limit.value);
      error.textContent = "";
      return {
        question: { prompt: prompt.value.trim(), kind: k, options: opts, correct },
        time_limit_ms: seconds > 0 ? Math.round(seconds * 1000) : null,
        anonymous: anonymous.checked,
      };
    };
    const save = this.bank
      ? h("button", { type: "button", class: "btn btn-small", "data-testid": "quiz-save" }, "Save to bank")
      : null;
    save?.addEventListener("click", () => {
      const q = read();
      if (!q || !this.bank) return;
      void this.bank.save({ id: "", created_at_ms: 0, used_count: 0, ...q }).then(
        () => this.renderBank(),
        (e: unknown) => (error.textContent = String((e as { message?: string })?.message ?? e)),
      );
    });
    details.append(prompt, kind, options, right, h("label", { class: "wb-check" }, "Time limit ", limit), h("label", { class: "wb-check" }, anonymous, "Anonymous"), error, submit, ...(save ? [save] : []));
    return details;
  }

  private bars(q: QuizState, highlight: number[]): HTMLElement {
    const counts = q.results?.tally ?? tally(q);
    const total = Math.max(1, ...counts);
    return h(
      "ol",
      { class: "quiz-bars", "data-testid": "quiz-bars" },
      ...q.info.question.options.map((o, i) =>
        h(
          "li",
          { class: highlight.includes(i) ? "right" : "", "data-count": String(counts[i] ?? 0) },
          h("span", { class: "quiz-opt" }, `${i + 1}. ${o}`),
          h("span", { class: "quiz-bar", style: `width:${Math.round(((counts[i] ?? 0) / total) * 100)}%` }),
          h("span", { class: "quiz-count" }, String(counts[i] ?? 0)),
        ),
      ),
    );
  }

  private teacherView(q: QuizState): HTMLElement {
    const id = q.info.id;
    const short = q.info.question.kind === "short_answer";
    return h(
      "article",
      { class: "quiz-item", "data-testid": `quiz-${id}`, "data-answered": String(q.answered), "data-closed": String(q.closed) },
      h("h3", {}, q.info.question.prompt),
      h("p", { class: "quiz-meta" }, `${q.answered} answered${q.closed ? " · closed" : ""}${q.results ? " · revealed" : ""}${q.info.anonymous ? " · anonymous" : ""}`),
      short
        ? h(
            "ul",
            { class: "quiz-short" },
            ...q.answers.map((a) =>
              h(
                "li",
                {},
                `${a.answer.text ?? ""} `,
                a.member
                  ? h("span", {},
                      h("button", { type: "button", class: "btn btn-small", "data-testid": `quiz-mark-${id}-${a.member}-right`, onclick: () => this.run({ kind: "mark_answer", quiz: id, member: a.member!, correct: true }) }, a.correct === true ? "✓ Right" : "Right"),
                      h("button", { type: "button", class: "btn btn-small", "data-testid": `quiz-mark-${id}-${a.member}-wrong`, onclick: () => this.run({ kind: "mark_answer", quiz: id, member: a.member!, correct: false }) }, a.correct === false ? "✗ Wrong" : "Wrong"))
                  : null,
              ),
            ),
          )
        : this.bars(q, q.info.question.correct),
      q.closed ? null : h("button", { type: "button", class: "btn btn-small", "data-testid": `quiz-close-${id}`, onclick: () => this.run({ kind: "close_quiz", quiz: id }) }, "Close"),
      q.results ? null : h("button", { type: "button", class: "btn btn-small btn-primary", "data-testid": `quiz-reveal-${id}`, onclick: () => this.run({ kind: "reveal_quiz", quiz: id }) }, "Reveal results"),
    );
  }

  private studentView(q: QuizState, me: MemberInfo | null): HTMLElement {
    const id = q.info.id;
    const mine = q.answers.find((a) => a.member === me?.id);
    const question = q.info.question;
    const parts: Array<HTMLElement | null> = [h("h3", {}, question.prompt)];
    if (q.results) {
      parts.push(this.bars(q, q.results.correct));
      if (mine?.correct != null) parts.push(h("p", { class: "quiz-verdict", "data-testid": "quiz-verdict" }, mine.correct ? "You were right." : "Not this time."));
    } else if (mine) {
      parts.push(h("p", { class: "quiz-meta", "data-testid": "quiz-sent" }, "Answer sent. Results come when the teacher reveals them."));
    } else if (q.closed) {
      parts.push(h("p", { class: "quiz-meta" }, "Closed."));
    } else if (question.kind === "short_answer") {
      const text = h("input", { type: "text", maxlength: "500", placeholder: "Your answer", "data-testid": `quiz-text-${id}` }) as HTMLInputElement;
      parts.push(text, h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": `quiz-submit-${id}`, onclick: () => text.value.trim() && this.run({ kind: "answer_quiz", quiz: id, answer: { choices: [], text: text.value.trim() } }) }, "Send"));
    } else {
      const multi = question.kind === "multiple_choice";
      const picked = this.picked.get(id) ?? new Set<number>();
      parts.push(
        h("div", { class: "quiz-choices" },
          ...question.options.map((o, i) =>
            h("button", {
              type: "button",
              class: `btn btn-small${picked.has(i) ? " on" : ""}`,
              "aria-pressed": String(picked.has(i)),
              "data-testid": `quiz-choice-${id}-${i}`,
              "data-choice": String(i),
              onclick: (e: Event) => {
                // Read at click time: the view is redrawn on room events only, so what
                // was drawn may be older than the student's last click.
                const next = new Set(multi ? (this.picked.get(id) ?? []) : []);
                if (next.has(i)) next.delete(i);
                else next.add(i);
                this.picked.set(id, next);
                this.key = "";
                const button = e.currentTarget as HTMLElement;
                for (const b of button.parentElement?.children ?? []) {
                  const k = Number((b as HTMLElement).dataset.choice);
                  b.classList.toggle("on", next.has(k));
                  b.setAttribute("aria-pressed", String(next.has(k)));
                }
                if (!multi) this.run({ kind: "answer_quiz", quiz: id, answer: { choices: [i] } });
              },
            }, `${i + 1}. ${o}`),
          ),
        ),
        multi
          ? h("button", {
              type: "button",
              class: "btn btn-primary btn-small",
              "data-testid": `quiz-submit-${id}`,
              onclick: () => {
                const chosen = [...(this.picked.get(id) ?? [])].sort((a, b) => a - b);
                if (chosen.length) this.run({ kind: "answer_quiz", quiz: id, answer: { choices: chosen } });
              },
            }, "Send")
          : null,
      );
    }
    return h("article", { class: "quiz-item", "data-testid": `quiz-${id}` }, ...parts);
  }
}
