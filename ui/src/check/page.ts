// The connectivity check page (/check): tries each thing a class needs, against this
// server's real parts (its WebSocket, its SFU, its TURN relays), and says what to do.
// Linked from the pre-join screen; needs no class and no link.

import type { ApiError, CheckAnswer, CheckStarted, CheckUploaded, IceServer } from "../generated/protocol";
import { candidatePairsOf, iceGathered } from "../media";
import { h, setText } from "../ui/dom";
import {
  type PathOutcome,
  type Status,
  type StepId,
  type Verdict,
  STEP_ORDER,
  STEP_TITLES,
  SUMMARY,
  bandwidthVerdict,
  deviceVerdict,
  overall,
  reconnectVerdict,
  relayVerdict,
  reportText,
  secureVerdict,
  statusLabel,
  udpVerdict,
  websocketVerdict,
} from "./steps";

/** How long one media path may take to connect before it counts as blocked. */
const PATH_DEADLINE_MS = 10_000;
const GATHER_CAP_MS = 5_000;
const ECHO_COUNT = 10;
const SOCKET_DEADLINE_MS = 5_000;

type Relay = "udp" | "tcp" | "tls";

/** The relay URLs of the check's ICE servers, by how the browser reaches them. */
function relaysByTransport(servers: readonly IceServer[]): Map<Relay, RTCIceServer> {
  const out = new Map<Relay, RTCIceServer>();
  for (const s of servers) {
    for (const url of s.urls) {
      const t: Relay | null = url.startsWith("turns:")
        ? "tls"
        : url.startsWith("turn:")
          ? /transport=tcp/.test(url)
            ? "tcp"
            : "udp"
          : null;
      if (!t || out.has(t)) continue;
      out.set(t, {
        urls: [url],
        ...(s.username != null ? { username: s.username } : {}),
        ...(s.credential != null ? { credential: s.credential } : {}),
      });
    }
  }
  return out;
}

function stunOnly(servers: readonly IceServer[]): RTCIceServer[] {
  return servers
    .map((s) => ({ urls: s.urls.filter((u) => u.startsWith("stun")) }))
    .filter((s) => s.urls.length > 0);
}

async function api<T>(method: string, path: string, body?: BodyInit, json = true): Promise<T> {
  const res = await fetch(path, {
    method,
    ...(body !== undefined ? { body } : {}),
    headers: json && body !== undefined ? { "content-type": "application/json" } : {},
    cache: "no-store",
  });
  if (!res.ok) {
    let err: ApiError | null = null;
    try {
      err = (await res.json()) as ApiError;
    } catch {
      /* a proxy's page */
    }
    throw new Error(err?.message ?? `HTTP ${res.status}`);
  }
  return (await res.json()) as T;
}

function wsUrl(path: string): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

/** One peer connection to the SFU: receive-only audio, so only ICE and DTLS run. */
async function tryPath(check: string, servers: RTCIceServer[], relayOnly: boolean): Promise<PathOutcome> {
  const fail = (failure: string): PathOutcome => ({
    connected: false,
    candidateType: null,
    protocol: null,
    relayProtocol: null,
    rttMs: null,
    failure,
  });
  const pc = new RTCPeerConnection({
    iceServers: servers,
    iceTransportPolicy: relayOnly ? "relay" : "all",
    bundlePolicy: "max-bundle",
    rtcpMuxPolicy: "require",
  });
  try {
    pc.addTransceiver("audio", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc, GATHER_CAP_MS);
    const sdp = pc.localDescription?.sdp ?? "";
    if (!sdp.includes("a=candidate:")) return fail("no-candidates");
    let answer: CheckAnswer;
    try {
      answer = await api<CheckAnswer>("POST", `/api/check/${check}/offer`, JSON.stringify({ sdp }));
    } catch {
      return fail("refused");
    }
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    const state = await new Promise<RTCPeerConnectionState>((resolve) => {
      const settle = () => {
        const s = pc.connectionState;
        if (s === "connected" || s === "failed" || s === "closed") {
          clearTimeout(timer);
          pc.removeEventListener("connectionstatechange", settle);
          resolve(s);
        }
      };
      const timer = setTimeout(() => {
        pc.removeEventListener("connectionstatechange", settle);
        resolve(pc.connectionState);
      }, PATH_DEADLINE_MS);
      pc.addEventListener("connectionstatechange", settle);
      settle();
    });
    if (state !== "connected") return fail(state === "failed" ? "failed" : "timeout");
    // A round trip needs a STUN check after nomination; give it a moment.
    let pair = (await candidatePairsOf(pc))[0];
    for (let i = 0; i < 10 && pair && pair.rttMs === null; i++) {
      await new Promise((r) => setTimeout(r, 200));
      pair = (await candidatePairsOf(pc))[0];
    }
    return {
      connected: true,
      candidateType: pair?.local.candidateType ?? null,
      protocol: pair?.local.protocol ?? null,
      relayProtocol: pair?.local.relayProtocol ?? null,
      rttMs: pair?.rttMs ?? null,
      failure: null,
    };
  } catch {
    return fail("failed");
  } finally {
    pc.close();
  }
}

