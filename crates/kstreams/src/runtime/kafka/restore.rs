//! Restoring a task's stores from their changelog topics before it processes anything,
//! a step at a time from the stream thread's loop.

use super::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::runtime::{Task, TaskId};
use crate::state::{ChangelogFormat, RestoreBatch};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const REPORT_EVERY: Duration = Duration::from_secs(5);

fn kafka(context: String) -> impl FnOnce(rdkafka::error::KafkaError) -> StreamsError {
    move |source| StreamsError::Kafka {
        context,
        source: source.into(),
    }
}

/// A consumer outside the group, assigned to changelog partitions by hand.
pub(crate) fn restore_consumer(config: &StreamsConfig, thread: usize) -> Result<BaseConsumer> {
    super::clients::restore_consumer_config(config, thread)
        .create()
        .map_err(kafka("creating the restore consumer".into()))
}

/// The start and end offsets of `topic`-`partition`, asking again while the cluster answers
/// with errors (a leader moving after a broker failure answers `NOT_LEADER` until the
/// client's metadata catches up) for at most `timeout`.
pub(crate) fn watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64)> {
    let deadline = crate::time::deadline(timeout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_watermarks(topic, partition, left.max(Duration::from_millis(100))) {
            Ok(w) => return Ok(w),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!("reading end offsets of {topic}-{partition}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(StreamsError::Kafka {
                    context: format!("reading end offsets of {topic}-{partition}"),
                    source: e.into(),
                })
            }
        }
    }
}

/// One changelog partition being restored.
#[derive(Debug)]
struct Pending {
    task: TaskId,
    store: String,
    /// Where restoration started.
    start: i64,
    /// The partition's end offset when restoration began.
    end: i64,
    /// The next offset to apply.
    position: i64,
    /// Changelog records applied (tombstones included).
    applied: u64,
    started: Instant,
    /// The end was reached; records already fetched past it are still applied, then the
    /// partition is released.
    reached: bool,
    /// The layout of the changelog's records, to turn them into store writes.
    format: ChangelogFormat,
    /// Store writes not applied yet; empty between steps.
    batch: RestoreBatch,
}

impl Pending {
    /// Applies the batched writes to the store.
    fn flush(&mut self, tasks: &mut BTreeMap<TaskId, Task>) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        if let Some(task) = tasks.get_mut(&self.task) {
            task.restore_batch(&self.store, &self.batch)?;
        }
        self.batch.clear();
        Ok(())
    }
}

/// Where a finished changelog partition ended: its task, store, topic, and the next
/// offset its store holds (for the checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Restored {
    pub(crate) task: TaskId,
    pub(crate) store: String,
    pub(crate) topic: String,
    pub(crate) next_offset: i64,
}

/// Restores the changelogs of a stream thread's new tasks a step at a time, from the
/// thread's loop, with one consumer outside the group: the thread keeps polling its own
/// consumer meanwhile (so `max.poll.interval.ms` is never missed, however long a store
/// takes to restore), and keeps processing the tasks that are ready, as Kafka Streams'
/// state updater does.
///
/// A changelog partition is finished when the consumer's position passes the end offset
/// read when its restoration began. A changelog written under exactly-once ends in a commit
/// marker, one offset past its last record, which the position passes and a record never
/// reaches. Restoration fails only when it makes no progress for the stall timeout, however
/// long the whole takes.
pub(crate) struct Restorer {
    consumer: BaseConsumer,
    pending: HashMap<(String, i32), Pending>,
    stall_timeout: Duration,
    last_progress: Instant,
    last_report: Instant,
}

/// How long one step may restore before the thread goes back to its own consumer.
const STEP: Duration = Duration::from_millis(50);

/// A partition's writes are applied to its store in batches of this many records or
/// bytes, whichever comes first, and at the end of every step: large enough that a
/// store's per-write cost (fjall's journal write) is paid once per batch, small enough
/// that the buffered writes of every restoring partition stay within a few MiB.
const BATCH_RECORDS: usize = 4096;
const BATCH_BYTES: usize = 512 << 10;

