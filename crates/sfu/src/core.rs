use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::layers::{self, Change, FrameAction, LayerInfo, Selection, TimestampRewrite};
use crate::{AllowList, Command, PeerId, PeerSpec, PeerState, SfuError, SfuEvent, SfuMetrics};

/// A publisher is asked for a keyframe at most this often per track, however many
/// viewers ask: each keyframe costs the whole room bandwidth.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// ICE that stays disconnected this long ends the peer. Short drops recover by themselves.
const ICE_GRACE: Duration = Duration::from_secs(10);
const MAX_DATAGRAM: usize = 2048;
/// Datagrams read per wake-up before the loop polls peers again.
const READ_BATCH: usize = 64;
/// How often each viewer's simulcast layers are chosen again from its estimate.
const ALLOCATE_EVERY: Duration = Duration::from_millis(250);
/// How often a viewer whose estimate stays short of its best layers is probed again.
const PROBE_AGAIN: Duration = Duration::from_secs(2);
/// How often str0m reports each peer's loss and sent bytes: often enough that a layer
/// drops within two seconds of a link being cut.
const STATS_EVERY: Duration = Duration::from_millis(500);
/// Where a viewer's bandwidth estimate starts, before TWCC feedback has said anything.
const START_ESTIMATE_KBPS: u64 = 1_000;

pub(crate) async fn run(
    socket: UdpSocket,
    local: SocketAddr,
    advertise: SocketAddr,
    allowed: AllowList,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<SfuEvent>,
    metrics: Arc<SfuMetrics>,
) {
    str0m::crypto::from_feature_flags().install_process_default();
    let mut core = Core {
        peers: HashMap::new(),
        by_addr: HashMap::new(),
        rooms: HashMap::new(),
        dirty: Vec::new(),
        queue: VecDeque::new(),
        allowed,
        // str0m matches a datagram to the candidate it was sent to: on a wildcard socket
        // (every interface) that is the advertised address, not 0.0.0.0.
        local: if local.ip().is_unspecified() {
            advertise
        } else {
            local
        },
        advertise,
        events,
        metrics,
        next_allocation: Instant::now(),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        core.drive(&socket);
        let deadline = core.next_timeout(Instant::now() + Duration::from_millis(500));
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(Command::Stop { reply }) => {
                    drop(socket);
                    let _ = reply.send(());
                    return;
                }
                Some(cmd) => core.command(cmd, Instant::now()),
                None => return,
            },
            read = socket.recv_from(&mut buf) => {
                if let Ok((n, source)) = read {
                    core.datagram(&buf[..n], source, Instant::now());
                    for _ in 0..READ_BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, source)) => core.datagram(&buf[..n], source, Instant::now()),
                            Err(_) => break,
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        core.timeouts(Instant::now());
    }
}

struct Core {
    peers: HashMap<PeerId, Peer>,
    /// Remote address → peer, learnt once a peer accepts a datagram from it.
    by_addr: HashMap<SocketAddr, PeerId>,
    rooms: HashMap<String, Vec<PeerId>>,
    /// Peers whose output must be polled.
    dirty: Vec<PeerId>,
    queue: VecDeque<Propagated>,
    allowed: AllowList,
    local: SocketAddr,
    advertise: SocketAddr,
    events: mpsc::UnboundedSender<SfuEvent>,
    metrics: Arc<SfuMetrics>,
    next_allocation: Instant,
}

struct Peer {
    spec: PeerSpec,
    rtc: Rtc,
    pending: Option<SdpPendingOffer>,
    tracks_in: Vec<TrackIn>,
    tracks_out: Vec<TrackOut>,
    connected: bool,
    ice_lost_at: Option<Instant>,
    next_timeout: Instant,
    dirty: bool,
    frames_in: u64,
    frames_out: u64,
    /// The latest TWCC estimate of what can be sent to this peer, bits per second.
    estimate: u64,
    /// What was last asked of str0m's BWE (minimum, desired), to ask only on change.
    bwe_asked: (u64, u64),
    /// Smoothed loss of what this peer receives, from its receiver reports.
    loss: f32,
    /// Loss of what this peer received over the last second, from its TWCC feedback.
    /// `None` while the peer's TWCC feedback says nothing (then receiver reports decide).
    twcc_loss: Option<f32>,
    /// What was sent to this peer over the last stats interval, bits per second, and the
    /// byte count it was measured from.
    sent_bps: u64,
    sent_bytes: (Instant, u64),
    /// When to nudge the estimator's probe again if the estimate stays short.
    next_probe: Instant,
    /// Since when the link has not been congested; the current wait before a layer is
    /// tried on a clean link the estimate does not vouch for, and when one last was.
    clean_since: Instant,
    step_up_wait: Duration,
    stepped_up_at: Option<Instant>,
}

