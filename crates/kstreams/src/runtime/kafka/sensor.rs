//! Windowed measurements, as Kafka's metric sensors keep them: a total since start, and
//! the rate, average and maximum over the last two 30-second samples.

use std::time::{Duration, Instant};

/// Kafka's `metrics.sample.window.ms` default.
const SAMPLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
struct Sample {
    start: Instant,
    events: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    fn new(start: Instant) -> Self {
        Sample {
            start,
            events: 0,
            sum: 0.0,
            max: 0.0,
        }
    }
}

/// One measured quantity: how many events, and a value per event (a latency, a batch
/// size), windowed over the last two samples (Kafka's `metrics.num.samples` default).
#[derive(Debug, Clone)]
pub(crate) struct Sensor {
    events_total: u64,
    sum_total: f64,
    samples: [Sample; 2],
    /// Index of the current sample.
    current: usize,
}

/// What a sensor (a rate and a total of one metric) reads at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Reading {
    /// Events since start (`*-total`).
    pub total: u64,
    /// Events per second over the window (`*-rate`).
    pub rate: f64,
    /// Average value per event over the window (`*-avg`); 0 without events.
    pub avg: f64,
    /// Largest value over the window (`*-max`); 0 without events.
    pub max: f64,
    /// Sum of the values over the window, for ratios between sensors.
    #[serde(skip)]
    pub(crate) window_sum: f64,
}

impl Sensor {
    pub(crate) fn new(now: Instant) -> Self {
        Sensor {
            events_total: 0,
            sum_total: 0.0,
            samples: [Sample::new(now), Sample::new(now)],
            current: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.samples[self.current].start) >= SAMPLE {
            self.current = 1 - self.current;
            self.samples[self.current] = Sample::new(now);
        }
    }

    /// Records `events` events whose values sum to `sum`, the largest being `max`.
    pub(crate) fn record(&mut self, events: u64, sum: f64, max: f64, now: Instant) {
        self.roll(now);
        self.events_total += events;
        self.sum_total += sum;
        let s = &mut self.samples[self.current];
        s.events += events;
        s.sum += sum;
        s.max = s.max.max(max);
    }

    /// The total and the windowed rate, average and maximum. Samples older than the
    /// window count for nothing; as in Kafka's `Rate`, the elapsed time is at least one
    /// full sample, so a rate is not inflated right after start.
    pub(crate) fn read(&self, now: Instant) -> Reading {
        let live: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| now.duration_since(s.start) < SAMPLE * 2)
            .collect();
        let events: u64 = live.iter().map(|s| s.events).sum();
        // Folded from +0.0: an empty float sum is -0.0, which would print as such.
        let sum = live.iter().fold(0.0, |acc, s| acc + s.sum);
        let max = live.iter().map(|s| s.max).fold(0.0, f64::max);
        let oldest = live.iter().map(|s| s.start).min().unwrap_or(now);
        let elapsed = now.duration_since(oldest).max(SAMPLE).as_secs_f64();
        Reading {
            total: self.events_total,
            rate: events as f64 / elapsed,
            avg: if events == 0 {
                0.0
            } else {
                sum / events as f64
            },
            max,
            window_sum: sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_average_and_maximum_cover_the_last_two_samples() {
        let t0 = Instant::now();
        let mut s = Sensor::new(t0);
        s.record(10, 50.0, 9.0, t0);
        s.record(20, 40.0, 3.0, t0 + Duration::from_secs(31));
        let r = s.read(t0 + Duration::from_secs(40));
        assert_eq!(r.total, 30);
        assert!((r.rate - 30.0 / 40.0).abs() < 1e-9, "{r:?}");
        assert!((r.avg - 3.0).abs() < 1e-9, "{r:?}");
        assert_eq!(r.max, 9.0);
        // The first sample has left the window; the total has not.
        s.record(1, 1.0, 1.0, t0 + Duration::from_secs(62));
        let r = s.read(t0 + Duration::from_secs(65));
        assert_eq!(r.total, 31);
        assert_eq!(r.max, 3.0);
        assert!((r.avg - 41.0 / 21.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn a_young_sensor_divides_by_a_full_sample() {
        let t0 = Instant::now();
        let mut s = Sensor::new(t0);
        s.record(30, 0.0, 0.0, t0 + Duration::from_secs(1));
        let r = s.read(t0 + Duration::from_secs(2));
        assert!((r.rate - 1.0).abs() < 1e-9, "{r:?}");
        let idle = Sensor::new(t0).read(t0 + Duration::from_secs(500));
        assert_eq!(
            (idle.total, idle.rate, idle.avg, idle.max),
            (0, 0.0, 0.0, 0.0)
        );
    }
}
