// Benchmark: the teacher app's core live on loopback with real Chromium students.
// - glass-to-glass latency: the capture time stamped into each synthetic frame, to the
//   moment Chromium presents that frame (requestVideoFrameCallback), camera and screen;
// - the teacher core's resident memory and CPU while live with 1 and then N students,
//   every student sending camera and microphone.
// Loopback only; every wait is bounded. Run through `scripts/bench.sh teacher-live`.
//
//   node crates/bench/browser/teacher-live.mjs [--students 10] [--samples 300]

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import {
  eventually, launchChromium, openClassPage, root, startServer, withParams,
} from '../../../tests/e2e/harness.mjs';
import { installStampReader, readStamps } from '../../../tests/e2e/stamp.mjs';

const { values: opts } = parseArgs({
  options: {
    students: { type: 'string', default: '10' },
    samples: { type: 'string', default: '300' },
    'camera-size': { type: 'string', default: '1280x720' },
    'screen-size': { type: 'string', default: '1920x1080' },
  },
});
const students = Number(opts.students);
const samples = Number(opts.samples);
const coreBin = process.env.AULA_TEACHER_CORE_BIN ?? path.join(root, 'target/release/aula-teacher-core');

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const rssMiB = (pid) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
};
const cpuSeconds = (pid) => {
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(/\s+/);
  return (Number(rest[11]) + Number(rest[12])) / 100;
};

/** Samples the core's RSS and CPU for `seconds`. */
async function measure(pid, seconds) {
  const rss = [];
  const cpu0 = cpuSeconds(pid);
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    rss.push(rssMiB(pid));
    await new Promise((r) => setTimeout(r, 500));
  }
  const cpu = (cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000);
  rss.sort((a, b) => a - b);
  return { rssP50: pct(rss, 0.5), rssMax: rss.at(-1), cpuCores: cpu };
}

const server = await startServer();
const browser = await launchChromium();
const out = { ready: null, stats: null, logs: [] };
const core = spawn(coreBin, [
  '--server', server.base, '--title', 'Bench: teacher live', '--screen', 'synthetic',
  '--camera-size', opts['camera-size'], '--screen-size', opts['screen-size'],
], {
  env: { ...process.env, AULA_OPERATOR_KEY: server.ready.operator_key, RUST_LOG: 'warn' },
  stdio: ['pipe', 'pipe', 'pipe'],
});
core.stderr.on('data', (d) => out.logs.push(d.toString()));
readline.createInterface({ input: core.stdout }).on('line', (line) => {
  const msg = JSON.parse(line);
  if (msg.ready) out.ready = msg.ready;
  if (msg.stats) out.stats = msg.stats;
});

const pages = [];
try {
  await eventually(() => out.ready, { what: 'the teacher core to create its class' });
  const link = out.ready.student_link;
  const first = await openClassPage(browser, withParams(link, { autojoin: '1', name: 'Student 1' }));
  pages.push(first);
  await first.evaluate(installStampReader());
  const tracks = await eventually(async () => {
    const room = await first.evaluate(() => window.aula.state().snapshot);
    const teacher = room?.members.find((m) => m.role === 'teacher');
    const got = await first.evaluate(() => window.aula.receivedTracks().map((t) => t.trackId));
    const mine = room?.tracks.filter((t) => t.owner === teacher?.id && got.includes(t.id)) ?? [];
    return mine.length === 3 ? mine : null;
  }, { what: 'the teacher tracks at the student', timeout: 60_000 });

  console.log(`teacher core live; camera ${opts['camera-size']} @30, screen ${opts['screen-size']} @15, on ${os.cpus().length} cores`);
  console.log('glass-to-glass (stamped capture time -> Chromium presents the frame; same clock, loopback):');
  for (const kind of ['camera', 'screen']) {
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

  const one = await measure(core.pid, 10);
  console.log(`teacher core with 1 student: RSS p50 ${one.rssP50.toFixed(1)} MiB (max ${one.rssMax.toFixed(1)}), CPU ${(one.cpuCores * 100).toFixed(0)}% of a core`);
  for (let i = 2; i <= students; i++) {
    pages.push(await openClassPage(browser, withParams(link, { autojoin: '1', name: `Student ${i}` })));
  }
  const decoding = await eventually(() => {
    const n = out.stats?.remote.filter((r) => r.kind === 'video' && r.frames_decoded > 0).length ?? 0;
    return n >= students ? n : null;
  }, { what: `${students} student videos decoding at the teacher core`, timeout: 120_000 });
  const many = await measure(core.pid, 15);
  console.log(`teacher core with ${students} students (${decoding} student videos decoding): RSS p50 ${many.rssP50.toFixed(1)} MiB (max ${many.rssMax.toFixed(1)}), CPU ${(many.cpuCores * 100).toFixed(0)}% of a core`);
} finally {
  if (core.exitCode === null) {
    core.stdin.write('end\n');
    await new Promise((r) => {
      const t = setTimeout(() => { core.kill('SIGKILL'); r(); }, 5000);
      core.on('exit', () => { clearTimeout(t); r(); });
    });
  }
  await browser.close();
  await server.stop();
}
