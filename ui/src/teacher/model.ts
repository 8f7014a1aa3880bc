// Pure view-model functions of the teacher window, unit-tested without a DOM.

import type { LinkState, RoomSnapshot, SequencedEvent } from "./contract";
import type { ClassReport, MemberInfo, RosterStudent, TrackKind } from "../generated/protocol";

export interface TileModel {
  member: MemberInfo;
  micOn: boolean | null;
  camOn: boolean | null;
  handRaised: boolean;
}

/** Who gets a tile: students (not the teacher, not observers) who are in the room. */
export function studentTiles(room: RoomSnapshot | null): TileModel[] {
  if (!room) return [];
  const state = (m: MemberInfo, kind: TrackKind): boolean | null => {
    const t = room.tracks.find((x) => x.owner === m.id && x.kind === kind);
    return t ? t.enabled : null;
  };
  return room.members
    .filter((m) => m.role === "student")
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
    .map((m) => ({ member: m, micOn: state(m, "microphone"), camOn: state(m, "camera"), handRaised: room.hands.includes(m.id) }));
}

/** The banner over a live class, or null when the link is up. */
export function bannerText(link: LinkState, queued: number): string | null {
  const queuedNote = queued > 0 ? ` ${queued} change${queued === 1 ? "" : "s"} will be sent when it is back.` : "";
  switch (link.state) {
    case "live":
      return null;
    case "connecting":
      return "Connecting to the class server…";
    case "reconnecting": {
      const why = link.reason ? `${link.reason.message} — ` : "";
      return `${why}reconnecting (attempt ${link.attempt}).${queuedNote}`;
    }
    case "offline":
      return `Offline.${queuedNote}`;
    case "ended":
      return link.reason ? `The class ended: ${link.reason.message}` : "The class has ended.";
  }
}

function nameOf(names: Map<string, string>, id: string): string {
  return names.get(id) ?? "someone";
}

/** One readable line per event, for the history of a past class. */
export function describeEvents(events: SequencedEvent[]): string[] {
  const names = new Map<string, string>();
  const lines: string[] = [];
  for (const { event: e } of events) {
    switch (e.kind) {
      case "member_joined":
        names.set(e.member.id, e.member.name || (e.member.role === "teacher" ? "Teacher" : "A student"));
        lines.push(`${nameOf(names, e.member.id)} joined`);
        break;
      case "member_left":
        lines.push(
          `${nameOf(names, e.member)} ${e.reason === "removed" ? "was removed" : e.reason === "timed_out" ? "lost the connection" : "left"}`,
        );
        break;
      case "presence_changed":
        lines.push(`${nameOf(names, e.member)} ${e.connected ? "reconnected" : "disconnected"}`);
        break;
      case "member_waiting":
        names.set(e.member.id, e.member.name);
        lines.push(`${e.member.name} is waiting to be let in`);
        break;
      case "waiting_resolved":
        lines.push(`${nameOf(names, e.member)} was ${e.admitted ? "let in" : "turned away"}`);
        break;
      case "track_published":
        lines.push(`${nameOf(names, e.track.owner)} started sharing ${e.track.kind}`);
        break;
      case "track_unpublished":
        break;
      case "track_state_changed": {
        const owner = e.track.split(".")[0] ?? "";
        const who = e.by === owner ? nameOf(names, owner) : `${nameOf(names, e.by)} (for ${nameOf(names, owner)})`;
        lines.push(`${who} turned a track ${e.enabled ? "on" : "off"}`);
        break;
      }
      case "settings_changed":
        lines.push(
          `${nameOf(names, e.by)} ${e.settings.locked ? "locked" : "unlocked"} the class; waiting room ${e.settings.waiting_room ? "on" : "off"}; chat ${e.settings.chat_enabled ? "on" : "off"}`,
        );
        break;
      case "chat_posted":
        lines.push(
          `${nameOf(names, e.message.from)}${e.message.private_with ? ` (private with ${nameOf(names, e.message.private_with)})` : ""}: ${e.message.text}`,
        );
        break;
      case "hand_raised":
        lines.push(`${nameOf(names, e.member)} raised a hand`);
        break;
      case "page_added":
        lines.push("A board page was added");
        break;
      // Drawing, presence and reactions are too many to read as sentences; the board
      // itself is shown instead.
    }
  }
  return lines;
}

/** Students typed or pasted for the roster, one per line, and the lines that were not. */
export interface ParsedRoster {
  students: RosterStudent[];
  errors: string[];
}

const EMAIL = /^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+$/;

/**
 * One student per line: `Name`, `Name, e-mail`, `Name <e-mail>` or name and e-mail
 * separated by a tab (a spreadsheet's paste). Blank lines are skipped; a line whose
 * address is not an address is reported, not guessed. The server checks again.
 */
export function parseRoster(text: string): ParsedRoster {
  const students: RosterStudent[] = [];
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const angle = /^(.*?)\s*<([^<>]*)>$/.exec(line);
    const cut = line.search(/[\t,;]/);
    const [name, email]: [string, string] = angle
      ? [angle[1] ?? "", angle[2] ?? ""]
      : cut < 0
        ? [line, ""]
        : [line.slice(0, cut), line.slice(cut + 1)];
    const n = name.trim().replace(/^"|"$/g, "");
    const e = email.trim();
    if (!n) errors.push(`line ${i + 1}: no name`);
    else if (e && !EMAIL.test(e)) errors.push(`line ${i + 1}: "${e}" is not an e-mail address`);
    else students.push({ name: n, email: e || null, member_id: null });
  });
  return { students, errors };
}

const minutes = (ms: number) => (ms / 60_000).toFixed(1);

/**
 * A report as the history's table: one row per student, lowest score first (who needs
 * a word), with minutes present, in view and hidden, quizzes answered/right and the
 * score; a student mostly away is marked.
 */
export function reportRows(report: ClassReport): string[][] {
  return [...report.students]
    .sort((a, b) => a.score - b.score || a.name.localeCompare(b.name))
    .map((s) => [
      s.mostly_hidden ? `${s.name} (mostly away)` : s.name,
      minutes(s.present_ms),
      minutes(s.active_ms),
      minutes(s.hidden_ms),
      `${s.quizzes_answered}/${s.quizzes_right}`,
      String(s.score),
    ]);
}
