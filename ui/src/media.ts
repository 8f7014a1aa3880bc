// Local devices, the peer connection to the SFU, and the stats read from it.
//
// The client publishes exactly once per peer connection: one offer with a sendonly audio
// and a sendonly video transceiver. Everything after that is the server's offers, which
// add and remove the other members' tracks. Muting only flips `track.enabled`, so the
// client never renegotiates; a new peer connection (after a reconnect) offers afresh.

import { Emitter } from "./emitter";
import type { ClientMsg, IceServer, LayerSize, MemberId, PublishedTrack, TrackId } from "./generated/protocol";

export type MediaKind = "audio" | "video";

/** Why a device is not in use, in terms the pre-join screen explains. */
export type DeviceProblem = "denied" | "missing" | "in_use" | "insecure" | "failed";

export function problemFrom(err: unknown): DeviceProblem {
  const name = err instanceof DOMException || err instanceof Error ? err.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
    case "PermissionDeniedError":
      return "denied";
    case "NotFoundError":
    case "OverconstrainedError":
    case "DevicesNotFoundError":
      return "missing";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "in_use";
    default:
      return "failed";
  }
}

export interface DeviceLists {
  audio: MediaDeviceInfo[];
  video: MediaDeviceInfo[];
}

export interface LocalMediaEvents {
  /** A track was acquired, replaced or lost; senders must follow. */
  track: { kind: MediaKind; track: MediaStreamTrack | null };
  /** The user (or a teacher, through the app) turned a kind on or off. */
  enabled: { kind: MediaKind; on: boolean };
  problem: { kind: MediaKind; problem: DeviceProblem | null };
}

const VIDEO_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 960 },
  height: { ideal: 540 },
  frameRate: { ideal: 24, max: 30 },
};
const AUDIO_CONSTRAINTS: MediaTrackConstraints = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

/**
 * The user's camera and microphone. One instance lives from the pre-join screen to the end
 * of the class, so reconnects reuse the same tracks (no new permission prompt, no flash).
 */
export class LocalMedia extends Emitter<LocalMediaEvents> {
  /** Holds whatever tracks exist; the self view shows this stream. */
  readonly stream = new MediaStream();
  audio: MediaStreamTrack | null = null;
  video: MediaStreamTrack | null = null;
  /** What the user wants; a missing track counts as off whatever this says. */
  micOn = true;
  camOn = true;
  problems: Record<MediaKind, DeviceProblem | null> = { audio: null, video: null };
  deviceIds: Record<MediaKind, string | null> = { audio: null, video: null };

