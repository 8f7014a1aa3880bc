//! How much the encoder may send: the loss-based half of Google Congestion Control
//! (draft-ietf-rmcat-gcc §6), driven by the loss figure in the SFU's receiver reports.
//! Pure, so it is tested without a network.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateController {
    target_bps: u32,
    min_bps: u32,
    max_bps: u32,
}

impl RateController {
    pub fn new(start_bps: u32, min_bps: u32, max_bps: u32) -> Self {
        RateController {
            target_bps: start_bps.clamp(min_bps, max_bps),
            min_bps,
            max_bps,
        }
    }

    pub fn target_bps(&self) -> u32 {
        self.target_bps
    }

    /// Takes one report's fraction lost (0..=255 of 256) and returns the new target when
    /// it changed. Above 10 % loss the rate falls in proportion to the loss; below 2 % it
    /// grows by 5 %; in between it holds, which is what keeps it from oscillating.
    pub fn on_report(&mut self, fraction_lost: u8) -> Option<u32> {
        let loss = f64::from(fraction_lost) / 256.0;
        let current = f64::from(self.target_bps);
        let next = if loss > 0.10 {
            current * (1.0 - 0.5 * loss)
        } else if loss < 0.02 {
            current * 1.05
        } else {
            current
        };
        let next = (next as u32).clamp(self.min_bps, self.max_bps);
        (next != self.target_bps).then(|| {
            self.target_bps = next;
            next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn heavy_loss_halves_towards_the_floor_and_clean_links_climb_back() {
        let mut rc = RateController::new(2_000_000, 150_000, 2_500_000);
        // 50 % loss: rate * 0.75 each report.
        assert_eq!(rc.on_report(128), Some(1_500_000));
        for _ in 0..50 {
            rc.on_report(255);
        }
        assert_eq!(rc.target_bps(), 150_000);
        for _ in 0..100 {
            rc.on_report(0);
        }
        assert_eq!(rc.target_bps(), 2_500_000);
    }

    #[test]
    fn moderate_loss_holds_the_rate() {
        let mut rc = RateController::new(1_000_000, 100_000, 2_000_000);
        assert_eq!(rc.on_report(13), None); // ~5 %
        assert_eq!(rc.target_bps(), 1_000_000);
    }

    proptest! {
        #[test]
        fn target_stays_within_bounds(reports in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut rc = RateController::new(800_000, 100_000, 2_000_000);
            for r in reports {
                rc.on_report(r);
                prop_assert!((100_000..=2_000_000).contains(&rc.target_bps()));
            }
        }

        #[test]
        fn more_loss_never_gives_a_higher_rate(a in any::<u8>(), b in any::<u8>(), start in 100_000u32..2_000_000) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let mut x = RateController::new(start, 100_000, 2_000_000);
            let mut y = x;
            x.on_report(lo);
            y.on_report(hi);
            prop_assert!(x.target_bps() >= y.target_bps());
        }
    }
}
