//! The teacher's WebRTC peer connection (webrtc-rs 0.21): publishes camera, microphone
//! and screen, receives every student's tracks from the SFU, and hands keyframe requests
//! and loss reports back to the encoders.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aula_media::Layer;
use aula_proto::{LayerSize, PublishedTrack, TrackKind};
use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::sdp::extmap::{SDES_MID_URI, SDES_RTP_STREAM_ID_URI};
use rtc::shared::marshal::{Marshal, MarshalSize};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};

use crate::ClientError;

pub(crate) const PT_H264: u8 = 102;
pub(crate) const PT_VP8: u8 = 96;
pub(crate) const PT_H264_BASELINE: u8 = 104;
pub(crate) const PT_OPUS: u8 = 111;

/// What the peer connection reports to the session.
pub(crate) enum RtcSignal {
    State(RTCPeerConnectionState),
    /// A student's track arrived from the SFU.
    Track(Arc<dyn TrackRemote>),
    /// A receiver asked for a keyframe of one of our video tracks: of one simulcast layer
    /// (index, lowest first), or of the whole track.
    KeyframeRequest {
        kind: TrackKind,
        layer: Option<usize>,
    },
    /// The SFU's receiver report for one of our tracks: fraction lost, 0..=255.
    Loss {
        kind: TrackKind,
        fraction_lost: u8,
    },
}

/// One of the tracks the teacher publishes, with what writing to it needs.
pub(crate) struct LocalTrack {
    pub kind: TrackKind,
    pub track: Arc<TrackLocalStaticSample>,
    /// One per encoding, lowest layer first.
    pub ssrcs: Vec<u32>,
    /// The encodings' rids; empty when the track is not simulcast.
    pub rids: Vec<String>,
    /// The size each layer is sent at, as the SFU is told.
    pub sizes: Vec<LayerSize>,
    /// The transceiver's mid, known once the offer is made. A simulcast packet names its
    /// mid and rid in header extensions: that is how the SFU tells the layers apart.
    pub mid: std::sync::OnceLock<String>,
}

impl LocalTrack {
    /// The header extensions one packet of `layer` carries.
    pub fn extensions(&self, layer: usize) -> Vec<HeaderExtension> {
        let (Some(mid), Some(rid)) = (self.mid.get(), self.rids.get(layer)) else {
            return Vec::new();
        };
        vec![
            HeaderExtension::Custom {
                uri: SDES_MID_URI.into(),
                extension: Box::new(SdesText(mid.clone())),
            },
            HeaderExtension::Custom {
                uri: SDES_RTP_STREAM_ID_URI.into(),
                extension: Box::new(SdesText(rid.clone())),
            },
        ]
    }
}

/// The value of an RTP header extension that is a bare string (RFC 8843's mid, RFC 8852's
/// rid).
#[derive(Debug, Clone)]
struct SdesText(String);

impl MarshalSize for SdesText {
    fn marshal_size(&self) -> usize {
        self.0.len()
    }
}

impl Marshal for SdesText {
    fn marshal_to(&self, buf: &mut [u8]) -> Result<usize, rtc::shared::error::Error> {
        let bytes = self.0.as_bytes();
        let Some(dst) = buf.get_mut(..bytes.len()) else {
            return Err(rtc::shared::error::Error::ErrBufferTooSmall);
        };
        dst.copy_from_slice(bytes);
        Ok(bytes.len())
    }
}

pub(crate) struct PeerLink {
    pc: Box<dyn PeerConnection>,
    pub tracks: Vec<LocalTrack>,
    gathered: watch::Receiver<bool>,
    pub state: watch::Receiver<RTCPeerConnectionState>,
}

struct Handler {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    signals: mpsc::Sender<RtcSignal>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
        let _ = self.signals.try_send(RtcSignal::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        // Bounded like every queue here; a track event that cannot be queued is logged,
        // and the session asks the SFU again on the next keyframe request.
        if self.signals.try_send(RtcSignal::Track(track)).is_err() {
            tracing::warn!("dropped a remote track: the session is not keeping up");
        }
    }
}

fn h264() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        // Constrained baseline 3.1: what openh264 makes and what every browser decodes.
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .to_owned(),
        rtcp_feedback: video_feedback(),
    }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("nack", ""),
        ("nack", "pli"),
        ("ccm", "fir"),
        ("goog-remb", ""),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    })
    .collect()
}

