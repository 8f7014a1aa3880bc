// Benchmark: how long a viewer takes to change simulcast layer after its link changes.
// A teacher in Chromium publishes three layers; one student's link (a network namespace
// of its own) is cut to about 300 kbit/s with 2% loss, then restored, `--cycles` times.
// Down: from the cut to the student's decoder showing the low layer (or the tile saying
// "video paused"). Up: from the restore to a layer of at least half size again.
// Prints every cycle and p50/p95 of each. Goal: < 2 s down, < 5 s up. Needs root (it
// makes namespaces); traffic stays between them. Run through `scripts/bench.sh layers`.
//
//   node crates/bench/browser/layers.mjs [--cycles 8]

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { eventually } from '../../../tests/e2e/harness.mjs';
import { FULL, isHigh, isLow, startWeakLinkClass } from '../../../tests/e2e/simulcast.mjs';

const { values: opts } = parseArgs({ options: { cycles: { type: 'string', default: '8' } } });
const cycles = Number(opts.cycles);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};

/** Polls `page`'s view every 50 ms until `ok`; the time it took. */
async function timeUntil(cls, page, ok, what) {
  const t0 = Date.now();
  let last;
  await eventually(async () => {
    last = await cls.view(page);
    return ok(last);
  }, { what, timeout: 60_000, interval: 50 });
  return { ms: Date.now() - t0, view: last };
}

const cls = await startWeakLinkClass();
try {
  await eventually(async () => (await cls.view(cls.pages.weak)).frameWidth === FULL,
    { what: 'the student on the full layer', timeout: 60_000 });
  const down = [];
  const up = [];
  for (let i = 0; i < cycles; i++) {
    cls.weaken(true);
    const d = await timeUntil(cls, cls.pages.weak, isLow, 'the low layer');
    cls.weaken(false);
    const u = await timeUntil(cls, cls.pages.weak, isHigh, 'a higher layer');
    down.push(d.ms);
    up.push(u.ms);
    console.log(`cycle ${i + 1}: down ${d.ms} ms (${d.view.paused ? 'audio only' : `width ${d.view.frameWidth}`}), up ${u.ms} ms (width ${u.view.frameWidth})`);
    // Let the estimate settle on the clean link before the next cut.
    await new Promise((r) => setTimeout(r, 8000));
  }
  console.log(`layer switch over ${cycles} cycles: down p50 ${pct(down, 0.5)} ms, p95 ${pct(down, 0.95)} ms; up p50 ${pct(up, 0.5)} ms, p95 ${pct(up, 0.95)} ms (goal < 2000 down, < 5000 up)`);
} finally {
  // The server's log, for where the time went (run with RUST_LOG=info,aula_sfu=debug).
  if (process.env.AULA_SERVER_LOG_FILE) writeFileSync(process.env.AULA_SERVER_LOG_FILE, cls.server.logs.join(''));
  await cls.close();
}
