// Unit tests of the connectivity check's verdicts: `npm run test:unit`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  type PathOutcome,
  bandwidthVerdict,
  deviceVerdict,
  overall,
  reconnectVerdict,
  relayVerdict,
  reportText,
  udpVerdict,
  websocketVerdict,
} from "../src/check/steps.js";

const connected = (candidateType: string, relayProtocol: string | null = null): PathOutcome => ({
  connected: true,
  candidateType,
  protocol: "udp",
  relayProtocol,
  rttMs: 3,
  failure: null,
});
const blocked: PathOutcome = {
  connected: false,
  candidateType: null,
  protocol: null,
  relayProtocol: null,
  rttMs: null,
  failure: "timeout",
};

test("a blocked direct path is a warning only while a relay carries media", () => {
  assert.equal(udpVerdict(connected("host"), false).status, "pass");
  assert.equal(udpVerdict(blocked, true).status, "warn");
  assert.equal(udpVerdict(blocked, false).status, "fail");
  // Connected, but through a relay: not a direct path.
  assert.equal(udpVerdict(connected("relay", "tcp"), true).status, "warn");
  assert.match(udpVerdict(blocked, true).advice, /relay/);
});

test("relay paths: skipped when not offered, a failure covered by another relay is a warning", () => {
  assert.equal(relayVerdict("tls", false, null, true).status, "skip");
  assert.equal(relayVerdict("tcp", true, connected("relay", "tcp"), false).status, "pass");
  // Connected without the relay (cannot happen with a relay-only policy) does not pass.
  assert.equal(relayVerdict("tcp", true, connected("host"), false).status, "fail");
  assert.equal(relayVerdict("udp", true, blocked, true).status, "warn");
  assert.equal(relayVerdict("udp", true, blocked, false).status, "fail");
  assert.match(relayVerdict("tls", true, blocked, false).advice, /443/);
});

test("devices: blocked and busy fail with what to do, missing is a warning", () => {
  assert.equal(deviceVerdict("camera", "Cam (640×480)", null).status, "pass");
  assert.equal(deviceVerdict("camera", null, "NotAllowedError").status, "fail");
  assert.match(deviceVerdict("camera", null, "NotAllowedError").advice, /Allow/);
  assert.equal(deviceVerdict("microphone", null, "NotFoundError").status, "warn");
  assert.match(deviceVerdict("camera", null, "insecure").advice, /https/);
  assert.equal(deviceVerdict("camera", null, "NotReadableError").status, "fail");
});

test("websocket, bandwidth and reconnect thresholds", () => {
  assert.equal(websocketVerdict(null, "school.example").status, "fail");
  assert.match(websocketVerdict([], "school.example").advice, /school\.example/);
  assert.equal(websocketVerdict([5, 6, 7], "h").status, "pass");
  assert.equal(websocketVerdict([400, 500, 600], "h").status, "warn");
  assert.equal(bandwidthVerdict(20, 10).status, "pass");
  assert.equal(bandwidthVerdict(1, 0.5).status, "warn");
  assert.equal(bandwidthVerdict(0.1, 0.1).status, "fail");
  assert.equal(bandwidthVerdict(null, 5).status, "fail");
  assert.equal(reconnectVerdict(40).status, "pass");
  assert.equal(reconnectVerdict(5000).status, "warn");
  assert.equal(reconnectVerdict(null).status, "fail");
});

test("the result is the worst step; skipped steps do not count", () => {
  const p = bandwidthVerdict(20, 10);
  const w = udpVerdict(blocked, true);
  const f = reconnectVerdict(null);
  const s = relayVerdict("tls", false, null, false);
  assert.equal(overall([p, s]), "pass");
  assert.equal(overall([p, w, s]), "warn");
  assert.equal(overall([f, w, p]), "fail");
});

test("the copied report names the server, the result and every step with its advice", () => {
  const text = reportText(new Date(Date.UTC(2026, 11, 3, 15, 4, 5)), "https://10.0.0.1:7700", "UA", [
    { id: "udp", verdict: udpVerdict(blocked, true) },
    { id: "turn-tcp", verdict: relayVerdict("tcp", true, connected("relay", "tcp"), false) },
  ]);
  assert.match(text, /^Aula connection check, 2026-12-03 15:04:05 UTC\n/);
  assert.match(text, /Server: https:\/\/10\.0\.0\.1:7700/);
  assert.match(text, /Result: WARN/);
  assert.match(text, /\[WARN\] Video and sound, direct \(UDP\): no direct connection/);
  assert.match(text, /\[PASS\] Relay over TCP: connected, through the relay \(tcp\)/);
});
