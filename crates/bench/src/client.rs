//! A WebRTC endpoint for the load: str0m on its own loopback UDP socket, one tokio
//! task each. Publishers send a real H.264 stream and timestamped Opus-sized audio;
//! subscribers count what arrives and how late.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// What the signaling side hands the endpoint.
#[derive(Debug)]
pub enum Remote {
    Offer(String),
    Answer(String),
}

/// What the endpoint hands the signaling side.
#[derive(Debug)]
pub enum Local {
    /// The first offer, with the mids of what it sends (video, audio).
    Offer {
        sdp: String,
        video: Option<String>,
        audio: Option<String>,
    },
    Answer(String),
}

/// Shared counters of every subscriber.
#[derive(Default)]
pub struct Stats {
    pub measuring: AtomicBool,
    /// Ends every endpoint of the run.
    pub stop: AtomicBool,
    pub packets: AtomicU64,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// Subscribers that got at least one audio and one video frame.
    pub ready: AtomicU64,
    /// Publisher audio send → subscriber depacketised, µs, while measuring.
    pub delays_us: Mutex<Vec<u32>>,
}

pub struct Clock(pub Instant);

impl Clock {
    fn micros(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

pub struct Endpoint {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    sends: (Option<Mid>, Option<Mid>),
    /// Simulcast layers the video is written as, lowest first; empty for one layer.
    rids: Vec<Rid>,
}

impl Endpoint {
    pub async fn new() -> anyhow::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .context("binding a client socket")?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok(Endpoint {
            rtc,
            socket,
            local,
            pending: None,
            sends: (None, None),
            rids: Vec::new(),
        })
    }

    /// A publisher's offer: one sendonly video and one sendonly audio transceiver. With
    /// `simulcast`, the video goes as three layers (rids q, h, f), as browsers send it;
    /// each layer carries the same test stream, so the SFU's cost is what is measured.
    pub fn publisher_offer(&mut self, simulcast: bool) -> anyhow::Result<Local> {
        let mut change = self.rtc.sdp_api();
        let layers = simulcast.then(|| {
            let mut s = Simulcast::new();
            for rid in ["q", "h", "f"] {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        if let Some(s) = &layers {
            self.rids = s.send.iter().map(|l| l.rid).collect();
        }
        let video = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, layers);
        let audio = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = change.apply().context("no offer")?;
        self.pending = Some(pending);
        self.sends = (Some(video), Some(audio));
        Ok(Local::Offer {
            sdp: offer.to_sdp_string(),
            video: Some(video.to_string()),
            audio: Some(audio.to_string()),
        })
    }

    /// A receive-only client's first offer carries just a data channel; the SFU then
    /// offers the tracks to receive.
    pub fn subscriber_offer(&mut self) -> anyhow::Result<Local> {
        let mut change = self.rtc.sdp_api();
        change.add_channel("bench".into());
        let (offer, pending) = change.apply().context("no offer")?;
        self.pending = Some(pending);
        Ok(Local::Offer {
            sdp: offer.to_sdp_string(),
            video: None,
            audio: None,
        })
    }

    /// Runs until `until`, answering offers, sending media (when `media` is set) and
    /// counting what arrives into `stats`.
    pub async fn run(
        mut self,
        mut remote: mpsc::Receiver<Remote>,
        local: mpsc::Sender<Local>,
        media: Option<Arc<Vec<Vec<u8>>>>,
        stats: Arc<Stats>,
        clock: Arc<Clock>,
        until: Instant,
    ) -> anyhow::Result<()> {
        let mut buf = vec![0u8; 2048];
        let (video_mid, audio_mid) = self.sends;
        let rids: Vec<Option<Rid>> = if self.rids.is_empty() {
            vec![None]
        } else {
            self.rids.iter().copied().map(Some).collect()
        };
        let mut connected = false;
        let (mut got_audio, mut got_video, mut counted_ready) = (false, false, false);
        let start = Instant::now();
        let mut next_video = start;
        let mut next_audio = start;
        let (mut video_n, mut audio_n) = (0u64, 0u64);
        loop {
            let timeout = loop {
                match self.rtc.poll_output()? {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.socket.try_send_to(&t.contents, t.destination);
                    }
                    Output::Event(e) => match e {
                        Event::Connected => connected = true,
                        Event::MediaData(d) => {
                            let audio = d.params.spec().codec == Codec::Opus;
                            if audio {
                                got_audio = true;
                            } else {
                                got_video = true;
                            }
                            if got_audio && got_video && !counted_ready {
                                counted_ready = true;
                                stats.ready.fetch_add(1, Relaxed);
                            }
                            if stats.measuring.load(Relaxed) {
                                let n =
                                    (**d.seq_range.end()).saturating_sub(**d.seq_range.start()) + 1;
                                stats.packets.fetch_add(n, Relaxed);
                                stats.frames.fetch_add(1, Relaxed);
                                stats.bytes.fetch_add(d.data.len() as u64, Relaxed);
                                if audio && d.data.len() >= 8 {
                                    let sent = u64::from_be_bytes(
                                        d.data[..8].try_into().unwrap_or([0; 8]),
                                    );
                                    let delay = clock.micros().saturating_sub(sent);
                                    if let Ok(mut v) = stats.delays_us.lock() {
                                        v.push(delay.min(u64::from(u32::MAX)) as u32);
                                    }
                                }
                            }
                        }
                        _ => {}
                    },
                }
            };
            let now = Instant::now();
            if now >= until || stats.stop.load(Relaxed) {
                return Ok(());
            }
            let mut wake = timeout.min(until).min(now + Duration::from_millis(100));
            if media.is_some() && connected {
                wake = wake.min(next_video).min(next_audio);
            }
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, source)) = r
                        && let Ok(contents) = buf[..n].try_into() {
                            let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: self.local, contents });
                            self.rtc.handle_input(input)?;
                        }
                }
                msg = remote.recv() => match msg {
                    Some(Remote::Offer(sdp)) => {
                        let offer = SdpOffer::from_sdp_string(&sdp)?;
                        let answer = self.rtc.sdp_api().accept_offer(offer)?;
                        local.send(Local::Answer(answer.to_sdp_string())).await.ok();
                    }
                    Some(Remote::Answer(sdp)) => {
                        if let Some(p) = self.pending.take() {
                            self.rtc.sdp_api().accept_answer(p, SdpAnswer::from_sdp_string(&sdp)?)?;
                        }
                    }
                    None => return Ok(()),
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = Instant::now();
            if let (Some(frames), true) = (&media, connected) {
                if now >= next_video {
                    if let Some(mid) = video_mid {
                        let data = &frames[(video_n as usize) % frames.len()];
                        let t = MediaTime::new(video_n * 3000, Frequency::NINETY_KHZ);
                        for rid in &rids {
                            write(&mut self.rtc, mid, *rid, Codec::H264, now, t, data.clone());
                        }
                    }
                    video_n += 1;
                    next_video = start + Duration::from_micros(video_n * 33_333);
                }
                if now >= next_audio {
                    if let Some(mid) = audio_mid {
                        // Sized like 32 kbps Opus (80 bytes per 20 ms); the first 8 bytes
                        // carry the send time so receivers can measure the delay.
                        let mut data = vec![0x5au8; 80];
                        data[..8].copy_from_slice(&clock.micros().to_be_bytes());
                        let t = MediaTime::new(audio_n * 960, Frequency::FORTY_EIGHT_KHZ);
                        write(&mut self.rtc, mid, None, Codec::Opus, now, t, data);
                    }
                    audio_n += 1;
                    next_audio = start + Duration::from_millis(audio_n * 20);
                }
            }
            self.rtc.handle_input(Input::Timeout(Instant::now()))?;
        }
    }
}

fn write(
    rtc: &mut Rtc,
    mid: Mid,
    rid: Option<Rid>,
    codec: Codec,
    now: Instant,
    t: MediaTime,
    data: Vec<u8>,
) {
    let Some(mut writer) = rtc.writer(mid) else {
        return;
    };
    if let Some(rid) = rid {
        writer = writer.rid(rid);
    }
    let Some(pt) = writer
        .payload_params()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
    else {
        return;
    };
    let _ = writer.write(pt, now, t, data);
}
