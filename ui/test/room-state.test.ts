// Unit tests of the replica and the speaker detector: `npm run test:unit`.
import assert from "node:assert/strict";
import { test } from "node:test";

import type { MemberInfo, RoomEvent, RoomSnapshot, SequencedEvent } from "../src/generated/protocol.js";
import { applyEvent, fromSnapshot, trackOf, visibleMembers } from "../src/room-state.js";
import { SpeakerDetector } from "../src/speaker.js";

const member = (id: string, role: MemberInfo["role"] = "student", joined = 1): MemberInfo => ({
  id,
  name: id.toUpperCase(),
  role,
  owner: false,
  connected: true,
  joined_at_ms: joined,
  tab_visible: true,
  speaking: false,
});

const emptyBoard = (): RoomSnapshot["board"] => ({
  pages: [{ info: { id: "p1" }, items: [] }],
  current: "p1",
  viewport: { x: 0, y: 0, zoom: 100 },
  follow: false,
  draw: "teachers_only",
  allowed: [],
});

const base = (): RoomSnapshot => ({
  class_id: "c1",
  seq: 3,
  settings: { locked: false, waiting_room: false, chat_enabled: true, tab_tracking: true, session_gap_ms: 900000 },
  members: [member("t", "teacher")],
  waiting: [],
  tracks: [],
  board: emptyBoard(),
  chat: [],
  hands: [],
  quizzes: [],
});

let at = 1000;
const ev = (seq: number, event: RoomEvent): SequencedEvent => ({ seq, at_ms: at++, event });

function applyAll(s: RoomSnapshot, events: SequencedEvent[]): RoomSnapshot {
  for (const e of events) {
    const out = applyEvent(s, e);
    assert.equal(out.kind, "applied", `event ${e.seq} should apply`);
    s = out.state;
  }
  return s;
}

test("applies a session of events like the server does", () => {
  const s = applyAll(fromSnapshot(base()), [
    ev(4, { kind: "member_joined", member: member("a") }),
    ev(5, { kind: "track_published", track: { id: "a:0", owner: "a", kind: "microphone", enabled: true } }),
    ev(6, { kind: "track_published", track: { id: "a:1", owner: "a", kind: "camera", enabled: true } }),
    ev(7, { kind: "track_state_changed", track: "a:0", enabled: false, by: "t" }),
    ev(8, { kind: "settings_changed", settings: { locked: true, waiting_room: true, chat_enabled: true, tab_tracking: true, session_gap_ms: 900000 }, by: "t" }),
    ev(9, { kind: "member_waiting", member: member("b") }),
    ev(10, { kind: "waiting_resolved", member: "b", admitted: true }),
    ev(11, { kind: "member_waiting", member: member("c") }),
    ev(12, { kind: "waiting_resolved", member: "c", admitted: false }),
    ev(13, { kind: "presence_changed", member: "a", connected: false }),
  ]);
  assert.equal(s.seq, 13);
  assert.deepEqual(s.settings, { locked: true, waiting_room: true, chat_enabled: true, tab_tracking: true, session_gap_ms: 900000 });
  assert.deepEqual(
    s.members.map((m) => [m.id, m.connected]),
    [
      ["t", true],
      ["a", false],
      ["b", true],
    ],
  );
  assert.equal(s.members.find((m) => m.id === "b")?.joined_at_ms, 1006, "admission time is the event's");
  assert.deepEqual(s.waiting, []);
  assert.equal(trackOf(s, "a", "microphone")?.enabled, false);
  assert.equal(trackOf(s, "a", "camera")?.enabled, true);
});

test("a member leaving takes its tracks and waiting entry along", () => {
  const s = applyAll(fromSnapshot(base()), [
    ev(4, { kind: "member_joined", member: member("a") }),
    ev(5, { kind: "track_published", track: { id: "a:0", owner: "a", kind: "microphone", enabled: true } }),
    ev(6, { kind: "member_left", member: "a", reason: "removed" }),
    ev(7, { kind: "member_waiting", member: member("w") }),
    ev(8, { kind: "member_left", member: "w", reason: "left" }),
  ]);
  assert.deepEqual(s.members.map((m) => m.id), ["t"]);
  assert.deepEqual(s.tracks, []);
  assert.deepEqual(s.waiting, []);
});

