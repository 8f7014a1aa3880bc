use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters the SFU loop bumps and anyone may read (for `/metrics` and benchmarks).
#[derive(Debug, Default)]
pub struct SfuMetrics {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Media frames received from publishers.
    pub frames_in: AtomicU64,
    /// Media frames written to subscribers (one per subscriber per frame).
    pub frames_forwarded: AtomicU64,
    /// Datagrams dropped because the socket's send buffer was full: the bounded queue
    /// toward slow receivers overflowing. Nobody else waits on them.
    pub send_drops: AtomicU64,
    /// Datagrams or candidates ignored because their address is outside the allow-list.
    pub rejected_remote: AtomicU64,
    /// Frames not forwarded because the track is off (muted by owner or teacher).
    pub suppressed_frames: AtomicU64,
    pub keyframe_requests: AtomicU64,
    /// Frames of a simulcast layer a viewer was not on (its estimate chose another).
    pub layer_dropped_frames: AtomicU64,
    /// A viewer moved to another simulcast layer (on its keyframe).
    pub layer_switches: AtomicU64,
    /// A viewer's video was paused because its link carries no video layer.
    pub videos_paused: AtomicU64,
    pub peers: AtomicU64,
    pub peers_connected: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub frames_in: u64,
    pub frames_forwarded: u64,
    pub send_drops: u64,
    pub rejected_remote: u64,
    pub suppressed_frames: u64,
    pub keyframe_requests: u64,
    pub layer_dropped_frames: u64,
    pub layer_switches: u64,
    pub videos_paused: u64,
    pub peers: u64,
    pub peers_connected: u64,
}

impl SfuMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            datagrams_in: self.datagrams_in.load(Relaxed),
            datagrams_out: self.datagrams_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            frames_in: self.frames_in.load(Relaxed),
            frames_forwarded: self.frames_forwarded.load(Relaxed),
            send_drops: self.send_drops.load(Relaxed),
            rejected_remote: self.rejected_remote.load(Relaxed),
            suppressed_frames: self.suppressed_frames.load(Relaxed),
            keyframe_requests: self.keyframe_requests.load(Relaxed),
            layer_dropped_frames: self.layer_dropped_frames.load(Relaxed),
            layer_switches: self.layer_switches.load(Relaxed),
            videos_paused: self.videos_paused.load(Relaxed),
            peers: self.peers.load(Relaxed),
            peers_connected: self.peers_connected.load(Relaxed),
        }
    }
}

impl MetricsSnapshot {
    /// Prometheus text exposition, one counter or gauge per field.
    pub fn prometheus(&self) -> String {
        let rows: [(&str, &str, &str, u64); 15] = [
            (
                "aula_sfu_datagrams_in_total",
                "counter",
                "UDP datagrams received",
                self.datagrams_in,
            ),
            (
                "aula_sfu_datagrams_out_total",
                "counter",
                "UDP datagrams sent",
                self.datagrams_out,
            ),
            (
                "aula_sfu_bytes_in_total",
                "counter",
                "UDP bytes received",
                self.bytes_in,
            ),
            (
                "aula_sfu_bytes_out_total",
                "counter",
                "UDP bytes sent",
                self.bytes_out,
            ),
            (
                "aula_sfu_frames_in_total",
                "counter",
                "media frames received from publishers",
                self.frames_in,
            ),
            (
                "aula_sfu_frames_forwarded_total",
                "counter",
                "media frames written to subscribers",
                self.frames_forwarded,
            ),
            (
                "aula_sfu_send_drops_total",
                "counter",
                "datagrams dropped on a full send buffer",
                self.send_drops,
            ),
            (
                "aula_sfu_rejected_remote_total",
                "counter",
                "datagrams and candidates outside the allow-list",
                self.rejected_remote,
            ),
            (
                "aula_sfu_suppressed_frames_total",
                "counter",
                "frames held back because the track is off",
                self.suppressed_frames,
            ),
            (
                "aula_sfu_keyframe_requests_total",
                "counter",
                "keyframe requests sent to publishers",
                self.keyframe_requests,
            ),
            (
                "aula_sfu_layer_dropped_frames_total",
                "counter",
                "simulcast frames of a layer a viewer was not on",
                self.layer_dropped_frames,
            ),
            (
                "aula_sfu_layer_switches_total",
                "counter",
                "viewers moved to another simulcast layer",
                self.layer_switches,
            ),
            (
                "aula_sfu_videos_paused_total",
                "counter",
                "viewers whose link carried no video layer (audio only)",
                self.videos_paused,
            ),
            (
                "aula_sfu_peers",
                "gauge",
                "peer connections held",
                self.peers,
            ),
            (
                "aula_sfu_peers_connected",
                "gauge",
                "peer connections with ICE connected",
                self.peers_connected,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
        out
    }
}