function openSocket(url: string): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      resolve(null);
      return;
    }
    const timer = setTimeout(() => {
      ws.close();
      resolve(null);
    }, SOCKET_DEADLINE_MS);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      resolve(null);
    };
  });
}

function echo(ws: WebSocket, text: string): Promise<number | null> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const timer = setTimeout(() => resolve(null), SOCKET_DEADLINE_MS);
    ws.onmessage = (e) => {
      if (e.data !== text) return;
      clearTimeout(timer);
      resolve(performance.now() - t0);
    };
    try {
      ws.send(text);
    } catch {
      clearTimeout(timer);
      resolve(null);
    }
  });
}

/** Mbit/s of one transfer, or null when it failed. */
async function timed(run: () => Promise<number>): Promise<number | null> {
  try {
    const t0 = performance.now();
    const bytes = await run();
    const secs = Math.max(0.001, (performance.now() - t0) / 1000);
    return (bytes * 8) / secs / 1e6;
  } catch {
    return null;
  }
}

/**
 * Download then upload: a small warm-up, then a transfer sized to take about a second at
 * the speed the warm-up showed, within the server's cap.
 */
async function bandwidth(check: string, cap: number): Promise<{ down: number | null; up: number | null }> {
  const down = async (bytes: number) =>
    timed(async () => (await (await fetch(`/api/check/${check}/download?bytes=${bytes}`, { cache: "no-store" })).arrayBuffer()).byteLength);
  const up = async (bytes: number) =>
    timed(async () => {
      const body = new Uint8Array(bytes);
      crypto.getRandomValues(body.subarray(0, Math.min(bytes, 65_536)));
      const r = await api<CheckUploaded>("POST", `/api/check/${check}/upload`, body, false);
      return r.bytes;
    });
  const size = (mbps: number | null) => Math.min(cap, Math.max(65_536, Math.round(((mbps ?? 1) * 1e6) / 8)));
  const warmDown = await down(131_072);
  const d = warmDown === null ? null : await down(size(warmDown));
  const warmUp = await up(65_536);
  const u = warmUp === null ? null : await up(size(warmUp));
  return { down: d, up: u };
}

interface Row {
  el: HTMLElement;
  badge: HTMLElement;
  detail: HTMLElement;
  advice: HTMLElement;
}

export class CheckPage {
  readonly el: HTMLElement;
  private readonly rows = new Map<StepId, Row>();
  private readonly verdicts = new Map<StepId, Verdict>();
  private readonly summary: HTMLElement;
  private readonly summaryText: HTMLElement;
  private readonly runBtn: HTMLButtonElement;
  private readonly copyBtn: HTMLButtonElement;
  private readonly copied: HTMLTextAreaElement;
  private running = false;
  /** Resolves when the latest run ends; tests wait on it. */
  done: Promise<Status> = Promise.resolve("pass");

