// The teacher client core (headless, no window) publishes the synthetic camera, a tone
// and a screen track through the real server; a headless Chromium student receives all
// three, reads the frame counter drawn into the teacher's video, and the teacher core
// decodes the student's video.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, root, startServer, withParams } from './harness.mjs';
import { installStampReader, readStamps } from './stamp.mjs';
import { startTeacherCore } from './teacher.mjs';

const coreBin = process.env.AULA_TEACHER_CORE_BIN ?? path.join(root, 'target/debug/aula-teacher-core');

let server;
let browser;
let core;
let student;
let coreOut = { ready: null, stats: null, logs: [] };

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  core = startTeacherCore(coreBin, server, ['--title', 'Teacher core e2e', '--screen', 'synthetic'],
    process.env.AULA_CORE_LOG);
  coreOut = core.out;
  await eventually(() => coreOut.ready, { what: `the teacher core to create its class; logs:\n${coreOut.logs.join('')}` });
  student = await openClassPage(browser, withParams(coreOut.ready.student_link, { autojoin: '1', name: 'Ana' }));
});

after(async () => {
  // The core's log, for a failure's post-mortem.
  writeFileSync(path.join(os.tmpdir(), 'aula-teacher-core.log'), coreOut.logs.join(''));
  if (server) writeFileSync(path.join(os.tmpdir(), 'aula-teacher-core-server.log'), server.logs.join(''));
  await core?.stop();
  await browser?.close();
  await server?.stop();
});

test('a Chromium student receives the teacher core camera, tone and screen, with real advancing frames', async () => {
  await student.evaluate(installStampReader());
  const teacherTracks = await eventually(async () => {
    const tracks = await student.evaluate(() =>
      window.aula.receivedTracks().map((t) => ({ trackId: t.trackId, kind: t.kind })));
    const room = await student.evaluate(() => window.aula.state().snapshot);
    const teacher = room?.members.find((m) => m.role === 'teacher');
    if (!teacher) return null;
    const mine = room.tracks.filter((t) => t.owner === teacher.id);
    const got = mine.filter((t) => tracks.some((r) => r.trackId === t.id));
    return got.length === 3 ? mine : null;
  }, { what: 'three teacher tracks at the student', timeout: 45_000 });

  // Audio: bytes received rise.
  const stats = () => student.evaluate(() => window.aula.inboundStats());
  const before = (await stats()).find((s) => teacherTracks[0].owner === s.memberId);
  await eventually(async () => {
    const now = (await stats()).find((s) => s.memberId === before.memberId);
    return now.audioBytesReceived > before.audioBytesReceived + 1000;
  }, { what: 'rising audio bytes from the teacher core' });

  // Both video tracks carry real frames whose counter advances.
  for (const kind of ['camera', 'screen']) {
    const track = teacherTracks.find((t) => t.kind === kind);
    const reads = await eventually(async () => {
      const r = await readStamps(student, track.id, 15);
      const ok = r.filter((x) => x.stamp);
      return ok.length >= 10 ? ok : null;
    }, { what: `readable frame stamps on the ${kind} track`, timeout: 45_000 });
    const counters = reads.map((r) => r.stamp.counter);
    for (let i = 1; i < counters.length; i++) {
      assert.ok(counters[i] >= counters[i - 1], `${kind} counters never go back: ${counters}`);
    }
    assert.ok(counters.at(-1) > counters[0], `${kind} counter advances: ${counters}`);
    const lat = reads.map((r) => r.shownAt - r.stamp.captureMs).sort((a, b) => a - b);
    console.log(`${kind}: ${reads[0].w}x${reads[0].h}, counters ${counters[0]}..${counters.at(-1)}, capture->shown p50 ${lat[Math.floor(lat.length / 2)].toFixed(1)} ms`);
  }
});

test('the teacher core decodes the student\'s video', async () => {
  await new Promise((r) => setTimeout(r, 3000));
  console.log(`student sends: ${JSON.stringify(await student.evaluate(() => window.aula.sentCodecs()))}`);
  const studentId = await student.evaluate(() => window.aula.state().me.id);
  const first = await eventually(() => {
    const t = coreOut.stats?.remote.find((r) => r.member_id === studentId && r.kind === 'video' && r.frames_decoded > 0);
    return t ? { ...t } : null;
  }, { what: `decoded student frames at the teacher core; last stats ${JSON.stringify(coreOut.stats)}`, timeout: 45_000 });
  await eventually(() => {
    const t = coreOut.stats.remote.find((r) => r.track_id === first.track_id);
    return t.frames_decoded > first.frames_decoded + 10;
  }, { what: 'rising decoded frames' });
  const t = coreOut.stats.remote.find((r) => r.track_id === first.track_id);
  assert.ok(t.width > 0 && t.height > 0, `decoded size ${t.width}x${t.height}`);
  console.log(`teacher core decoded ${t.codec} ${t.width}x${t.height}, ${t.frames_decoded} frames, ${t.decode_errors} errors`);
});

test('the teacher core sends its camera as three layers, and each student gets the one its tiles need', async () => {
  // All three layers run on a fast link, each at its own size.
  const layers = await eventually(() => {
    const l = coreOut.stats?.camera_layers;
    return l?.length === 3 && l.every((x) => x.active && x.frames > 30) ? l : null;
  }, { what: `three active camera layers; last ${JSON.stringify(coreOut.stats?.camera_layers)}` });
  assert.deepEqual(layers.map((l) => l.rid), ['q', 'h', 'f']);
  assert.deepEqual(layers.map((l) => l.height), [90, 180, 360]);

  const room = await student.evaluate(() => window.aula.state().snapshot);
  const teacher = room.members.find((m) => m.role === 'teacher');
  const camera = room.tracks.find((t) => t.owner === teacher.id && t.kind === 'camera');
  const shownWidth = async (page) => {
    const r = await readStamps(page, camera.id, 3);
    return r.at(-1).w;
  };
  const tileH = (page) => page.evaluate(() => parseInt(getComputedStyle(document.querySelector('[data-testid=grid]')).getPropertyValue('--tile-h'), 10));
  // A small window shows tiles about 60 px tall: the SFU switches the student to the
  // quarter-size layer (90 lines).
  await student.setViewportSize({ width: 360, height: 300 });
  const small = await eventually(async () => {
    const w = await shownWidth(student);
    return w > 0 && w <= 160 && w;
  }, { what: 'the quarter-size camera layer in a small window', timeout: 45_000 });
  // A laptop with a high-density screen shows tiles taller than the full layer's 360
  // lines: that student gets the full layer while the first keeps its small one.
  const sharp = await openClassPage(browser, withParams(coreOut.ready.student_link, { autojoin: '1', name: 'Bea' }), {
    contextOptions: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 2 },
  });
  await sharp.evaluate(installStampReader());
  let last;
  const large = await eventually(async () => {
    last = { width: await shownWidth(sharp), tile: await tileH(sharp) };
    return last.width === 640 && last.width;
  }, { what: 'the full camera layer on a high-density laptop', timeout: 45_000 })
    .catch((e) => { throw new Error(`${e.message}; last seen ${JSON.stringify(last)}`); });
  const stillSmall = await shownWidth(student);
  assert.ok(stillSmall <= 160, `the small window keeps its small layer: ${stillSmall}`);
  console.log(`teacher core camera layers ${layers.map((l) => `${l.rid} ${l.width}x${l.height}`).join(', ')}; small window ${small} px wide (tiles ${await tileH(student)} px), high-density laptop ${large} px (tiles ${last.tile} CSS px)`);
});
