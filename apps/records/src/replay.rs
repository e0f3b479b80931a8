//! `records replay`: a new detector started on the history. It runs as a new application
//! (so a new consumer group, which starts at the earliest offset), reads every enriched
//! record the platform keeps, catches up, then follows the live stream: one consumer from
//! the first record to the last, so the hand-over from history to live has neither a gap
//! nor a record read twice. Its alerts go to [`OUTPUT`], not to `alerts`: customers are
//! not notified about their history.
//!
//! It prints the catch-up rate: records of history per second of wall time, from start
//! (start-up included) and from the first record processed.

use crate::detectors;
use crate::roles::{self, RoleSettings};
use crate::topics;
use kstreams::runtime::kafka::{Admin, NewTopic};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use std::time::{Duration, Instant};

/// Where a replay's alerts go.
pub const OUTPUT: &str = "alerts-replay";

/// What the replay measured.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Enriched records on the broker when the replay started.
    pub history: u64,
    /// Records of history the catch-up was measured over (`history`, or fewer when
    /// asked).
    pub measured: u64,
    /// From start to the first record processed (the group join, the topic checks).
    pub startup: Duration,
    /// From start until `measured` records were processed.
    pub catch_up: Duration,
    /// Records processed after the history, while following the live stream.
    pub live: u64,
    /// Alerts raised over history and live stream.
    pub alerts: u64,
}

impl ReplayReport {
    /// Records of history per second, start-up included.
    pub fn rate(&self) -> f64 {
        self.measured as f64 / self.catch_up.as_secs_f64().max(1e-9)
    }

    /// Records of history per second from the first record processed.
    pub fn processing_rate(&self) -> f64 {
        let secs = self.catch_up.saturating_sub(self.startup).as_secs_f64();
        self.measured as f64 / secs.max(1e-9)
    }
}

/// Records in `topic` now, over every partition (what retention still keeps).
fn records_in(bootstrap: &str, topic: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    Ok(crate::procs::watermarks(&consumer, topic)?
        .into_iter()
        .map(|(_, low, high)| (high - low).max(0) as u64)
        .sum())
}

/// A replay running: detector `name` as a new application, with the history it started on.
pub struct Replay {
    name: String,
    running: roles::Running,
    started: Instant,
    history: u64,
}

impl Replay {
    /// Starts detector `name` as a new application on the history.
    pub fn start(
        settings: &RoleSettings,
        admin: &Admin,
        name: &str,
    ) -> Result<Replay, Box<dyn std::error::Error>> {
        let d = detectors::by_name(name).ok_or_else(|| format!("no detector {name:?}"))?;
        admin.create_topics(&[NewTopic::new(OUTPUT, settings.partitions)
            .config("compression.type", topics::COMPRESSION)])?;
        let history = records_in(&settings.bootstrap, topics::ENRICHED)?;
        let application_id = topics::unique(&format!("records-replay-{name}"));
        let started = Instant::now();
        let running = roles::detector_as(settings, admin, d.as_ref(), &application_id, OUTPUT)?;
        Ok(Replay {
            name: name.to_string(),
            running,
            started,
            history,
        })
    }

    /// Records processed so far, history and live.
    pub fn processed(&self) -> u64 {
        self.running.streams.processed()
    }

    /// Waits until `target` records are processed (or the replay fails, or `timeout`
    /// passes), printing progress every 10 s; returns when the first record was processed
    /// and when the target was reached, both from start.
    fn await_processed(
        &self,
        target: u64,
        timeout: Duration,
    ) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
        let mut first = None;
        let mut last_report = Instant::now();
        loop {
            let processed = self.processed();
            if processed > 0 && first.is_none() {
                first = Some(self.started.elapsed());
            }
            if processed >= target {
                let at = self.started.elapsed();
                return Ok((first.unwrap_or(at), at));
            }
            if self.running.streams.state() == kstreams::runtime::kafka::State::Error {
                return Err(format!("the replay of {} failed", self.name).into());
            }
            if self.started.elapsed() > timeout {
                return Err(format!(
                    "the replay of {} processed {processed} of {target} records in {timeout:?}",
                    self.name
                )
                .into());
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                eprintln!(
                    "{:>6.0} s: {processed} of {target} records",
                    self.started.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the replay has caught up with at most `limit` records of the history
    /// (all of it when `None`) and measures how long that took.
    pub fn await_history(
        &self,
        limit: Option<u64>,
        timeout: Duration,
    ) -> Result<ReplayReport, Box<dyn std::error::Error>> {
        let measured = limit.map_or(self.history, |l| l.min(self.history));
        let (startup, catch_up) = self.await_processed(measured, timeout)?;
        Ok(ReplayReport {
            history: self.history,
            measured,
            startup,
            catch_up,
            live: self.processed().saturating_sub(self.history),
            alerts: self.running.counter("alerts"),
        })
    }

    /// Waits until `total` records, history and live, are processed.
    pub fn await_total(
        &self,
        total: u64,
        timeout: Duration,
    ) -> Result<(), Box<dyn std::error::Error>> {
        self.await_processed(total, timeout).map(|_| ())
    }

    /// Stops it (final commit) and returns the records it processed after the history, and
    /// its alerts.
    pub fn stop(self) -> (u64, u64) {
        let live = self.processed().saturating_sub(self.history);
        let alerts = self.running.counter("alerts");
        self.running.stop();
        (live, alerts)
    }
}

/// Prints a report.
pub fn print(name: &str, r: &ReplayReport) {
    println!(
        "replay of {name}: {} of {} records of history in {:.1} s ({:.1} s to the first record): {:.0} records/s, {:.0} records/s from the first record",
        r.measured,
        r.history,
        r.catch_up.as_secs_f64(),
        r.startup.as_secs_f64(),
        r.rate(),
        r.processing_rate()
    );
}
