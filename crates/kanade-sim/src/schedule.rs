//! Pure timing: `Spread` spaces a periodic action of many machines evenly over its interval
//! (machine k of n acts at `interval × k / n`, then every interval), so a fleet never beats in
//! bursts; `Churn` spaces departures evenly at a given rate. Both answer "what falls due
//! between the previous tick and this one", so any tick length gives the same schedule.

use std::ops::Range;
use std::time::Duration;

/// Evenly spread phases of `count` local machines whose global indices are
/// `first, first + stride, …` in a fleet of `total`: machine j acts at
/// `interval × (first + j·stride) / total` into every interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    interval_ns: u128,
    total: u128,
    first: u128,
    stride: u128,
    count: usize,
}

impl Spread {
    pub fn new(
        interval: Duration,
        total: usize,
        first: usize,
        stride: usize,
        count: usize,
    ) -> Spread {
        Spread {
            interval_ns: interval.as_nanos().max(1),
            total: total.max(1) as u128,
            first: first as u128,
            stride: stride.max(1) as u128,
            count,
        }
    }

    /// All `count` machines of a fleet of that size.
    pub fn whole(interval: Duration, count: usize) -> Spread {
        Spread::new(interval, count, 0, 1, count)
    }

    /// Offset of machine `j` into each interval.
    pub fn phase(&self, j: usize) -> Duration {
        let ns = self.phase_ns(j);
        Duration::new((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
    }

    fn phase_ns(&self, j: usize) -> u128 {
        self.interval_ns * (self.first + j as u128 * self.stride) / self.total
    }

    /// Machines with phase in the half-open offset window `(lo, hi]` (within one interval).
    fn between(&self, lo: Option<u128>, hi: u128) -> Range<usize> {
        let first_after = |bound: Option<u128>| match bound {
            None => 0,
            Some(b) => partition(self.count, |j| self.phase_ns(j) <= b),
        };
        let start = first_after(lo);
        let end = partition(self.count, |j| self.phase_ns(j) <= hi);
        start..end.max(start)
    }

    /// Machines due in `(from, to]` of elapsed time when the action repeats every interval;
    /// `from = None` means "from the very start" (phase 0 included). At most one turn per
    /// machine is reported even when the window spans more than an interval. Two ranges,
    /// because the window may wrap past the end of an interval (the second is often empty).
    pub fn due_repeating(&self, from: Option<Duration>, to: Duration) -> [Range<usize>; 2] {
        let to_ns = to.as_nanos();
        let from_ns = from.map(|f| f.as_nanos());
        if let Some(f) = from_ns
            && to_ns <= f
        {
            return [0..0, 0..0];
        }
        let span = to_ns - from_ns.unwrap_or(0);
        if span >= self.interval_ns {
            return [0..self.count, 0..0];
        }
        let hi = to_ns % self.interval_ns;
        match from_ns {
            None => [self.between(None, hi), 0..0],
            Some(f) => {
                let lo = f % self.interval_ns;
                if lo < hi {
                    [self.between(Some(lo), hi), 0..0]
                } else {
                    // Wrapped past the end of an interval.
                    [
                        self.between(Some(lo), self.interval_ns),
                        self.between(None, hi),
                    ]
                }
            }
        }
    }

    /// Machines due in `(from, to]` when the action happens only once, during the first
    /// interval (a ramp-up): phases past `to` are not due yet.
    pub fn due_once(&self, from: Option<Duration>, to: Duration) -> Range<usize> {
        let hi = to.as_nanos();
        match from {
            Some(f) if f.as_nanos() >= self.interval_ns => 0..0,
            Some(f) => self.between(Some(f.as_nanos()), hi),
            None => self.between(None, hi),
        }
    }
}

/// The first index in `0..n` for which `pred` is false (`pred` true on a prefix).
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Departures at a steady rate: the k-th (k ≥ 1) at `k / per_second` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Churn {
    per_second: f64,
}

impl Churn {
    pub fn new(per_second: f64) -> Churn {
        Churn {
            per_second: per_second.max(0.0),
        }
    }

    fn count_until(&self, t: Duration) -> u64 {
        (t.as_secs_f64() * self.per_second + 1e-9).floor() as u64
    }

    /// How many departures fall in `(from, to]`.
    pub fn departures(&self, from: Duration, to: Duration) -> u64 {
        self.count_until(to).saturating_sub(self.count_until(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn count(ranges: &[Range<usize>]) -> usize {
        ranges.iter().map(|r| r.len()).sum()
    }

    #[test]
    fn every_machine_acts_exactly_once_per_interval_whatever_the_tick() {
        for tick in [1u64, 7, 20, 333] {
            let spread = Spread::whole(Duration::from_secs(30), 5000);
            let mut seen = vec![0u32; 5000];
            let mut prev = None;
            let mut t = 0;
            // Two whole intervals, [0, 60 s): turns at phase and phase + 30 s.
            while t < 59_999 {
                t = (t + tick).min(59_999);
                for r in spread.due_repeating(prev, MS(t)) {
                    for j in r {
                        seen[j] += 1;
                    }
                }
                prev = Some(MS(t));
            }
            assert!(
                seen.iter().all(|&n| n == 2),
                "tick {tick}: {:?}",
                &seen[..5]
            );
        }
    }

    #[test]
    fn actions_are_spread_evenly_not_in_bursts() {
        // 50,000 machines every 30 s: about 17 per 10 ms, never a burst.
        let spread = Spread::whole(Duration::from_secs(30), 50_000);
        let mut prev = Some(MS(0));
        let mut max = 0;
        for t in (10..=30_000).step_by(10) {
            let n = count(&spread.due_repeating(prev, MS(t)));
            max = max.max(n);
            prev = Some(MS(t));
        }
        assert!(max <= 17, "{max} in one 10 ms tick");
    }

    #[test]
    fn shards_interleave_on_the_global_phase() {
        // Two shards of a 10-machine fleet: shard 1 holds machines 1, 3, 5, 7, 9.
        let shard = Spread::new(Duration::from_secs(10), 10, 1, 2, 5);
        assert_eq!(shard.phase(0), Duration::from_secs(1));
        assert_eq!(shard.phase(4), Duration::from_secs(9));
        assert_eq!(shard.due_repeating(Some(MS(500)), MS(3500)), [0..2, 0..0]);
        // Wrapping past the end of an interval.
        assert_eq!(count(&shard.due_repeating(Some(MS(9500)), MS(11_500))), 1);
    }

    #[test]
    fn a_window_longer_than_the_interval_reports_each_machine_once() {
        let spread = Spread::whole(Duration::from_secs(1), 10);
        assert_eq!(spread.due_repeating(Some(MS(0)), MS(5000)), [0..10, 0..0]);
        assert_eq!(count(&spread.due_repeating(Some(MS(10)), MS(10))), 0);
    }

    #[test]
    fn a_ramp_lets_each_machine_join_once() {
        let ramp = Spread::whole(Duration::from_secs(2), 100);
        assert_eq!(ramp.due_once(None, MS(0)), 0..1);
        assert_eq!(ramp.due_once(Some(MS(0)), MS(1000)), 1..51);
        assert_eq!(ramp.due_once(Some(MS(1000)), MS(5000)), 51..100);
        assert_eq!(ramp.due_once(Some(MS(5000)), MS(9000)), 0..0);
    }

    #[test]
    fn churn_departures_are_evenly_spaced_at_the_rate() {
        // 1 %/min of 1,000 machines: 10 a minute, one every 6 s.
        let churn = Churn::new(1000.0 * 0.01 / 60.0);
        let mut when = Vec::new();
        for t in (0..120_000).step_by(20) {
            for _ in 0..churn.departures(MS(t), MS(t + 20)) {
                when.push(t + 20);
            }
        }
        assert_eq!(when.len(), 20);
        for pair in when.windows(2) {
            assert_eq!(pair[1] - pair[0], 6000);
        }
        assert_eq!(Churn::new(0.0).departures(MS(0), MS(1_000_000)), 0);
    }
}
