// TURN through a real coturn (Debian's), with credentials aula-server mints per welcome
// (coturn's use-auth-secret scheme):
// - a student forced to relay-only ICE sends and receives media through coturn over UDP;
// - a second student allowed only TURN over TCP gets through too;
// - the nominated pairs are of type `relay`, over the protocol each was allowed;
// - a wrong secret on the server's side means no relay at all (coturn refuses);
// - /healthz and /metrics say whether each TURN server answers.
// Everything stays on loopback: coturn listens and relays on 127.0.0.1.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, freePort, launchChromium, openClassPage, receivesFrom, relayOnly, startCoturn, startServer, withParams } from './harness.mjs';

const SECRET = `turn-${Math.random().toString(36).slice(2)}`;
let coturn;
let server;
let browser;
const pages = {};

before(async () => {
  coturn = await startCoturn(SECRET);
  const urls = [`turn:127.0.0.1:${coturn.port}?transport=udp`, `turn:127.0.0.1:${coturn.port}?transport=tcp`];
  server = await startServer({ AULA_TURN_URLS: urls.join(','), AULA_TURN_SECRET: SECRET });
  browser = await launchChromium();
  pages.teacher = await openClassPage(browser, withParams(server.ready.teacher_link, { autojoin: '1' }));
  pages.udp = await openClassPage(browser, withParams(server.ready.student_link, { autojoin: '1', name: 'Uma' }), { initScript: relayOnly('udp') });
  pages.tcp = await openClassPage(browser, withParams(server.ready.student_link, { autojoin: '1', name: 'Tom' }), { initScript: relayOnly('tcp') });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await coturn?.stop();
});

const me = (page) => page.evaluate(() => window.aula.state().me.id);
/** Local relay candidates the page's peer connections gathered. */
const relayCandidates = (page) => page.evaluate(async () => {
  let n = 0;
  for (const pc of window.__pcs ?? []) {
    for (const s of (await pc.getStats()).values()) {
      if (s.type === 'local-candidate' && s.candidateType === 'relay') n++;
    }
  }
  return n;
});

test('every welcome carries TURN credentials in coturn\'s scheme', async () => {
  const servers = await pages.udp.evaluate(() => window.__iceServers);
  assert.equal(servers.length, 1);
  const [s] = servers;
  assert.deepEqual(s.urls, [`turn:127.0.0.1:${coturn.port}?transport=udp`]);
  const [expiry, member] = s.username.split(':');
  assert.equal(member, await me(pages.udp));
  const left = Number(expiry) - Date.now() / 1000;
  assert.ok(left > 3600 && left <= 43_200 + 5, `credential lasts ${left} s`);
  assert.match(s.credential, /^[A-Za-z0-9+/]{27}=$/, 'base64 of an HMAC-SHA1');
});

test('a relay-only student over TURN/UDP sees, hears and is seen by the teacher', async () => {
  const [t, u] = [await me(pages.teacher), await me(pages.udp)];
  await receivesFrom(pages.udp, t, 'Uma from the teacher');
  await receivesFrom(pages.teacher, u, 'the teacher from Uma');
  const pairs = await pages.udp.evaluate(() => window.aula.selectedCandidatePairs());
  assert.ok(pairs.length > 0);
  assert.equal(pairs[0].local.candidateType, 'relay', JSON.stringify(pairs[0]));
  assert.equal(pairs[0].local.relayProtocol, 'udp', JSON.stringify(pairs[0]));
  assert.ok(pairs[0].bytesReceived > 0);
});

test('a student whose network allows only TCP gets through TURN/TCP', async () => {
  const [t, m] = [await me(pages.teacher), await me(pages.tcp)];
  await receivesFrom(pages.tcp, t, 'Tom from the teacher');
  await receivesFrom(pages.teacher, m, 'the teacher from Tom');
  const pairs = await pages.tcp.evaluate(() => window.aula.selectedCandidatePairs());
  assert.equal(pairs[0].local.candidateType, 'relay', JSON.stringify(pairs[0]));
  assert.equal(pairs[0].local.relayProtocol, 'tcp', JSON.stringify(pairs[0]));
});

test('/healthz and /metrics show each TURN server reachable', async () => {
  const health = await eventually(async () => {
    const text = await fetch(`${server.base}/healthz`).then((r) => r.text());
    return !text.includes('not checked yet') && text;
  }, { what: 'the first TURN probe' });
  assert.match(health, /^ok\n/);
  assert.ok(health.includes(`turn turn:127.0.0.1:${coturn.port}?transport=udp reachable`), health);
  assert.ok(health.includes(`turn turn:127.0.0.1:${coturn.port}?transport=tcp reachable`), health);
  const metrics = await fetch(`${server.base}/metrics`).then((r) => r.text());
  assert.ok(metrics.includes(`aula_turn_reachable{url="turn:127.0.0.1:${coturn.port}?transport=udp"} 1`), metrics);
});

test('credentials minted with another secret get no relay; a dead TURN server shows in /healthz', async () => {
  const dead = await freePort();
  const other = await startServer({
    AULA_TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp,turn:127.0.0.1:${dead}?transport=tcp`,
    AULA_TURN_SECRET: `${SECRET}-wrong`,
  });
  try {
    const health = await eventually(async () => {
      const text = await fetch(`${other.base}/healthz`).then((r) => r.text());
      return !text.includes('not checked yet') && text;
    }, { what: 'the first TURN probe' });
    assert.ok(health.includes(`turn turn:127.0.0.1:${dead}?transport=tcp unreachable`), health);
    const metrics = await fetch(`${other.base}/metrics`).then((r) => r.text());
    assert.ok(metrics.includes(`aula_turn_reachable{url="turn:127.0.0.1:${dead}?transport=tcp"} 0`), metrics);
    const page = await openClassPage(browser, withParams(other.ready.student_link, { autojoin: '1', name: 'Eve' }), { initScript: relayOnly('udp') });
    // Relay-only with refused credentials: ICE gathers no candidate and never connects.
    await new Promise((r) => setTimeout(r, 6_000));
    const pairs = await page.evaluate(() => window.aula.selectedCandidatePairs());
    assert.equal(pairs.filter((p) => p.bytesReceived > 0).length, 0, JSON.stringify(pairs));
    // coturn refused the allocation: not one relay candidate was gathered.
    assert.equal(await relayCandidates(page), 0);
    assert.ok(await relayCandidates(pages.udp) > 0, 'the right secret gathers relay candidates');
    await page.context().close();
  } finally {
    await other.stop();
  }
});
