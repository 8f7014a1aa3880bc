// Each viewer gets a simulcast layer no taller than its tiles: a student whose window
// shows small tiles receives the teacher's quarter-size layer on a fast link, and climbs
// to a larger one when its window grows. Loopback; the teacher publishes three layers.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, startServer, withParams } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a small window gets the small layer, a large one a larger layer', async () => {
  const teacher = await openClassPage(browser, withParams(server.ready.teacher_link, { autojoin: '1' }));
  const student = await openClassPage(browser, withParams(server.ready.student_link, { autojoin: '1', name: 'Pia' }), {
    contextOptions: { viewport: { width: 420, height: 360 } },
  });
  const t = await teacher.evaluate(() => window.aula.state().me.id);
  const width = async () => {
    const s = await student.evaluate(() => window.aula.inboundStats());
    return s.find((r) => r.memberId === t)?.frameWidth ?? 0;
  };
  const tileH = () => student.evaluate(() => parseInt(getComputedStyle(document.querySelector('[data-testid=grid]')).getPropertyValue('--tile-h'), 10));
  const small = await eventually(async () => {
    const w = await width();
    return w > 0 && w <= 240 && w;
  }, { what: 'the quarter-size layer in a small window', timeout: 45_000 });
  assert.ok((await tileH()) < 200, `small tiles: ${await tileH()} px`);

  await student.setViewportSize({ width: 1920, height: 1080 });
  const large = await eventually(async () => {
    const w = await width();
    return w >= 480 && w;
  }, { what: 'a larger layer once the window grew', timeout: 45_000 });
  assert.ok(large > small, `${small} → ${large}`);
  console.log(`# tiles ${await tileH()} px tall: width ${small} → ${large}`);
});
