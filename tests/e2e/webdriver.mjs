// A small W3C WebDriver client (fetch only), enough to drive the teacher window through
// tauri-driver and WebKitWebDriver. Also starts Xvfb and tauri-driver as child processes
// and stops them by PID.

import { eventually } from './harness.mjs';
import { spawn } from 'node:child_process';
import net from 'node:net';

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Starts Xvfb on a display number it picks itself (-displayfd); resolves with `:N`. */
export async function startXvfb(size = '1280x800x24') {
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', size, '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  const display = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('Xvfb did not start in 15 s')), 15_000);
    child.stdio[3].on('data', (d) => { clearTimeout(t); resolve(`:${d.toString().trim()}`); });
    child.on('exit', (code) => reject(new Error(`Xvfb exited with ${code}`)));
  });
  return { display, stop: () => stopChild(child) };
}

export async function stopChild(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  await new Promise((r) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000);
    child.on('exit', () => { clearTimeout(t); r(); });
  });
}

/** tauri-driver on free ports, with `env` passed down to WebKitWebDriver and the app. */
export async function startTauriDriver(env) {
  const port = await freePort();
  const nativePort = await freePort();
  const logs = [];
  const child = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => logs.push(d.toString()));
  child.stderr.on('data', (d) => logs.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/status`);
      if (r.ok || r.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`tauri-driver not up in 20 s:\n${logs.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, logs, stop: () => stopChild(child) };
}

async function call(base, method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`WebDriver ${method} ${path}: ${r.status} ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

export async function newSession(driverUrl, application, args = []) {
  const value = await call(driverUrl, 'POST', '/session', {
    capabilities: { alwaysMatch: { 'tauri:options': { application, args } } },
  });
  const id = value.sessionId;
  const s = (m, p, b) => call(driverUrl, m, `/session/${id}${p}`, b);
  const session = {
    id,
    async find(css) {
      const v = await s('POST', '/element', { using: 'css selector', value: css });
      return v[ELEMENT];
    },
    async findAll(css) {
      const v = await s('POST', '/elements', { using: 'css selector', value: css });
      return v.map((e) => e[ELEMENT]);
    },
    click: (el) => s('POST', `/element/${el}/click`, {}),
    type: (el, text) => s('POST', `/element/${el}/value`, { text }),
    attribute: (el, name) => s('GET', `/element/${el}/attribute/${name}`),
    text: (el) => s('GET', `/element/${el}/text`),
    exec: (script, args = []) => s('POST', '/execute/sync', { script, args }),
    /** W3C input actions, e.g. a mouse drag over an element. */
    actions: (actions) => s('POST', '/actions', { actions }),
    async close() {
      await s('DELETE', '').catch(() => {});
    },
  };
  return session;
}

/** The teacher window's state, as its test hook reports it. */
export const appState = (s) => s.exec('return window.aulaTeacher ? window.aulaTeacher.state() : null;');

/**
 * Drives the teacher window from its home screen to a live class on the synthetic camera
 * and tone; returns the student link it shows.
 */
export async function createClassAndGoLive(s, title) {
  await eventually(async () => (await appState(s))?.screen === 'home', { what: 'the home screen' });
  await s.type(await s.find('[data-testid=new-class-title]'), title);
  await s.click(await s.find('[data-testid=new-class-submit]'));
  await eventually(async () => (await appState(s))?.screen === 'golive', { what: 'the go-live screen' });
  // The synthetic sources, as on a machine with no devices.
  await s.exec(`
    for (const [sel, value] of [['camera-select', 'synthetic:pattern'], ['microphone-select', 'synthetic:tone']]) {
      const el = document.querySelector('[data-testid=' + sel + ']');
      el.value = value;
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }`);
  await s.click(await s.find('[data-testid=go-live]'));
  await eventually(async () => {
    const st = await appState(s);
    return st?.screen === 'live' && st.link.state === 'live';
  }, { what: 'live with the link up', timeout: 45_000 });
  return s.text(await s.find('[data-testid=student-link]'));
}

/** Waits until the window's tile of `memberId` shows video and keeps playing. */
export async function tilePlays(s, memberId, what = 'the student tile showing video') {
  const tile = () => s.exec(
    'const t = document.querySelector(`[data-testid=tile][data-member-id="${arguments[0]}"]`);'
    + ' return t ? { frames: Number(t.dataset.frames || 0), hasVideo: t.dataset.hasVideo === "true" } : null;',
    [memberId]);
  const first = await eventually(async () => {
    const t = await tile();
    return t?.hasVideo && t.frames > 0 ? t : null;
  }, { what, timeout: 60_000 });
  await eventually(async () => (await tile()).frames > first.frames + 5, { what: 'the tile playing' });
}
