// The browser's board replica against a session recorded from the Rust room
// (crates/room/tests/board.rs writes the fixture): same start, same events, same end.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import type { BoardSnapshot, SequencedEvent } from "../src/generated/protocol.js";
import { BoardReplica, decodePoints, encodePoints } from "../src/board/board-state.js";

interface Fixture {
  start: BoardSnapshot;
  events: SequencedEvent[];
  end: BoardSnapshot;
}

const fixture = JSON.parse(readFileSync("test/fixtures/board-session.json", "utf8")) as Fixture;

test("the replica replays the Rust room's session to the same board", () => {
  const b = BoardReplica.fromSnapshot(fixture.start);
  assert.ok(fixture.events.length > 15, "the fixture holds a real session");
  for (const ev of fixture.events) b.apply(ev.seq, ev.event);
  assert.deepEqual(b.toSnapshot(), fixture.end);
});

test("a replica started at any point of the session ends the same", () => {
  // Rebuild intermediate snapshots by replaying a prefix, then continue from them.
  for (let cut = 0; cut <= fixture.events.length; cut += 3) {
    const first = BoardReplica.fromSnapshot(fixture.start);
    for (const ev of fixture.events.slice(0, cut)) first.apply(ev.seq, ev.event);
    const second = BoardReplica.fromSnapshot(first.toSnapshot());
    for (const ev of fixture.events.slice(cut)) second.apply(ev.seq, ev.event);
    assert.deepEqual(second.toSnapshot(), fixture.end, `cut at ${cut}`);
  }
});

test("points are delta-coded and batches concatenate", () => {
  const pts: Array<[number, number, number]> = [[10, 20, 100], [13, 18, 110], [13, 30, 90]];
  const whole = encodePoints(pts, null);
  assert.deepEqual(whole, [10, 20, 100, 3, -2, 10, 0, 12, -20]);
  const batched = [...encodePoints(pts.slice(0, 1), null), ...encodePoints(pts.slice(1), pts[0]!)];
  assert.deepEqual(batched, whole);
  assert.deepEqual(decodePoints(whole), pts);
});

test("the replica changes its version on every board event and ignores others", () => {
  const b = BoardReplica.fromSnapshot(fixture.start);
  const v = b.version;
  b.apply(999, { kind: "hand_raised", member: "a" });
  assert.equal(b.version, v);
  b.apply(1000, { kind: "follow_changed", follow: true });
  assert.equal(b.version, v + 1);
});