  /** Asks for both devices; each failure is recorded for its own kind only. */
  async acquire(): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.setProblem("audio", "insecure");
      this.setProblem("video", "insecure");
      return;
    }
    try {
      // One request first, so the browser shows one permission prompt for both.
      const s = await navigator.mediaDevices.getUserMedia({
        audio: this.audioConstraints(),
        video: this.videoConstraints(),
      });
      this.adopt("audio", s.getAudioTracks()[0] ?? null);
      this.adopt("video", s.getVideoTracks()[0] ?? null);
      this.setProblem("audio", null);
      this.setProblem("video", null);
    } catch {
      // Find out which device failed, and keep the one that works.
      await Promise.all([this.acquireKind("audio"), this.acquireKind("video")]);
    }
  }

  async acquireKind(kind: MediaKind): Promise<void> {
    try {
      const s = await navigator.mediaDevices.getUserMedia(
        kind === "audio" ? { audio: this.audioConstraints() } : { video: this.videoConstraints() },
      );
      const track = (kind === "audio" ? s.getAudioTracks() : s.getVideoTracks())[0] ?? null;
      this.adopt(kind, track);
      this.setProblem(kind, track ? null : "missing");
    } catch (err) {
      console.warn(`aula: ${kind} unavailable`, err);
      if (!(kind === "audio" ? this.audio : this.video)) this.setProblem(kind, problemFrom(err));
    }
  }

  /** Switches to another device of the same kind; the old track stops only on success. */
  async switchDevice(kind: MediaKind, deviceId: string): Promise<void> {
    const prev = this.deviceIds[kind];
    this.deviceIds[kind] = deviceId;
    const current = kind === "audio" ? this.audio : this.video;
    // Some phones cannot open a second camera while the first is open.
    if (current && kind === "video") {
      current.stop();
    }
    try {
      const s = await navigator.mediaDevices.getUserMedia(
        kind === "audio" ? { audio: this.audioConstraints() } : { video: this.videoConstraints() },
      );
      const track = (kind === "audio" ? s.getAudioTracks() : s.getVideoTracks())[0] ?? null;
      this.adopt(kind, track);
      this.setProblem(kind, track ? null : "missing");
    } catch (err) {
      this.deviceIds[kind] = prev;
      this.setProblem(kind, problemFrom(err));
      if (current?.readyState === "ended") this.adopt(kind, null);
      throw err;
    }
  }

  setEnabled(kind: MediaKind, on: boolean): void {
    if (kind === "audio") this.micOn = on;
    else this.camOn = on;
    const t = kind === "audio" ? this.audio : this.video;
    if (t) t.enabled = on;
    this.emit("enabled", { kind, on });
  }

  isOn(kind: MediaKind): boolean {
    return kind === "audio" ? this.micOn && !!this.audio : this.camOn && !!this.video;
  }

  async devices(): Promise<DeviceLists> {
    if (!navigator.mediaDevices?.enumerateDevices) return { audio: [], video: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      audio: all.filter((d) => d.kind === "audioinput" && d.deviceId !== ""),
      video: all.filter((d) => d.kind === "videoinput" && d.deviceId !== ""),
    };
  }

  stop(): void {
    this.adopt("audio", null);
    this.adopt("video", null);
  }

  private adopt(kind: MediaKind, track: MediaStreamTrack | null): void {
    const old = kind === "audio" ? this.audio : this.video;
    if (old === track) return;
    if (old) {
      old.stop();
      this.stream.removeTrack(old);
    }
    if (track) {
      track.enabled = kind === "audio" ? this.micOn : this.camOn;
      this.stream.addTrack(track);
      const id = track.getSettings().deviceId;
      if (id) this.deviceIds[kind] = id;
      track.addEventListener("ended", () => {
        // Unplugged, or revoked in the browser's site settings.
        if ((kind === "audio" ? this.audio : this.video) === track) {
          this.adopt(kind, null);
          this.setProblem(kind, "missing");
        }
      });
    }
    if (kind === "audio") this.audio = track;
    else this.video = track;
    this.emit("track", { kind, track });
  }

  private setProblem(kind: MediaKind, problem: DeviceProblem | null): void {
    this.problems[kind] = problem;
    this.emit("problem", { kind, problem });
  }

  private audioConstraints(): MediaTrackConstraints {
    const id = this.deviceIds.audio;
    return id ? { ...AUDIO_CONSTRAINTS, deviceId: { exact: id } } : AUDIO_CONSTRAINTS;
  }

  private videoConstraints(): MediaTrackConstraints {
    const id = this.deviceIds.video;
    return id ? { ...VIDEO_CONSTRAINTS, deviceId: { exact: id } } : VIDEO_CONSTRAINTS;
  }
}

// ---- the peer connection ----

export interface RemoteTrack {
  member: MemberId;
  track: MediaStreamTrack;
  receiver: RTCRtpReceiver;
}

export interface PeerLinkEvents {
  /** The set of remote tracks of `member` changed; `stream` holds what is live now. */
  remote: { member: MemberId; stream: MediaStream };
  /** ICE/DTLS failed for good; the link needs replacing. */
  failed: string;
  state: RTCPeerConnectionState;
}

const ICE_GATHER_CAP_MS = 2_000;

/**
 * The camera's simulcast layers, lowest first (the SFU relies on that order): a quarter,
 * half and full size of the 960×540 capture. A browser that sends fewer layers (small
 * input, a weak uplink) just leaves the upper ones silent.
 */
export const SIMULCAST_LAYERS: readonly RTCRtpEncodingParameters[] = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 450_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
];

/** Each layer's size for the camera's current capture size, as the SFU is told. */
function simulcastSizes(track: MediaStreamTrack): LayerSize[] {
  const { width = 0, height = 0 } = track.getSettings();
  if (!width || !height) return [];
  return SIMULCAST_LAYERS.map((l) => {
    const k = l.scaleResolutionDownBy ?? 1;
    return { rid: l.rid ?? "", width: Math.round(width / k), height: Math.round(height / k) };
  });
}
const ANSWER_DEADLINE_MS = 15_000;

