// Shared pieces of the end-to-end suite: the real aula-server binary, Debian's
// Chromium under playwright-core, and a TCP proxy that can cut a page's link.

import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const serverBin = process.env.AULA_SERVER_BIN ?? path.join(root, 'target/debug/aula-server');
export const uiDist = path.join(root, 'ui/dist');

/**
 * Starts aula-server on free loopback ports with a fresh data dir; resolves with its
 * AULA_READY line. `argvPrefix` runs it through another program (e.g. `ip netns exec`).
 */
export async function startServer(extraEnv = {}, { argvPrefix = [] } = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aula-e2e-'));
  const [program, ...args] = [...argvPrefix, serverBin];
  const child = spawn(program, args, {
    env: {
      ...process.env,
      AULA_LISTEN: '127.0.0.1:0',
      AULA_MEDIA_LISTEN: '127.0.0.1:0',
      AULA_MEDIA_ALLOW: '127.0.0.0/8,::1',
      AULA_DATA_DIR: dataDir,
      AULA_UI_DIR: uiDist,
      RUST_LOG: process.env.RUST_LOG ?? 'info,str0m=warn,is=warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  child.stderr.on('data', (d) => logs.push(d.toString()));
  const ready = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`aula-server not ready in 30 s:\n${logs.join('')}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      // Only whole lines: a chunk may end in the middle of the JSON.
      const line = out.split('\n').slice(0, -1).find((l) => l.startsWith('AULA_READY '));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice('AULA_READY '.length)));
      }
    });
    child.on('exit', (code) => reject(new Error(`aula-server exited with ${code}:\n${logs.join('')}`)));
  });
  return {
    ready,
    logs,
    base: `${ready.scheme ?? 'http'}://${ready.http}`,
    async stop() {
      await stopChild(child, 'SIGINT');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Ends a process this suite started (by its handle), with SIGKILL after 5 s. */
async function stopChild(child, signal) {
  if (child.exitCode !== null) return;
  child.kill(signal);
  await new Promise((r) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000);
    child.on('exit', () => { clearTimeout(t); r(); });
  });
}

/** The flags every test Chromium runs with (fake camera and microphone, no prompts). */
export function chromiumArgs() {
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
  ];
}

export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: chromiumArgs(),
  });
}

/** Opens a page (own context, so own storage) and waits for `window.aula` to be joined. */
export async function openClassPage(browser, url, { expectPhase = 'joined', initScript = null, contextOptions = {} } = {}) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'], ...contextOptions });
  // Runs before the page's own scripts (for example to constrain its RTCPeerConnection).
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  // A namespace's interfaces settle (IPv6 addresses leave their tentative state) a moment
  // after they are made, and Chromium aborts a navigation on that network change: once
  // more, then it is a real failure.
  await page.goto(url).catch(async (e) => {
    if (!String(e.message).includes('ERR_NETWORK_CHANGED')) throw e;
    await new Promise((r) => setTimeout(r, 1000));
    await page.goto(url);
  });
  await page.waitForFunction((phase) => window.aula && window.aula.state().phase === phase, expectPhase, { timeout: 30_000 })
    .catch((e) => { throw new Error(`${e.message}\nconsole:\n${consoleLines.join('\n')}`); });
  page.consoleLines = consoleLines;
  return page;
}

