//! The at-least-once commit: stores flushed, the producer flushed and every delivery
//! checked, checkpoints written, then the consumed offsets committed with each partition's
//! time as metadata.

use super::producer::flush_producer;
use super::{kafka, ThreadState};
use crate::error::{Result, StreamsError};
use crate::runtime::kafka::{checkpoint, commit_metadata};
use crate::runtime::TaskId;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

impl ThreadState {
    /// The pending offsets, each with its partition's time and its task's processor
    /// progress as metadata (Kafka Streams' `TopicPartitionMetadata`).
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
                let time = task.and_then(|t| t.partition_time(topic).map(|time| (t, time)));
                if let (Some((task, time)), Some(mut e)) =
                    (time, tpl.find_partition(topic, *partition))
                {
                    // Every partition of the task carries its processors' progress, as in
                    // Kafka Streams: the next owner takes the highest.
                    e.set_metadata(commit_metadata::encode(time, task.processor_metadata()));
                }
            }
        }
        Ok(tpl)
    }

    /// Commits what was processed: at-least-once flushes stores, flushes the producer,
    /// checks every delivery, then commits offsets; exactly-once commits a transaction.
    pub(super) fn commit<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        if self.transactional_id.is_some() {
            return self.commit_transaction(consumer);
        }
        // Every task's caches first, then the engines: one fsync of the shared journal
        // covers them all (a flush per task would sync it once per task).
        for task in self.tasks.values_mut() {
            task.flush_caches()?;
        }
        for task in self.tasks.values_mut() {
            task.flush_stores()?;
        }
        flush_producer(&self.producer, self.flush_timeout)
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
        self.write_checkpoints();
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

    /// Writes the checkpoint of every task with persistent logged stores: the changelog
    /// offsets their stores now hold (after the stores and the producer were flushed).
    /// A task whose offsets did not move since its last checkpoint keeps that file: each
    /// write costs an fsync, and at a steady rate a table that rarely changes (ingest's
    /// customers) would pay it at every commit, while records wait.
    pub(super) fn write_checkpoints(&mut self) {
        let acked = self
            .changelog_acked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
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
            let offsets: checkpoint::Offsets = positions
                .iter()
                .map(|(t, o)| ((t.clone(), id.partition as i32), *o))
                .collect();
            if self.checkpointed.get(&id) == Some(&offsets) {
                continue;
            }
            let dir = self.task_dir(id);
            match checkpoint::write(&dir, &offsets) {
                Ok(()) => {
                    self.checkpointed.insert(id, offsets);
                }
                Err(e) => tracing::warn!(task = %id, "writing checkpoint failed: {e}"),
            }
        }
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
