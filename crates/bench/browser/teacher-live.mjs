// Benchmark: the teacher app's core live on loopback with real Chromium students.
// - glass-to-glass latency: the capture time stamped into each synthetic frame, to the
//   moment Chromium presents that frame (requestVideoFrameCallback), camera and screen;
// - the teacher's resident memory and CPU while live with 1 and then N students, every
//   student sending camera and microphone.
// The teacher is the headless core (`aula-teacher-core`), or with --app the real Tauri
// window under an Xvfb of its own, driven through tauri-driver; then memory is the whole
// app: its process and the WebKit processes it starts (RSS, and PSS so shared pages are
// not counted twice).
// Loopback only; every wait is bounded. Run through `scripts/bench.sh teacher-live`.
//
//   node crates/bench/browser/teacher-live.mjs [--students 10] [--samples 300] [--app]

import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  eventually, launchChromium, openClassPage, root, startServer, withParams,
} from '../../../tests/e2e/harness.mjs';
import { installStampReader, readStamps } from '../../../tests/e2e/stamp.mjs';
import { startTeacherCore, teacherAppEnv } from '../../../tests/e2e/teacher.mjs';
import {
  createClassAndGoLive, newSession, startTauriDriver, startXvfb,
} from '../../../tests/e2e/webdriver.mjs';

const { values: opts } = parseArgs({
  options: {
    students: { type: 'string', default: '10' },
    samples: { type: 'string', default: '300' },
    'camera-size': { type: 'string', default: '1280x720' },
    'screen-size': { type: 'string', default: '1920x1080' },
    app: { type: 'boolean', default: false },
  },
});
const students = Number(opts.students);
const samples = Number(opts.samples);
const coreBin = process.env.AULA_TEACHER_CORE_BIN ?? path.join(root, 'target/release/aula-teacher-core');
const appBin = process.env.AULA_TEACHER_BIN ?? path.join(root, 'target/release/aula-teacher');

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const rssMiB = (pid) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
};
const cpuSeconds = (pid) => {
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(/\s+/);
  return (Number(rest[11]) + Number(rest[12])) / 100;
};