export function withParams(link, params) {
  const u = new URL(link);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** Polls `fn` until it returns a truthy value; bounded in time. */
export async function eventually(fn, { timeout = 30_000, interval = 250, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.stack : JSON.stringify(last)}`);
}

/** A TCP proxy in front of the server that can drop every link and refuse new ones. */
export async function startCutProxy(target) {
  const [host, port] = [target.split(':')[0], Number(target.split(':')[1])];
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      refusing = false;
    },
    close() {
      refusing = true;
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * A TCP proxy that can hold every link silent, as a laptop asleep does: while held it
 * reads nothing from either side (so the server's writes back up into its buffers and
 * queue) and new connections wait unconnected; `release` lets everything flow again.
 */
export async function startStallProxy(target) {
  const [host, port] = [target.split(':')[0], Number(target.split(':')[1])];
  const pairs = new Set();
  const waiting = [];
  let held = false;
  const link = (client) => {
    const upstream = net.connect(port, host);
    const pair = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.on('error', () => {});
      s.on('close', () => pairs.delete(pair));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (held) {
      client.pause();
      waiting.push(client);
    } else {
      link(client);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    hold() {
      held = true;
      for (const pair of pairs) for (const s of pair) s.pause();
    },
    release() {
      held = false;
      for (const pair of pairs) for (const s of pair) s.resume();
      for (const c of waiting.splice(0)) {
        c.resume();
        link(c);
      }
    },
    close() {
      for (const pair of pairs) for (const s of pair) s.destroy();
      for (const c of waiting) c.destroy();
      server.close();
    },
  };
}

/** A free port on 127.0.0.1 for both TCP and UDP (coturn listens on both). */
export async function freePort() {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise((resolve) => {
      const sock = dgram.createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port for both TCP and UDP');
}

/**
 * Debian's coturn on loopback in `use-auth-secret` mode (the scheme aula-server mints
 * credentials for), relaying between loopback addresses only. Resolves once it listens.
 */
export async function startCoturn(secret, { argvPrefix = [], ip = '127.0.0.1', port = null, tls = null } = {}) {
  port ??= await freePort();
  const relayFrom = 40000 + Math.floor(Math.random() * 20000);
  const [program, ...prefixArgs] = [...argvPrefix, 'turnserver'];
  // TURN over TLS (`tls: { cert, key, port }`) on its own port; otherwise none.
  const tlsArgs = tls
    ? [`--cert=${tls.cert}`, `--pkey=${tls.key}`, `--tls-listening-port=${tls.port}`]
    : ['--no-tls'];
  const child = spawn(program, [...prefixArgs,
    '-n', '--no-cli', ...tlsArgs, '--no-dtls', '--simple-log', '--log-file=stdout',
    `--listening-ip=${ip}`, `--listening-port=${port}`,
    `--relay-ip=${ip}`, `--min-port=${relayFrom}`, `--max-port=${relayFrom + 200}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=aula.test',
    '--allow-loopback-peers', '--no-multicast-peers', '--fingerprint',
    `--pidfile=${path.join(os.tmpdir(), `aula-turn-${port}.pid`)}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  child.stdout.on('data', (d) => logs.push(d.toString()));
  child.stderr.on('data', (d) => logs.push(d.toString()));
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`turnserver exited with ${child.exitCode}:\n${logs.join('')}`);
    if (argvPrefix.length > 0) {
      // Inside another namespace: try the port from there.
      const [p, ...a] = [...argvPrefix, 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`];
      return spawnSync(p, a, { stdio: 'ignore' }).status === 0;
    }
    return await new Promise((resolve) => {
      const s = net.connect(port, ip, () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
  }, { what: 'coturn to listen', timeout: 15_000 });
  return {
    port,
    logs,
    stop: () => stopChild(child, 'SIGTERM'),
  };
}

/**
 * A page init script: relay-only ICE, and optionally only the TURN URLs over one
 * transport (`udp`, `tcp`; null keeps them all).
 */
export function relayOnly(transport) {
  return `(() => {
    const Orig = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Orig {
      constructor(cfg, ...rest) {
        const servers = (cfg?.iceServers ?? []).map((s) => ({
          ...s,
          urls: [].concat(s.urls).filter((u) => ${JSON.stringify(transport)} === null || u.endsWith('transport=' + ${JSON.stringify(transport)})),
        })).filter((s) => s.urls.length > 0);
        window.__iceServers = servers;
        super({ ...cfg, iceServers: servers, iceTransportPolicy: 'relay' }, ...rest);
        (window.__pcs ??= []).push(this);
      }
    };
  })();`;
}

/** Waits until `page` decodes video and receives audio from member `id`, both rising. */
export async function receivesFrom(page, id, what) {
  const first = await eventually(async () => {
    const s = await page.evaluate(() => window.aula.inboundStats());
    const r = s.find((x) => x.memberId === id);
    return r && r.framesDecoded > 0 && r.videoWidth > 0 && r.audioBytesReceived > 0 && r;
  }, { what: `${what}: video and audio`, timeout: 45_000 });
  await eventually(async () => {
    const s = await page.evaluate(() => window.aula.inboundStats());
    const r = s.find((x) => x.memberId === id);
    return r && r.framesDecoded > first.framesDecoded && r.audioBytesReceived > first.audioBytesReceived;
  }, { what: `${what}: frames and audio rising` });
}
