//! Simulcast layer selection, per viewer: pure, with time as a parameter.
//!
//! A publisher sends each video track as up to three layers (rids), lowest first. Each
//! viewer gets one of them, or none: the SFU measures each layer's bitrate and gives a
//! viewer the best layers its bandwidth estimate carries, so a slow viewer never lowers
//! what the others receive.
//!
//! - **Allocation** ([`allocate`]): every track first gets its lowest layer, then tracks
//!   climb one layer at a time while the budget lasts. A viewer whose budget cannot carry
//!   even the lowest layer of a track gets that track's audio only ("video paused").
//! - **Hysteresis** ([`Selection::update`]): a lower layer is taken at once (a congested
//!   link must be relieved in well under two seconds); a higher one only after it has fit
//!   for [`UP_AFTER`], so a noisy estimate does not make the picture flap. Resuming after a
//!   pause waits the same.
//! - **Switching** happens on a keyframe of the new layer only; until it arrives the old
//!   layer keeps flowing ([`Selection::on_frame`]), and timestamps are rewritten so the
//!   viewer's decoder sees one continuous stream ([`TimestampRewrite`]).

use std::time::{Duration, Instant};

/// A new viewer's video is not paused in its first seconds: the bandwidth estimate starts
/// from a guess, and probing needs a moment to find what the link carries.
pub const PAUSE_GRACE: Duration = Duration::from_secs(5);
/// A higher layer (or resuming video) must fit this long before it is taken.
pub const UP_AFTER: Duration = Duration::from_millis(2500);
/// Share of the estimate media may fill; the rest absorbs estimate noise and RTCP.
pub const HEADROOM: f64 = 0.85;
/// What one forwarded audio track costs (Opus at ~32 kbit/s plus packet overhead).
pub const AUDIO_BPS: u64 = 48_000;
/// Before a layer's bitrate is measured, it is assumed to cost at least this much.
pub const MIN_LAYER_BPS: u64 = 60_000;
/// A layer with no frame for this long is gone (the publisher's encoder dropped it).
pub const LAYER_SILENT_AFTER: Duration = Duration::from_millis(1500);

/// One incoming layer as the allocator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerInfo {
    /// Measured bitrate over the last second, bits per second.
    pub bps: u64,
    /// Whether frames are arriving on it.
    pub live: bool,
}

impl LayerInfo {
    fn cost(&self) -> u64 {
        self.bps.max(MIN_LAYER_BPS)
    }
}

/// The layer (index into each track's layers, lowest first) each track should get, or
/// `None` for no video. `budget` is in bits per second, audio already taken out.
pub fn allocate(budget: u64, tracks: &[&[LayerInfo]]) -> Vec<Option<usize>> {
    let mut chosen: Vec<Option<usize>> = vec![None; tracks.len()];
    let mut left = budget;
    // First pass: the lowest live layer of each track, in order, while it fits.
    for (i, layers) in tracks.iter().enumerate() {
        if let Some((idx, l)) = layers.iter().enumerate().find(|(_, l)| l.live)
            && l.cost() <= left
        {
            chosen[i] = Some(idx);
            left -= l.cost();
        }
    }
    // Then one step up at a time, round robin, so two tracks share fairly.
    loop {
        let mut moved = false;
        for (i, layers) in tracks.iter().enumerate() {
            let Some(cur) = chosen[i] else { continue };
            let Some((next, l)) = layers
                .iter()
                .enumerate()
                .skip(cur + 1)
                .find(|(_, l)| l.live)
            else {
                continue;
            };
            let extra = l.cost().saturating_sub(layers[cur].cost());
            if extra <= left {
                chosen[i] = Some(next);
                left -= extra;
                moved = true;
            }
        }
        if !moved {
            return chosen;
        }
    }
}

/// A layer may be this much taller than the tile it is shown in (in tenths): a little
/// downscaling looks better than the next layer down upscaled.
const TALLER_OK_TENTHS: u32 = 13;