fn media_engine() -> Result<MediaEngine, ClientError> {
    let mut me = MediaEngine::default();
    // Received only: Chromium's OpenH264 may send plain baseline.
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                sdp_fmtp_line:
                    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"
                        .to_owned(),
                ..h264()
            },
            payload_type: PT_H264_BASELINE,
        },
        RtpCodecKind::Video,
    )?;
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264(),
            payload_type: PT_H264,
        },
        RtpCodecKind::Video,
    )?;
    // Received only: browsers publish VP8 unless told otherwise.
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: video_feedback(),
            },
            payload_type: PT_VP8,
        },
        RtpCodecKind::Video,
    )?;
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: PT_OPUS,
        },
        RtpCodecKind::Audio,
    )?;
    Ok(me)
}

impl PeerLink {
    /// A fresh peer connection bound to `bind` (e.g. `127.0.0.1:0`; a wildcard bind
    /// would skip loopback), with our three tracks added, not yet offered.
    pub async fn new(
        bind: &[String],
        ice_servers: &[aula_proto::IceServer],
        camera_layers: &[Layer],
        signals: mpsc::Sender<RtcSignal>,
    ) -> Result<Self, ClientError> {
        let mut me = media_engine()?;
        let registry = register_default_interceptors(Registry::new(), &mut me)?;
        // Last in the chain: every interceptor has seen the RTCP before we pick ours out.
        let registry = registry.with(Slot::from(14_000), FeedbackToApp::default());
        let settings = SettingEngineBuilder::new()
            // mDNS would announce the laptop on the LAN and hide candidates behind names.
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let (gathered_tx, gathered) = watch::channel(false);
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let handler = Arc::new(Handler {
            gathered: gathered_tx,
            state: state_tx,
            signals: signals.clone(),
        });
        let pc = PeerConnectionBuilder::new()
            .with_configuration(
                RTCConfigurationBuilder::new()
                    // The server's TURN servers (coturn), for networks that block UDP.
                    .with_ice_servers(
                        ice_servers
                            .iter()
                            .map(|s| rtc::peer_connection::transport::RTCIceServer {
                                urls: s.urls.clone(),
                                username: s.username.clone().unwrap_or_default(),
                                credential: s.credential.clone().unwrap_or_default(),
                            })
                            .collect(),
                    )
                    .build(),
            )
            .with_media_engine(me)
            .with_setting_engine(settings)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_udp_addrs(bind.to_vec())
            .build()
            .await?;
        let pc: Box<dyn PeerConnection> = Box::new(pc);

        let mut tracks = Vec::new();
        for kind in [TrackKind::Camera, TrackKind::Microphone, TrackKind::Screen] {
            let (codec, rtp_kind) = match kind {
                TrackKind::Microphone => (opus(), RtpCodecKind::Audio),
                _ => (h264(), RtpCodecKind::Video),
            };
            // The camera is simulcast (one encoding per layer, lowest first, each with its
            // rid); the microphone and the screen are one encoding each.
            let layers: &[Layer] = match kind {
                TrackKind::Camera if camera_layers.len() > 1 => camera_layers,
                _ => &[],
            };
            let rids: Vec<String> = layers.iter().map(|l| l.rid.clone()).collect();
            let ssrcs: Vec<u32> = (0..rids.len().max(1)).map(|_| rand::random()).collect();
            let name = kind_name(kind);
            let encodings = ssrcs
                .iter()
                .enumerate()
                .map(|(i, &ssrc)| RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        rid: rids.get(i).cloned().unwrap_or_default(),
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec.clone(),
                    ..Default::default()
                })
                .collect();
            let track = Arc::new(TrackLocalStaticSample::new(
                Instant::now(),
                MediaStreamTrack::new(
                    "aula-teacher".to_owned(),
                    name.to_owned(),
                    name.to_owned(),
                    rtp_kind,
                    encodings,
                ),
            )?);
            pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
            spawn_feedback_reader(kind, track.clone(), ssrcs.clone(), signals.clone());
            tracks.push(LocalTrack {
                kind,
                track,
                ssrcs,
                rids,
                sizes: layers
                    .iter()
                    .map(|l| LayerSize {
                        rid: l.rid.clone(),
                        width: l.settings.width,
                        height: l.settings.height,
                    })
                    .collect(),
                mid: std::sync::OnceLock::new(),
            });
        }
        // webrtc-rs answers later offers only with codecs negotiated in this first
        // exchange, and our sending m-lines name only H.264. One receive-only m-line
        // offers everything we decode (H.264 and VP8), so students' VP8 can reach us.
        pc.add_transceiver_from_kind(
            RtpCodecKind::Video,
            Some(rtc::rtp_transceiver::RTCRtpTransceiverInit {
                direction: rtc::rtp_transceiver::RTCRtpTransceiverDirection::Recvonly,
                streams: vec![],
                send_encodings: vec![],
            }),
        )
        .await?;
        Ok(PeerLink {
            pc,
            tracks,
            gathered,
            state,
        })
    }

    /// Our offer with every candidate gathered (the server does not trickle), and what
    /// each sending transceiver carries.
    pub async fn offer(&self) -> Result<(String, Vec<PublishedTrack>), ClientError> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer).await?;
        let sdp = self.gathered_local_sdp().await?;
        let mut published = Vec::new();
        for t in self.pc.get_transceivers().await {
            let Ok(Some(sender)) = t.sender().await else {
                continue;
            };
            let Some(ours) = self
                .tracks
                .iter()
                .find(|l| Arc::ptr_eq(sender.track(), &(l.track.clone() as Arc<dyn TrackLocal>)))
            else {
                continue;
            };
            if let Ok(Some(mid)) = t.mid().await {
                let _ = ours.mid.set(mid.clone());
                published.push(PublishedTrack {
                    layers: ours.sizes.clone(),
                    mid,
                    kind: ours.kind,
                });
            }
        }
        if published.len() != self.tracks.len() {
            return Err(ClientError::Rtc(format!(
                "offer names {} of our {} tracks",
                published.len(),
                self.tracks.len()
            )));
        }
        Ok((sdp, published))
    }

    pub async fn apply_answer(&self, sdp: String) -> Result<(), ClientError> {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(sdp)?)
            .await?;
        Ok(())
    }

    /// The SFU renegotiates to send us new tracks; we answer.
    pub async fn answer_offer(&self, sdp: String) -> Result<String, ClientError> {
        self.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        self.gathered_local_sdp().await
    }

    async fn gathered_local_sdp(&self) -> Result<String, ClientError> {
        let mut gathered = self.gathered.clone();
        // Loopback and LAN host candidates gather in milliseconds; the bound keeps a
        // broken interface from hanging go-live.
        let _ = tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|done| *done)).await;
        self.pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| ClientError::Rtc("no local description after negotiation".into()))
    }

    pub async fn close(&self) {
        if let Err(e) = self.pc.close().await {
            tracing::debug!("closing peer connection: {e}");
        }
    }
}