/**
 * One RTCPeerConnection and its signalling. Made anew for every welcome: on a reconnect the
 * old one is closed and a fresh one offers again with the same local tracks.
 */
export class PeerLink extends Emitter<PeerLinkEvents> {
  readonly pc: RTCPeerConnection;
  /** Remote media grouped by owner: the stream id is the owner's member id. */
  readonly streams = new Map<MemberId, MediaStream>();
  private readonly byTrackId = new Map<string, RemoteTrack>();
  private audioTx: RTCRtpTransceiver | null = null;
  private videoTx: RTCRtpTransceiver | null = null;
  /** Signalling steps run one at a time, in arrival order. */
  private chain: Promise<unknown> = Promise.resolve();
  private awaitingAnswer: ((sdp: string) => void) | null = null;
  private closed = false;
  /** What the first offer published, by mid; own TrackIds are `<me>:<mid>`. */
  published: PublishedTrack[] = [];

  constructor(
    private readonly local: LocalMedia,
    private readonly send: (msg: ClientMsg) => boolean,
    private readonly canPublish: boolean,
    iceServers: readonly IceServer[] = [],
  ) {
    super();
    // The SFU's host candidate first; the server's TURN servers (coturn) for networks
    // that block UDP or sit behind a symmetric NAT.
    this.pc = new RTCPeerConnection({
      iceServers: iceServers.map((s) => ({
        urls: [...s.urls],
        ...(s.username != null ? { username: s.username } : {}),
        ...(s.credential != null ? { credential: s.credential } : {}),
      })),
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
    });
    this.pc.ontrack = (ev) => this.onTrack(ev);
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      this.emit("state", s);
      if (s === "failed" && !this.closed) this.emit("failed", "The media connection failed");
    };
  }

  /** Builds the transceivers and sends the one client offer; resolves once answered. */
  start(): Promise<PublishedTrack[]> {
    return this.enqueue(async () => {
      const publish = this.canPublish;
      // Both transceivers exist even without a device: the SDP then still has m-lines,
      // so ICE and DTLS come up and the member can receive.
      this.audioTx = this.pc.addTransceiver(publish ? (this.local.audio ?? "audio") : "audio", {
        direction: "sendonly",
        streams: [this.local.stream],
      });
      this.videoTx = this.pc.addTransceiver(publish ? (this.local.video ?? "video") : "video", {
        direction: "sendonly",
        streams: [this.local.stream],
        // Simulcast: the SFU gives each viewer the layer its link carries.
        ...(publish ? { sendEncodings: SIMULCAST_LAYERS.map((l) => ({ ...l })) } : {}),
      });
      preferH264(this.videoTx);
      const offer = await this.pc.createOffer();
      if (this.closed) return [];
      await this.pc.setLocalDescription(offer);
      await this.iceGathered();
      if (this.closed) return [];
      const tracks: PublishedTrack[] = [];
      if (publish && this.local.audio && this.audioTx.mid) tracks.push({ mid: this.audioTx.mid, kind: "microphone" });
      if (publish && this.local.video && this.videoTx.mid) {
        tracks.push({ mid: this.videoTx.mid, kind: "camera", layers: simulcastSizes(this.local.video) });
      }
      this.published = tracks;
      const answered = new Promise<string>((resolve, reject) => {
        this.awaitingAnswer = resolve;
        setTimeout(() => reject(new Error("no answer from the server")), ANSWER_DEADLINE_MS);
      });
      const sdp = this.pc.localDescription?.sdp ?? offer.sdp ?? "";
      this.send({ type: "offer", sdp, tracks });
      const answer = await answered;
      if (this.closed) return [];
      await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
      return tracks;
    }) as Promise<PublishedTrack[]>;
  }

  handleAnswer(sdp: string): void {
    const done = this.awaitingAnswer;
    this.awaitingAnswer = null;
    if (done) done(sdp);
    else console.warn("aula: an answer arrived with no offer outstanding");
  }

  /** A server offer: the other members' tracks changed. */
  handleOffer(sdp: string): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      await this.pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      await this.iceGathered();
      if (this.closed) return;
      this.send({ type: "answer", sdp: this.pc.localDescription?.sdp ?? answer.sdp ?? "" });
    }) as Promise<void>;
  }

  /** Follows a device switch without renegotiating. */
  async replaceTrack(kind: MediaKind, track: MediaStreamTrack | null): Promise<void> {
    const tx = kind === "audio" ? this.audioTx : this.videoTx;
    if (!tx || this.closed || !this.canPublish) return;
    await tx.sender.replaceTrack(track);
  }

  /** The mid our offer used for `kind`, once published. */
  publishedMid(kind: MediaKind): string | null {
    const want = kind === "audio" ? "microphone" : "camera";
    return this.published.find((t) => t.kind === want)?.mid ?? null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.awaitingAnswer = null;
    // The local tracks outlive the connection; detach them rather than stop them.
    for (const tx of this.pc.getTransceivers()) {
      void tx.sender.replaceTrack(null).catch(() => {});
    }
    this.pc.close();
    for (const member of [...this.streams.keys()]) {
      this.streams.set(member, new MediaStream());
      this.emit("remote", { member, stream: this.streams.get(member)! });
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private enqueue<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(step);
    // A failed step must not wedge the ones after it.
    this.chain = run.catch((err) => {
      if (!this.closed) console.warn("aula: signalling step failed", err);
    });
    return run;
  }

  private iceGathered(): Promise<void> {
    return iceGathered(this.pc, ICE_GATHER_CAP_MS);
  }

  private onTrack(ev: RTCTrackEvent): void {
    const stream = ev.streams[0];
    if (!stream || this.closed) return;
    const member = stream.id;
    const track = ev.track;
    this.byTrackId.set(track.id, { member, track, receiver: ev.receiver });
    let mine = this.streams.get(member);
    if (!mine) {
      mine = new MediaStream();
      this.streams.set(member, mine);
    }
    // Our own MediaStream per member: one tile holds one stream, whatever the SFU does.
    for (const t of mine.getTracks()) {
      if (t.kind === track.kind && t !== track) mine.removeTrack(t);
    }
    if (!mine.getTrackById(track.id)) mine.addTrack(track);
    this.emit("remote", { member, stream: mine });

    const gone = () => {
      const entry = this.byTrackId.get(track.id);
      if (entry?.track !== track) return;
      this.byTrackId.delete(track.id);
      const s = this.streams.get(member);
      if (s?.getTrackById(track.id)) {
        s.removeTrack(track);
        this.emit("remote", { member, stream: s });
      }
    };
    stream.addEventListener("removetrack", (e) => {
      if (e.track === track) gone();
    });
    track.addEventListener("ended", gone);
  }

  /** Which member a receiver's track belongs to, by the track id the SFU set as msid. */
  memberOfTrack(trackId: string): MemberId | null {
    return this.byTrackId.get(trackId)?.member ?? memberFromTrackId(trackId);
  }

  remoteTracks(): RemoteTrack[] {
    return [...this.byTrackId.values()];
  }
}

