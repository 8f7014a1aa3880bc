// One class in real Chromium pages through the real server and SFU:
// - a teacher and two students each receive the others' video and audio;
// - a student's teacher-only command is refused and changes nothing;
// - a student whose link is cut mid-class gets exactly the events it missed and
//   its video flows again;
// - a student in another class receives nothing from the first.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, startCutProxy, startServer, withParams } from './harness.mjs';

let server;
let browser;
let proxy;
const pages = {};

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  proxy = await startCutProxy(server.ready.http);
  const studentLink = server.ready.student_link;
  pages.teacher = await openClassPage(browser, withParams(server.ready.teacher_link, { autojoin: '1' }));
  pages.ana = await openClassPage(browser, withParams(studentLink, { autojoin: '1', name: 'Ana' }));
  // Ben reaches the server through a proxy we can cut.
  const viaProxy = studentLink.replace(server.base, proxy.url);
  pages.ben = await openClassPage(browser, withParams(viaProxy, { autojoin: '1', name: 'Ben' }));
});

after(async () => {
  await browser?.close();
  proxy?.close();
  await server?.stop();
});

const me = (page) => page.evaluate(() => window.aula.state().me.id);
const stats = (page) => page.evaluate(() => window.aula.inboundStats());
const log = (page) => page.evaluate(() => window.aula.eventLog());

/** Waits until `page` decodes rising video and receives rising audio from each of `others`. */
async function assertReceivesFrom(page, others, what) {
  const first = await eventually(async () => {
    const s = await stats(page);
    const ok = others.every((id) => {
      const r = s.find((x) => x.memberId === id);
      return r && r.framesDecoded > 0 && r.videoWidth > 0 && r.audioBytesReceived > 0;
    });
    return ok && s;
  }, { what: `${what}: video and audio from ${others.length} members`, timeout: 45_000 });
  await eventually(async () => {
    const s = await stats(page);
    return others.every((id) => {
      const a = first.find((x) => x.memberId === id);
      const b = s.find((x) => x.memberId === id);
      return b && b.framesDecoded > a.framesDecoded && b.audioBytesReceived > a.audioBytesReceived;
    });
  }, { what: `${what}: frames and audio bytes rising` });
}

test('teacher and two students see and hear each other', async () => {
  const ids = { teacher: await me(pages.teacher), ana: await me(pages.ana), ben: await me(pages.ben) };
  for (const [name, page] of Object.entries(pages)) {
    const others = Object.entries(ids).filter(([n]) => n !== name).map(([, id]) => id);
    await assertReceivesFrom(page, others, name);
  }
});

test('the SFU reports every peer connected and forwarding', async () => {
  const peers = await fetch(`${server.base}/api/sfu/peers`, {
    headers: { authorization: `Bearer ${server.ready.operator_key}` },
  }).then((r) => r.json());
  const ids = [await me(pages.teacher), await me(pages.ana), await me(pages.ben)];
  for (const id of ids) {
    const p = peers.find((x) => x.member === id);
    assert.ok(p, `a peer for ${id}`);
    assert.equal(p.connected, true);
    assert.equal(p.tracks_in, 2, 'camera and microphone in');
    assert.equal(p.tracks_out, 4, 'two tracks from each of the two others');
    assert.ok(p.frames_in > 0 && p.frames_out > 0);
  }
  const metrics = await fetch(`${server.base}/metrics`).then((r) => r.text());
  const out = Number(/^aula_sfu_frames_forwarded_total (\d+)$/m.exec(metrics)[1]);
  assert.ok(out > 0, 'frames forwarded counted');
  const anon = await fetch(`${server.base}/api/sfu/peers`);
  assert.equal(anon.status, 401);
});

test('media stays on loopback: every nominated candidate pair is 127.0.0.1', async () => {
  for (const page of Object.values(pages)) {
    const pairs = await page.evaluate(() => window.aula.selectedCandidatePairs());
    assert.ok(pairs.length > 0, 'a nominated pair exists');
    for (const p of pairs) {
      assert.match(p.remote.address, /^127\./, `remote ${p.remote.address}`);
      assert.match(p.local.address, /^127\./, `local ${p.local.address}`);
    }
  }
});

test('a student cannot use teacher commands and nothing changes', async () => {
  const ben = await me(pages.ben);
  const seqBefore = await pages.teacher.evaluate(() => window.aula.state().lastSeq);
  const before = await pages.teacher.evaluate(() => window.aula.state().snapshot);
  for (const command of [
    { kind: 'mute_member', member: ben },
    { kind: 'remove_member', member: ben },
    { kind: 'set_locked', locked: true },
  ]) {
    const reply = await pages.ana.evaluate((c) => window.aula.command(c), command);
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'forbidden');
  }
  // A command of the teacher's own is a barrier: once it is acked, anything the
  // refused commands had caused would have arrived before it.
  const ack = await pages.teacher.evaluate(() => window.aula.command({ kind: 'set_waiting_room', enabled: false }));
  assert.equal(ack.type, 'ack');
  const after = await pages.teacher.evaluate(() => window.aula.state());
  // Presence (who is speaking, whose tab is in view) goes on meanwhile; nothing else may.
  const since = (await pages.teacher.evaluate(() => window.aula.eventLog()))
    .filter((e) => e.seq > seqBefore && e.event.kind !== 'presence_updated');
  assert.deepEqual(since, [], 'the refused commands caused no event');
  assert.deepEqual(after.snapshot.settings, before.settings);
  assert.deepEqual(after.snapshot.members.map((m) => m.id).sort(), before.members.map((m) => m.id).sort());
  assert.ok(after.snapshot.tracks.filter((t) => t.owner === ben).every((t) => t.enabled));
});

