//! Virtual time: integer nanoseconds since the start of the run.

use std::fmt;

/// A point in simulated time, in nanoseconds since the run began. Never derived from a wall clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// Nanoseconds in one millisecond.
    pub const NANOS_PER_MS: u64 = 1_000_000;
    /// Nanoseconds in one second.
    pub const NANOS_PER_SEC: u64 = 1_000_000_000;

    /// A time `ms` milliseconds after the start.
    pub const fn from_ms(ms: u64) -> SimTime {
        SimTime(ms * Self::NANOS_PER_MS)
    }
    /// A time `s` seconds after the start.
    pub const fn from_secs(s: u64) -> SimTime {
        SimTime(s * Self::NANOS_PER_SEC)
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole milliseconds since the start (rounded down).
    pub const fn as_ms(self) -> u64 {
        self.0 / Self::NANOS_PER_MS
    }
    /// Whole seconds since the start (rounded down), the resolution Redis uses for `repl_ack_time`.
    pub const fn as_secs(self) -> u64 {
        self.0 / Self::NANOS_PER_SEC
    }
    /// This time plus `nanos`, saturating at the end of time.
    pub const fn plus(self, nanos: u64) -> SimTime {
        SimTime(self.0.saturating_add(nanos))
    }
    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn since(self, earlier: SimTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / Self::NANOS_PER_MS;
        let frac = (self.0 % Self::NANOS_PER_MS) / 1000;
        write!(f, "{}.{:03}s", ms / 1000, ms % 1000)?;
        if frac != 0 {
            write!(f, "+{frac}us")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_seconds_with_millis() {
        assert_eq!(SimTime::from_ms(60_250).to_string(), "60.250s");
        assert_eq!(SimTime(1_500).to_string(), "0.000s+1us");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(SimTime(u64::MAX).plus(5), SimTime(u64::MAX));
        assert_eq!(SimTime(3).since(SimTime(9)), 0);
    }
}
