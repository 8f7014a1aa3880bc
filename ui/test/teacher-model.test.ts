// Unit tests of the teacher window's pure view model: `npm run test:unit`.
import assert from "node:assert/strict";
import { test } from "node:test";

import type { ClassReport, MemberInfo, RoomSnapshot, SequencedEvent } from "../src/generated/protocol.js";
import { bannerText, describeEvents, parseRoster, reportRows, studentTiles } from "../src/teacher/model.js";

const member = (id: string, name: string, role: MemberInfo["role"] = "student"): MemberInfo => ({
  id,
  name,
  role,
  owner: false,
  connected: true,
  joined_at_ms: 1,
  tab_visible: true,
  speaking: false,
});

const room = (members: MemberInfo[], tracks: RoomSnapshot["tracks"] = []): RoomSnapshot => ({
  class_id: "c1",
  seq: 1,
  settings: { locked: false, waiting_room: false, chat_enabled: true, tab_tracking: true, session_gap_ms: 900000 },
  members,
  waiting: [],
  tracks,
  board: { pages: [{ info: { id: "p1" }, items: [] }], current: "p1", viewport: { x: 0, y: 0, zoom: 100 }, follow: false, draw: "teachers_only", allowed: [] },
  chat: [],
  hands: [],
  quizzes: [],
});

test("tiles: students only, sorted by name, with their mic and camera state", () => {
  const r = room(
    [member("t", "Teacher", "teacher"), member("s2", "Zoe"), member("o", "Obs", "observer"), member("s1", "Ana")],
    [
      { id: "s1.camera", owner: "s1", kind: "camera", enabled: true },
      { id: "s1.microphone", owner: "s1", kind: "microphone", enabled: false },
    ],
  );
  const tiles = studentTiles(r);
  assert.deepEqual(
    tiles.map((t) => [t.member.name, t.camOn, t.micOn]),
    [
      ["Ana", true, false],
      ["Zoe", null, null],
    ],
  );
  assert.deepEqual(studentTiles(null), []);
});

test("banner: none when live, the server's reason and the queue while reconnecting", () => {
  assert.equal(bannerText({ state: "live", reason: null, attempt: 0 }, 3), null);
  const text = bannerText(
    { state: "reconnecting", reason: { code: "unreachable", message: "Connection refused" }, attempt: 2 },
    2,
  );
  assert.ok(text?.startsWith("Connection refused"), text ?? "");
  assert.match(text ?? "", /attempt 2/);
  assert.match(text ?? "", /2 changes will be sent/);
  assert.match(bannerText({ state: "offline", reason: null, attempt: 0 }, 1) ?? "", /1 change will be sent/);
  assert.match(
    bannerText({ state: "ended", reason: { code: "removed", message: "You were removed" }, attempt: 0 }, 0) ?? "",
    /You were removed/,
  );
});

test("history: events read as sentences with the names of who did what", () => {
  let seq = 0;
  const ev = (event: SequencedEvent["event"]): SequencedEvent => ({ seq: ++seq, at_ms: seq, event });
  const lines = describeEvents([
    ev({ kind: "member_joined", member: member("t", "", "teacher") }),
    ev({ kind: "member_joined", member: member("s1", "Ana") }),
    ev({ kind: "track_state_changed", track: "s1.microphone", enabled: false, by: "t" }),
    ev({ kind: "presence_changed", member: "s1", connected: false }),
    ev({ kind: "member_left", member: "s1", reason: "removed" }),
    ev({ kind: "member_left", member: "ghost", reason: "left" }),
  ]);
  assert.deepEqual(lines, [
    "Teacher joined",
    "Ana joined",
    "Teacher (for Ana) turned a track off",
    "Ana disconnected",
    "Ana was removed",
    "someone left",
  ]);
});

test("roster lines: name, name + address in three shapes, blanks skipped, bad addresses reported", () => {
  const r = parseRoster("Ana Lima, ana@school.test\n\nBen <ben.parent@school.test>\nCleo\t cleo@x.org \nDan\n, nobody@x.org\nEve, eve-at-home\n");
  assert.deepEqual(
    r.students.map((s) => [s.name, s.email]),
    [
      ["Ana Lima", "ana@school.test"],
      ["Ben", "ben.parent@school.test"],
      ["Cleo", "cleo@x.org"],
      ["Dan", null],
    ],
  );
  assert.deepEqual(r.errors, ["line 6: no name", 'line 7: "eve-at-home" is not an e-mail address']);
  assert.deepEqual(parseRoster("  \n"), { students: [], errors: [] });
});

test("history report rows: lowest score first, minutes, quizzes, the mostly-away mark", () => {
  const student = (name: string, score: number, hidden: number): ClassReport["students"][number] => ({
    member: name.toLowerCase(),
    name,
    intervals: [[0, 600_000]],
    first_join_ms: 0,
    last_leave_ms: 600_000,
    present_ms: 600_000,
    active_ms: 600_000 - hidden,
    hidden_ms: hidden,
    camera_ms: 0,
    mostly_hidden: hidden > 300_000,
    chat_messages: 0,
    board_items: 0,
    quizzes_answered: 2,
    quizzes_right: 1,
    score,
    parts: { attendance: 1, camera: 0, quiz: 0.5, chat: 0, board: 0 },
  });
  const report: ClassReport = {
    class_id: "c1",
    generated_at_ms: 1,
    session: 1,
    sessions: 1,
    started_at_ms: 0,
    ended_at_ms: null,
    students: [student("Ana", 70, 0), student("Ben", 20, 420_000)],
    quizzes: [],
  };
  assert.deepEqual(reportRows(report), [
    ["Ben (mostly away)", "10.0", "3.0", "7.0", "2/1", "20"],
    ["Ana", "10.0", "10.0", "0.0", "2/1", "70"],
  ]);
});
