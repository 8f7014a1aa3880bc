// The connectivity check's verdicts: pure functions from measured figures to pass, warn
// or fail with advice in plain words. The page measures; this decides, and is unit-tested.

export type Status = "pass" | "warn" | "fail" | "skip";

export interface Verdict {
  status: Status;
  /** What was measured, in a few words ("median 12 ms over 10 messages"). */
  detail: string;
  /** What to do about it; empty on pass. */
  advice: string;
}

export type StepId =
  | "secure"
  | "camera"
  | "microphone"
  | "websocket"
  | "udp"
  | "turn-udp"
  | "turn-tcp"
  | "turn-tls"
  | "bandwidth"
  | "reconnect";

export const STEP_TITLES: Record<StepId, string> = {
  secure: "Secure page",
  camera: "Camera",
  microphone: "Microphone",
  websocket: "Connection to the class server",
  udp: "Video and sound, direct (UDP)",
  "turn-udp": "Relay over UDP",
  "turn-tcp": "Relay over TCP",
  "turn-tls": "Relay over TLS",
  bandwidth: "Speed",
  reconnect: "Reconnecting",
};

export const STEP_ORDER: StepId[] = [
  "secure",
  "camera",
  "microphone",
  "websocket",
  "udp",
  "turn-udp",
  "turn-tcp",
  "turn-tls",
  "bandwidth",
  "reconnect",
];

const pass = (detail: string): Verdict => ({ status: "pass", detail, advice: "" });

export function secureVerdict(secure: boolean, origin: string): Verdict {
  if (secure) return pass(origin);
  return {
    status: "fail",
    detail: `${origin} is not a secure (https) page`,
    advice:
      "Browsers only allow the camera and microphone on https pages. Ask your teacher or school for the link that starts with https://.",
  };
}

/** A device step from the name of the error getUserMedia threw, or the device's label. */
export function deviceVerdict(noun: "camera" | "microphone", label: string | null, error: string | null): Verdict {
  if (!error) return pass(label || `a ${noun} works`);
  switch (error) {
    case "insecure":
      return {
        status: "fail",
        detail: "not available on a page that is not secure",
        advice: "Open the class from its https:// link; browsers block the camera and microphone elsewhere.",
      };
    case "NotAllowedError":
    case "SecurityError":
      return {
        status: "fail",
        detail: "access is blocked",
        advice: `Allow the ${noun} for this site: click the icon at the left of the address bar, choose Allow, then run the check again.`,
      };
    case "NotFoundError":
    case "OverconstrainedError":
      return {
        status: "warn",
        detail: `no ${noun} found`,
        advice:
          noun === "camera"
            ? "You can still join: others will see your initials. Plug in a camera to be seen."
            : "You can still join and listen. Plug in a microphone or headset to speak.",
      };
    case "NotReadableError":
    case "AbortError":
      return {
        status: "fail",
        detail: `the ${noun} is in use by another app`,
        advice: `Close other apps that use the ${noun} (video calls, camera apps), then run the check again.`,
      };
    default:
      return {
        status: "fail",
        detail: `the ${noun} could not start (${error})`,
        advice: `Restart the browser. If it still fails, try another browser or device.`,
      };
  }
}

/** Round trips of the echo socket, in milliseconds, or null when it did not open. */
export function websocketVerdict(rtts: number[] | null, host: string): Verdict {
  if (rtts === null || rtts.length === 0) {
    return {
      status: "fail",
      detail: "the server could not be reached over a WebSocket",
      advice: `A firewall or web filter blocks the connection. Ask your IT desk to allow secure WebSockets (wss) to ${host}.`,
    };
  }
  const m = median(rtts);
  const detail = `${m.toFixed(0)} ms round trip (median of ${rtts.length}), worst ${Math.max(...rtts).toFixed(0)} ms`;
  if (m <= 150) return pass(detail);
  return {
    status: "warn",
    detail,
    advice: "The server is far away or the network is busy. Expect delay; move closer to the Wi-Fi access point or use a cable.",
  };
}

export interface PathOutcome {
  connected: boolean;
  /** The nominated pair's local candidate type: host, srflx, prflx or relay. */
  candidateType: string | null;
  /** udp or tcp, between the browser and the server or relay. */
  protocol: string | null;
  /** For a relay: how the browser reaches it (udp, tcp, tls). */
  relayProtocol: string | null;
  rttMs: number | null;
  /** Why it failed, when it did: "no-candidates", "refused", "timeout", "failed". */
  failure: string | null;
}

function pathDetail(o: PathOutcome): string {
  const via = o.candidateType === "relay" ? `through the relay (${o.relayProtocol ?? "?"})` : `${o.protocol ?? "udp"}, ${o.candidateType ?? "?"} candidate`;
  return o.rttMs === null ? `connected, ${via}` : `connected, ${via}, ${o.rttMs.toFixed(0)} ms round trip`;
}

/**
 * The direct path. Its failure is a warning when a relay works (media still flows, with
 * some delay), and a failure when nothing does.
 */