struct TrackIn {
    mid: Mid,
    kind: MediaKind,
    enabled: bool,
    /// Simulcast layers, lowest first; one layer with no rid when the publisher sends one.
    layers: Vec<LayerIn>,
}

struct LayerIn {
    rid: Option<Rid>,
    /// The height the publisher said it sends this layer at.
    height: Option<u32>,
    /// Bytes in the current one-second window, and when it started.
    window_bytes: u64,
    window_start: Instant,
    /// Bitrate of the last whole window.
    bps: u64,
    last_frame: Option<Instant>,
    last_keyframe_request: Option<Instant>,
}

impl LayerIn {
    fn new(rid: Option<Rid>, height: Option<u32>, now: Instant) -> Self {
        LayerIn {
            rid,
            height,
            window_bytes: 0,
            window_start: now,
            bps: 0,
            last_frame: None,
            last_keyframe_request: None,
        }
    }

    fn count(&mut self, bytes: usize, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.bps = self.window_bytes * 8 * 1000 / (elapsed.as_millis() as u64).max(1);
            self.window_bytes = 0;
            self.window_start = now;
        }
        self.window_bytes += bytes as u64;
        self.last_frame = Some(now);
    }

    fn info(&self, now: Instant) -> LayerInfo {
        LayerInfo {
            bps: self.bps,
            live: self
                .last_frame
                .is_some_and(|t| now.saturating_duration_since(t) < layers::LAYER_SILENT_AFTER),
        }
    }
}

struct TrackOut {
    origin: PeerId,
    origin_mid: Mid,
    origin_member: String,
    kind: MediaKind,
    state: OutState,
    /// Which simulcast layer this viewer gets (unused for one-layer tracks).
    selection: Selection,
    timestamps: TimestampRewrite,
}

impl TrackOut {
    fn new(origin: PeerId, origin_mid: Mid, origin_member: String, kind: MediaKind) -> Self {
        TrackOut {
            origin,
            origin_mid,
            origin_member,
            kind,
            state: OutState::ToOpen,
            selection: Selection::new(None),
            timestamps: TimestampRewrite::default(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OutState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

// Media is the common case and is moved, not copied, through a short queue: boxing
// it would cost an allocation per frame to save stack space nobody needs.
#[allow(clippy::large_enum_variant)]
enum Propagated {
    TrackOpen {
        origin: PeerId,
        mid: Mid,
        kind: MediaKind,
    },
    Media {
        origin: PeerId,
        data: MediaData,
        /// Index of the frame's layer in its track.
        layer: usize,
    },
    Keyframe {
        origin: PeerId,
        mid: Mid,
        /// One layer, or every layer with `None`.
        layer: Option<usize>,
        kind: KeyframeRequestKind,
    },
}

impl Core {
    fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Open { spec, offer, reply } => {
                let _ = reply.send(self.open(spec, &offer, now));
            }
            Command::Answer { peer, sdp, reply } => {
                let _ = reply.send(self.answer(peer, &sdp));
            }
            Command::Close { peer } => self.remove(peer, false),
            Command::SetTrackEnabled { peer, mid, enabled } => {
                let mid = Mid::from(mid.as_str());
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                let mut wake = None;
                if let Some(t) = p.tracks_in.iter_mut().find(|t| t.mid == mid) {
                    if enabled && !t.enabled && t.kind == MediaKind::Video {
                        // Viewers dropped its frames while it was off: they need a fresh keyframe.
                        wake = Some(KeyframeRequestKind::Pli);
                    }
                    t.enabled = enabled;
                }
                if let Some(kind) = wake {
                    self.request_keyframe(peer, mid, None, kind, now);
                }
            }
            // Handled by the loop, which owns the socket.
            Command::Stop { reply } => {
                let _ = reply.send(());
            }
            Command::SetViewHeight { peer, height } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.spec.view_height = Some(height);
                }
            }
            Command::States { reply } => {
                let states = self
                    .peers
                    .values()
                    .map(|p| PeerState {
                        peer: p.spec.peer,
                        room: p.spec.room.clone(),
                        member: p.spec.member.clone(),
                        connected: p.connected,
                        tracks_in: p.tracks_in.len(),
                        tracks_out: p.tracks_out.len(),
                        frames_in: p.frames_in,
                        frames_out: p.frames_out,
                    })
                    .collect();
                let _ = reply.send(states);
            }
        }
    }

