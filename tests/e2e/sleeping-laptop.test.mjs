// A student's laptop sleeps through a busy stretch of class: its socket is held silent
// (nothing read either way) while the teacher makes 5,000 board events of about 1.5 KB,
// far more than the socket's buffers and the server's per-connection queue hold. When
// it wakes, the student resumes with every missed event exactly once, in order and
// equal to the teacher's, instead of retrying the same `resume_from` forever, and the
// teacher's video plays on its screen again.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, startServer, startStallProxy, withParams } from './harness.mjs';

let server;
let browser;
let proxy;
let teacher;
let ben;

before(async () => {
  // The teacher's page makes the 5,000 events quickly; the per-socket flood limit is not
  // what this test is about.
  server = await startServer({ AULA_RATE_PER_SEC: '5000', AULA_RATE_BURST: '10000' });
  browser = await launchChromium();
  proxy = await startStallProxy(server.ready.http);
  teacher = await openClassPage(browser, withParams(server.ready.teacher_link, { autojoin: '1' }));
  const viaProxy = server.ready.student_link.replace(server.base, proxy.url);
  ben = await openClassPage(browser, withParams(viaProxy, { autojoin: '1', name: 'Ben' }));
});

after(async () => {
  await browser?.close();
  proxy?.close();
  await server?.stop();
});

const stats = (page) => page.evaluate(() => window.aula.inboundStats());

async function framesFrom(page, id) {
  const s = await stats(page);
  return s.find((x) => x.memberId === id)?.framesDecoded ?? 0;
}

test('a laptop asleep through 5,000 events wakes with every one of them, once, and live video', async () => {
  const teacherId = await teacher.evaluate(() => window.aula.state().me.id);
  await eventually(async () => (await framesFrom(ben, teacherId)) > 0, { what: "Ben sees the teacher's video", timeout: 45_000 });
  const seqBefore = await ben.evaluate(() => window.aula.state().lastSeq);

  proxy.hold();
  const made = await teacher.evaluate(async (me) => {
    const text = 'x'.repeat(1500);
    let acked = 0;
    for (let b = 0; b < 25; b++) {
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => {
        const k = b * 200 + i;
        return window.aula.command({
          kind: 'place_item', item: `${me}/sleep-${k}`, page: 'p1', tool: 'text', color: 0, width: 10,
          points: [20 + (k % 150) * 12, 20 + Math.floor(k / 150) * 30, 0], text: `${k} ${text}`,
        });
      }));
      acked += replies.filter((r) => r.type === 'ack').length;
    }
    return acked;
  }, teacherId);
  assert.equal(made, 5000);
  const missedUpTo = await teacher.evaluate(() => window.aula.state().lastSeq);
  assert.ok(missedUpTo >= seqBefore + 5000);
  proxy.release();

  await eventually(
    () => ben.evaluate((s) => window.aula.state().phase === 'joined' && window.aula.state().lastSeq >= s, missedUpTo),
    { what: 'Ben wakes and catches up', timeout: 120_000 },
  );
  // Every event after the sleep, in arrival order, nothing removed: a duplicate, a gap or
  // a reordering fails here.
  const benSeqs = await ben.evaluate((s) => window.aula.eventLog().map((e) => e.seq).filter((q) => q > s), seqBefore);
  const upTo = benSeqs.filter((q) => q <= missedUpTo);
  assert.equal(upTo.length, missedUpTo - seqBefore, 'every missed event arrived once');
  upTo.forEach((q, i) => assert.equal(q, seqBefore + 1 + i));
  // What Ben holds for the missed range is exactly what the teacher saw (compared by
  // hash in the pages, to keep megabytes off the test's wire).
  const digest = (page) => page.evaluate(async ([from, to]) => {
    const text = JSON.stringify(window.aula.eventLog().filter((e) => e.seq > from && e.seq <= to).map((e) => [e.seq, e.event]));
    const buf = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
    return Array.from(new Uint8Array(buf)).map((b) => b.toString(16).padStart(2, '0')).join('');
  }, [seqBefore, missedUpTo]);
  assert.equal(await digest(ben), await digest(teacher));
  const items = await ben.evaluate(() => window.aula.board().pages[0].items.length);
  assert.ok(items >= 5000, `Ben's board holds the 5,000 items (${items})`);
  // And the teacher's video plays on Ben's screen again.
  const f0 = await eventually(async () => framesFrom(ben, teacherId), { what: 'video after waking', timeout: 45_000 });
  await eventually(async () => (await framesFrom(ben, teacherId)) > f0, { what: "the teacher's frames rising on Ben's screen", timeout: 45_000 });
  const metrics = await (await fetch(`${server.base}/metrics`)).text();
  const lagging = /^aula_lagging_disconnects_total (\d+)$/m.exec(metrics)?.[1];
  console.log(`sleeping laptop: ${upTo.length} missed events resumed once; lagging disconnects ${lagging}`);
});
