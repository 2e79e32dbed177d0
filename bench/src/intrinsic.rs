//! `intrinsic-latency`: this machine's own latency floor, with no server
//! and no network (the question `redis-cli --intrinsic-latency` answers).
//! A latency figure from any server on a box can be no better than how late
//! the box lets a ready thread run, so this is the yardstick for the
//! latency scenarios. It never opens a socket.
//!
//! Two probes, one after the other, on one thread:
//! - timer: a tick is due every millisecond (as if a message arrived each
//!   millisecond); each tick's lateness is measured from its due time, so
//!   a stall makes every tick that fell due during it late, as it would
//!   make every message arriving during it late;
//! - spin: the thread never sleeps and reads the clock in a loop; a gap
//!   between two reads is time the thread wanted the CPU and did not get it.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;

use crate::client;
use crate::report::{LatencyUs, aligned};

/// Gaps at least this long count as the thread being kept off the CPU.
const GAP_FLOOR: Duration = Duration::from_micros(100);

/// What the two probes measured.
#[derive(Debug, Clone, Serialize)]
pub struct IntrinsicReport {
    pub seconds_per_probe: f64,
    /// Lateness of 1 ms timer ticks, in microseconds.
    pub timer_lateness_us: LatencyUs,
    /// Ticks that ran more than 1 ms after their due time.
    pub timer_ticks_over_1ms: u64,
    pub spin_longest_gap_us: u64,
    pub spin_gaps_over_100us: u64,
    pub spin_gaps_over_1ms: u64,
    /// Share of the spin probe's time lost in gaps of 100 µs or more.
    pub spin_time_lost: f64,
}

/// Runs both probes for `seconds` each and prints the report.
pub fn run(seconds: f64, json: bool) -> anyhow::Result<()> {
    if !(seconds > 0.0 && seconds <= 3600.0) {
        bail!("--seconds must be more than 0 and at most 3600, got {seconds}");
    }
    let probe = Duration::from_secs_f64(seconds);
    let report = measure(probe);
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// Runs the timer probe, then the spin probe, each for `probe`.
pub fn measure(probe: Duration) -> IntrinsicReport {
    let (timer, over) = timer_probe(probe);
    let spin = spin_probe(probe);
    IntrinsicReport {
        seconds_per_probe: probe.as_secs_f64(),
        timer_lateness_us: timer,
        timer_ticks_over_1ms: over,
        spin_longest_gap_us: micros(spin.longest),
        spin_gaps_over_100us: spin.over_floor,
        spin_gaps_over_1ms: spin.over_1ms,
        spin_time_lost: spin.lost.as_secs_f64() / spin.elapsed.as_secs_f64().max(f64::EPSILON),
    }
}

/// One tick per millisecond for `probe`; returns the lateness percentiles
/// and how many ticks were over 1 ms late.
fn timer_probe(probe: Duration) -> (LatencyUs, u64) {
    const TICK: Duration = Duration::from_millis(1);
    let mut lateness = client::histogram();
    let mut over = 0;
    let start = Instant::now();
    let mut due = start + TICK;
    while due <= start + probe {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let late = Instant::now().saturating_duration_since(due);
        if late > TICK {
            over += 1;
        }
        // The histogram's floor is 1 µs; recording cannot fail above it.
        let _ = lateness.record(micros(late).max(1));
        due += TICK;
    }
    (LatencyUs::of(&lateness), over)
}

/// What the spin probe saw.
#[derive(Debug, Default)]
struct Gaps {
    elapsed: Duration,
    longest: Duration,
    over_floor: u64,
    over_1ms: u64,
    lost: Duration,
}

impl Gaps {
    fn add(&mut self, gap: Duration) {
        self.longest = self.longest.max(gap);
        if gap >= GAP_FLOOR {
            self.over_floor += 1;
            self.lost += gap;
        }
        if gap > Duration::from_millis(1) {
            self.over_1ms += 1;
        }
    }
}

/// Reads the clock in a loop for `probe` and collects the gaps.
fn spin_probe(probe: Duration) -> Gaps {
    let mut gaps = Gaps::default();
    let start = Instant::now();
    let mut previous = start;
    loop {
        let now = Instant::now();
        gaps.add(now - previous);
        previous = now;
        if now - start >= probe {
            gaps.elapsed = now - start;
            return gaps;
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The human table.
fn table(r: &IntrinsicReport) -> String {
    let t = &r.timer_lateness_us;
    aligned(&[
        ("probe length", format!("{:.1} s each", r.seconds_per_probe)),
        (
            "1 ms timer lateness p50 / p99 / p99.9 / max",
            format!("{} / {} / {} / {} us", t.p50, t.p99, t.p999, t.max),
        ),
        (
            "ticks over 1 ms late",
            format!("{} of {}", r.timer_ticks_over_1ms, t.samples),
        ),
        ("spin: longest gap", format!("{} us", r.spin_longest_gap_us)),
        (
            "spin: gaps over 100 us / over 1 ms",
            format!("{} / {}", r.spin_gaps_over_100us, r.spin_gaps_over_1ms),
        ),
        (
            "spin: time lost in gaps",
            format!("{:.3}%", r.spin_time_lost * 100.0),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_only_what_reaches_each_threshold() {
        let mut g = Gaps::default();
        for us in [5, 99, 100, 250, 1000, 1001, 4000] {
            g.add(Duration::from_micros(us));
        }
        assert_eq!(g.longest, Duration::from_micros(4000));
        assert_eq!(g.over_floor, 5);
        assert_eq!(g.over_1ms, 2);
        assert_eq!(
            g.lost,
            Duration::from_micros(100 + 250 + 1000 + 1001 + 4000)
        );
    }

    #[test]
    fn a_short_run_takes_one_sample_per_tick_and_stays_consistent() {
        let r = measure(Duration::from_millis(30));
        assert_eq!(r.timer_lateness_us.samples, 30);
        assert!(r.timer_ticks_over_1ms <= 30);
        assert!(r.spin_gaps_over_1ms <= r.spin_gaps_over_100us);
        assert!((0.0..=1.0).contains(&r.spin_time_lost));
    }

    #[test]
    fn seconds_out_of_range_are_refused() {
        assert!(run(0.0, true).is_err());
        assert!(run(f64::NAN, true).is_err());
        assert!(run(3601.0, true).is_err());
    }
}
