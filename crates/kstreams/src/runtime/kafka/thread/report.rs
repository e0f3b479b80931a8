//! What a stream thread tells about itself: its loop's measurements, and where each of
//! its tasks stands. The loop times its phases every turn and publishes a
//! [`ThreadMetadata`] about once a second, so reading it never waits on the thread.

use super::poll_loop::{cached_watermarks, fetch_positions};
use super::ThreadState;
use crate::runtime::kafka::introspect::{
    PartitionMetadata, ProcessorMetrics, RestoreProgress, StoreMetadata, TaskMetadata,
    ThreadMetadata, ThreadMetrics,
};
use crate::runtime::kafka::sensor::Sensor;
use crate::runtime::kafka::ThreadPhase;
use crate::runtime::TaskId;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a thread publishes its metadata.
pub(super) const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The time one turn of the loop spent in each phase.
#[derive(Debug, Default)]
pub(super) struct Turn {
    pub(super) poll: Duration,
    pub(super) polled: u64,
    pub(super) process: Duration,
    pub(super) processed: u64,
    pub(super) punctuate: Option<Duration>,
    pub(super) commit: Option<Duration>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The sensors of a thread's loop.
pub(super) struct LoopSensors {
    poll: Sensor,
    poll_records: Sensor,
    process: Sensor,
    punctuate: Sensor,
    commit: Sensor,
    /// Whole turns, whose time the ratios divide.
    turn: Sensor,
    turn_started: Instant,
    pub(super) last_report: Instant,
}

impl LoopSensors {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        LoopSensors {
            poll: Sensor::new(now),
            poll_records: Sensor::new(now),
            process: Sensor::new(now),
            punctuate: Sensor::new(now),
            commit: Sensor::new(now),
            turn: Sensor::new(now),
            turn_started: now,
            last_report: now,
        }
    }

    /// Records a finished turn; the next starts now.
    pub(super) fn record(&mut self, t: &Turn) {
        let now = Instant::now();
        let took = ms(now.duration_since(self.turn_started));
        self.turn_started = now;
        self.turn.record(1, took, took, now);
        self.poll.record(1, ms(t.poll), ms(t.poll), now);
        let polled = t.polled as f64;
        self.poll_records.record(1, polled, polled, now);
        if t.processed > 0 {
            // Kafka's thread `process-latency` is per record; its max is the worst turn's
            // average, since records are not timed one by one.
            let per_record = ms(t.process) / t.processed as f64;
            self.process
                .record(t.processed, ms(t.process), per_record, now);
        }
        if let Some(d) = t.punctuate {
            self.punctuate.record(1, ms(d), ms(d), now);
        }
        if let Some(d) = t.commit {
            self.commit.record(1, ms(d), ms(d), now);
        }
    }

    fn read(&self, created: u64, closed: u64) -> ThreadMetrics {
        let now = Instant::now();
        let turn = self.turn.read(now).window_sum;
        let ratio = |s: &Sensor| {
            if turn > 0.0 {
                (s.read(now).window_sum / turn).min(1.0)
            } else {
                0.0
            }
        };
        ThreadMetrics {
            poll: self.poll.read(now),
            poll_records: self.poll_records.read(now),
            process: self.process.read(now),
            commit: self.commit.read(now),
            punctuate: self.punctuate.read(now),
            poll_ratio: ratio(&self.poll),
            process_ratio: ratio(&self.process),
            commit_ratio: ratio(&self.commit),
            punctuate_ratio: ratio(&self.punctuate),
            task_created_total: created,
            task_closed_total: closed,
        }
    }
}

impl ThreadState {
    /// This thread as it stands: tasks, their partitions' offsets and lag, stores and
    /// restoration, and the loop's measurements.
    pub(super) fn report<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        sensors: &LoopSensors,
    ) -> ThreadMetadata {
        let positions = fetch_positions(consumer);
        let mut restores: HashMap<(TaskId, &str), RestoreProgress> = HashMap::new();
        if let Some(r) = &self.restorer {
            for (task, store, progress) in r.progress() {
                restores.insert((task, store), progress);
            }
        }
        let app = &self.config.application_id;
        let tasks = self
            .tasks
            .iter()
            .map(|(id, t)| (id, t, false))
            .chain(self.restoring.iter().map(|(id, t)| (id, t, true)));
        let active_tasks = tasks
            .map(|(id, task, restoring)| {
                let partitions = self
                    .topology
                    .source_topics(id.subtopology, app)
                    .into_iter()
                    .map(|topic| {
                        let partition = id.partition as i32;
                        let key = (topic, partition);
                        let position = positions.get(&key).copied();
                        let committed_offset = self.start_offsets.get(&key).copied();
                        let watermarks = cached_watermarks(consumer, &key.0, partition);
                        let end_offset = watermarks.map(|(_, high)| high);
                        // Where consumption stands: after the last record polled, else
                        // where it restarts, else (nothing committed) the log's start.
                        let at = position
                            .or(committed_offset)
                            .or(watermarks.map(|(low, _)| low));
                        let lag = end_offset.zip(at).map(|(end, at)| (end - at).max(0));
                        PartitionMetadata {
                            partition_time: task.partition_time(&key.0),
                            topic: key.0,
                            partition,
                            committed_offset,
                            position,
                            end_offset,
                            lag,
                        }
                    })
                    .collect();
                let stores = task
                    .stores()
                    .map(|h| StoreMetadata {
                        name: h.name().to_string(),
                        changelog: h.changelog_topic().map(str::to_string),
                        approximate_num_entries: None,
                        restore: restores.get(&(*id, h.name())).cloned(),
                        operations: h.operations(),
                    })
                    .collect();
                TaskMetadata {
                    task_id: id.to_string(),
                    restoring,
                    stream_time: Some(task.stream_time()).filter(|&t| t > i64::MIN),
                    partitions,
                    stores,
                    metrics: task.metrics().clone(),
                    processors: task
                        .processor_counts()
                        .map(|(name, n)| ProcessorMetrics {
                            processor_node_id: name.to_string(),
                            process_total: n,
                        })
                        .collect(),
                }
            })
            .collect();
        ThreadMetadata {
            thread_name: format!("{app}-StreamThread-{}", self.index),
            // The client's view of the thread's phase replaces this when it is read.
            thread_state: if self.restoring.is_empty() {
                ThreadPhase::Running.name()
            } else {
                ThreadPhase::Rebalancing.name()
            },
            active_tasks,
            metrics: sensors.read(self.tasks_created, self.tasks_closed),
        }
    }
}