export function udpVerdict(o: PathOutcome, relayWorks: boolean): Verdict {
  if (o.connected && o.candidateType !== "relay") return pass(pathDetail(o));
  const detail = o.failure === "refused" ? "the media server refused the connection" : "no direct connection (UDP may be blocked)";
  if (relayWorks) {
    return {
      status: "warn",
      detail,
      advice:
        "This network blocks direct media. Classes still work through the relay, with a little more delay. For the best quality, ask your IT desk to allow UDP to the class server.",
    };
  }
  return {
    status: "fail",
    detail,
    advice: "Video and sound cannot get through this network. Try another network (a phone hotspot), or ask your IT desk to allow UDP to the class server.",
  };
}

/**
 * One relay path. `offered` is false when the server names no such relay. A failed path
 * is only a warning when another relay path works.
 */
export function relayVerdict(
  transport: "udp" | "tcp" | "tls",
  offered: boolean,
  o: PathOutcome | null,
  anotherRelayWorks: boolean,
): Verdict {
  if (!offered || !o) {
    return {
      status: "skip",
      detail: `this server offers no relay over ${transport.toUpperCase()}`,
      advice: "",
    };
  }
  if (o.connected && o.candidateType === "relay") return pass(pathDetail(o));
  const detail =
    o.failure === "no-candidates"
      ? "the relay could not be reached, or refused the login"
      : o.failure === "refused"
        ? "the media server refused the relayed connection"
        : "no connection through the relay";
  const advice =
    transport === "tls"
      ? "A firewall blocks the relay's secure port. Ask your IT desk to allow TLS to the relay on its port (usually 443)."
      : `A firewall blocks the relay over ${transport.toUpperCase()}. Ask your IT desk to allow it.`;
  return { status: anotherRelayWorks ? "warn" : "fail", detail, advice };
}

/** Megabits per second, each direction, or null when the transfer failed. */
export function bandwidthVerdict(downMbps: number | null, upMbps: number | null): Verdict {
  if (downMbps === null || upMbps === null) {
    return {
      status: "fail",
      detail: "the speed test could not finish",
      advice: "The connection dropped during the test. Move closer to the Wi-Fi access point and run the check again.",
    };
  }
  const detail = `${downMbps.toFixed(1)} Mbit/s down, ${upMbps.toFixed(1)} Mbit/s up (to the class server)`;
  if (downMbps >= 2 && upMbps >= 1) return pass(detail);
  if (downMbps >= 0.3 && upMbps >= 0.15) {
    return {
      status: "warn",
      detail,
      advice:
        "Enough for sound and small video. Others' video may pause on a weak connection; close other apps and tabs that use the network, or move closer to the Wi-Fi.",
    };
  }
  return {
    status: "fail",
    detail,
    advice: "Too slow for video, and sound may break up. Try another network, or join by phone hotspot.",
  };
}

export function reconnectVerdict(ms: number | null): Verdict {
  if (ms === null) {
    return {
      status: "fail",
      detail: "the connection did not come back",
      advice: "Something on the network closes new connections. Ask your IT desk to allow secure WebSockets (wss) to the class server.",
    };
  }
  const detail = `back in ${ms.toFixed(0)} ms`;
  if (ms <= 3000) return pass(detail);
  return {
    status: "warn",
    detail,
    advice: "Reconnecting is slow here: after a drop, it will take a few seconds before you are back in class.",
  };
}

const RANK: Record<Status, number> = { skip: 0, pass: 1, warn: 2, fail: 3 };

/** The page's result: the worst step, skipped steps aside. */
export function overall(verdicts: Verdict[]): Status {
  let worst: Status = "pass";
  for (const v of verdicts) if (RANK[v.status] > RANK[worst]) worst = v.status;
  return worst;
}

export const SUMMARY: Record<Exclude<Status, "skip">, string> = {
  pass: "Your device and network are ready for class.",
  warn: "You can join, but something may not work well. See the steps marked Warning.",
  fail: "Something will stop you from taking part. See the steps marked Failed.",
};

const LABEL: Record<Status, string> = { pass: "PASS", warn: "WARN", fail: "FAIL", skip: "SKIP" };

export function statusLabel(s: Status): string {
  return LABEL[s];
}

/** The plain-text report a student sends to their school's IT desk. */
export function reportText(
  when: Date,
  server: string,
  browser: string,
  results: Array<{ id: StepId; verdict: Verdict }>,
): string {
  const worst = overall(results.map((r) => r.verdict));
  const lines = [
    `Aula connection check, ${when.toISOString().replace("T", " ").slice(0, 19)} UTC`,
    `Server: ${server}`,
    `Browser: ${browser}`,
    `Result: ${LABEL[worst]}`,
    "",
  ];
  for (const { id, verdict } of results) {
    lines.push(`[${LABEL[verdict.status]}] ${STEP_TITLES[id]}: ${verdict.detail}`);
    if (verdict.advice) lines.push(`       ${verdict.advice}`);
  }
  return lines.join("\n") + "\n";
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
