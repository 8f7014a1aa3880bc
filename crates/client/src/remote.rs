//! Students' tracks as the teacher receives them: reassembled from RTP, decoded off the
//! async runtime, counted, and the newest picture kept for the tile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aula_media::{I420Frame, VideoDecoder};
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use serde::Serialize;
use ts_rs::TS;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// What the teacher knows of one received track.
#[derive(Serialize, TS, Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteTrackStats {
    /// The room's track id (`<member>.<mid>`), from the track's msid.
    pub track_id: String,
    /// The owner, from the stream id.
    pub member_id: String,
    pub kind: String,
    pub codec: String,
    #[ts(type = "number")]
    pub packets: u64,
    #[ts(type = "number")]
    pub frames_decoded: u64,
    #[ts(type = "number")]
    pub decode_errors: u64,
    pub width: u32,
    pub height: u32,
}

struct Entry {
    stats: RemoteTrackStats,
    latest: Option<Arc<I420Frame>>,
}

/// Shared between the receive tasks and whoever draws tiles.
#[derive(Clone, Default)]
pub struct RemoteTracks {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl RemoteTracks {
    pub fn stats(&self) -> Vec<RemoteTrackStats> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = map.values().map(|e| e.stats.clone()).collect();
        out.sort_by(|a, b| a.track_id.cmp(&b.track_id));
        out
    }

    /// The newest decoded picture of a track.
    pub fn latest_frame(&self, track_id: &str) -> Option<Arc<I420Frame>> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(track_id).and_then(|e| e.latest.clone())
    }

    /// Forgets tracks of a peer connection that was replaced: the new one brings its own.
    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn update(&self, track_id: &str, f: impl FnOnce(&mut Entry)) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get_mut(track_id) {
            f(e);
        }
    }

    /// Receives one remote track until it ends.
    pub(crate) fn spawn_receiver(&self, track: Arc<dyn TrackRemote>) {
        let tracks = self.clone();
        tokio::spawn(async move {
            let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
            let codec = track
                .codec(ssrc)
                .await
                .map(|c| c.mime_type.to_ascii_lowercase())
                .unwrap_or_default();
            let track_id = track.track_id().await.to_string();
            let member_id = track.stream_id().await.to_string();
            let kind = if codec.starts_with("audio/") {
                "audio"
            } else {
                "video"
            };
            {
                let mut map = tracks.inner.lock().unwrap_or_else(|p| p.into_inner());
                map.insert(
                    track_id.clone(),
                    Entry {
                        stats: RemoteTrackStats {
                            track_id: track_id.clone(),
                            member_id,
                            kind: kind.into(),
                            codec: codec.clone(),
                            ..Default::default()
                        },
                        latest: None,
                    },
                );
            }
            let decoder = match codec.as_str() {
                "video/h264" => Some(DecodeLoop::start::<H264Packet>(
                    tracks.clone(),
                    track_id.clone(),
                    VideoDecoder::h264(),
                    H264Packet::default(),
                )),
                "video/vp8" => Some(DecodeLoop::start::<Vp8Packet>(
                    tracks.clone(),
                    track_id.clone(),
                    VideoDecoder::vp8(),
                    Vp8Packet::default(),
                )),
                _ => None,
            };
            let mut last_pli: Option<Instant> = None;
            while let Some(ev) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = ev else {
                    continue;
                };
                tracks.update(&track_id, |e| e.stats.packets += 1);
                let Some(decoder) = &decoder else { continue };
                if decoder.push(packet).is_err() {
                    break;
                }
                // Until a first picture decodes (we joined between keyframes, or one was
                // lost), ask the sender for a keyframe, at most once a second.
                if decoder.wants_keyframe()
                    && last_pli.is_none_or(|t| t.elapsed() > Duration::from_secs(1))
                {
                    last_pli = Some(Instant::now());
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: ssrc,
                    };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                }
            }
        });
    }
}

/// Reassembly and decoding on a thread of its own: a decoder must never hold up the
/// runtime that carries signaling.
struct DecodeLoop {
    tx: std::sync::mpsc::SyncSender<rtc::rtp::Packet>,
    wants_keyframe: Arc<std::sync::atomic::AtomicBool>,
}

impl DecodeLoop {
    fn start<D: Depacketizer + Send + 'static>(
        tracks: RemoteTracks,
        track_id: String,
        decoder: Result<VideoDecoder, aula_media::MediaError>,
        depacketizer: D,
    ) -> DecodeLoop {
        // A frame's worth of packets and then some; past that the decoder is behind and
        // dropping is better than queueing latency.
        let (tx, rx) = std::sync::mpsc::sync_channel::<rtc::rtp::Packet>(512);
        let wants_keyframe = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let wants = wants_keyframe.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("decode {track_id}"))
            .spawn(move || {
                let mut decoder = match decoder {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!("no decoder for {track_id}: {e}");
                        return;
                    }
                };
                let mut builder = SampleBuilder::new(128, depacketizer, 90_000)
                    .with_max_time_delay(Duration::from_millis(500));
                while let Ok(packet) = rx.recv() {
                    builder.push(Instant::now(), packet);
                    while let Some(sample) = builder.pop(Instant::now()) {
                        match decoder.decode(&sample.data) {
                            Ok(Some(frame)) => {
                                wants.store(false, std::sync::atomic::Ordering::Relaxed);
                                let frame = Arc::new(frame);
                                tracks.update(&track_id, |e| {
                                    e.stats.frames_decoded += 1;
                                    e.stats.width = frame.width;
                                    e.stats.height = frame.height;
                                    e.latest = Some(frame);
                                });
                            }
                            Ok(None) => {}
                            Err(_) => {
                                wants.store(true, std::sync::atomic::Ordering::Relaxed);
                                tracks.update(&track_id, |e| e.stats.decode_errors += 1);
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start a decoder thread: {e}");
        }
        DecodeLoop { tx, wants_keyframe }
    }

    /// Err when the decoder thread is gone.
    fn push(&self, packet: rtc::rtp::Packet) -> Result<(), ()> {
        match self.tx.try_send(packet) {
            Ok(()) => Ok(()),
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                self.wants_keyframe
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Err(()),
        }
    }

    fn wants_keyframe(&self) -> bool {
        self.wants_keyframe
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
