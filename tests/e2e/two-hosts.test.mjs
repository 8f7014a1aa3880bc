// A class across two hosts, not loopback: aula-server and coturn in one network
// namespace, Chromium students in another, joined by a veth pair with private addresses.
// - The server serves HTTPS with its self-signed certificate (which the students'
//   browsers are told to accept): the page is a secure context, so getUserMedia works
//   and the student is seen and heard; it receives the teacher's video and audio.
// - Plain HTTP from the student host is redirected to HTTPS.
// - With all UDP from the student host dropped (nftables), a second student still
//   connects, through TURN over TCP: its nominated pair is of type `relay`.
// - A student held to relay-only ICE connects through coturn over UDP.
// - The connectivity check page (/check) passes from the student host, and with UDP
//   blocked it warns, with the relay over TCP passing.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openClassPage, receivesFrom as receiving, relayOnly, startCoturn, startServer, withParams } from './harness.mjs';
import { makeHosts } from './netns.mjs';

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../output');
const SECRET = `turn-${Math.random().toString(36).slice(2)}`;
let hosts;
let coturn;
let server;
const browsers = [];
const pages = {};
// The students' browsers accept the server's certificate as a student who compared the
// fingerprint would.
const secure = { contextOptions: { ignoreHTTPSErrors: true } };

before(async () => {
  hosts = makeHosts();
  const { server: srv } = hosts;
  server = await startServer(hosts.serverEnv({
    AULA_TURN_URLS: `turn:${srv.ip}:3478?transport=udp,turn:${srv.ip}:3478?transport=tcp,turns:${srv.ip}:5349?transport=tcp`,
    AULA_TURN_SECRET: SECRET,
  }), { argvPrefix: hosts.exec(srv) });
  // coturn serves TLS with the server's own certificate, which the students' browsers
  // were told to accept.
  const tlsDir = path.join(server.ready.data_dir, 'tls');
  coturn = await startCoturn(SECRET, {
    argvPrefix: hosts.exec(srv),
    ip: srv.ip,
    port: 3478,
    tls: { cert: path.join(tlsDir, 'self-signed.pem'), key: path.join(tlsDir, 'self-signed.key'), port: 5349 },
  });
  const teacherBrowser = await hosts.chromium(srv);
  const studentBrowser = await hosts.chromium(hosts.student);
  browsers.push(teacherBrowser, studentBrowser);
  pages.studentBrowser = studentBrowser;
  pages.teacher = await openClassPage(teacherBrowser, withParams(server.ready.teacher_link, { autojoin: '1' }), secure);
  pages.sam = await openClassPage(studentBrowser, withParams(server.ready.student_link, { autojoin: '1', name: 'Sam' }), secure);
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await server?.stop();
  await coturn?.stop();
  hosts?.destroy();
});

const me = (page) => page.evaluate(() => window.aula.state().me.id);

/** What each page's ICE did and what the server logged, for a failure's message. */
async function diagnostics() {
  const out = [];
  for (const [name, p] of Object.entries(pages)) {
    if (!p.evaluate) continue;
    out.push(`${name}: ${JSON.stringify(await p.evaluate(() => window.aula.selectedCandidatePairs()).catch((e) => String(e)))}`);
    out.push(...(p.consoleLines ?? []).slice(-10).map((l) => `  ${l}`));
  }
  out.push(server.logs.join('').split('\n').slice(-30).join('\n'));
  return out.join('\n');
}

async function receivesFrom(page, id, what) {
  try {
    await receiving(page, id, what);
  } catch (e) {
    e.message += `\n${await diagnostics()}`;
    throw e;
  }
}