pub(crate) fn kind_name(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Camera => "camera",
        TrackKind::Microphone => "microphone",
        TrackKind::Screen => "screen",
    }
}

/// Keyframe requests and loss reports for a track we send, turned into signals. `ssrcs`
/// are the track's encodings, lowest layer first.
fn spawn_feedback_reader(
    kind: TrackKind,
    track: Arc<TrackLocalStaticSample>,
    ssrcs: Vec<u32>,
    signals: mpsc::Sender<RtcSignal>,
) {
    tokio::spawn(async move {
        while let Some(TrackLocalEvent::OnRtcpPacket(packets)) = track.poll().await {
            for p in packets {
                let any = p.as_any();
                let asked = any
                    .downcast_ref::<PictureLossIndication>()
                    .map(|pli| vec![pli.media_ssrc])
                    .or_else(|| {
                        any.downcast_ref::<FullIntraRequest>()
                            .map(|fir| fir.fir.iter().map(|e| e.ssrc).collect())
                    });
                if let Some(asked) = asked {
                    let layers: Vec<usize> = asked
                        .iter()
                        .filter_map(|s| ssrcs.iter().position(|x| x == s))
                        .collect();
                    if ssrcs.len() > 1 && !layers.is_empty() {
                        for layer in layers {
                            let _ = signals.try_send(RtcSignal::KeyframeRequest {
                                kind,
                                layer: Some(layer),
                            });
                        }
                    } else {
                        let _ = signals.try_send(RtcSignal::KeyframeRequest { kind, layer: None });
                    }
                } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    // Every layer crosses the same uplink: the worst one speaks for it.
                    let worst = rr
                        .reports
                        .iter()
                        .filter(|r| ssrcs.contains(&r.ssrc))
                        .map(|r| r.fraction_lost)
                        .max();
                    if let Some(fraction_lost) = worst {
                        let _ = signals.try_send(RtcSignal::Loss {
                            kind,
                            fraction_lost,
                        });
                    }
                }
            }
        }
    });
}

/// Inbound RTCP stops at the end of webrtc-rs's interceptor chain unless something marks
/// it for the application. We need two kinds: keyframe requests (only the encoder can
/// answer them) and receiver reports (the loss figure the encoder adapts its bitrate to).
#[derive(Default)]
struct FeedbackToApp {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackToApp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>()
                        || any.is::<FullIntraRequest>()
                        || any.is::<ReceiverReport>()
                })
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(wanted);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for FeedbackToApp {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
