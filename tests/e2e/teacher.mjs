// Starting the teacher side for the end-to-end tests and the benchmarks: the headless
// teacher core as a child process, and the environment the teacher window runs in.

import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

/**
 * Starts `aula-teacher-core` against `server` with extra `args`. Its JSON lines land in
 * `out.ready` and `out.stats`, its log in `out.logs`; `stop()` ends the class (stdin
 * `end`) and kills it by PID after 5 s. `base` is the URL the core reaches the server by
 * (a cuttable proxy, say). Other JSON lines (`sent`, `board`) collect in `out.lines`.
 */
export function startTeacherCore(bin, server, args, logLevel = 'info,webrtc=warn,rtc=warn', { base = server.base } = {}) {
  const out = { ready: null, stats: null, logs: [], lines: [] };
  const child = spawn(bin, ['--server', base, ...args], {
    env: { ...process.env, AULA_OPERATOR_KEY: server.ready.operator_key, RUST_LOG: logLevel },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (d) => out.logs.push(d.toString()));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.ready) out.ready = msg.ready;
    if (msg.stats) out.stats = msg.stats;
    else out.lines.push(msg);
  });
  /** Writes a line to the core's stdin. */
  const send = (line) => child.stdin.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.stdin.write('end\n');
    await new Promise((r) => {
      const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000);
      child.on('exit', () => { clearTimeout(t); r(); });
    });
  };
  return { child, out, stop, send };
}

/** The teacher window's environment: its own X display and home, pointed at `server`. */
export function teacherAppEnv(display, home, server, rustLog = 'info,webrtc=warn,rtc=warn') {
  return {
    DISPLAY: display,
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    AULA_SERVER_URL: server.base,
    AULA_OPERATOR_KEY: server.ready.operator_key,
    RUST_LOG: rustLog,
  };
}
