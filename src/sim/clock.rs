//! A process's local clock: the global clock shifted by jumps and scaled by drift.

use super::time::SimTime;

/// A per-process clock: local = `base_local + (global - base_global) * (1 + drift_ppm / 10^6)`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Clock {
    base_global: u64,
    base_local: u64,
    drift_ppm: i64,
}

impl Clock {
    /// A clock that reads `local` at global time `global` and then drifts by `drift_ppm`.
    pub(super) fn new(global: SimTime, local: u64, drift_ppm: i64) -> Clock {
        Clock {
            base_global: global.0,
            base_local: local,
            drift_ppm,
        }
    }

    /// The local time at global time `global`.
    #[inline]
    pub(super) fn local(&self, global: SimTime) -> SimTime {
        let elapsed = global.0.saturating_sub(self.base_global);
        if self.drift_ppm == 0 {
            // The general formula without drift: both terms are non-negative, so the 128-bit sum
            // cast back to 64 bits is this wrapping sum (bit-identical, without 128-bit work).
            return SimTime(self.base_local.wrapping_add(elapsed));
        }
        let elapsed = elapsed as i128;
        let scaled = elapsed + elapsed * self.drift_ppm as i128 / 1_000_000;
        SimTime((self.base_local as i128 + scaled).max(0) as u64)
    }

    /// The global delay that lasts `local_delay` nanoseconds on this clock.
    #[inline]
    pub(super) fn global_delay(&self, local_delay: u64) -> u64 {
        if self.drift_ppm == 0 {
            // `d * 10^6 / 10^6` is `d` exactly.
            return local_delay;
        }
        let d = local_delay as i128;
        (d * 1_000_000 / (1_000_000 + self.drift_ppm as i128).max(1)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula every clock used before the drift-free fast path, kept as the reference.
    fn general(c: &Clock, global: SimTime) -> (u64, u64) {
        let elapsed = global.0.saturating_sub(c.base_global) as i128;
        let scaled = elapsed + elapsed * c.drift_ppm as i128 / 1_000_000;
        let local = (c.base_local as i128 + scaled).max(0) as u64;
        let d = global.0 as i128;
        let delay = (d * 1_000_000 / (1_000_000 + c.drift_ppm as i128).max(1)) as u64;
        (local, delay)
    }

    #[test]
    fn drifting_clock_runs_fast() {
        let c = Clock::new(SimTime::ZERO, 0, 100_000);
        assert_eq!(c.local(SimTime(1_000_000)).0, 1_100_000);
        assert_eq!(c.global_delay(1_100_000), 1_000_000);
    }

    #[test]
    fn fast_path_matches_the_general_formula() {
        let clocks = [
            Clock::default(),
            Clock::new(SimTime(5_000), 0, 0),
            Clock::new(SimTime(5_000), 9_000_000_000, 0),
            Clock::new(SimTime(u64::MAX - 3), u64::MAX - 10, 0),
        ];
        let times = [0, 1, 4_999, 5_000, 5_001, 1 << 40, u64::MAX - 1, u64::MAX];
        for c in &clocks {
            for &t in &times {
                let (local, delay) = general(c, SimTime(t));
                assert_eq!(c.local(SimTime(t)).0, local, "{c:?} at {t}");
                assert_eq!(c.global_delay(t), delay, "{c:?} delay {t}");
            }
        }
    }

    #[test]
    fn a_jump_back_never_reads_below_zero() {
        let c = Clock::new(SimTime(1_000), 0, -500_000);
        assert_eq!(c.local(SimTime(3_000)).0, 1_000);
        assert_eq!(c.local(SimTime(500)).0, 0);
    }
}