test('the links are HTTPS on the server host\'s address, with the certificate announced', () => {
  assert.equal(server.ready.scheme, 'https');
  assert.ok(server.ready.student_link.startsWith(`https://${hosts.server.ip}:7700/`), server.ready.student_link);
  assert.match(server.ready.tls_fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test('a student on another host joins over HTTPS, is seen and heard, and sees the teacher', async () => {
  const page = pages.sam;
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
  assert.equal(await page.evaluate(() => location.protocol), 'https:');
  const [t, s] = [await me(pages.teacher), await me(page)];
  await receivesFrom(page, t, 'Sam from the teacher');
  await receivesFrom(pages.teacher, s, 'the teacher from Sam (so getUserMedia worked)');
  const pairs = await page.evaluate(() => window.aula.selectedCandidatePairs());
  assert.equal(pairs[0].remote.address, hosts.server.ip, JSON.stringify(pairs[0]));
  assert.equal(pairs[0].local.address, hosts.student.ip, JSON.stringify(pairs[0]));
  assert.equal(pairs[0].local.protocol, 'udp');
});

test('plain HTTP from another host is redirected to HTTPS', async () => {
  const context = await pages.studentBrowser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const res = await page.goto(`http://${hosts.server.ip}:7700/healthz`);
  assert.equal(page.url(), `https://${hosts.server.ip}:7700/healthz`);
  assert.equal(res.status(), 200);
  await context.close();
});

test('with UDP blocked, a student connects through TURN over TCP', async () => {
  hosts.blockUdp(hosts.student);
  try {
    const page = await openClassPage(pages.studentBrowser, withParams(server.ready.student_link, { autojoin: '1', name: 'Tia' }), secure);
    const [t, me2] = [await me(pages.teacher), await me(page)];
    await receivesFrom(page, t, 'Tia from the teacher');
    await receivesFrom(pages.teacher, me2, 'the teacher from Tia');
    const pairs = await page.evaluate(() => window.aula.selectedCandidatePairs());
    assert.equal(pairs[0].local.candidateType, 'relay', JSON.stringify(pairs[0]));
    assert.equal(pairs[0].local.relayProtocol, 'tcp', JSON.stringify(pairs[0]));
    await page.context().close();
  } finally {
    hosts.unblockUdp(hosts.student);
  }
});

test('a student held to relay-only ICE connects through coturn over UDP', async () => {
  const page = await openClassPage(pages.studentBrowser, withParams(server.ready.student_link, { autojoin: '1', name: 'Rui' }), {
    ...secure,
    initScript: relayOnly('udp'),
  });
  try {
    const [t, rui] = [await me(pages.teacher), await me(page)];
    await receivesFrom(page, t, 'Rui from the teacher');
    await receivesFrom(pages.teacher, rui, 'the teacher from Rui');
    const pairs = await page.evaluate(() => window.aula.selectedCandidatePairs());
    assert.equal(pairs[0].local.candidateType, 'relay', JSON.stringify(pairs[0]));
    assert.equal(pairs[0].local.relayProtocol, 'udp', JSON.stringify(pairs[0]));
    assert.equal(pairs[0].local.protocol, 'udp', JSON.stringify(pairs[0]));
  } finally {
    await page.context().close();
  }
});

/** Runs the check page to its end; its result and each step's status. */
async function runCheck(page, again = false) {
  await page.waitForFunction(() => window.__aulaCheck);
  if (again) await page.click('[data-testid=check-run]');
  const result = await page.evaluate(() => window.__aulaCheck.done);
  const steps = await page.$$eval('[data-testid^=check-step-]', (els) =>
    Object.fromEntries(els.map((e) => [e.dataset.testid.replace('check-step-', ''), e.dataset.status])));
  const report = await page.evaluate(() => window.__aulaCheck.report());
  return { result, steps, report };
}

async function screenshots(page, name) {
  mkdirSync(outDir, { recursive: true });
  await page.evaluate(() => document.querySelector('[data-testid=check]').scrollTo(0, 0));
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(outDir, `${name}.png`) });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(outDir, `${name}-phone.png`) });
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('the connectivity check passes on UDP; with UDP blocked it warns, with TURN over TCP passing', async () => {
  const context = await pages.studentBrowser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    // Reached the way a student reaches it: from the pre-join screen's link.
    await page.goto(server.ready.student_link);
    await page.click('[data-testid=check-link]');
    await page.waitForURL(`https://${hosts.server.ip}:7700/check`);

    const open = await runCheck(page);
    assert.equal(open.result, 'pass', open.report);
    // TURN over TLS too: coturn serves the server's own certificate, which this browser
    // accepts (netns.mjs).
    for (const step of ['secure', 'camera', 'microphone', 'websocket', 'udp', 'turn-udp', 'turn-tcp', 'turn-tls', 'bandwidth', 'reconnect']) {
      assert.equal(open.steps[step], 'pass', `${step}\n${open.report}`);
    }
    assert.match(open.report, /\[PASS\] Video and sound, direct \(UDP\): connected, udp, host candidate/);
    await screenshots(page, 'check-pass');

    hosts.blockUdp(hosts.student);
    try {
      const blocked = await runCheck(page, true);
      assert.equal(blocked.result, 'warn', blocked.report);
      assert.equal(blocked.steps.udp, 'warn', blocked.report);
      assert.equal(blocked.steps['turn-tcp'], 'pass', blocked.report);
      assert.equal(blocked.steps['turn-tls'], 'pass', blocked.report);
      assert.equal(blocked.steps['turn-udp'], 'warn', blocked.report);
      assert.equal(blocked.steps.websocket, 'pass', blocked.report);
      assert.match(blocked.report, /\[PASS\] Relay over TCP: connected, through the relay \(tcp\)/);
      await screenshots(page, 'check-udp-blocked');
      // The copy button copies, or shows the text to copy by hand when the clipboard is
      // refused; either way the report is what the page shows.
      await page.click('[data-testid=check-copy]');
      const copied = await page.evaluate(async () => {
        const shown = document.querySelector('[data-testid=check-report]');
        if (!shown.hidden) return shown.value;
        return navigator.clipboard.readText().catch(() => null);
      });
      if (copied !== null) assert.match(copied, /Result: WARN/);
    } finally {
      hosts.unblockUdp(hosts.student);
    }
  } finally {
    await context.close();
  }
});