/// The highest layer worth sending to a viewer whose tiles are `view` pixels tall, given
/// each layer's height (lowest first; `None` when the publisher did not say). Every layer
/// without a view or without heights; at least the lowest.
pub fn ceiling(heights: &[Option<u32>], view: Option<u32>) -> usize {
    let last = heights.len().saturating_sub(1);
    let Some(view) = view else { return last };
    let fits = |h: &Option<u32>| {
        h.is_none_or(|h| h.saturating_mul(10) <= view.saturating_mul(TALLER_OK_TENTHS))
    };
    heights.iter().rposition(fits).unwrap_or(0).min(last)
}

/// Smoothed loss (from the viewer's receiver reports) from which its link counts as
/// congested. Below it the estimate may only raise layers: on a link that loses nothing,
/// a falling estimate is the estimator following a sender that sends little (or a busy
/// CPU's jitter), and obeying it would starve the viewer further.
pub const CONGESTED_LOSS: f32 = 0.01;

/// Loss over the last second as the viewer's TWCC feedback reports it, from which the link
/// counts as congested. TWCC feedback comes every ~100 ms and covers every packet sent
/// (audio too), where receiver reports come every second or so per stream, and stop
/// speaking for a paused video stream (its last loss figure would hold the link
/// "congested" forever). Its threshold is higher than the receiver reports' because
/// reordering on a busy path shows as brief loss there.
pub const TWCC_CONGESTED_LOSS: f32 = 0.05;

/// Whether a viewer's link is congested: from its TWCC loss when its feedback speaks,
/// else from its smoothed receiver-report loss.
pub fn congested(twcc_loss: Option<f32>, rr_loss: f32) -> bool {
    match twcc_loss {
        Some(l) => l >= TWCC_CONGESTED_LOSS,
        None => rr_loss >= CONGESTED_LOSS,
    }
}

/// From this TWCC loss on, the link is overloaded: it delivers what was sent less what
/// was lost, whatever the delay-based estimate (which lags behind a sudden cut) still says.
pub const OVERLOADED_LOSS: f32 = 0.10;

/// The estimate the allocator uses: the BWE's, capped on an overloaded link at what the
/// link delivered over the last second (`sent_bps` less `twcc_loss` of it).
pub fn usable_estimate(estimate_bps: u64, twcc_loss: f32, sent_bps: u64) -> u64 {
    if twcc_loss < OVERLOADED_LOSS || sent_bps == 0 {
        return estimate_bps;
    }
    let delivered = (sent_bps as f64 * f64::from(1.0 - twcc_loss.clamp(0.0, 1.0))) as u64;
    estimate_bps.min(delivered)
}

/// The allocator's choice, held at no lower than the current target unless the viewer's
/// link is congested, and never above `ceiling` (what the viewer's tiles need now): a
/// window made smaller lowers the layer on a clean link too.
pub fn hold_unless_congested(
    choice: Option<usize>,
    target: Option<usize>,
    congested: bool,
    ceiling: usize,
) -> Option<usize> {
    let held = if congested {
        choice
    } else {
        choice.max(target)
    };
    held.map(|c| c.min(ceiling))
}

/// What to ask of the viewer's bandwidth estimator, bits per second: `minimum` is what the
/// chosen layers send plus the step to the next layer up (str0m pads up to it, so the
/// estimate can grow into that layer), `desired` what every track's best layer needs.
pub fn probe_rates(
    tracks: &[&[LayerInfo]],
    targets: &[Option<usize>],
    audio_bps: u64,
) -> (u64, u64) {
    let mut sent = 0;
    let mut step: Option<u64> = None;
    let mut best = 0;
    for (layers, target) in tracks.iter().zip(targets) {
        let now = target
            .and_then(|i| layers.get(i))
            .map_or(0, LayerInfo::cost);
        sent += now;
        let above = target.map_or(0, |i| i + 1);
        if let Some(next) = layers.iter().skip(above).find(|l| l.live) {
            let extra = next.cost().saturating_sub(now);
            step = Some(step.map_or(extra, |s| s.min(extra)));
        }
        best += layers
            .iter()
            .rev()
            .find(|l| l.live)
            .map_or(0, LayerInfo::cost);
    }
    let desired = best + audio_bps;
    ((sent + audio_bps + step.unwrap_or(0)).min(desired), desired)
}

