// The teacher app's LAN switch, in the real window under Xvfb, on its embedded server:
// - the home screen offers "Students on this network can join", off by default;
// - turned on (on the address of a LAN the test makes: a veth pair between this machine
//   and a student namespace), it shows the HTTPS address, the certificate's fingerprint
//   and what it exposes;
// - the class link and QR code carry that address; a Chromium student in the other
//   namespace joins through it over HTTPS, sends camera and microphone (a secure
//   context), and the window shows the student's video while the student decodes the
//   teacher's;
// - turned off again, the student's namespace can no longer reach the server.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, freePort, openClassPage, root, withParams } from './harness.mjs';
import { makeLan } from './netns.mjs';
import { appState, createClassAndGoLive, newSession, startTauriDriver, startXvfb, tilePlays } from './webdriver.mjs';

const appBin = process.env.AULA_TEACHER_BIN ?? path.join(root, 'target/debug/aula-teacher');
const outDir = path.join(root, 'tests/output');

let xvfb;
let lan;
let browser;
let home;

before(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'aula-teacher-lan-'));
  mkdirSync(outDir, { recursive: true });
  xvfb = await startXvfb();
  lan = makeLan();
  browser = await lan.chromium(lan.student);
});

after(async () => {
  await browser?.close().catch(() => {});
  lan?.destroy();
  await xvfb?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** The student namespace's view of a URL: the HTTP status, or null when unreachable. */
function reachFromStudent(url) {
  try {
    const out = execFileSync('ip', ['netns', 'exec', lan.student.ns, 'curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', url], { stdio: ['ignore', 'pipe', 'ignore'] });
    return Number(out.toString());
  } catch {
    return null;
  }
}

test('the LAN switch opens the embedded server to the network, and a student there joins the class', async () => {
  const [httpPort, mediaPort] = [await freePort(), await freePort()];
  // No AULA_SERVER_URL: the app hosts the class itself.
  const driver = await startTauriDriver({
    DISPLAY: xvfb.display,
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    AULA_LISTEN: `127.0.0.1:${httpPort}`,
    AULA_MEDIA_LISTEN: `127.0.0.1:${mediaPort}`,
    RUST_LOG: 'info,webrtc=warn,rtc=warn,str0m=warn',
  });
  let s;
  try {
    s = await newSession(driver.url, appBin);
    await eventually(async () => (await appState(s))?.screen === 'home', { what: 'the home screen' });
    const panel = () => s.exec(`
      const p = document.querySelector('[data-testid=lan-panel]');
      if (!p) return null;
      const q = (t) => p.querySelector('[data-testid=' + t + ']');
      return {
        on: p.dataset.on === 'true',
        addresses: [...(q('lan-address')?.options ?? [])].map((o) => o.value),
        url: q('lan-url')?.textContent ?? null,
        fingerprint: q('lan-fingerprint')?.textContent ?? null,
        exposes: q('lan-exposes')?.textContent ?? null,
        error: q('lan-error')?.textContent ?? null,
      };`);
    const off = await eventually(panel, { what: 'the LAN panel' });
    assert.equal(off.on, false, 'LAN is off by default');
    assert.equal(reachFromStudent(`https://${lan.laptop.ip}:${httpPort}/healthz`), null, 'loopback only while off');
    assert.ok(off.addresses.includes(lan.laptop.ip), `the LAN address is offered: ${off.addresses}`);

    // Turn it on, on the test's LAN.
    await s.exec(`
      const sel = document.querySelector('[data-testid=lan-address]');
      sel.value = arguments[0];
      document.querySelector('[data-testid=lan-switch]').click();`, [lan.laptop.ip]);
    const on = await eventually(async () => {
      const p = await panel();
      if (p?.error) throw new Error(`LAN refused: ${p.error}`);
      return p?.on && p;
    }, { what: 'LAN on', timeout: 30_000 });
    assert.equal(on.url, `https://${lan.laptop.ip}:${httpPort}`);
    assert.match(on.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(on.exposes, new RegExp(`UDP port ${mediaPort}`));
    assert.equal(reachFromStudent(`https://${lan.laptop.ip}:${httpPort}/healthz`), 200, 'HTTPS from the LAN');
    await new Promise((r) => setTimeout(r, 1000)); // WebKitGTK repaints on its next frame
    const shot = path.join(outDir, 'teacher-app-lan.png');
    execFileSync('import', ['-display', xvfb.display, '-window', 'root', shot]);
    assert.ok(statSync(shot).size > 10_000, 'a real screenshot');

    const link = await createClassAndGoLive(s, `LAN class ${Date.now()}`);
    assert.ok(link.startsWith(`https://${lan.laptop.ip}:${httpPort}/`), link);
    const note = await s.exec("return document.querySelector('[data-testid=live-fingerprint]')?.textContent ?? '';");
    assert.ok(note.includes(on.fingerprint), note);

    const student = await openClassPage(browser, withParams(link, { autojoin: '1', name: 'Lia' }), {
      contextOptions: { ignoreHTTPSErrors: true },
    });
    assert.equal(await student.evaluate(() => window.isSecureContext), true);
    const studentId = await student.evaluate(() => window.aula.state().me.id);
    await tilePlays(s, studentId, "the student's video in the window (so getUserMedia worked over HTTPS)");
    await eventually(async () => {
      const stats = await student.evaluate(() => window.aula.inboundStats());
      return stats.some((m) => m.framesDecoded > 5 && m.audioBytesReceived > 0);
    }, { what: "the student decoding the teacher app's camera and hearing it", timeout: 45_000 });
    const pairs = await student.evaluate(() => window.aula.selectedCandidatePairs());
    assert.equal(pairs[0].remote.address, lan.laptop.ip, JSON.stringify(pairs[0]));
    await student.context().close();

    await s.click(await s.find('[data-testid=end-class]'));
    await s.click(await s.find('[data-testid=confirm-end]'));
    await eventually(async () => (await appState(s))?.screen === 'ended', { what: 'the class ended' });

    // Off again: back on loopback only.
    await eventually(async () => {
      // "Back to classes" on the ended screen.
      await s.exec("if (!document.querySelector('[data-testid=lan-panel]')) document.querySelector('.btn-primary')?.click();");
      return (await panel())?.on === true;
    }, { what: 'the home screen again, LAN still on' });
    await s.exec("document.querySelector('[data-testid=lan-switch]').click();");
    await eventually(async () => (await panel())?.on === false, { what: 'LAN off', timeout: 30_000 });
    assert.equal(reachFromStudent(`https://${lan.laptop.ip}:${httpPort}/healthz`), null, 'loopback only again');
  } catch (e) {
    e.message += `\ntauri-driver/app logs:\n${driver.logs.join('').slice(-4000)}`;
    throw e;
  } finally {
    await s?.close();
    await driver.stop();
  }
});
