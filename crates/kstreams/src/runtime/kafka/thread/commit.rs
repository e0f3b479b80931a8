//! The at-least-once commit: record caches written down, the producer flushed and every
//! delivery checked, the checkpoints that are due written, then the consumed offsets
//! committed with each partition's time as metadata.

use super::{kafka, ThreadState, FLUSH_TIMEOUT};
use crate::error::{Result, StreamsError};
use crate::runtime::kafka::{checkpoint, commit_metadata};
use crate::runtime::TaskId;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

/// When [`ThreadState::write_checkpoints`] writes a task's checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checkpoint {
    /// Once its changelogs moved `checkpoint_after_records` past the last one (a commit).
    IfDue,
    /// Always (a revocation, a clean close).
    Now,
}

impl ThreadState {
    /// The pending offsets, each with its partition's time as metadata (Kafka Streams'
    /// `TopicPartitionMetadata`).
    pub(super) fn offsets_to_commit(&self) -> Result<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        for (topic, parts) in &self.offsets {
            for (partition, offset) in parts {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                    .map_err(kafka("building the commit"))?;
                let task = self
                    .topic_sub
                    .get(topic)
                    .and_then(|&sub| self.tasks.get(&TaskId::new(sub, *partition as u32)));
                let time = task.and_then(|t| t.partition_time(topic));
                if let (Some(time), Some(mut e)) = (time, tpl.find_partition(topic, *partition)) {
                    e.set_metadata(commit_metadata::encode(time));
                }
            }
        }
        Ok(tpl)
    }

    /// Commits what was processed: at-least-once writes the record caches down, flushes
    /// the producer, checks every delivery, writes the checkpoints that are due, then
    /// commits offsets; exactly-once commits a transaction.
    pub(super) fn commit<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        if self.transactional_id.is_some() {
            return self.commit_transaction(consumer);
        }
        for task in self.tasks.values_mut() {
            task.flush_caches()?;
        }
        self.producer
            .flush(FLUSH_TIMEOUT)
            .map_err(kafka("flushing the producer before commit"))?;
        let failed = self
            .delivery_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(what) = failed {
            // Outputs of records before these offsets were lost: committing would lose
            // them for good, so the thread stops and its partitions are reprocessed.
            return Err(StreamsError::Send {
                topic: "(producer)".into(),
                reason: what,
            });
        }
        self.write_checkpoints(Checkpoint::IfDue)?;
        self.publish_metrics();
        if self.offsets.is_empty() {
            return Ok(());
        }
        let tpl = self.offsets_to_commit()?;
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                self.offsets_committed();
                Ok(())
            }
            Err(e) => {
                // Not fatal: the offsets stay pending and go with the next commit. If the
                // partitions move first, their new owner repeats the work (at-least-once).
                tracing::warn!(thread = self.index, "commit failed, will retry: {e}");
                Ok(())
            }
        }
    }

    /// Writes the checkpoint of every task with persistent logged stores whose changelogs
    /// moved `checkpoint_after_records` past its last one, or of every such task with
    /// [`Checkpoint::Now`]: the changelog offsets its stores hold once the producer was
    /// flushed. Each task's stores are made durable first (an fsync), so a checkpoint never
    /// claims what a crash could lose; that fsync is why it is not done on every commit,
    /// as in Kafka Streams.
    pub(super) fn write_checkpoints(&mut self, when: Checkpoint) -> Result<()> {
        let acked = self
            .changelog_acked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let threshold = i64::try_from(self.config.checkpoint_after_records).unwrap_or(i64::MAX);
        let ids: Vec<TaskId> = self.positions.keys().copied().collect();
        for id in ids {
            let Some(positions) = self.positions.get_mut(&id) else {
                continue;
            };
            for (topic, next) in positions.iter_mut() {
                if let Some(&last) = acked.get(topic).and_then(|p| p.get(&(id.partition as i32))) {
                    *next = (*next).max(last + 1);
                }
            }
            let sum: i64 = positions.values().sum();
            let due = match (when, self.checkpointed.get(&id)) {
                (Checkpoint::IfDue, Some(&last)) => sum - last >= threshold,
                _ => true,
            };
            if !due {
                continue;
            }
            let offsets: checkpoint::Offsets = positions
                .iter()
                .map(|(t, o)| ((t.clone(), id.partition as i32), *o))
                .collect();
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            task.flush()?;
            let dir = self.task_dir(id);
            match checkpoint::write(&dir, &offsets) {
                Ok(()) => {
                    self.checkpointed.insert(id, sum);
                }
                Err(e) => tracing::warn!(task = %id, "writing checkpoint failed: {e}"),
            }
        }
        Ok(())
    }

    /// Copies the tasks' counters where `KafkaStreams::metrics` reads them.
    pub(super) fn publish_metrics(&self) {
        let mut all = self
            .shared
            .task_metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (id, task) in &self.tasks {
            all.insert(*id, task.metrics().clone());
        }
    }
}