/// A link clean (no congestion) this long may try the next layer up even when the
/// estimate has not grown: a delay-based estimator can stay low long after a link
/// recovered, when its probes are suppressed. The wait doubles each time such a step
/// brings congestion back soon after, up to [`STEP_UP_MAX`].
pub const STEP_UP_AFTER: Duration = Duration::from_secs(3);
pub const STEP_UP_MAX: Duration = Duration::from_secs(60);
/// Congestion this soon after a step up is blamed on the step: a layer the link cannot
/// carry fills its queue within a second or two.
pub const STEP_BLAMED_WITHIN: Duration = Duration::from_secs(5);

/// The wait before the next clean-link step up, and the step still on trial: congestion
/// within [`STEP_BLAMED_WITHIN`] of a step doubles the wait (up to [`STEP_UP_MAX`]); a
/// step that held that long brings it back to [`STEP_UP_AFTER`], so one bad moment does
/// not slow every later recovery.
pub fn step_wait(
    wait: Duration,
    stepped_at: Option<Instant>,
    congested: bool,
    now: Instant,
) -> (Duration, Option<Instant>) {
    match stepped_at {
        Some(t) if now.saturating_duration_since(t) < STEP_BLAMED_WITHIN => {
            if congested {
                ((wait * 2).min(STEP_UP_MAX), None)
            } else {
                (wait, stepped_at)
            }
        }
        Some(_) => (STEP_UP_AFTER, None),
        None => (wait, None),
    }
}

/// The next live layer above `target` (or the lowest with none), within `layers`.
pub fn step_up(layers: &[LayerInfo], target: Option<usize>) -> Option<usize> {
    let from = target.map_or(0, |t| t + 1);
    layers
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, l)| l.live)
        .map(|(i, _)| i)
        .or(target)
}

/// The media budget of a viewer from its bandwidth estimate and its audio tracks.
pub fn budget(estimate_bps: u64, audio_tracks: usize) -> u64 {
    ((estimate_bps as f64 * HEADROOM) as u64).saturating_sub(AUDIO_BPS * audio_tracks as u64)
}

/// What [`Selection::on_frame`] says to do with a frame of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameAction {
    Drop,
    Forward,
    /// Forward: it is the keyframe the viewer switches on.
    SwitchAndForward,
}

/// One viewer's layer of one video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The layer being forwarded.
    pub current: Option<usize>,
    /// The layer wanted; a keyframe on it makes it current.
    pub target: Option<usize>,
    /// A higher choice than the target, and since when it has been wanted.
    rising: Option<(Option<usize>, Instant)>,
    /// The viewer was told its video is paused.
    pub paused: bool,
    /// Until when video is not paused (set at the first update).
    no_pause_until: Option<Instant>,
}

/// A change [`Selection::update`] made that the SFU must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Ask the publisher for a keyframe on this layer.
    NeedKeyframe(usize),
    /// Video stops for this viewer ("video paused: weak connection").
    Paused,
    /// Video comes back (a keyframe was asked for too).
    Resumed(usize),
}

impl Selection {
    /// A new viewer starts on `initial` (the allocator's pick at the start estimate).
    pub fn new(initial: Option<usize>) -> Self {
        Selection {
            current: None,
            target: initial,
            rising: None,
            paused: false,
            no_pause_until: None,
        }
    }

    /// Takes the allocator's latest choice at `now`: down at once, up after [`UP_AFTER`].
    pub fn update(&mut self, choice: Option<usize>, now: Instant) -> Option<Change> {
        let grace = *self.no_pause_until.get_or_insert(now + PAUSE_GRACE);
        let choice = if now < grace {
            choice.or(Some(0))
        } else {
            choice
        };
        // A new viewer starts on whatever fits now: no wait for the first picture.
        if self.target.is_none() && !self.paused {
            self.target = choice;
            return choice.map(Change::NeedKeyframe);
        }
        let lower = match (choice, self.target) {
            (None, Some(_)) => true,
            (Some(c), Some(t)) => c < t,
            (_, None) => false,
        };
        if choice == self.target {
            self.rising = None;
            return None;
        }
        if !lower {
            let since = match self.rising {
                Some((c, t)) if c == choice => t,
                _ => {
                    self.rising = Some((choice, now));
                    now
                }
            };
            if now.duration_since(since) < UP_AFTER {
                return None;
            }
        }
        self.rising = None;
        self.target = choice;
        match choice {
            None => {
                self.current = None;
                self.paused = true;
                Some(Change::Paused)
            }
            Some(c) if self.paused => {
                self.paused = false;
                Some(Change::Resumed(c))
            }
            Some(c) => Some(Change::NeedKeyframe(c)),
        }
    }