/** `<member>:<mid>` → member; mids never contain ':' but member ids might, so split last. */
export function memberFromTrackId(id: TrackId): MemberId | null {
  const i = id.lastIndexOf(":");
  return i > 0 ? id.slice(0, i) : null;
}

// ---- stats ----

export interface InboundMemberStats {
  memberId: MemberId;
  framesDecoded: number;
  /** From the member's <video> element: non-zero once frames are actually shown. */
  videoWidth: number;
  audioBytesReceived: number;
  /** Video bytes received, and the width of the latest decoded frame (the layer). */
  videoBytesReceived: number;
  frameWidth: number;
  /** Audio the decoder had to invent for lost packets (a break in the sound). */
  concealedSamples: number;
  totalSamplesReceived: number;
}

export interface CandidateInfo {
  address: string | null;
  port: number | null;
  protocol: string | null;
  candidateType: string | null;
  /** For a relay candidate: how this client reaches the TURN server (udp, tcp, tls). */
  relayProtocol: string | null;
}

export interface CandidatePairInfo {
  local: CandidateInfo;
  remote: CandidateInfo;
  state: string;
  nominated: boolean;
  bytesSent: number;
  bytesReceived: number;
  /** The pair's latest round trip, when the browser has measured one. */
  rttMs: number | null;
}

