// Two "hosts" on one machine: network namespaces made by the test, joined by a veth pair
// with private addresses. Traffic stays between the namespaces this file makes; they are
// deleted at the end. Needs root (the tests run as root), iproute2 and nftables.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumArgs } from './harness.mjs';

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Runs `tc` inside a namespace. */
function tc(ns, args) {
  execFileSync('tc', ['-n', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `nft` inside a namespace, with a script on stdin. */
function nft(ns, script) {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Debian's Chromium, headless, inside `host`'s namespace (through a wrapper script in `dir`). */
function chromiumIn(dir, host) {
  const wrapper = path.join(dir, `chromium-${host.ns}`);
  const real = process.env.CHROMIUM ?? '/usr/bin/chromium';
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${host.ns} ${real} "$@"\n`);
  chmodSync(wrapper, 0o755);
  // These students trust the server's self-signed certificate, as one who compared its
  // fingerprint would. Playwright's ignoreHTTPSErrors covers pages only; TURN over TLS
  // (coturn serving the same certificate) is checked by Chromium's own verifier.
  return chromium.launch({ executablePath: wrapper, headless: true, args: [...chromiumArgs(), '--ignore-certificate-errors'] });
}

/**
 * A server host and `students` student hosts, each student on its own veth pair to the
 * server (so one student's link can be slowed alone). The first pair shares a /24 picked
 * at random in 10.200.0.0/16 (so two runs on one machine do not meet): `server.ip` and
 * `student.ip`. Further students get their own /30 in the same /24 and a default route
 * through it, so they reach `server.ip` too. `students` lists them all.
 */
export function makeHosts({ students: count = 1 } = {}) {
  const tag = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const net = 1 + Math.floor(Math.random() * 250);
  const server = { ns: `aula-s${tag}`, ip: `10.200.${net}.1`, dev: `as${tag}` };
  const students = [];
  for (let i = 0; i < count; i++) {
    // Pair 0: .1/.2 on the /24; pair i: .4i+1 (server side) and .4i+2 on a /30.
    const serverIp = i === 0 ? server.ip : `10.200.${net}.${4 * i + 1}`;
    students.push({
      ns: `aula-c${tag}${i || ''}`,
      ip: `10.200.${net}.${4 * i + 2}`,
      dev: `ac${tag}${i || ''}`,
      serverDev: i === 0 ? server.dev : `as${tag}${i}`,
      serverIp,
      prefix: i === 0 ? 24 : 30,
    });
  }
  const hosts = { server, student: students[0], students, subnet: `10.200.${net}.0/24` };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aula-netns-'));
  try {
    ip('netns', 'add', server.ns);
    ip('-n', server.ns, 'link', 'set', 'lo', 'up');
    for (const st of students) {
      ip('netns', 'add', st.ns);
      ip('link', 'add', st.serverDev, 'type', 'veth', 'peer', 'name', st.dev);
      ip('link', 'set', st.serverDev, 'netns', server.ns);
      ip('link', 'set', st.dev, 'netns', st.ns);
      ip('-n', server.ns, 'addr', 'add', `${st.serverIp}/${st.prefix}`, 'dev', st.serverDev);
      ip('-n', server.ns, 'link', 'set', st.serverDev, 'up');
      ip('-n', st.ns, 'addr', 'add', `${st.ip}/${st.prefix}`, 'dev', st.dev);
      ip('-n', st.ns, 'link', 'set', st.dev, 'up');
      ip('-n', st.ns, 'link', 'set', 'lo', 'up');
      if (st.prefix !== 24) ip('-n', st.ns, 'route', 'add', 'default', 'via', st.serverIp);
    }
  } catch (e) {
    destroy();
    throw e;
  }
  function destroy() {
    for (const h of [server, ...students]) {
      try { ip('netns', 'del', h.ns); } catch { /* already gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    ...hosts,
    /** Argv prefix that runs a program inside a host's namespace. */
    exec: (host) => ['ip', 'netns', 'exec', host.ns],
    /**
     * aula-server's settings on the server host: every interface, the host's address in
     * ICE and links, HTTPS with its own certificate, media from these hosts only.
     */
    serverEnv: (extra = {}) => ({
      AULA_LISTEN: '0.0.0.0:7700',
      AULA_MEDIA_LISTEN: '0.0.0.0:7701',
      AULA_MEDIA_ADVERTISE_IP: server.ip,
      AULA_MEDIA_ALLOW: `${hosts.subnet},127.0.0.0/8`,
      AULA_PUBLIC_URL: `https://${server.ip}:7700`,
      AULA_TLS_SELF_SIGNED: 'true',
      AULA_TLS_NAMES: server.ip,
      ...extra,
    }),
    /**
     * A weak link for one student, on both ends of its veth pair: `rate` (like '300kbit')
     * through a token bucket (tc tbf) whose queue holds at most `latency`, and random
     * `lossPct` packet loss (nftables numgen). This kernel has no netem; tbf and numgen
     * give the same two properties. `null` lifts both.
     */
    shape(student, shaping) {
      for (const [ns, dev] of [[server.ns, student.serverDev], [student.ns, student.dev]]) {
        try { tc(ns, ['qdisc', 'del', 'dev', dev, 'root']); } catch { /* none yet */ }
        try { nft(ns, `delete table inet aula_shape_${dev}\n`); } catch { /* none yet */ }
        if (!shaping) continue;
        tc(ns, ['qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', shaping.rate, 'burst', '16kbit', 'latency', shaping.latency ?? '300ms']);
        nft(ns, [
          `table inet aula_shape_${dev} {`,
          '  chain out {',
          '    type filter hook output priority 0; policy accept;',
          `    oifname "${dev}" numgen random mod 1000 < ${Math.round(shaping.lossPct * 10)} drop`,
          '  }',
          '}',
          '',
        ].join('\n'));
      }
    },
    /** The student host can send no UDP at all (a network that allows only TCP). */
    blockUdp(host) {
      nft(host.ns, [
        'table inet aula_block {',
        '  chain out {',
        '    type filter hook output priority 0; policy accept;',
        '    meta l4proto udp drop',
        '  }',
        '}',
        '',
      ].join('\n'));
    },
    unblockUdp(host) {
      nft(host.ns, 'delete table inet aula_block\n');
    },
    /** Debian's Chromium, headless, inside a host's namespace. */
    chromium: (host) => chromiumIn(dir, host),
    destroy,
  };
}

/**
 * A LAN for a program that runs on this machine itself (the teacher app under Xvfb): a
 * veth pair between this machine's namespace (`laptop.ip`) and a student namespace made
 * here. Nothing else is routed; deleting the namespace deletes both ends.
 */
export function makeLan() {
  const tag = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const net = 1 + Math.floor(Math.random() * 250);
  const lan = {
    laptop: { ip: `10.201.${net}.1`, dev: `al${tag}` },
    student: { ns: `aula-l${tag}`, ip: `10.201.${net}.2`, dev: `alc${tag}` },
    subnet: `10.201.${net}.0/24`,
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aula-lan-'));
  function destroy() {
    try { ip('netns', 'del', lan.student.ns); } catch { /* already gone */ }
    try { ip('link', 'del', lan.laptop.dev); } catch { /* went with the namespace */ }
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    ip('netns', 'add', lan.student.ns);
    ip('link', 'add', lan.laptop.dev, 'type', 'veth', 'peer', 'name', lan.student.dev);
    ip('link', 'set', lan.student.dev, 'netns', lan.student.ns);
    ip('addr', 'add', `${lan.laptop.ip}/24`, 'dev', lan.laptop.dev);
    ip('link', 'set', lan.laptop.dev, 'up');
    ip('-n', lan.student.ns, 'addr', 'add', `${lan.student.ip}/24`, 'dev', lan.student.dev);
    ip('-n', lan.student.ns, 'link', 'set', lan.student.dev, 'up');
    ip('-n', lan.student.ns, 'link', 'set', 'lo', 'up');
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    ...lan,
    chromium: (host) => chromiumIn(dir, host),
    destroy,
  };
}