impl Restorer {
    /// A restorer with its consumer.
    pub(crate) fn new(config: &StreamsConfig, thread: usize) -> Result<Restorer> {
        Ok(Restorer {
            consumer: restore_consumer(config, thread)?,
            pending: HashMap::new(),
            stall_timeout: config.startup_timeout,
            last_progress: Instant::now(),
            last_report: Instant::now(),
        })
    }

    /// The start and end offsets of a changelog partition, for deciding where to start.
    pub(crate) fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        watermarks(&self.consumer, topic, partition, self.stall_timeout)
    }

    /// Whether nothing is being restored.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether `task` still has changelogs to restore.
    pub(crate) fn is_restoring(&self, task: TaskId) -> bool {
        self.pending.values().any(|p| p.task == task)
    }

    /// Starts restoring every changelog of `task`: from `starts[topic]` (a checkpoint) or the
    /// beginning. Returns the changelogs that are already up to date.
    pub(crate) fn register(
        &mut self,
        task: &Task,
        starts: &HashMap<String, i64>,
    ) -> Result<Vec<Restored>> {
        let partition = task.id().partition as i32;
        let mut done = Vec::new();
        let mut assign = TopicPartitionList::new();
        for (store, topic) in task.changelogs() {
            let (low, high) = self.watermarks(&topic, partition)?;
            let start = starts.get(&topic).copied().unwrap_or(low).max(low);
            if high <= start {
                tracing::info!(
                    "store {store} of task {} is up to date at offset {start}",
                    task.id()
                );
                done.push(Restored {
                    task: task.id(),
                    store,
                    topic,
                    next_offset: start,
                });
                continue;
            }
            let format = task.changelog_format(&store)?;
            assign
                .add_partition_offset(&topic, partition, Offset::Offset(start))
                .map_err(kafka(format!("assigning {topic}-{partition}")))?;
            self.pending.insert(
                (topic, partition),
                Pending {
                    task: task.id(),
                    store,
                    start,
                    end: high,
                    position: start,
                    applied: 0,
                    started: Instant::now(),
                    reached: false,
                    format,
                    batch: RestoreBatch::default(),
                },
            );
        }
        if assign.count() > 0 {
            self.consumer
                .incremental_assign(&assign)
                .map_err(kafka("assigning changelog partitions".into()))?;
            self.last_progress = Instant::now();
        }
        Ok(done)
    }

    /// Stops restoring `task` (revoked, or closed for a rewind).
    pub(crate) fn remove(&mut self, task: TaskId) {
        let gone: Vec<(String, i32)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.task == task)
            .map(|(k, _)| k.clone())
            .collect();
        self.release(&gone);
        for k in gone {
            self.pending.remove(&k);
        }
    }

    fn release(&self, parts: &[(String, i32)]) {
        if parts.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (t, p) in parts {
            tpl.add_partition(t, *p);
        }
        if let Err(e) = self.consumer.incremental_unassign(&tpl) {
            tracing::warn!("releasing changelog partitions: {e}");
        }
    }

    /// Where each changelog partition being restored stands, by task and store.
    pub(crate) fn progress(
        &self,
    ) -> impl Iterator<
        Item = (
            TaskId,
            &str,
            crate::runtime::kafka::introspect::RestoreProgress,
        ),
    > {
        self.pending.iter().map(|((topic, partition), p)| {
            (
                p.task,
                p.store.as_str(),
                crate::runtime::kafka::introspect::RestoreProgress {
                    topic: topic.clone(),
                    partition: *partition,
                    start_offset: p.start,
                    end_offset: p.end,
                    position: p.position,
                    restored: p.applied,
                },
            )
        })
    }

    /// Restores for at most [`STEP`], applying records to their tasks in `tasks`. Returns
    /// the changelog partitions it finished, and the records it applied.
    pub(crate) fn step(
        &mut self,
        tasks: &mut BTreeMap<TaskId, Task>,
    ) -> Result<(Vec<Restored>, u64)> {
        if self.pending.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let applied_before: u64 = self.pending.values().map(|p| p.applied).sum();
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline && self.pending.values().any(|p| !p.reached) {
            match self.consumer.poll(Duration::from_millis(10)) {
                Some(Ok(m)) => apply(&mut self.pending, &mut self.last_progress, tasks, &m)?,
                Some(Err(e)) => tracing::warn!("restore consumer: {e}"),
                None => {
                    // Markers and aborted records move the position without a record.
                    self.check_positions();
                    break;
                }
            }
        }
        self.check_positions();
        // Records already fetched past a reached end are newer writes: still the latest
        // state. A broker that reports a partition's end at its last batch's start (Tansu
        // 0.6) would otherwise cut that batch short.
        if self.pending.values().any(|p| p.reached) {
            // Within the step's time: the fetcher keeps the other partitions' queues full.
            while Instant::now() < deadline {
                let Some(Ok(m)) = self.consumer.poll(Duration::ZERO) else {
                    break;
                };
                apply(&mut self.pending, &mut self.last_progress, tasks, &m)?;
            }
        }
        for p in self.pending.values_mut() {
            p.flush(tasks)?;
        }
        let applied_now: u64 = self.pending.values().map(|p| p.applied).sum();
        let applied = applied_now - applied_before;
        let finished: Vec<(String, i32)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.reached)
            .map(|(k, _)| k.clone())
            .collect();
        self.release(&finished);
        let mut out = Vec::new();
        for (topic, partition) in finished {
            if let Some(p) = self.pending.remove(&(topic.clone(), partition)) {
                let took = p.started.elapsed();
                tracing::info!(
                    "restored store {} of task {} from {topic}: {} records from offset {} in {:.2} s",
                    p.store,
                    p.task,
                    p.applied,
                    p.start,
                    took.as_secs_f64()
                );
                out.push(Restored {
                    task: p.task,
                    store: p.store,
                    topic,
                    next_offset: p.position,
                });
            }
        }
        if !self.pending.is_empty() && self.last_progress.elapsed() > self.stall_timeout {
            let (k, p) = self
                .pending
                .iter()
                .next()
                .map(|(k, p)| (k.clone(), (p.position, p.end)))
                .unwrap_or_default();
            return Err(StreamsError::InvalidState(format!(
                "restoring {}-{} stalled at offset {} of {}: no progress for {:?}",
                k.0, k.1, p.0, p.1, self.stall_timeout
            )));
        }
        if self.last_report.elapsed() >= REPORT_EVERY {
            for ((topic, partition), p) in &self.pending {
                tracing::info!(
                    "restoring store {} of task {} from {topic}-{partition}: {} of {} records",
                    p.store,
                    p.task,
                    p.position - p.start,
                    p.end - p.start
                );
            }
            self.last_report = Instant::now();
        }
        Ok((out, applied))
    }

    fn check_positions(&mut self) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        for ((topic, partition), p) in self.pending.iter_mut() {
            if let Some(Offset::Offset(o)) = positions
                .find_partition(topic, *partition)
                .map(|e| e.offset())
            {
                if o > p.position {
                    p.position = o;
                    self.last_progress = Instant::now();
                }
            }
            p.reached |= p.position >= p.end;
        }
    }
}

/// Applies one changelog record to the store it restores.
fn apply(
    pending: &mut HashMap<(String, i32), Pending>,
    last_progress: &mut Instant,
    tasks: &mut BTreeMap<TaskId, Task>,
    m: &rdkafka::message::BorrowedMessage<'_>,
) -> Result<()> {
    let Some(p) = pending.get_mut(&(m.topic().to_string(), m.partition())) else {
        // A partition released in this step: what is left of it is not needed.
        return Ok(());
    };
    if let Some(k) = m.key() {
        let ts = m.timestamp().to_millis().unwrap_or(-1);
        p.format
            .restore_into(&p.store, k, m.payload(), ts, &mut p.batch)?;
        if p.batch.len() >= BATCH_RECORDS || p.batch.bytes() >= BATCH_BYTES {
            p.flush(tasks)?;
        }
    }
    p.applied += 1;
    p.position = p.position.max(m.offset() + 1);
    p.reached |= p.position >= p.end;
    *last_progress = Instant::now();
    Ok(())
}