    fn open(&mut self, spec: PeerSpec, offer: &str, now: Instant) -> Result<String, SfuError> {
        self.remove(spec.peer, false);
        let filtered = self.allowed.filter_sdp_candidates(offer);
        if !filtered.contains("a=candidate:") {
            self.metrics.rejected_remote.fetch_add(1, Relaxed);
            return Err(SfuError::NoAllowedCandidate);
        }
        let offer = SdpOffer::from_sdp_string(&filtered)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        let mut config = Rtc::builder().clear_codecs().enable_opus(true, false);
        // Constrained baseline first, so that browsers send the H.264 every receiver
        // decodes: the teacher app (webrtc-rs) answers a forwarded track with a single
        // codec, and str0m's default order would have Chromium send plain baseline.
        for (pt, rtx, mode1, profile) in [
            (108, 109, true, 0x42e01f),
            (127, 121, true, 0x42001f),
            (124, 120, false, 0x42e01f),
            (125, 107, false, 0x42001f),
        ] {
            config
                .codec_config()
                .add_h264(pt.into(), Some(rtx.into()), mode1, profile);
        }
        // TWCC estimates what each viewer's link carries; simulcast layers follow it.
        // Receiver-report loss per second says whether a falling estimate is congestion.
        let mut rtc = config
            .enable_vp8(true)
            .enable_bwe(Some(Bitrate::kbps(START_ESTIMATE_KBPS)))
            .set_stats_interval(Some(STATS_EVERY))
            .build(now);
        let candidate = Candidate::host(self.advertise, "udp")
            .map_err(|e| SfuError::Rejected(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::Rejected(e.to_string()))?;

        let id = spec.peer;
        let mut peer = Peer {
            spec,
            rtc,
            pending: None,
            tracks_in: Vec::new(),
            tracks_out: Vec::new(),
            connected: false,
            ice_lost_at: None,
            next_timeout: now,
            dirty: true,
            frames_in: 0,
            frames_out: 0,
            estimate: START_ESTIMATE_KBPS * 1000,
            bwe_asked: (0, 0),
            loss: 0.0,
            twcc_loss: None,
            sent_bps: 0,
            sent_bytes: (now, 0),
            next_probe: now,
            clean_since: now,
            step_up_wait: layers::STEP_UP_AFTER,
            stepped_up_at: None,
        };
        // Everything already published in the room; offered once ICE is up.
        for other in self.rooms.get(&peer.spec.room).into_iter().flatten() {
            if let Some(o) = self.peers.get(other) {
                for t in &o.tracks_in {
                    peer.tracks_out.push(TrackOut::new(
                        *other,
                        t.mid,
                        o.spec.member.clone(),
                        t.kind,
                    ));
                }
            }
        }
        self.rooms
            .entry(peer.spec.room.clone())
            .or_default()
            .push(id);
        self.peers.insert(id, peer);
        self.dirty.push(id);
        self.metrics.peers.store(self.peers.len() as u64, Relaxed);
        Ok(answer.to_sdp_string())
    }

    fn answer(&mut self, id: PeerId, sdp: &str) -> Result<(), SfuError> {
        let filtered = self.allowed.filter_sdp_candidates(sdp);
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownPeer)?;
        let pending = peer.pending.take().ok_or(SfuError::NoPendingOffer)?;
        let answer = SdpAnswer::from_sdp_string(&filtered)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        peer.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| SfuError::Rejected(e.to_string()))?;
        let mut opened = Vec::new();
        for t in &mut peer.tracks_out {
            if let OutState::Negotiating(m) = t.state {
                t.state = OutState::Open(m);
                if t.kind == MediaKind::Video {
                    opened.push((t.origin, t.origin_mid));
                }
            }
        }
        peer.tracks_out
            .retain(|t| !matches!(t.state, OutState::NegotiatingStop(_)));
        peer.dirty = true;
        self.dirty.push(id);
        // A new viewer shows nothing until the next keyframe; ask for one now.
        let now = Instant::now();
        for (origin, mid) in opened {
            self.request_keyframe(origin, mid, None, KeyframeRequestKind::Pli, now);
        }
        Ok(())
    }

    fn remove(&mut self, id: PeerId, notify: bool) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        peer.rtc.disconnect();
        if peer.connected {
            self.metrics.peers_connected.fetch_sub(1, Relaxed);
        }
        if let Some(list) = self.rooms.get_mut(&peer.spec.room) {
            list.retain(|p| *p != id);
            if list.is_empty() {
                self.rooms.remove(&peer.spec.room);
            }
        }
        self.by_addr.retain(|_, p| *p != id);
        for other_id in self.rooms.get(&peer.spec.room).cloned().unwrap_or_default() {
            let Some(other) = self.peers.get_mut(&other_id) else {
                continue;
            };
            other.tracks_out.retain_mut(|t| {
                if t.origin != id {
                    return true;
                }
                match t.state {
                    OutState::ToOpen => false,
                    OutState::Negotiating(m) | OutState::Open(m) => {
                        t.state = OutState::ToStop(m);
                        true
                    }
                    OutState::ToStop(_) | OutState::NegotiatingStop(_) => true,
                }
            });
            if !other.dirty {
                other.dirty = true;
                self.dirty.push(other_id);
            }
        }
        self.metrics.peers.store(self.peers.len() as u64, Relaxed);
        if notify {
            let _ = self.events.send(SfuEvent::Closed { peer: id });
        }
    }

    fn datagram(&mut self, data: &[u8], source: SocketAddr, now: Instant) {
        self.metrics.datagrams_in.fetch_add(1, Relaxed);
        self.metrics.bytes_in.fetch_add(data.len() as u64, Relaxed);
        if !self.allowed.allows(source.ip()) {
            self.metrics.rejected_remote.fetch_add(1, Relaxed);
            return;
        }
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        let owner = match self.by_addr.get(&source) {
            Some(id) if self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)) => Some(*id),
            _ => self
                .peers
                .iter()
                .find(|(_, p)| p.rtc.accepts(&input))
                .map(|(id, _)| *id),
        };
        let Some(id) = owner else { return };
        self.by_addr.insert(source, id);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Err(e) = peer.rtc.handle_input(input) {
            tracing::debug!(peer = id, "input refused: {e}");
        }
        if !peer.dirty {
            peer.dirty = true;
            self.dirty.push(id);
        }
    }

    fn timeouts(&mut self, now: Instant) {
        self.allocate(now);
        for (id, peer) in &mut self.peers {
            if peer.next_timeout <= now {
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(peer = id, "timeout handling failed: {e}");
                }
                if !peer.dirty {
                    peer.dirty = true;
                    self.dirty.push(*id);
                }
            }
        }
    }

    fn next_timeout(&self, cap: Instant) -> Instant {
        self.peers
            .values()
            .map(|p| p.next_timeout)
            .fold(cap.min(self.next_allocation), Instant::min)
    }

    /// Polls every peer with pending work and forwards what they produce, until quiet.
    fn drive(&mut self, socket: &UdpSocket) {
        loop {
            while let Some(id) = self.dirty.pop() {
                self.poll_peer(id, socket);
            }
            let Some(item) = self.queue.pop_front() else {
                break;
            };
            self.propagate(item);
        }
    }

    fn poll_peer(&mut self, id: PeerId, socket: &UdpSocket) {
        let now = Instant::now();
        let mut dead = false;
        {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            peer.dirty = false;
            loop {
                if !peer.rtc.is_alive() {
                    dead = true;
                    break;
                }
                match peer.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => {
                        peer.next_timeout = t;
                        break;
                    }
                    Ok(Output::Transmit(t)) => {
                        if !self.allowed.allows(t.destination.ip()) {
                            self.metrics.rejected_remote.fetch_add(1, Relaxed);
                            continue;
                        }
                        match socket.try_send_to(&t.contents, t.destination) {
                            Ok(n) => {
                                self.metrics.datagrams_out.fetch_add(1, Relaxed);
                                self.metrics.bytes_out.fetch_add(n as u64, Relaxed);
                            }
                            // The kernel's send buffer is the bounded queue toward every
                            // receiver: when it is full the datagram is dropped, never waited on.
                            Err(_) => {
                                self.metrics.send_drops.fetch_add(1, Relaxed);
                            }
                        }
                    }
                    Ok(Output::Event(ev)) => {
                        handle_event(
                            id,
                            peer,
                            ev,
                            now,
                            &self.metrics,
                            &self.events,
                            &mut self.queue,
                        );
                    }
                    Err(e) => {
                        tracing::info!(peer = id, "peer failed: {e}");
                        dead = true;
                        break;
                    }
                }
            }
            if let Some(t) = peer.ice_lost_at
                && now.duration_since(t) > ICE_GRACE
            {
                dead = true;
            }
            if !dead && peer.connected {
                negotiate(id, peer, &self.events);
            }
        }
        if dead {
            self.remove(id, true);
        }
    }

    fn propagate(&mut self, item: Propagated) {
        match item {
            Propagated::TrackOpen { origin, mid, kind } => {
                let Some(o) = self.peers.get(&origin) else {
                    return;
                };
                let (room, member) = (o.spec.room.clone(), o.spec.member.clone());
                for id in self.rooms.get(&room).cloned().unwrap_or_default() {
                    if id == origin {
                        continue;
                    }
                    let Some(p) = self.peers.get_mut(&id) else {
                        continue;
                    };
                    p.tracks_out
                        .push(TrackOut::new(origin, mid, member.clone(), kind));
                    if !p.dirty {
                        p.dirty = true;
                        self.dirty.push(id);
                    }
                }
            }
            Propagated::Media {
                origin,
                data,
                layer,
            } => {
                let Some(room) = self.peers.get(&origin).map(|p| p.spec.room.clone()) else {
                    return;
                };
                let Some(members) = self.rooms.get(&room) else {
                    return;
                };
                let keyframe = data.is_keyframe();
                for id in members {
                    if *id == origin {
                        continue;
                    }
                    let Some(p) = self.peers.get_mut(id) else {
                        continue;
                    };
                    let Some(t) = p.tracks_out.iter_mut().find(|t| {
                        matches!(t.state, OutState::Open(_))
                            && t.origin == origin
                            && t.origin_mid == data.mid
                    }) else {
                        continue;
                    };
                    let OutState::Open(out_mid) = t.state else {
                        continue;
                    };
                    // Video goes by the viewer's selection: one layer of several, or the
                    // only one unless paused; timestamps continuous across switches.
                    let time = if t.kind == MediaKind::Video {
                        let switched = match t.selection.on_frame(layer, keyframe) {
                            FrameAction::Drop => {
                                self.metrics.layer_dropped_frames.fetch_add(1, Relaxed);
                                continue;
                            }
                            FrameAction::Forward => false,
                            FrameAction::SwitchAndForward => {
                                self.metrics.layer_switches.fetch_add(1, Relaxed);
                                true
                            }
                        };
                        let hz = u64::from(data.time.frequency().get());
                        let ts =
                            t.timestamps
                                .map(data.time.numer(), data.network_time, switched, hz);
                        MediaTime::new(ts, data.time.frequency())
                    } else {
                        data.time
                    };
                    let Some(writer) = p.rtc.writer(out_mid) else {
                        continue;
                    };
                    let Some(pt) = writer.match_params(data.params) else {
                        continue;
                    };
                    if let Err(e) = writer.write(pt, data.network_time, time, data.data.clone()) {
                        tracing::debug!(peer = id, "write failed: {e}");
                        continue;
                    }
                    p.frames_out += 1;
                    self.metrics.frames_forwarded.fetch_add(1, Relaxed);
                    if !p.dirty {
                        p.dirty = true;
                        self.dirty.push(*id);
                    }
                }
            }
            Propagated::Keyframe {
                origin,
                mid,
                layer,
                kind,
            } => {
                self.request_keyframe(origin, mid, layer, kind, Instant::now());
            }
        }
    }

    /// Asks a publisher for a keyframe on one layer of a track, or on all of them.
    fn request_keyframe(
        &mut self,
        origin: PeerId,
        mid: Mid,
        layer: Option<usize>,
        kind: KeyframeRequestKind,
        now: Instant,
    ) {
        let Some(p) = self.peers.get_mut(&origin) else {
            return;
        };
        let Some(track) = p.tracks_in.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        if track.kind != MediaKind::Video {
            return;
        }
        let mut asked = false;
        for (i, l) in track.layers.iter_mut().enumerate() {
            if layer.is_some_and(|want| want != i)
                || l.last_keyframe_request
                    .is_some_and(|t| now.duration_since(t) < KEYFRAME_INTERVAL)
            {
                continue;
            }
            l.last_keyframe_request = Some(now);
            if let Some(mut writer) = p.rtc.writer(mid)
                && writer.request_keyframe(l.rid, kind).is_ok()
            {
                self.metrics.keyframe_requests.fetch_add(1, Relaxed);
                asked = true;
            }
        }
        if asked && !p.dirty {
            p.dirty = true;
            self.dirty.push(origin);
        }
    }

    /// Chooses each viewer's simulcast layers from its bandwidth estimate, and tells
    /// str0m's BWE what to probe for.
    fn allocate(&mut self, now: Instant) {
        if now < self.next_allocation {
            return;
        }
        self.next_allocation = now + ALLOCATE_EVERY;
        let mut keyframes = Vec::new();
        let viewers: Vec<PeerId> = self.peers.keys().copied().collect();
        for viewer in viewers {
            let Some(p) = self.peers.get(&viewer) else {
                continue;
            };
            // (index in tracks_out, layer infos) of each open simulcast video track.
            let mut tracks: Vec<(usize, Vec<LayerInfo>)> = Vec::new();
            let mut audio = 0;
            for (i, t) in p.tracks_out.iter().enumerate() {
                if !matches!(t.state, OutState::Open(_)) {
                    continue;
                }
                if t.kind == MediaKind::Audio {
                    audio += 1;
                    continue;
                }
                let Some(layers) = self
                    .peers
                    .get(&t.origin)
                    .and_then(|o| o.tracks_in.iter().find(|ti| ti.mid == t.origin_mid))
                    .map(|ti| &ti.layers)
                    .filter(|l| !l.is_empty())
                else {
                    continue;
                };
                // No layer much taller than the viewer's tiles (the lowest always).
                let heights: Vec<Option<u32>> = layers.iter().map(|l| l.height).collect();
                let top = layers::ceiling(&heights, p.spec.view_height);
                tracks.push((i, layers[..=top].iter().map(|l| l.info(now)).collect()));
            }
            if tracks.is_empty() {
                continue;
            }
            let estimate =
                layers::usable_estimate(p.estimate, p.twcc_loss.unwrap_or(0.0), p.sent_bps);
            let congested = layers::congested(p.twcc_loss, p.loss);
            let overloaded = p.twcc_loss.is_some_and(|l| l >= layers::OVERLOADED_LOSS);
            let refs: Vec<&[LayerInfo]> = tracks.iter().map(|(_, l)| l.as_slice()).collect();
            let chosen = layers::allocate(layers::budget(estimate, audio), &refs);
            let Some(p) = self.peers.get_mut(&viewer) else {
                continue;
            };
            let loss = p.loss;
            (p.step_up_wait, p.stepped_up_at) =
                layers::step_wait(p.step_up_wait, p.stepped_up_at, congested, now);
            if congested {
                p.clean_since = now;
            }
            let try_up = !congested && now.duration_since(p.clean_since) >= p.step_up_wait;
            let mut stepped = false;
            for ((i, infos), choice) in tracks.iter().zip(chosen) {
                let t = &mut p.tracks_out[*i];
                let choice = layers::hold_unless_congested(
                    choice,
                    t.selection.target,
                    congested,
                    infos.len().saturating_sub(1),
                );
                let up = layers::step_up(infos, t.selection.target);
                let step = try_up
                    && !stepped
                    && choice <= t.selection.target
                    && up.is_some_and(|u| Some(u) > t.selection.target);
                let change = match up {
                    Some(u) if step => {
                        stepped = true;
                        t.selection.step_to(u)
                    }
                    _ => t.selection.update(choice, now),
                };
                if overloaded {
                    t.selection.drop_old_layer();
                }
                // Still waiting for the new layer's keyframe: ask again (a request can be
                // lost, or reach the publisher before that layer's stream exists).
                if change.is_none()
                    && let Some(want) = t.selection.target
                    && t.selection.current != Some(want)
                {
                    keyframes.push((t.origin, t.origin_mid, want));
                }
                let Some(change) = change else {
                    continue;
                };
                tracing::debug!(
                    peer = viewer,
                    estimate,
                    loss,
                    ?choice,
                    ?change,
                    "simulcast layer"
                );
                let paused = match change {
                    Change::NeedKeyframe(l) => {
                        keyframes.push((t.origin, t.origin_mid, l));
                        None
                    }
                    Change::Resumed(l) => {
                        keyframes.push((t.origin, t.origin_mid, l));
                        Some(false)
                    }
                    Change::Paused => {
                        self.metrics.videos_paused.fetch_add(1, Relaxed);
                        Some(true)
                    }
                };
                if let Some(paused) = paused {
                    let _ = self.events.send(SfuEvent::VideoPaused {
                        peer: viewer,
                        member: t.origin_member.clone(),
                        mid: t.origin_mid.to_string(),
                        paused,
                    });
                }
            }
            if stepped {
                // One step, then a whole clean wait again before the next.
                p.clean_since = now;
                p.stepped_up_at = Some(now);
            }
            // Probe for what the best layers need, padding toward the next layer up. A
            // probe str0m suppressed (early on, or under congestion) is not asked for
            // again by the same figures, so every few seconds they move by a hair.
            let targets: Vec<Option<usize>> = tracks
                .iter()
                .map(|(i, _)| p.tracks_out[*i].selection.target)
                .collect();
            let audio_bps = layers::AUDIO_BPS * audio as u64;
            let (minimum, desired) = layers::probe_rates(&refs, &targets, audio_bps);
            let mut ask = (minimum, desired);
            if now >= p.next_probe {
                p.next_probe = now + PROBE_AGAIN;
                if p.estimate < desired && !congested && p.bwe_asked.1 == desired {
                    ask.1 += 1_000;
                }
            }
            if ask != p.bwe_asked {
                p.bwe_asked = ask;
                p.rtc
                    .bwe()
                    .set_bitrate(Bitrate::bps(ask.0.min(ask.1)), Bitrate::bps(ask.1));
                if !p.dirty {
                    p.dirty = true;
                    self.dirty.push(viewer);
                }
            }
        }
        for (origin, mid, layer) in keyframes {
            self.request_keyframe(origin, mid, Some(layer), KeyframeRequestKind::Pli, now);
        }
    }
}

