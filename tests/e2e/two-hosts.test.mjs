// A class across two hosts, not loopback: aula-server and coturn in one network
// namespace, Chromium students in another, joined by a veth pair with private addresses.
// - The server serves HTTPS with its self-signed certificate (which the students'
//   browsers are told to accept): the page is a secure context, so getUserMedia works
//   and the student is seen and heard; it receives the teacher's video and audio.
// - Plain HTTP from the student host is redirected to HTTPS.
// - With all UDP from the student host dropped (nftables), a second student still
//   connects, through TURN over TCP: its nominated pair is of type `relay`.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openClassPage, receivesFrom as receiving, startCoturn, startServer, withParams } from './harness.mjs';
import { makeHosts } from './netns.mjs';

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
  coturn = await startCoturn(SECRET, { argvPrefix: hosts.exec(srv), ip: srv.ip, port: 3478 });
  server = await startServer({
    AULA_LISTEN: '0.0.0.0:7700',
    AULA_MEDIA_LISTEN: '0.0.0.0:7701',
    AULA_MEDIA_ADVERTISE_IP: srv.ip,
    AULA_MEDIA_ALLOW: `${hosts.subnet},127.0.0.0/8`,
    AULA_PUBLIC_URL: `https://${srv.ip}:7700`,
    AULA_TLS_SELF_SIGNED: 'true',
    AULA_TLS_NAMES: srv.ip,
    AULA_TURN_URLS: `turn:${srv.ip}:3478?transport=udp,turn:${srv.ip}:3478?transport=tcp`,
    AULA_TURN_SECRET: SECRET,
  }, { argvPrefix: hosts.exec(srv) });
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
