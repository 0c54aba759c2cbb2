//! When scheduled faults start and heal: a fixed time, or a window drawn per seed from the
//! scenario's own `faults` RNG stream, so a sweep over seeds explores different placements while
//! one seed always replays the same one. Fixed times draw nothing, so a scenario without
//! windows consumes no randomness.

use rand::RngExt;

use crate::fault::FaultSpec;
use crate::sim::{RngStreams, SimRng};

/// The RNG stream fault windows are drawn from.
pub const FAULTS_STREAM: &str = "faults";

/// A time window in nanoseconds, both ends included; a fixed time has `lo_ns == hi_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Earliest.
    pub lo_ns: u64,
    /// Latest.
    pub hi_ns: u64,
}

impl Window {
    /// A fixed time.
    pub fn at(ns: u64) -> Window {
        Window {
            lo_ns: ns,
            hi_ns: ns,
        }
    }

    /// Whether the window is a single instant (nothing to draw).
    pub fn is_fixed(&self) -> bool {
        self.lo_ns == self.hi_ns
    }

    /// A time in the window: uniform, to the nanosecond; a fixed time draws nothing.
    pub fn draw(&self, rng: &mut SimRng) -> u64 {
        if self.is_fixed() {
            return self.lo_ns;
        }
        rng.random_range(self.lo_ns..=self.hi_ns)
    }
}

/// When a fault heals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heal {
    /// At the start of the quiet phase, with every other fault.
    AtQuiet,
    /// At an absolute time (`heal = "40s"` or `"40s..50s"`).
    At(Window),
    /// This long after the fault started (`for = "5s"`, `heal = "+5s..+10s"`).
    After(Window),
}

/// A fault's start and heal as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultTiming {
    /// The start.
    pub at: Window,
    /// The heal.
    pub heal: Heal,
}

impl FaultTiming {
    /// Whether nothing is drawn.
    pub fn is_fixed(&self) -> bool {
        let heal_fixed = match self.heal {
            Heal::AtQuiet => true,
            Heal::At(w) | Heal::After(w) => w.is_fixed(),
        };
        self.at.is_fixed() && heal_fixed
    }

    /// The start and heal times: `at` first, then `heal`, each drawn only if it is a window.
    pub fn draw(&self, rng: &mut SimRng) -> (u64, Option<u64>) {
        let at = self.at.draw(rng);
        let heal = match self.heal {
            Heal::AtQuiet => None,
            Heal::At(w) => Some(w.draw(rng)),
            Heal::After(w) => Some(at.saturating_add(w.draw(rng))),
        };
        (at, heal)
    }
}

/// The faults with their times drawn for `seed`, in scenario order.
pub fn place(faults: &[FaultSpec], timings: &[FaultTiming], seed: u64) -> Vec<FaultSpec> {
    let mut rng = RngStreams::new(seed).stream(FAULTS_STREAM);
    faults
        .iter()
        .zip(timings)
        .map(|(f, t)| {
            let (at_ns, heal_ns) = t.draw(&mut rng);
            FaultSpec {
                at_ns,
                heal_ns,
                ..f.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_draw_inside_and_fixed_times_draw_nothing() {
        let t = FaultTiming {
            at: Window {
                lo_ns: 20,
                hi_ns: 25,
            },
            heal: Heal::After(Window {
                lo_ns: 5,
                hi_ns: 10,
            }),
        };
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let mut rng = RngStreams::new(seed).stream(FAULTS_STREAM);
            let (at, heal) = t.draw(&mut rng);
            assert!((20..=25).contains(&at), "{at}");
            let len = heal.unwrap() - at;
            assert!((5..=10).contains(&len), "{len}");
            seen.insert(at);
        }
        assert_eq!(
            seen.len(),
            6,
            "every instant of a small window is reachable"
        );
        let fixed = FaultTiming {
            at: Window::at(7),
            heal: Heal::AtQuiet,
        };
        let mut a = RngStreams::new(1).stream(FAULTS_STREAM);
        let b = a.clone();
        assert_eq!(fixed.draw(&mut a), (7, None));
        assert_eq!(a, b, "a fixed time consumes no randomness");
    }
}