const pssMiB = (pid) => {
  const line = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n').find((l) => l.startsWith('Pss:'));
  return Number(line.split(/\s+/)[1]) / 1024;
};
const parentOf = (pid) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(/\s+/)[1]);
const nameOf = (pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

/** The teacher's processes: the core, or the app and the WebKit processes under it. */
function teacherPids(rootPid) {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const out = [rootPid];
  for (const pid of all) {
    try {
      for (let p = parentOf(pid); p > 1; p = parentOf(p)) {
        if (p === rootPid) { out.push(pid); break; }
      }
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** Samples the teacher's memory and CPU for `seconds`. */
async function measure(rootPid, seconds) {
  const rss = [];
  const pss = [];
  const pids = teacherPids(rootPid);
  const cpuOf = () => pids.reduce((a, p) => { try { return a + cpuSeconds(p); } catch { return a; } }, 0);
  const cpu0 = cpuOf();
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    let r = 0;
    let q = 0;
    for (const p of pids) {
      try { r += rssMiB(p); q += pssMiB(p); } catch { /* gone */ }
    }
    rss.push(r);
    pss.push(q);
    await new Promise((res) => setTimeout(res, 500));
  }
  const cpu = (cpuOf() - cpu0) / ((Date.now() - t0) / 1000);
  rss.sort((a, b) => a - b);
  pss.sort((a, b) => a - b);
  return {
    rssP50: pct(rss, 0.5), rssMax: rss.at(-1), pssP50: pct(pss, 0.5), cpuCores: cpu,
    processes: pids.map((p) => { try { return nameOf(p); } catch { return '?'; } }).join(', '),
  };
}
const describe = (m) => `RSS p50 ${m.rssP50.toFixed(1)} MiB (max ${m.rssMax.toFixed(1)}), PSS p50 ${m.pssP50.toFixed(1)} MiB, `
  + `CPU ${(m.cpuCores * 100).toFixed(0)}% of a core [${m.processes}]`;

const server = await startServer();
const browser = await launchChromium();
let out = { ready: null, stats: null, logs: [] };
let core;
let app;
let xvfb;
if (opts.app) {
  xvfb = await startXvfb('1280x800x24');
  const home = mkdtempSync(path.join(os.tmpdir(), 'aula-bench-app-'));
  const driver = await startTauriDriver(teacherAppEnv(xvfb.display, home, server, 'warn'));
  const session = await newSession(driver.url, appBin);
  app = { driver, session, home };
} else {
  core = startTeacherCore(coreBin, server, [
    '--title', 'Bench: teacher live', '--screen', 'synthetic',
    '--camera-size', opts['camera-size'], '--screen-size', opts['screen-size'],
  ], 'warn');
  out = core.out;
}

/** Pid of the teacher: the core, or the app (the child of WebKitWebDriver). */
function teacherRoot() {
  if (core) return core.child.pid;
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  return all.find((p) => { try { return nameOf(p) === 'aula-teacher'; } catch { return false; } });
}

/** How many students' videos the teacher is decoding. */
async function decodingStudents() {
  if (core) return out.stats?.remote.filter((r) => r.kind === 'video' && r.frames_decoded > 0).length ?? 0;
  return app.session.exec(
    "return [...document.querySelectorAll('[data-testid=tile]')].filter(t => t.dataset.hasVideo === 'true' && Number(t.dataset.frames) > 0).length;");
}

const pages = [];
try {
  let link;
  if (core) {
    await eventually(() => out.ready, { what: 'the teacher core to create its class' });
    link = out.ready.student_link;
  } else {
    link = await createClassAndGoLive(app.session, 'Bench: teacher app live');
  }
  const first = await openClassPage(browser, withParams(link, { autojoin: '1', name: 'Student 1' }));
  pages.push(first);
  await first.evaluate(installStampReader());
  const tracks = await eventually(async () => {
    const room = await first.evaluate(() => window.aula.state().snapshot);
    const teacher = room?.members.find((m) => m.role === 'teacher');
    const got = await first.evaluate(() => window.aula.receivedTracks().map((t) => t.trackId));
    const mine = room?.tracks.filter((t) => t.owner === teacher?.id && got.includes(t.id)) ?? [];
    return mine.length >= (core ? 3 : 1) && mine.some((t) => t.kind === 'camera') ? mine : null;
  }, { what: 'the teacher tracks at the student', timeout: 60_000 });

  console.log(core
    ? `teacher core live; camera ${opts['camera-size']} @30, screen ${opts['screen-size']} @15, on ${os.cpus().length} cores`
    : `teacher app (Tauri window under Xvfb) live; synthetic camera 1280x720 @30, tone; on ${os.cpus().length} cores`);
  console.log('glass-to-glass (stamped capture time -> Chromium presents the frame; same clock, loopback):');
  for (const kind of core ? ['camera', 'screen'] : ['camera']) {
    const track = tracks.find((t) => t.kind === kind);
    // Let the encoder's ramp-up and the first keyframes pass.
    await readStamps(first, track.id, 30);
    const reads = (await readStamps(first, track.id, samples)).filter((r) => r.stamp);
    const lat = reads.map((r) => r.shownAt - r.stamp.captureMs).sort((a, b) => a - b);
    const counters = reads.map((r) => r.stamp.counter);
    const span = counters.at(-1) - counters[0] + 1;
    console.log(
      `  ${kind.padEnd(6)} ${reads[0].w}x${reads[0].h}: ${reads.length} frames read (counter span ${span}), `
      + `p50 ${pct(lat, 0.5).toFixed(1)} ms, p95 ${pct(lat, 0.95).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms, max ${lat.at(-1).toFixed(1)} ms`,
    );
  }

  const who = core ? 'teacher core' : 'teacher app';
  const one = await measure(teacherRoot(), 10);
  console.log(`${who} with 1 student: ${describe(one)}`);
  for (let i = 2; i <= students; i++) {
    pages.push(await openClassPage(browser, withParams(link, { autojoin: '1', name: `Student ${i}` })));
  }
  // Ten Chromium encoders share the 2 cores with everything else: wait up to 2 minutes
  // for every student's video, then measure with however many are flowing, and say so.
  let decoding = 0;
  for (const t0 = Date.now(); Date.now() - t0 < 120_000 && decoding < students;) {
    decoding = await decodingStudents();
    await new Promise((r) => setTimeout(r, 1000));
  }
  const many = await measure(teacherRoot(), 15);
  console.log(`${who} with ${students} students (${decoding} student videos decoding): ${describe(many)}`);
} finally {
  if (app) {
    await app.session.close();
    await app.driver.stop();
    await xvfb.stop();
    rmSync(app.home, { recursive: true, force: true });
  }
  await core?.stop();
  await browser.close();
  await server.stop();
}