  constructor() {
    const list = h("ol", { class: "check-steps" });
    for (const id of STEP_ORDER) {
      const badge = h("span", { class: "check-badge", "data-testid": `check-status-${id}` }, "…");
      const detail = h("div", { class: "check-detail" });
      const advice = h("div", { class: "check-advice" });
      const el = h(
        "li",
        { class: "check-step", "data-testid": `check-step-${id}`, "data-status": "pending" },
        badge,
        h("div", { class: "check-body" }, h("div", { class: "check-title" }, STEP_TITLES[id]), detail, advice),
      );
      list.appendChild(el);
      this.rows.set(id, { el, badge, detail, advice });
    }
    this.summaryText = h("p", { class: "check-summary-text" }, "Checking…");
    this.summary = h(
      "section",
      { class: "check-summary", "data-testid": "check-summary", "data-result": "running", role: "status" },
      this.summaryText,
    );
    this.runBtn = h("button", { class: "btn", type: "button", "data-testid": "check-run" }, "Run again");
    this.runBtn.addEventListener("click", () => void this.run());
    this.copyBtn = h("button", { class: "btn btn-primary", type: "button", "data-testid": "check-copy" }, "Copy results for IT");
    this.copyBtn.addEventListener("click", () => void this.copy());
    this.copied = h("textarea", { class: "check-report", readonly: true, rows: 8, "data-testid": "check-report", hidden: true });
    const back =
      document.referrer && new URL(document.referrer, location.href).origin === location.origin
        ? h("a", { class: "check-back", href: document.referrer }, "Back to the class")
        : null;
    this.el = h(
      "main",
      { class: "check", "data-testid": "check" },
      h(
        "header",
        { class: "check-head" },
        h("h1", {}, "Connection check"),
        h("p", { class: "check-intro" }, "Tries what a class needs, step by step: camera, microphone, the connection to the class server, and the network paths for video and sound. About 30 seconds."),
      ),
      this.summary,
      list,
      h("div", { class: "check-actions" }, this.copyBtn, this.runBtn, back),
      this.copied,
    );
  }

  run(): Promise<Status> {
    if (this.running) return this.done;
    this.running = true;
    this.runBtn.disabled = true;
    this.copyBtn.disabled = true;
    this.copied.hidden = true;
    this.verdicts.clear();
    for (const id of STEP_ORDER) this.show(id, null);
    this.summary.dataset.result = "running";
    setText(this.summaryText, "Checking…");
    this.done = this.steps().finally(() => {
      this.running = false;
      this.runBtn.disabled = false;
      this.copyBtn.disabled = false;
    });
    return this.done;
  }

  /** The report as it would be copied (tests read it). */
  report(): string {
    return reportText(
      new Date(),
      location.origin,
      navigator.userAgent,
      STEP_ORDER.filter((id) => this.verdicts.has(id)).map((id) => ({ id, verdict: this.verdicts.get(id)! })),
    );
  }

  private async copy(): Promise<void> {
    const text = this.report();
    this.copied.value = text;
    try {
      await navigator.clipboard.writeText(text);
      setText(this.copyBtn, "Copied");
      setTimeout(() => setText(this.copyBtn, "Copy results for IT"), 2000);
    } catch {
      // No clipboard (an insecure page, or permission refused): show it to copy by hand.
      this.copied.hidden = false;
      this.copied.select();
    }
  }

  private show(id: StepId, v: Verdict | null, running = false): void {
    const row = this.rows.get(id)!;
    if (v) this.verdicts.set(id, v);
    const status = v ? v.status : running ? "running" : "pending";
    row.el.dataset.status = status;
    setText(row.badge, v ? statusLabel(v.status) : running ? "…" : "");
    setText(row.detail, v ? v.detail : running ? "Checking…" : "");
    setText(row.advice, v?.advice ?? "");
    row.advice.hidden = !v?.advice;
  }

