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

/** Runs `nft` inside a namespace, with a script on stdin. */
function nft(ns, script) {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * A server host and a student host. `server.ip` and `student.ip` are on a /24 picked at
 * random in 10.200.0.0/16 so two runs on one machine do not meet.
 */
export function makeHosts() {
  const tag = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const net = 1 + Math.floor(Math.random() * 250);
  const hosts = {
    server: { ns: `aula-s${tag}`, ip: `10.200.${net}.1`, dev: `as${tag}` },
    student: { ns: `aula-c${tag}`, ip: `10.200.${net}.2`, dev: `ac${tag}` },
    subnet: `10.200.${net}.0/24`,
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aula-netns-'));
  try {
    for (const h of [hosts.server, hosts.student]) ip('netns', 'add', h.ns);
    ip('link', 'add', hosts.server.dev, 'type', 'veth', 'peer', 'name', hosts.student.dev);
    for (const h of [hosts.server, hosts.student]) {
      ip('link', 'set', h.dev, 'netns', h.ns);
      ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.dev);
      ip('-n', h.ns, 'link', 'set', h.dev, 'up');
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    }
  } catch (e) {
    destroy();
    throw e;
  }
  function destroy() {
    for (const h of [hosts.server, hosts.student]) {
      try { ip('netns', 'del', h.ns); } catch { /* already gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    ...hosts,
    /** Argv prefix that runs a program inside a host's namespace. */
    exec: (host) => ['ip', 'netns', 'exec', host.ns],
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
    /** Debian's Chromium, headless, inside a host's namespace (through a wrapper script). */
    async chromium(host) {
      const wrapper = path.join(dir, `chromium-${host.ns}`);
      const real = process.env.CHROMIUM ?? '/usr/bin/chromium';
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${host.ns} ${real} "$@"\n`);
      chmodSync(wrapper, 0o755);
      return chromium.launch({ executablePath: wrapper, headless: true, args: chromiumArgs() });
    },
    destroy,
  };
}