fn handle_event(
    id: PeerId,
    peer: &mut Peer,
    ev: Event,
    now: Instant,
    metrics: &SfuMetrics,
    events: &mpsc::UnboundedSender<SfuEvent>,
    queue: &mut VecDeque<Propagated>,
) {
    match ev {
        Event::IceConnectionStateChange(state) => match state {
            IceConnectionState::Connected | IceConnectionState::Completed => {
                peer.ice_lost_at = None;
                if !peer.connected {
                    peer.connected = true;
                    metrics.peers_connected.fetch_add(1, Relaxed);
                    let _ = events.send(SfuEvent::Connected { peer: id });
                }
            }
            IceConnectionState::Disconnected => {
                peer.ice_lost_at.get_or_insert(now);
            }
            _ => {}
        },
        Event::MediaAdded(m) => {
            let receives = matches!(m.direction, Direction::RecvOnly | Direction::SendRecv);
            if receives && peer.spec.may_publish && !peer.tracks_in.iter().any(|t| t.mid == m.mid) {
                // A simulcast publisher lists its layers lowest first (Aula's clients do).
                let rids: Vec<Option<Rid>> = match &m.simulcast {
                    Some(s) if !s.recv.is_empty() => s.recv.iter().map(|l| Some(l.rid)).collect(),
                    _ => vec![None],
                };
                peer.tracks_in.push(TrackIn {
                    mid: m.mid,
                    kind: m.kind,
                    enabled: true,
                    layers: rids
                        .into_iter()
                        .map(|r| {
                            let height = r.and_then(|rid| {
                                peer.spec
                                    .layer_heights
                                    .get(&*m.mid)
                                    .and_then(|l| l.iter().find(|(x, _)| **x == *rid))
                                    .map(|(_, h)| *h)
                            });
                            LayerIn::new(r, height, now)
                        })
                        .collect(),
                });
                queue.push_back(Propagated::TrackOpen {
                    origin: id,
                    mid: m.mid,
                    kind: m.kind,
                });
            }
        }
        Event::MediaData(data) => {
            let Some(track) = peer.tracks_in.iter_mut().find(|t| t.mid == data.mid) else {
                return;
            };
            metrics.frames_in.fetch_add(1, Relaxed);
            peer.frames_in += 1;
            if !track.enabled {
                metrics.suppressed_frames.fetch_add(1, Relaxed);
                return;
            }
            // A frame of a layer the offer did not name (or a one-layer track) goes to the
            // first layer.
            let layer = track
                .layers
                .iter()
                .position(|l| l.rid == data.rid)
                .unwrap_or(0);
            if let Some(l) = track.layers.get_mut(layer) {
                l.count(data.data.len(), now);
            }
            if !data.contiguous && track.kind == MediaKind::Video {
                // A loss the publisher's retransmissions did not cover: viewers are
                // decoding garbage until the next keyframe.
                queue.push_back(Propagated::Keyframe {
                    origin: id,
                    mid: data.mid,
                    layer: Some(layer),
                    kind: KeyframeRequestKind::Fir,
                });
            }
            queue.push_back(Propagated::Media {
                origin: id,
                data,
                layer,
            });
        }
        Event::KeyframeRequest(req) => {
            let Some(t) = peer
                .tracks_out
                .iter()
                .find(|t| t.state == OutState::Open(req.mid))
            else {
                return;
            };
            // The layer this viewer is on, or switching to.
            queue.push_back(Propagated::Keyframe {
                origin: t.origin,
                mid: t.origin_mid,
                layer: t.selection.target.or(t.selection.current),
                kind: req.kind,
            });
        }
        Event::MediaEgressStats(s) => {
            if let Some(loss) = s.loss {
                peer.loss = 0.7 * peer.loss + 0.3 * loss.clamp(0.0, 1.0);
            }
        }
        Event::PeerStats(s) => {
            peer.twcc_loss = s.egress_loss_fraction.map(|l| l.clamp(0.0, 1.0));
            let (at, bytes) = peer.sent_bytes;
            let secs = s.timestamp.saturating_duration_since(at).as_secs_f64();
            if secs > 0.0 {
                peer.sent_bps = (s.peer_bytes_tx.saturating_sub(bytes) as f64 * 8.0 / secs) as u64;
            }
            peer.sent_bytes = (s.timestamp, s.peer_bytes_tx);
        }
        Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
            tracing::trace!(
                peer = id,
                estimate = estimate.as_u64(),
                "bandwidth estimate"
            );
            peer.estimate = estimate.as_u64();
        }
        _ => {}
    }
}

/// Offers the tracks this peer should now receive or stop receiving, one offer at a time.
fn negotiate(id: PeerId, peer: &mut Peer, events: &mpsc::UnboundedSender<SfuEvent>) {
    if peer.pending.is_some() {
        return;
    }
    let mut change = peer.rtc.sdp_api();
    for t in &mut peer.tracks_out {
        match t.state {
            OutState::ToOpen => {
                let mid = change.add_media(
                    t.kind,
                    Direction::SendOnly,
                    Some(t.origin_member.clone()),
                    Some(format!("{}.{}", t.origin_member, t.origin_mid)),
                    None,
                );
                t.state = OutState::Negotiating(mid);
            }
            OutState::ToStop(m) => {
                change.stop_media(m);
                t.state = OutState::NegotiatingStop(m);
            }
            _ => {}
        }
    }
    if !change.has_changes() {
        return;
    }
    let Some((offer, pending)) = change.apply() else {
        return;
    };
    peer.pending = Some(pending);
    let _ = events.send(SfuEvent::Offer {
        peer: id,
        sdp: offer.to_sdp_string(),
    });
}
