//! Aula's selective forwarding unit, on str0m.
//!
//! One UDP socket carries every peer. One thread runs the loop: it reads datagrams,
//! hands each to the peer that owns it, forwards every media frame a publisher sends to
//! every other peer of the same room, relays keyframe requests back to the publisher and
//! drives str0m's timers. The server talks to it through [`SfuHandle`]; offers the SFU
//! makes for renegotiation come back as [`SfuEvent::Offer`] for the signaling channel.
//!
//! The SFU knows rooms only as opaque keys and members only as stream ids: it forwards
//! RTP and nothing of the classroom.

mod core;
pub mod layers;
mod metrics;
mod net;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use metrics::{MetricsSnapshot, SfuMetrics};
pub use net::{AllowList, IpNet, IpNetParseError};

/// Chosen by the caller; one per media session (a reconnect is a new peer).
pub type PeerId = u64;

#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// UDP address for all media, e.g. `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// Address announced in the host candidate. Needed when `bind` is a wildcard.
    pub advertise_ip: Option<IpAddr>,
    /// Remote networks media may be exchanged with.
    pub allowed: AllowList,
}

#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub peer: PeerId,
    /// Peers only receive media from peers with the same room key.
    pub room: String,
    /// Sent as the msid stream id of this peer's tracks, so receivers know whose they are.
    pub member: String,
    pub may_publish: bool,
    /// For each published mid sent in simulcast: its layers' rids and heights, as the
    /// publisher declared them (lowest first).
    pub layer_heights: std::collections::HashMap<String, Vec<(String, u32)>>,
    /// How tall this viewer shows video tiles (device pixels), when it said.
    pub view_height: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SfuEvent {
    /// The SFU renegotiates: send this offer to the peer's client and pass its answer
    /// to [`SfuHandle::answer`].
    Offer {
        peer: PeerId,
        sdp: String,
    },
    Connected {
        peer: PeerId,
    },
    /// The peer's media session ended (ICE gave up, or DTLS or SDP failed).
    Closed {
        peer: PeerId,
    },
    /// The viewer `peer`'s link carries no video layer of `member`'s track `mid` (it gets
    /// the audio only), or carries one again.
    VideoPaused {
        peer: PeerId,
        member: String,
        mid: String,
        paused: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    pub peer: PeerId,
    pub room: String,
    pub member: String,
    pub connected: bool,
    pub tracks_in: usize,
    pub tracks_out: usize,
    pub frames_in: u64,
    pub frames_out: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    #[error("binding the media socket on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the media address {0} is a wildcard; set an address to advertise")]
    NoAdvertiseAddress(SocketAddr),
    #[error("starting the SFU thread: {0}")]
    Thread(std::io::Error),
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    #[error("the offer has no candidate inside the allowed networks")]
    NoAllowedCandidate,
    #[error("refused by WebRTC: {0}")]
    Rejected(String),
    #[error("no such peer")]
    UnknownPeer,
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
    #[error("the SFU has stopped")]
    Stopped,
}

pub(crate) enum Command {
    Open {
        spec: PeerSpec,
        offer: String,
        reply: oneshot::Sender<Result<String, SfuError>>,
    },
    Answer {
        peer: PeerId,
        sdp: String,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Close {
        peer: PeerId,
    },
    SetTrackEnabled {
        peer: PeerId,
        mid: String,
        enabled: bool,
    },
    SetViewHeight {
        peer: PeerId,
        height: u32,
    },
    States {
        reply: oneshot::Sender<Vec<PeerState>>,
    },
    /// End the loop and close the socket; the reply comes once it is closed.
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// Cheap to clone; every clone talks to the same SFU thread.
#[derive(Clone)]
pub struct SfuHandle {
    tx: mpsc::Sender<Command>,
    metrics: Arc<SfuMetrics>,
    local_addr: SocketAddr,
}

impl SfuHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Starts (or replaces) a peer's media session from its offer; returns the answer.
    pub async fn open(&self, spec: PeerSpec, offer: String) -> Result<String, SfuError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Open { spec, offer, reply }).await?;
        rx.await.map_err(|_| SfuError::Stopped)?
    }

    pub async fn answer(&self, peer: PeerId, sdp: String) -> Result<(), SfuError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Answer { peer, sdp, reply }).await?;
        rx.await.map_err(|_| SfuError::Stopped)?
    }

    pub async fn close(&self, peer: PeerId) {
        let _ = self.send(Command::Close { peer }).await;
    }

    /// Off: the SFU drops the track's frames, whatever the client keeps sending.
    pub async fn set_track_enabled(&self, peer: PeerId, mid: String, enabled: bool) {
        let _ = self
            .send(Command::SetTrackEnabled { peer, mid, enabled })
            .await;
    }

    /// The viewer `peer` shows video tiles `height` device pixels tall: it gets no
    /// simulcast layer much taller.
    pub async fn set_view_height(&self, peer: PeerId, height: u32) {
        let _ = self.send(Command::SetViewHeight { peer, height }).await;
    }

    pub async fn peer_states(&self) -> Vec<PeerState> {
        let (reply, rx) = oneshot::channel();
        if self.send(Command::States { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Ends every peer and closes the media socket; resolves once it is closed, so the
    /// port can be bound again. Every handle stops working.
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Command::Stop { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn send(&self, cmd: Command) -> Result<(), SfuError> {
        self.tx.send(cmd).await.map_err(|_| SfuError::Stopped)
    }
}

/// Binds the media socket and starts the SFU thread. It runs until every handle is dropped.
pub fn start(
    config: SfuConfig,
) -> Result<(SfuHandle, mpsc::UnboundedReceiver<SfuEvent>), SfuError> {
    let std_socket = std::net::UdpSocket::bind(config.bind).map_err(|source| SfuError::Bind {
        addr: config.bind,
        source,
    })?;
    let local = std_socket.local_addr().map_err(|source| SfuError::Bind {
        addr: config.bind,
        source,
    })?;
    std_socket
        .set_nonblocking(true)
        .map_err(|source| SfuError::Bind {
            addr: config.bind,
            source,
        })?;
    let advertise = match config.advertise_ip {
        Some(ip) => SocketAddr::new(ip, local.port()),
        None if local.ip().is_unspecified() => return Err(SfuError::NoAdvertiseAddress(local)),
        None => local,
    };
    // Command queue toward the loop is bounded: a burst of joins waits, it never grows
    // without limit. Events back are rare control messages.
    let (tx, rx) = mpsc::channel(1024);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let metrics = Arc::new(SfuMetrics::default());
    let m = metrics.clone();
    std::thread::Builder::new()
        .name("aula-sfu".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("SFU runtime failed to start: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let socket = match tokio::net::UdpSocket::from_std(std_socket) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("SFU socket failed: {e}");
                        return;
                    }
                };
                core::run(socket, local, advertise, config.allowed, rx, ev_tx, m).await;
            });
        })
        .map_err(SfuError::Thread)?;
    Ok((
        SfuHandle {
            tx,
            metrics,
            local_addr: advertise,
        },
        ev_rx,
    ))
}
