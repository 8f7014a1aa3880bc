// The teacher core keeps teaching while its link to the server is down: it draws and chats,
// the commands wait in its SQLite outbox, and when the link returns the student receives
// all of them, in the order they were made, each exactly once. The core's own board
// replica then equals the student's.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, root, startCutProxy, startServer, withParams } from './harness.mjs';
import { startTeacherCore } from './teacher.mjs';

const coreBin = process.env.AULA_TEACHER_CORE_BIN ?? path.join(root, 'target/debug/aula-teacher-core');

let server;
let browser;
let proxy;
let core;
let student;
let tmp;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  proxy = await startCutProxy(server.ready.http);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'aula-offline-'));
  core = startTeacherCore(coreBin, server, ['--title', 'Offline teacher', '--screen', 'none', '--camera-size', '320x180', '--cache', path.join(tmp, 'cache.sqlite')],
    process.env.AULA_CORE_LOG, { base: proxy.url });
  await eventually(() => core.out.ready, { what: `the teacher core's class; logs:\n${core.out.logs.join('')}` });
  await eventually(() => core.out.stats?.link?.state === 'live', { what: 'the core to go live' });
  const link = core.out.ready.student_link.replace(proxy.url, server.base);
  student = await openClassPage(browser, withParams(link, { autojoin: '1', name: 'Ana' }));
});

after(async () => {
  await core?.stop();
  await browser?.close();
  proxy?.close();
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function memberOf(token) {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(Buffer.from(payload, 'base64').toString()).sub;
}

function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined && v[k] !== null).map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

test('an offline teacher draws and chats; the student gets all of it, in order, once', async () => {
  const teacher = memberOf(core.out.ready.teacher_token);
  const seqBefore = await student.evaluate(() => window.aula.state().lastSeq);
  proxy.cut();
  await eventually(() => core.out.stats?.link?.state !== 'live', { what: 'the core to see the link drop' });

  const item = (n) => `${teacher}/off${n}`;
  const commands = [
    { kind: 'start_stroke', item: item(1), page: 'p1', tool: 'pen', color: 0x1e88e5, width: 6, points: [100, 100, 0] },
    { kind: 'append_stroke', item: item(1), points: [20, 10, 0, 20, 10, 0, 20, 10, 0] },
    { kind: 'append_stroke', item: item(1), points: [20, -10, 0, 20, -10, 0] },
    { kind: 'end_stroke', item: item(1) },
    { kind: 'send_chat', text: 'Back in a moment: my Wi-Fi dropped', private_with: null },
    { kind: 'place_item', item: item(2), page: 'p1', tool: 'rect', color: 0xe53935, width: 4, points: [400, 400, 0, 300, 200, 0], text: null },
    { kind: 'add_page', page: 'offline-page', index: null },
    { kind: 'place_item', item: item(3), page: 'p1', tool: 'text', color: 0, width: 32, points: [800, 100, 0], text: 'Written offline' },
    { kind: 'send_chat', text: 'Drawn while offline', private_with: null },
  ];
  for (const command of commands) core.send({ command });
  const sent = await eventually(() => {
    const s = core.out.lines.filter((l) => l.sent);
    return s.length === commands.length && s;
  }, { what: 'every command to be taken' });
  assert.ok(sent.every((l) => l.sent.queued === true), 'all queued in the outbox while offline');

  const fromTeacher = (log) => log.filter((e) => e.seq > seqBefore && (
    ['stroke_points', 'stroke_ended'].includes(e.event.kind) ||
    (e.event.kind === 'stroke_started' && e.event.item.author === teacher) ||
    (e.event.kind === 'item_placed' && e.event.item.author === teacher) ||
    (e.event.kind === 'chat_posted' && e.event.message.from === teacher) ||
    e.event.kind === 'page_added'));
  // Nothing of it leaks through while the link is down (the teacher's disconnect itself
  // is an event the student does see).
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(fromTeacher(await student.evaluate(() => window.aula.eventLog())).length, 0);

  proxy.restore();
  const wanted = ['start_stroke', 'stroke_points', 'stroke_points', 'stroke_ended', 'chat_posted', 'item_placed', 'page_added', 'item_placed', 'chat_posted'];
  const events = await eventually(async () => {
    const got = fromTeacher(await student.evaluate(() => window.aula.eventLog()));
    return got.length >= wanted.length && got;
  }, { what: "the teacher's offline work to reach the student", timeout: 45_000 });
  // In order, once: the kinds in command order, each seq once, nothing extra.
  await new Promise((r) => setTimeout(r, 1000));
  const final = fromTeacher(await student.evaluate(() => window.aula.eventLog()));
  assert.equal(final.length, events.length, 'no duplicate arrived later');
  assert.deepEqual(final.map((e) => (e.event.kind === 'stroke_started' ? 'start_stroke' : e.event.kind)), wanted);
  const seqs = final.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order');
  assert.equal(new Set(seqs).size, seqs.length, 'each once');

  const board = await student.evaluate(() => window.aula.board());
  const p1 = board.pages.find((p) => p.info.id === 'p1');
  const stroke = p1.items.find((i) => i.id === item(1));
  assert.deepEqual(stroke.points, [100, 100, 0, 20, 10, 0, 20, 10, 0, 20, 10, 0, 20, -10, 0, 20, -10, 0]);
  assert.equal(p1.items.find((i) => i.id === item(3)).text, 'Written offline');
  assert.deepEqual(board.pages.map((p) => p.info.id), ['p1', 'offline-page']);
  const chat = (await student.evaluate(() => window.aula.state().snapshot.chat)).map((m) => m.text);
  assert.deepEqual(chat, ['Back in a moment: my Wi-Fi dropped', 'Drawn while offline']);

  // The core's replica equals the student's board.
  const coreBoard = await eventually(async () => {
    core.send('board');
    await new Promise((r) => setTimeout(r, 300));
    const b = core.out.lines.filter((l) => 'board' in l).at(-1)?.board;
    return b && canonical(b) === canonical(await student.evaluate(() => window.aula.board())) && b;
  }, { what: "the core's board to equal the student's" });
  assert.ok(coreBoard.pages.length === 2);
});