test('a cut student gets exactly the missed events and its video flows again', async () => {
  const ben = await me(pages.ben);
  const teacherId = await me(pages.teacher);
  const seenBefore = await pages.ben.evaluate(() => window.aula.state().lastSeq);
  proxy.cut();
  // The server notices the drop; the class goes on without Ben.
  await eventually(() => pages.teacher.evaluate((id) => {
    const m = window.aula.state().snapshot.members.find((x) => x.id === id);
    return m && !m.connected;
  }, ben), { what: 'the teacher sees Ben disconnected' });
  for (const locked of [true, false, true, false]) {
    const r = await pages.teacher.evaluate((l) => window.aula.command({ kind: 'set_locked', locked: l }), locked);
    assert.equal(r.type, 'ack');
  }
  await pages.teacher.evaluate(() => window.aula.command({ kind: 'set_waiting_room', enabled: true }));
  await pages.teacher.evaluate(() => window.aula.command({ kind: 'set_waiting_room', enabled: false }));
  const missedUpTo = await pages.teacher.evaluate(() => window.aula.state().lastSeq);
  assert.ok(missedUpTo > seenBefore + 6);
  proxy.restore();

  await eventually(() => pages.ben.evaluate((s) => window.aula.state().phase === 'joined' && window.aula.state().lastSeq >= s, missedUpTo),
    { what: 'Ben reconnects and catches up', timeout: 45_000 });
  const benLog = await log(pages.ben);
  const teacherLog = await log(pages.teacher);
  const seqs = benLog.map((e) => e.seq);
  assert.equal(new Set(seqs).size, seqs.length, 'no event twice');
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `no gap after ${seqs[i - 1]}`);
  // What Ben holds for the missed range is exactly what the teacher saw.
  const range = (l) => l.filter((e) => e.seq > seenBefore && e.seq <= missedUpTo).map((e) => JSON.stringify(e));
  assert.deepEqual(range(benLog), range(teacherLog));
  assert.equal(range(benLog).length, missedUpTo - seenBefore);
  // Ben's replica equals the teacher's.
  const view = (p) => p.evaluate(() => {
    const s = window.aula.state().snapshot;
    return { settings: s.settings, members: s.members.map((m) => [m.id, m.connected]).sort() };
  });
  await eventually(async () => JSON.stringify(await view(pages.ben)) === JSON.stringify(await view(pages.teacher)),
    { what: 'same room view' });
  // Media was renegotiated without a reload: Ben sees the teacher again and vice versa.
  await assertReceivesFrom(pages.ben, [teacherId], 'ben after reconnect');
  await assertReceivesFrom(pages.teacher, [ben], 'teacher sees ben after reconnect');
});

test('a student of another class receives no media and no events from this one', async () => {
  const created = await fetch(`${server.base}/api/classes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.ready.operator_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'History' }),
  }).then((r) => r.json());
  const cleo = await openClassPage(browser, withParams(created.student_link, { autojoin: '1', name: 'Cleo' }));
  const firstClass = new Set([await me(pages.teacher), await me(pages.ana), await me(pages.ben)]);
  // Activity in the first class while Cleo is in the second.
  await pages.teacher.evaluate(() => window.aula.command({ kind: 'set_locked', locked: true }));
  await pages.teacher.evaluate(() => window.aula.command({ kind: 'set_locked', locked: false }));
  // Give media time to arrive if it were (wrongly) going to.
  await new Promise((r) => setTimeout(r, 3000));
  const s = await stats(cleo);
  assert.deepEqual(s.filter((x) => x.framesDecoded > 0 || x.audioBytesReceived > 0), []);
  const state = await cleo.evaluate(() => window.aula.state());
  assert.deepEqual(state.snapshot.members.map((m) => m.id), [state.me.id]);
  const events = await log(cleo);
  for (const e of events) {
    const who = e.event.member?.id ?? e.event.member ?? e.event.by ?? e.event.track?.owner;
    assert.ok(!firstClass.has(who), `event from the first class reached Cleo: ${JSON.stringify(e)}`);
    assert.notEqual(e.event.kind, 'settings_changed');
  }
  // And the first class does not see Cleo.
  const tv = await pages.teacher.evaluate(() => window.aula.state().snapshot.members.map((m) => m.id));
  assert.ok(!tv.includes(state.me.id));
  await cleo.context().close();
});
