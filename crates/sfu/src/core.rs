use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::{AllowList, Command, PeerId, PeerSpec, PeerState, SfuError, SfuEvent, SfuMetrics};

/// A publisher is asked for a keyframe at most this often per track, however many
/// viewers ask: each keyframe costs the whole room bandwidth.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// ICE that stays disconnected this long ends the peer. Short drops recover by themselves.
const ICE_GRACE: Duration = Duration::from_secs(10);
const MAX_DATAGRAM: usize = 2048;
/// Datagrams read per wake-up before the loop polls peers again.
const READ_BATCH: usize = 64;

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
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        core.drive(&socket);
        let deadline = core.next_timeout(Instant::now() + Duration::from_millis(500));
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
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
}

struct TrackIn {
    mid: Mid,
    kind: MediaKind,
    enabled: bool,
    last_keyframe_request: Option<Instant>,
}

struct TrackOut {
    origin: PeerId,
    origin_mid: Mid,
    origin_member: String,
    kind: MediaKind,
    state: OutState,
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
    },
    Keyframe {
        origin: PeerId,
        mid: Mid,
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
                    self.request_keyframe(peer, mid, kind, now);
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
        let mut rtc = config.enable_vp8(true).build(now);
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
        };
        // Everything already published in the room; offered once ICE is up.
        for other in self.rooms.get(&peer.spec.room).into_iter().flatten() {
            if let Some(o) = self.peers.get(other) {
                for t in &o.tracks_in {
                    peer.tracks_out.push(TrackOut {
                        origin: *other,
                        origin_mid: t.mid,
                        origin_member: o.spec.member.clone(),
                        kind: t.kind,
                        state: OutState::ToOpen,
                    });
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
            self.request_keyframe(origin, mid, KeyframeRequestKind::Pli, now);
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
            .fold(cap, Instant::min)
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
                    p.tracks_out.push(TrackOut {
                        origin,
                        origin_mid: mid,
                        origin_member: member.clone(),
                        kind,
                        state: OutState::ToOpen,
                    });
                    if !p.dirty {
                        p.dirty = true;
                        self.dirty.push(id);
                    }
                }
            }
            Propagated::Media { origin, data } => {
                let Some(room) = self.peers.get(&origin).map(|p| p.spec.room.clone()) else {
                    return;
                };
                let Some(members) = self.rooms.get(&room) else {
                    return;
                };
                for id in members {
                    if *id == origin {
                        continue;
                    }
                    let Some(p) = self.peers.get_mut(id) else {
                        continue;
                    };
                    let Some(out_mid) = p.tracks_out.iter().find_map(|t| match t.state {
                        OutState::Open(m) if t.origin == origin && t.origin_mid == data.mid => {
                            Some(m)
                        }
                        _ => None,
                    }) else {
                        continue;
                    };
                    let Some(writer) = p.rtc.writer(out_mid) else {
                        continue;
                    };
                    let Some(pt) = writer.match_params(data.params) else {
                        continue;
                    };
                    if let Err(e) =
                        writer.write(pt, data.network_time, data.time, data.data.clone())
                    {
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
            Propagated::Keyframe { origin, mid, kind } => {
                self.request_keyframe(origin, mid, kind, Instant::now());
            }
        }
    }

    fn request_keyframe(
        &mut self,
        origin: PeerId,
        mid: Mid,
        kind: KeyframeRequestKind,
        now: Instant,
    ) {
        let Some(p) = self.peers.get_mut(&origin) else {
            return;
        };
        let Some(track) = p.tracks_in.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        if track.kind != MediaKind::Video
            || track
                .last_keyframe_request
                .is_some_and(|t| now.duration_since(t) < KEYFRAME_INTERVAL)
        {
            return;
        }
        track.last_keyframe_request = Some(now);
        if let Some(mut writer) = p.rtc.writer(mid)
            && writer.request_keyframe(None, kind).is_ok()
        {
            self.metrics.keyframe_requests.fetch_add(1, Relaxed);
        }
        if !p.dirty {
            p.dirty = true;
            self.dirty.push(origin);
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
                peer.tracks_in.push(TrackIn {
                    mid: m.mid,
                    kind: m.kind,
                    enabled: true,
                    last_keyframe_request: None,
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
            if !data.contiguous && track.kind == MediaKind::Video {
                // A loss the publisher's retransmissions did not cover: viewers are
                // decoding garbage until the next keyframe.
                queue.push_back(Propagated::Keyframe {
                    origin: id,
                    mid: data.mid,
                    kind: KeyframeRequestKind::Fir,
                });
            }
            queue.push_back(Propagated::Media { origin: id, data });
        }
        Event::KeyframeRequest(req) => {
            let Some(t) = peer
                .tracks_out
                .iter()
                .find(|t| t.state == OutState::Open(req.mid))
            else {
                return;
            };
            queue.push_back(Propagated::Keyframe {
                origin: t.origin,
                mid: t.origin_mid,
                kind: req.kind,
            });
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