    /// Moves up to `layer` now, without the usual wait (the caller waited for a clean
    /// link instead).
    pub fn step_to(&mut self, layer: usize) -> Option<Change> {
        if self.target.is_some_and(|t| t >= layer) {
            return None;
        }
        self.rising = None;
        self.target = Some(layer);
        if self.paused {
            self.paused = false;
            Some(Change::Resumed(layer))
        } else {
            Some(Change::NeedKeyframe(layer))
        }
    }

    /// Stops the old layer at once when switching down, rather than at the new layer's
    /// keyframe. For an overloaded link: the old layer's packets are what keeps that
    /// keyframe from getting through, and its picture is already broken by the loss.
    pub fn drop_old_layer(&mut self) {
        if let (Some(c), Some(t)) = (self.current, self.target)
            && t < c
        {
            self.current = None;
        }
    }

    /// What to do with a frame of layer `layer`.
    pub fn on_frame(&mut self, layer: usize, keyframe: bool) -> FrameAction {
        if self.target == Some(layer) && self.current != Some(layer) {
            if keyframe {
                self.current = Some(layer);
                return FrameAction::SwitchAndForward;
            }
            // Until the new layer's keyframe comes, the old one keeps the picture moving.
            return FrameAction::Drop;
        }
        if self.current == Some(layer) {
            FrameAction::Forward
        } else {
            FrameAction::Drop
        }
    }
}

/// Rewrites RTP timestamps (90 kHz ticks) so that a viewer switching between layers
/// sees one stream: each layer of a browser's simulcast starts at its own random offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimestampRewrite {
    offset: i64,
    last: Option<(u64, Instant)>,
}

