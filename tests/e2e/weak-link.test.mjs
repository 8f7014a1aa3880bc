// Simulcast and per-viewer layers, across hosts made by the test: the teacher publishes
// three layers from the server's host; two students on their own links watch.
// - One student's link is cut to about 300 kbit/s with 2% loss (tc tbf and nftables on
//   both ends of its veth pair). That student drops to a low layer or to audio only
//   ("video paused: weak connection"), and its audio keeps flowing.
// - The other student, on a clean link, keeps the full layer all along: its frame width
//   stays at full size and its video bitrate does not drop.
// - The limit is lifted, and the weak student climbs back to a higher layer.
// The times from each link change to the layer change are printed (the bench suite
// measures them repeatedly: scripts/bench.sh layers). The class is in simulcast.mjs.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, root } from './harness.mjs';
import { FULL, isHigh, isLow, startWeakLinkClass } from './simulcast.mjs';

let cls;
const outDir = path.join(root, 'tests/output');

before(async () => {
  cls = await startWeakLinkClass();
});

after(async () => {
  await cls?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a weak link gets a low layer or audio only; a clean one keeps the full layer; the weak one climbs back', async () => {
  const { pages, view } = cls;
  // Both start on the full layer.
  for (const [name, page] of [['clean', pages.clean], ['weak', pages.weak]]) {
    await eventually(async () => (await view(page)).frameWidth === FULL,
      { what: `${name} on the full layer`, timeout: 120_000 });
  }
  const before0 = await view(pages.clean);
  await sleep(4000);
  const before1 = await view(pages.clean);
  const cleanRateBefore = (before1.videoBytesReceived - before0.videoBytesReceived) / ((before1.at - before0.at) / 1000);

  // The weak link.
  const cutAt = Date.now();
  cls.weaken(true);
  const low = await eventually(async () => {
    const v = await view(pages.weak);
    return isLow(v) && v;
  }, { what: 'the weak student on the low layer or audio only', timeout: 30_000 });
  const downMs = Date.now() - cutAt;
  if (low.paused) {
    // What the student sees: the teacher's tile says why there is no picture.
    mkdirSync(outDir, { recursive: true });
    await pages.weak.screenshot({ path: path.join(outDir, 'video-paused.png') });
    const notice = await pages.weak.evaluate(() => document.querySelector('[data-video-paused=true] .tile-status')?.textContent);
    assert.equal(notice, 'Video paused: weak connection');
  }

  // While it is weak: its audio keeps flowing, and the clean student keeps the full layer
  // at an undiminished bitrate.
  const w0 = await view(pages.weak);
  const c0 = await view(pages.clean);
  let cleanMinWidth = Infinity;
  for (let i = 0; i < 8; i++) {
    await sleep(1000);
    cleanMinWidth = Math.min(cleanMinWidth, (await view(pages.clean)).frameWidth);
  }
  const w1 = await view(pages.weak);
  const c1 = await view(pages.clean);
  assert.ok(w1.audioBytesReceived > w0.audioBytesReceived + 8000, `the weak student's audio flows: ${w0.audioBytesReceived} → ${w1.audioBytesReceived}`);
  const concealed = (w1.concealedSamples - w0.concealedSamples) / Math.max(1, w1.totalSamplesReceived - w0.totalSamplesReceived);
  assert.ok(concealed < 0.2, `the weak student's audio is mostly whole: ${(concealed * 100).toFixed(1)}% concealed`);
  assert.equal(cleanMinWidth, FULL, 'the clean student kept the full layer');
  const cleanRateDuring = (c1.videoBytesReceived - c0.videoBytesReceived) / ((c1.at - c0.at) / 1000);
  assert.ok(cleanRateDuring >= 0.7 * cleanRateBefore,
    `the clean student's video bitrate did not drop: ${Math.round(cleanRateBefore * 8 / 1000)} → ${Math.round(cleanRateDuring * 8 / 1000)} kbit/s`);

  // Lifted: back up.
  const liftAt = Date.now();
  cls.weaken(false);
  await eventually(async () => {
    const v = await view(pages.weak);
    if (!isHigh(v)) throw new Error(`not yet: ${JSON.stringify(v)}`);
    return v;
  }, { what: 'the weak student back on a higher layer', timeout: 120_000 });
  const upMs = Date.now() - liftAt;
  console.log(`# layer switch: down ${downMs} ms (${low.paused ? 'audio only' : `width ${low.frameWidth}`}), up ${upMs} ms`);
});