  private async steps(): Promise<Status> {
    this.show("secure", secureVerdict(window.isSecureContext, location.origin));
    await this.devices();

    this.show("websocket", null, true);
    let check: CheckStarted | null = null;
    try {
      check = await api<CheckStarted>("POST", "/api/check");
    } catch (err) {
      const v: Verdict = {
        status: "fail",
        detail: `the class server did not answer (${err instanceof Error ? err.message : String(err)})`,
        advice: "Check that you are online and that the address is right, then run the check again.",
      };
      for (const id of STEP_ORDER.slice(STEP_ORDER.indexOf("websocket"))) this.show(id, v);
      return this.finish();
    }
    const path = `/api/check/${check.check}/ws`;
    const ws = await openSocket(wsUrl(path));
    const rtts: number[] = [];
    if (ws) {
      for (let i = 0; i < ECHO_COUNT; i++) {
        const rtt = await echo(ws, `ping ${i}`);
        if (rtt === null) break;
        rtts.push(rtt);
      }
    }
    this.show("websocket", websocketVerdict(ws ? rtts : null, location.host));

    // Media paths, all at once: a blocked one costs its full deadline.
    const relays = relaysByTransport(check.ice_servers);
    const transports: Relay[] = ["udp", "tcp", "tls"];
    for (const id of ["udp", "turn-udp", "turn-tcp", "turn-tls"] as const) this.show(id, null, true);
    const [direct, ...relayed] = await Promise.all([
      tryPath(check.check, stunOnly(check.ice_servers), false),
      ...transports.map((t) => {
        const server = relays.get(t);
        return server ? tryPath(check!.check, [server], true) : Promise.resolve(null);
      }),
    ]);
    const works = relayed.map((o) => !!o && o.connected && o.candidateType === "relay");
    transports.forEach((t, i) => {
      const others = works.some((w, j) => w && j !== i);
      this.show(`turn-${t}`, relayVerdict(t, relays.has(t), relayed[i] ?? null, others));
    });
    this.show("udp", udpVerdict(direct!, works.some(Boolean)));

    this.show("bandwidth", null, true);
    const bw = await bandwidth(check.check, Number(check.max_transfer_bytes));
    this.show("bandwidth", bandwidthVerdict(bw.down, bw.up));

    this.show("reconnect", null, true);
    let back: number | null = null;
    if (ws) {
      ws.close();
      const t0 = performance.now();
      const again = await openSocket(wsUrl(path));
      if (again && (await echo(again, "again")) !== null) back = performance.now() - t0;
      again?.close();
    }
    this.show("reconnect", reconnectVerdict(back));
    void fetch(`/api/check/${check.check}`, { method: "DELETE" }).catch(() => {});
    return this.finish();
  }

  private async devices(): Promise<void> {
    this.show("camera", null, true);
    this.show("microphone", null, true);
    if (!navigator.mediaDevices?.getUserMedia) {
      this.show("camera", deviceVerdict("camera", null, "insecure"));
      this.show("microphone", deviceVerdict("microphone", null, "insecure"));
      return;
    }
    // One at a time, so a missing camera does not hide a working microphone.
    for (const [id, noun, constraints] of [
      ["camera", "camera", { video: true }],
      ["microphone", "microphone", { audio: true }],
    ] as const) {
      try {
        const s = await navigator.mediaDevices.getUserMedia(constraints);
        const track = s.getTracks()[0];
        const settings = track?.getSettings();
        const size = settings?.width && settings?.height ? ` (${settings.width}×${settings.height})` : "";
        this.show(id, deviceVerdict(noun, `${track?.label || `a ${noun}`}${size}`, null));
        for (const t of s.getTracks()) t.stop();
      } catch (err) {
        const name = err instanceof DOMException || err instanceof Error ? err.name : "Error";
        this.show(id, deviceVerdict(noun, null, name));
      }
    }
  }

  private finish(): Status {
    const result = overall([...this.verdicts.values()]);
    this.summary.dataset.result = result;
    setText(this.summaryText, SUMMARY[result === "skip" ? "pass" : result]);
    return result;
  }
}

export function startCheck(root: HTMLElement): CheckPage {
  document.title = "Connection check · Aula";
  const page = new CheckPage();
  root.replaceChildren(page.el);
  (window as unknown as { __aulaCheck?: CheckPage }).__aulaCheck = page;
  void page.run();
  return page;
}