type StatsRecord = Record<string, unknown> & { id: string; type: string };

function records(report: RTCStatsReport): StatsRecord[] {
  const out: StatsRecord[] = [];
  report.forEach((s: StatsRecord) => out.push(s));
  return out;
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

/** Maps an inbound-rtp record to its owner via trackIdentifier, falling back to the mid. */
function ownerOf(link: PeerLink, s: StatsRecord): MemberId | null {
  if (typeof s.trackIdentifier === "string") {
    const m = link.memberOfTrack(s.trackIdentifier);
    if (m) return m;
  }
  if (typeof s.mid === "string") {
    const tx = link.pc.getTransceivers().find((t) => t.mid === s.mid);
    if (tx) return link.memberOfTrack(tx.receiver.track.id);
  }
  return null;
}

export interface AudioLevels {
  /** Every remote member whose audio we receive, 0..1. */
  remote: Map<MemberId, number>;
  /** Our own microphone as the sender sees it; null before it is sending. */
  local: number | null;
}

export async function audioLevels(link: PeerLink): Promise<AudioLevels> {
  const remote = new Map<MemberId, number>();
  let local: number | null = null;
  for (const s of records(await link.pc.getStats())) {
    if (s.kind !== "audio") continue;
    if (s.type === "media-source" && typeof s.audioLevel === "number") {
      local = Math.max(local ?? 0, s.audioLevel);
    } else if (s.type === "inbound-rtp") {
      const member = ownerOf(link, s);
      if (member) remote.set(member, Math.max(remote.get(member) ?? 0, num(s.audioLevel)));
    }
  }
  return { remote, local };
}

/**
 * Students publish H.264 (constrained baseline) when the browser can: the teacher app
 * decodes it with the same decoder it encodes with, and old phones decode it in hardware.
 * VP8 stays offered as the fallback for browsers without H.264.
 */
function preferH264(tx: RTCRtpTransceiver): void {
  const caps = typeof RTCRtpSender.getCapabilities === "function" ? RTCRtpSender.getCapabilities("video") : null;
  if (!caps || typeof tx.setCodecPreferences !== "function") return;
  const rank = (c: RTCRtpCodec): number => {
    if (c.mimeType.toLowerCase() !== "video/h264") return 2;
    const fmtp = c.sdpFmtpLine ?? "";
    const mode1 = fmtp.includes("packetization-mode=1");
    const cb = fmtp.includes("profile-level-id=42e01f");
    return mode1 && cb ? 0 : 1;
  };
  const codecs = [...caps.codecs].sort((a, b) => rank(a) - rank(b));
  try {
    tx.setCodecPreferences(codecs);
  } catch (err) {
    console.warn("aula: could not prefer H.264", err);
  }
}

export async function inboundStats(
  link: PeerLink | null,
  members: MemberId[],
  videoWidthOf: (m: MemberId) => number,
): Promise<InboundMemberStats[]> {
  const by = new Map<MemberId, InboundMemberStats>();
  const row = (m: MemberId) => {
    let r = by.get(m);
    if (!r) {
      r = {
        memberId: m,
        framesDecoded: 0,
        videoWidth: videoWidthOf(m),
        audioBytesReceived: 0,
        videoBytesReceived: 0,
        frameWidth: 0,
        concealedSamples: 0,
        totalSamplesReceived: 0,
      };
      by.set(m, r);
    }
    return r;
  };
  for (const m of members) row(m);
  if (link && !link.isClosed) {
    for (const s of records(await link.pc.getStats())) {
      if (s.type !== "inbound-rtp") continue;
      const member = ownerOf(link, s);
      if (!member) continue;
      const r = row(member);
      if (s.kind === "video") {
        r.framesDecoded += num(s.framesDecoded);
        r.videoBytesReceived += num(s.bytesReceived);
        r.frameWidth = Math.max(r.frameWidth, num(s.frameWidth));
      } else if (s.kind === "audio") {
        r.audioBytesReceived += num(s.bytesReceived);
        r.concealedSamples += num(s.concealedSamples);
        r.totalSamplesReceived += num(s.totalSamplesReceived);
      }
    }
  }
  return [...by.values()];
}

/**
 * Resolves once `pc` has gathered its candidates, or after `capMs`: a STUN or TURN
 * server that never answers must not hold up the offer (the SFU's host candidate and
 * whatever else arrived still connect).
 */
export function iceGathered(pc: RTCPeerConnection, capMs: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const onCandidate = (e: RTCPeerConnectionIceEvent) => {
      if (e.candidate === null) done();
    };
    const timer = setTimeout(done, capMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

export async function selectedCandidatePairs(link: PeerLink | null): Promise<CandidatePairInfo[]> {
  if (!link || link.isClosed) return [];
  return candidatePairsOf(link.pc);
}

/** The candidate pairs `pc` uses (the selected one first), with their candidates. */
export async function candidatePairsOf(pc: RTCPeerConnection): Promise<CandidatePairInfo[]> {
  const all = records(await pc.getStats());
  const byId = new Map(all.map((s) => [s.id, s]));
  const selected = new Set<string>();
  for (const s of all) {
    if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") selected.add(s.selectedCandidatePairId);
  }
  const cand = (id: unknown): CandidateInfo => {
    const c = typeof id === "string" ? byId.get(id) : undefined;
    return {
      address: typeof c?.address === "string" ? c.address : typeof c?.ip === "string" ? c.ip : null,
      port: typeof c?.port === "number" ? c.port : null,
      protocol: typeof c?.protocol === "string" ? c.protocol : null,
      candidateType: typeof c?.candidateType === "string" ? c.candidateType : null,
      relayProtocol: typeof c?.relayProtocol === "string" ? c.relayProtocol : null,
    };
  };
  return all
    .filter((s) => s.type === "candidate-pair" && (selected.has(s.id) || (s.nominated === true && s.state === "succeeded")))
    // The pair a transport actually uses comes first.
    .sort((a, b) => Number(selected.has(b.id)) - Number(selected.has(a.id)))
    .map((s) => ({
      local: cand(s.localCandidateId),
      remote: cand(s.remoteCandidateId),
      state: String(s.state ?? ""),
      nominated: s.nominated === true,
      bytesSent: num(s.bytesSent),
      bytesReceived: num(s.bytesReceived),
      rttMs: typeof s.currentRoundTripTime === "number" ? s.currentRoundTripTime * 1000 : null,
    }));
}

// ---- local level ----

/**
 * The local microphone's level from a WebAudio analyser. Stats would only report it once
 * connected, and the pre-join meter needs it before.
 */
export class LevelMeter {
  private ctx: AudioContext | null = null;
  private analyser: AnalyserNode | null = null;
  private source: MediaStreamAudioSourceNode | null = null;
  private buf: Float32Array<ArrayBuffer> = new Float32Array(512);
  private track: MediaStreamTrack | null = null;

  constructor() {
    // Autoplay rules keep an AudioContext suspended until the first gesture.
    const resume = () => void this.ctx?.resume().catch(() => {});
    document.addEventListener("pointerdown", resume, { capture: true });
    document.addEventListener("keydown", resume, { capture: true });
  }

  setTrack(track: MediaStreamTrack | null): void {
    if (track === this.track) return;
    this.track = track;
    this.source?.disconnect();
    this.source = null;
    if (!track) return;
    try {
      this.ctx ??= new AudioContext();
      this.analyser ??= this.ctx.createAnalyser();
      this.analyser.fftSize = 512;
      this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
      this.source.connect(this.analyser);
      void this.ctx.resume().catch(() => {});
    } catch (err) {
      console.warn("aula: no level meter", err);
    }
  }

  /** False until a user gesture lets the AudioContext run (autoplay rules). */
  get running(): boolean {
    return this.ctx?.state === "running";
  }

  /** RMS of the latest samples, 0..1; 0 when muted (a disabled track is silence). */
  level(): number {
    if (!this.analyser || !this.track || !this.track.enabled) return 0;
    this.analyser.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const v of this.buf) sum += v * v;
    return Math.sqrt(sum / this.buf.length);
  }

  close(): void {
    this.source?.disconnect();
    void this.ctx?.close().catch(() => {});
    this.ctx = null;
    this.analyser = null;
  }
}