impl TimestampRewrite {
    /// The outgoing timestamp of a frame stamped `ts` on its layer, received at `at`.
    /// On a switch the new layer continues from the last one written, advanced by the
    /// wall-clock time between them (at least one tick).
    pub fn map(&mut self, ts: u64, at: Instant, switched: bool, clock_hz: u64) -> u64 {
        if switched && let Some((last, last_at)) = self.last {
            let ticks = (at.saturating_duration_since(last_at).as_micros() as u64)
                .saturating_mul(clock_hz)
                / 1_000_000;
            let next = last.saturating_add(ticks.max(1));
            self.offset = next as i64 - ts as i64;
        }
        let out = (ts as i64).saturating_add(self.offset).max(0) as u64;
        self.last = Some((out, at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const Q: LayerInfo = LayerInfo {
        bps: 150_000,
        live: true,
    };
    const H: LayerInfo = LayerInfo {
        bps: 450_000,
        live: true,
    };
    const F: LayerInfo = LayerInfo {
        bps: 1_200_000,
        live: true,
    };

    #[test]
    fn an_overloaded_switch_down_drops_the_old_layer_at_once() {
        let t0 = Instant::now();
        let mut s = Selection::new(Some(2));
        assert_eq!(s.on_frame(2, true), FrameAction::SwitchAndForward);
        assert_eq!(
            s.update(Some(0), t0 + PAUSE_GRACE),
            Some(Change::NeedKeyframe(0))
        );
        // Normally the old layer flows until the new keyframe...
        assert_eq!(s.on_frame(2, false), FrameAction::Forward);
        // ...on an overloaded link it stops now.
        s.drop_old_layer();
        assert_eq!(s.on_frame(2, false), FrameAction::Drop);
        assert_eq!(s.on_frame(0, false), FrameAction::Drop);
        assert_eq!(s.on_frame(0, true), FrameAction::SwitchAndForward);
        // Going up keeps the old layer until the switch.
        s.drop_old_layer();
        assert_eq!(s.current, Some(0));
    }

    #[test]
    fn a_blamed_step_doubles_the_wait_and_a_step_that_held_resets_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        // Congestion 1 s after a step: blamed.
        assert_eq!(
            step_wait(STEP_UP_AFTER, Some(t0), true, t0 + s),
            (STEP_UP_AFTER * 2, None)
        );
        assert_eq!(
            step_wait(STEP_UP_MAX, Some(t0), true, t0 + s),
            (STEP_UP_MAX, None)
        );
        // Still on trial.
        assert_eq!(
            step_wait(STEP_UP_AFTER * 4, Some(t0), false, t0 + s),
            (STEP_UP_AFTER * 4, Some(t0))
        );
        // Held: back to the first wait.
        assert_eq!(
            step_wait(STEP_UP_AFTER * 4, Some(t0), false, t0 + STEP_BLAMED_WITHIN),
            (STEP_UP_AFTER, None)
        );
        // Congestion with no step on trial changes nothing.
        assert_eq!(
            step_wait(STEP_UP_AFTER * 2, None, true, t0),
            (STEP_UP_AFTER * 2, None)
        );
    }

    #[test]
    fn twcc_loss_decides_congestion_when_the_feedback_speaks() {
        assert!(congested(Some(0.2), 0.0));
        assert!(!congested(Some(0.02), 0.0));
        // A stale receiver-report loss (a paused stream's last report) does not count.
        assert!(!congested(Some(0.0), 0.3));
        assert!(congested(None, 0.02));
        assert!(!congested(None, 0.005));
    }

    #[test]
    fn an_overloaded_link_is_held_to_what_it_delivered() {
        // A clean link, or light loss: the estimate stands.
        assert_eq!(usable_estimate(1_500_000, 0.0, 1_200_000), 1_500_000);
        assert_eq!(usable_estimate(1_500_000, 0.05, 1_200_000), 1_500_000);
        // Cut to a quarter: three quarters of 1.2 Mbit/s lost, 300 kbit/s got through.
        assert_eq!(usable_estimate(1_500_000, 0.75, 1_200_000), 300_000);
        // The estimate already below what got through stays.
        assert_eq!(usable_estimate(200_000, 0.5, 1_200_000), 200_000);
        // Nothing sent yet: nothing to measure against.
        assert_eq!(usable_estimate(1_000_000, 0.9, 0), 1_000_000);
    }

    #[test]
    fn a_weak_budget_gets_the_lowest_layer_or_none() {
        let layers = [Q, H, F];
        assert_eq!(allocate(5_000_000, &[&layers]), vec![Some(2)]);
        assert_eq!(allocate(600_000, &[&layers]), vec![Some(1)]);
        assert_eq!(allocate(200_000, &[&layers]), vec![Some(0)]);
        assert_eq!(allocate(100_000, &[&layers]), vec![None]);
    }

    #[test]
    fn silent_layers_are_skipped() {
        let layers = [Q, LayerInfo { live: false, ..H }, F];
        assert_eq!(allocate(700_000, &[&layers]), vec![Some(0)]);
        assert_eq!(allocate(2_000_000, &[&layers]), vec![Some(2)]);
        let none = [LayerInfo { live: false, ..Q }];
        assert_eq!(allocate(10_000_000, &[&none]), vec![None]);
    }

    #[test]
    fn two_tracks_share_before_either_climbs_high() {
        let layers = [Q, H, F];
        // Both get their middle layer rather than one full and one low.
        assert_eq!(
            allocate(900_000, &[&layers, &layers]),
            vec![Some(1), Some(1)]
        );
    }

    #[test]
    fn budget_takes_audio_out() {
        assert_eq!(budget(1_000_000, 0), 850_000);
        assert_eq!(budget(1_000_000, 2), 850_000 - 2 * AUDIO_BPS);
        assert_eq!(budget(10_000, 3), 0);
    }

    #[test]
    fn down_at_once_up_only_after_holding() {
        let t0 = Instant::now();
        let mut s = Selection::new(Some(2));
        assert_eq!(s.on_frame(2, true), FrameAction::SwitchAndForward);
        assert_eq!(s.update(Some(0), t0), Some(Change::NeedKeyframe(0)));
        // The old layer keeps flowing until the new one's keyframe.
        assert_eq!(s.on_frame(2, false), FrameAction::Forward);
        assert_eq!(s.on_frame(0, false), FrameAction::Drop);
        assert_eq!(s.on_frame(0, true), FrameAction::SwitchAndForward);
        assert_eq!(s.on_frame(2, false), FrameAction::Drop);
        // Up: not before UP_AFTER of wanting it.
        assert_eq!(s.update(Some(2), t0 + Duration::from_secs(1)), None);
        assert_eq!(s.update(Some(2), t0 + Duration::from_secs(3)), None);
        assert_eq!(
            s.update(Some(2), t0 + Duration::from_secs(5)),
            Some(Change::NeedKeyframe(2))
        );
        // A dip resets the wait.
        let mut s = Selection::new(Some(0));
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(s.update(Some(1), t1), None);
        assert_eq!(s.update(Some(0), t1 + Duration::from_secs(2)), None);
        assert_eq!(s.update(Some(1), t1 + Duration::from_secs(5)), None);
    }

    #[test]
    fn a_new_viewer_starts_at_once() {
        let t0 = Instant::now();
        let mut s = Selection::new(None);
        assert_eq!(s.update(Some(1), t0), Some(Change::NeedKeyframe(1)));
        assert_eq!(s.on_frame(1, false), FrameAction::Drop);
        assert_eq!(s.on_frame(1, true), FrameAction::SwitchAndForward);
    }

    #[test]
    fn no_pause_in_the_first_seconds() {
        let t0 = Instant::now();
        let mut s = Selection::new(None);
        assert_eq!(s.update(None, t0), Some(Change::NeedKeyframe(0)));
        assert_eq!(s.update(None, t0 + Duration::from_secs(1)), None);
        assert_eq!(s.update(None, t0 + PAUSE_GRACE), Some(Change::Paused));
    }

    #[test]
    fn probing_reaches_for_the_next_layer() {
        let layers = [Q, H, F];
        // On the low layer: pad up to the middle one; want the top.
        assert_eq!(
            probe_rates(&[&layers], &[Some(0)], 48_000),
            (450_000 + 48_000, 1_200_000 + 48_000)
        );
        // At the top: nothing more to reach for.
        assert_eq!(
            probe_rates(&[&layers], &[Some(2)], 0),
            (1_200_000, 1_200_000)
        );
        // Paused: reach for the lowest.
        assert_eq!(probe_rates(&[&layers], &[None], 0), (150_000, 1_200_000));
        // Two tracks: the cheaper step.
        assert_eq!(
            probe_rates(&[&layers, &layers], &[Some(1), Some(0)], 0),
            (450_000 + 150_000 + 300_000, 2_400_000)
        );
    }

    #[test]
    fn a_step_goes_up_at_once_and_resumes_a_pause() {
        let start = Instant::now();
        let mut s = Selection::new(Some(0));
        s.update(Some(0), start);
        assert_eq!(s.update(None, start + PAUSE_GRACE), Some(Change::Paused));
        assert_eq!(s.step_to(0), Some(Change::Resumed(0)));
        assert_eq!(s.step_to(1), Some(Change::NeedKeyframe(1)));
        assert_eq!(s.step_to(1), None);
    }

    #[test]
    fn a_step_up_skips_silent_layers() {
        let layers = [Q, LayerInfo { live: false, ..H }, F];
        assert_eq!(step_up(&layers, Some(0)), Some(2));
        assert_eq!(step_up(&layers, Some(2)), Some(2));
        assert_eq!(step_up(&layers, None), Some(0));
    }

    #[test]
    fn only_a_congested_link_goes_down() {
        assert_eq!(hold_unless_congested(Some(0), Some(2), false, 2), Some(2));
        assert_eq!(hold_unless_congested(None, Some(1), false, 2), Some(1));
        assert_eq!(hold_unless_congested(Some(2), Some(0), false, 2), Some(2));
        assert_eq!(hold_unless_congested(Some(0), Some(2), true, 2), Some(0));
        assert_eq!(hold_unless_congested(None, Some(1), true, 2), None);
        assert_eq!(hold_unless_congested(Some(1), None, false, 2), Some(1));
    }

    #[test]
    fn smaller_tiles_lower_the_layer_on_a_clean_link() {
        // On the full layer, the window shrinks so that only the lowest layer fits.
        assert_eq!(hold_unless_congested(Some(0), Some(2), false, 0), Some(0));
        assert_eq!(hold_unless_congested(Some(1), Some(2), false, 1), Some(1));
        assert_eq!(hold_unless_congested(None, Some(2), false, 0), Some(0));
    }

    #[test]
    fn layers_no_taller_than_the_tiles() {
        let h = [Some(135), Some(270), Some(540)];
        assert_eq!(ceiling(&h, None), 2);
        assert_eq!(ceiling(&h, Some(1080)), 2);
        assert_eq!(ceiling(&h, Some(420)), 2, "540 is within 1.3 x 420");
        assert_eq!(ceiling(&h, Some(300)), 1);
        assert_eq!(ceiling(&h, Some(100)), 0);
        assert_eq!(ceiling(&h, Some(0)), 0, "the lowest at least");
        assert_eq!(
            ceiling(&[None, None], Some(10)),
            1,
            "no heights, no ceiling"
        );
        assert_eq!(ceiling(&[], Some(10)), 0);
    }

    #[test]
    fn pause_and_resume() {
        let t0 = Instant::now();
        let mut s = Selection::new(Some(0));
        assert_eq!(s.update(Some(0), t0), None);
        s.on_frame(0, true);
        let t0 = t0 + PAUSE_GRACE;
        assert_eq!(s.update(None, t0), Some(Change::Paused));
        assert!(s.paused);
        assert_eq!(s.on_frame(0, true), FrameAction::Drop);
        assert_eq!(s.update(Some(0), t0 + Duration::from_secs(1)), None);
        assert_eq!(
            s.update(Some(0), t0 + Duration::from_secs(5)),
            Some(Change::Resumed(0))
        );
        assert!(!s.paused);
        assert_eq!(s.on_frame(0, true), FrameAction::SwitchAndForward);
    }

    #[test]
    fn timestamps_continue_across_a_switch() {
        let t0 = Instant::now();
        let mut r = TimestampRewrite::default();
        // Layer A starts at 1,000,000; 3000 ticks (33 ms) a frame.
        assert_eq!(r.map(1_000_000, t0, false, 90_000), 1_000_000);
        let t1 = t0 + Duration::from_millis(33);
        assert_eq!(r.map(1_003_000, t1, false, 90_000), 1_003_000);
        // Layer B, far away at 7; switched 33 ms later: continues at +2970.
        let t2 = t1 + Duration::from_millis(33);
        let out = r.map(7, t2, true, 90_000);
        assert_eq!(out, 1_003_000 + 2970);
        let t3 = t2 + Duration::from_millis(33);
        assert_eq!(r.map(3007, t3, false, 90_000), out + 3000);
    }

    proptest! {
        #[test]
        fn allocation_never_exceeds_the_budget(
            budget in 0u64..5_000_000,
            tracks in proptest::collection::vec(
                proptest::collection::vec((0u64..2_000_000, any::<bool>()), 1..4), 0..5),
        ) {
            let infos: Vec<Vec<LayerInfo>> = tracks
                .iter()
                .map(|t| t.iter().map(|&(bps, live)| LayerInfo { bps, live }).collect())
                .collect();
            let refs: Vec<&[LayerInfo]> = infos.iter().map(Vec::as_slice).collect();
            let chosen = allocate(budget, &refs);
            let spent: u64 = chosen
                .iter()
                .zip(&infos)
                .filter_map(|(c, l)| c.map(|i| l[i].cost()))
                .sum();
            prop_assert!(spent <= budget);
            for (c, l) in chosen.iter().zip(&infos) {
                if let Some(i) = c {
                    prop_assert!(l[*i].live);
                }
            }
        }

        #[test]
        fn rewritten_timestamps_never_go_back(
            steps in proptest::collection::vec((0u64..100_000, 1u64..100, any::<bool>()), 1..50),
        ) {
            let t0 = Instant::now();
            let mut r = TimestampRewrite::default();
            let mut at = t0;
            let mut ts = 0u64;
            let mut last: Option<u64> = None;
            for (base, ms, switched) in steps {
                at += Duration::from_millis(ms);
                ts = if switched { base } else { ts + ms * 90 };
                let out = r.map(ts, at, switched || last.is_none(), 90_000);
                if let Some(l) = last {
                    prop_assert!(out > l, "{out} after {l}");
                }
                last = Some(out);
            }
        }
    }
}