test("duplicates are ignored and gaps are reported, leaving the state as it was", () => {
  const s0 = fromSnapshot(base());
  const dup = applyEvent(s0, ev(3, { kind: "member_joined", member: member("x") }));
  assert.equal(dup.kind, "duplicate");
  assert.equal(dup.state, s0);
  const gap = applyEvent(s0, ev(5, { kind: "member_joined", member: member("x") }));
  assert.equal(gap.kind, "gap");
  assert.deepEqual(gap.kind === "gap" && [gap.expected, gap.got], [4, 5]);
  assert.deepEqual(s0, base(), "input never mutated");
});

test("the snapshot copy is independent of its source", () => {
  const src = base();
  const copy = fromSnapshot(src);
  copy.members[0]!.name = "changed";
  copy.settings.locked = true;
  assert.equal(src.members[0]!.name, "T");
  assert.equal(src.settings.locked, false);
});

test("tiles: self first, then teachers, then by arrival; observers hidden", () => {
  const s: RoomSnapshot = {
    ...base(),
    members: [member("late", "student", 9), member("obs", "observer", 0), member("t", "teacher", 5), member("me", "student", 7), member("early", "student", 2)],
  };
  assert.deepEqual(visibleMembers(s, "me").map((m) => m.id), ["me", "t", "early", "late"]);
});

test("speaker detector: threshold, hold, and no flicker between close levels", () => {
  const d = new SpeakerDetector({ threshold: 0.05, holdMs: 500, switchRatio: 1.5 });
  assert.equal(d.update(new Map([["a", 0.01]]), 0), null);
  assert.equal(d.update(new Map([["a", 0.2]]), 100), "a");
  assert.equal(d.update(new Map([["a", 0.2], ["b", 0.25]]), 200), "a", "b is not loud enough to take over");
  assert.equal(d.update(new Map([["a", 0.0]]), 400), "a", "held through a short pause");
  assert.equal(d.update(new Map([["a", 0.0], ["b", 0.1]]), 800), "b", "a quiet past the hold");
  assert.equal(d.update(new Map(), 1400), null);
});

test("chat, hands and presence follow their events", () => {
  const s = applyAll(fromSnapshot(base()), [
    ev(4, { kind: "member_joined", member: member("a") }),
    ev(5, { kind: "member_joined", member: member("b") }),
    ev(6, { kind: "chat_posted", message: { id: 6, from: "a", text: "hi", at_ms: 1 } }),
    ev(7, { kind: "redacted" }),
    ev(8, { kind: "chat_posted", message: { id: 8, from: "t", text: "welcome", at_ms: 2 } }),
    ev(9, { kind: "chat_deleted", message: 6, by: "t" }),
    ev(10, { kind: "hand_raised", member: "b" }),
    ev(11, { kind: "hand_raised", member: "a" }),
    ev(12, { kind: "hand_raised", member: "b" }),
    ev(13, { kind: "presence_updated", member: "a", tab_visible: false, speaking: true }),
    ev(14, { kind: "member_left", member: "b", reason: "left" }),
    ev(15, { kind: "presence_changed", member: "a", connected: false }),
  ]);
  assert.deepEqual(s.chat.map((m) => [m.id, m.text, !!m.deleted]), [[6, "", true], [8, "welcome", false]]);
  assert.deepEqual(s.hands, ["a"], "raise order kept, a repeat ignored, a leaver's hand gone");
  const a = s.members.find((m) => m.id === "a")!;
  assert.equal(a.tab_visible, false);
  assert.equal(a.speaking, false, "a dropped link is not speaking");
  assert.equal(s.seq, 15);
});
