//! Time as the host hands it in. The core never reads a clock.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the host's monotonic clock, in microseconds from an origin the host picks.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }

    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1000))
    }

    pub const fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1_000_000))
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time since `earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// Maps the monotonic clock to UNIX seconds, for AuthCert expirations. The host sets it
/// from its wall clock (and may re-anchor it at any time); the simulator uses a fixed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    anchor: Instant,
    unix_secs_at_anchor: u64,
}

impl WallClock {
    pub const fn new(now: Instant, unix_secs: u64) -> Self {
        WallClock {
            anchor: now,
            unix_secs_at_anchor: unix_secs,
        }
    }

    /// UNIX seconds at `now`.
    pub fn unix_secs(&self, now: Instant) -> u64 {
        if now >= self.anchor {
            self.unix_secs_at_anchor + (now - self.anchor).as_secs()
        } else {
            self.unix_secs_at_anchor
                .saturating_sub((self.anchor - now).as_secs())
        }
    }
}
