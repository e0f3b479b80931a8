//! Restoration: a new task's stores are rebuilt from their changelog topics before it
//! processes anything. A task is created in the rebalance callback, but restored from the
//! thread's loop a step at a time ([`Restorer`]), with its input partitions paused: the
//! thread keeps polling (a long restore never misses `max.poll.interval.ms`) and keeps
//! processing its tasks that are ready.

use super::producer::ProducerCollector;
use super::{describe, ThreadState};
use crate::error::Result;
use crate::runtime::kafka::restore::{Restored, Restorer};
use crate::runtime::kafka::{checkpoint, ThreadPhase};
use crate::runtime::{Task, TaskConfig, TaskId};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::TopicPartitionList;
use std::collections::HashMap;

impl ThreadState {
    /// The thread's restorer, created on first need.
    fn restorer(&mut self) -> Result<&mut Restorer> {
        if self.restorer.is_none() {
            self.restorer = Some(Restorer::new(&self.config, self.index)?);
        }
        self.restorer
            .as_mut()
            .ok_or_else(|| crate::error::StreamsError::InvalidState("no restorer".into()))
    }

    /// Creates task `id` and starts restoring its stores: persistent ones from their
    /// checkpoint, the others, and those whose checkpoint is missing, unreadable or beyond
    /// the changelog's end (stale: the changelog was recreated or truncated), from the
    /// beginning, wiped first. The task resumes the times it was committed with, then goes
    /// to `tasks` at once, its processors initialized, when nothing is to restore, else to
    /// `restoring` (initialized in [`restore_step`](Self::restore_step)): as in Kafka
    /// Streams, a processor's `init` sees its stores restored.
    pub(super) fn create_and_restore(
        &mut self,
        id: TaskId,
        config: &TaskConfig,
        collector: ProducerCollector,
        committed: Option<&TopicPartitionList>,
    ) -> Result<()> {
        let app = self.config.application_id.clone();
        let partition = id.partition as i32;
        // The checkpoint file may be removed below: the next commit writes it again.
        self.checkpointed.remove(&id);
        let durable: Vec<String> = self
            .topology
            .stores_of(id.subtopology)
            .into_iter()
            .filter(|s| s.persistent && s.logged)
            .map(|s| s.name)
            .collect();
        let mut starts = HashMap::new();
        if !durable.is_empty() {
            let dir = self.task_dir(id);
            let checkpoint = match checkpoint::read(&dir) {
                Ok(c) => c,
                Err(checkpoint::CheckpointError::Missing) => checkpoint::Offsets::new(),
                Err(e) => {
                    tracing::warn!(task = %id, "{e}; restoring in full");
                    checkpoint::remove(&dir);
                    checkpoint::Offsets::new()
                }
            };
            if self.transactional_id.is_some() {
                // Under exactly-once the stores may take writes of a transaction that
                // later aborts, so a checkpoint is valid only until processing starts: a
                // crash from here on restores in full. A clean close writes a new one.
                checkpoint::remove(&dir);
            }
            for store in &durable {
                let topic = crate::topology::changelog_topic(&app, store);
                let mut start = checkpoint.get(&(topic.clone(), partition)).copied();
                if let Some(offset) = start {
                    let (_, end) = self.restorer()?.watermarks(&topic, partition)?;
                    if offset > end {
                        tracing::warn!(
                            task = %id,
                            "the checkpoint of store {store} is at offset {offset}, beyond the end of \
                             {topic}-{partition} ({end}): the store is stale; restoring it in full"
                        );
                        start = None;
                    }
                }
                match start {
                    Some(offset) => {
                        starts.insert(topic, offset);
                    }
                    None => {
                        if let Some(db) = &self.database {
                            tracing::info!(task = %id, "no checkpoint for store {store}: wiping it for a full restore");
                            db.wipe_store(id, store)?;
                        }
                    }
                }
            }
        }
        let mut task = Task::new(&self.topology, id, config, Box::new(collector))?;
        self.resume_committed(&mut task, committed);
        let done = if task.changelogs().is_empty() {
            Vec::new()
        } else {
            self.restorer()?.register(&task, &starts)?
        };
        self.record_restored(&durable, done);
        let restoring = self.restorer.as_ref().is_some_and(|r| r.is_restoring(id));
        if restoring {
            self.restoring.insert(id, task);
        } else {
            task.initialize()?;
            self.ready(task);
        }
        Ok(())
    }

    /// Keeps the positions of finished durable changelogs, for the checkpoint.
    fn record_restored(&mut self, durable: &[String], done: Vec<Restored>) {
        let app = &self.config.application_id;
        for r in done {
            if durable
                .iter()
                .any(|s| crate::topology::changelog_topic(app, s) == r.topic)
            {
                self.positions
                    .entry(r.task)
                    .or_default()
                    .insert(r.topic, r.next_offset);
            }
        }
    }

    /// A restored task starts processing: its stores become queryable.
    fn ready(&mut self, task: Task) {
        let id = task.id();
        self.shared
            .publish_stores(id, task.stores().cloned().collect());
        self.tasks.insert(id, task);
    }

    /// The input partitions of `id`, of its subtopology's source topics.
    pub(super) fn partitions_of(&self, id: TaskId) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (topic, &sub) in &self.topic_sub {
            if sub == id.subtopology {
                tpl.add_partition(topic, id.partition as i32);
            }
        }
        tpl
    }

    /// Whether records of `topic`-`partition` belong to a task still restoring.
    pub(super) fn is_restoring(&self, topic: &str, partition: i32) -> bool {
        self.topic_sub.get(topic).is_some_and(|&sub| {
            self.restoring
                .contains_key(&TaskId::new(sub, partition as u32))
        })
    }

    /// Pauses the input partitions of every task still restoring, so that none of their
    /// records is fetched before their stores are complete.
    pub(super) fn pause_restoring<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>) {
        for &id in self.restoring.keys() {
            let tpl = self.partitions_of(id);
            if let Err(e) = consumer.pause(&tpl) {
                tracing::warn!(task = %id, "pausing {}: {e}", describe(&tpl));
            }
        }
    }

    /// One step of restoration; tasks whose changelogs are complete start processing, their
    /// partitions resumed. When none is left restoring the thread is running.
    pub(super) fn restore_step<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let Some(restorer) = self.restorer.as_mut() else {
            return Ok(());
        };
        if restorer.is_idle() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let (done, applied) = restorer.step(&mut self.restoring)?;
        // The time the thread spent restoring, however many partitions it restored at once.
        self.shared.add_restored(applied, started.elapsed());
        let mut tasks: Vec<TaskId> = done.iter().map(|r| r.task).collect();
        tasks.sort();
        tasks.dedup();
        for id in tasks {
            let durable: Vec<String> = self
                .topology
                .stores_of(id.subtopology)
                .into_iter()
                .filter(|s| s.persistent && s.logged)
                .map(|s| s.name)
                .collect();
            self.record_restored(
                &durable,
                done.iter().filter(|r| r.task == id).cloned().collect(),
            );
            let still = self.restorer.as_ref().is_some_and(|r| r.is_restoring(id));
            if still {
                continue;
            }
            if let Some(mut task) = self.restoring.remove(&id) {
                // The clock its processors' `init` schedules from: not the creation time,
                // a restore ago.
                task.set_wall_clock(super::now_ms());
                task.initialize()?;
                self.ready(task);
                let tpl = self.partitions_of(id);
                if let Err(e) = consumer.resume(&tpl) {
                    tracing::warn!(task = %id, "resuming {}: {e}", describe(&tpl));
                }
            }
        }
        if self.restoring.is_empty() {
            let ids = self.tasks.keys().copied().collect();
            self.shared
                .thread_phase(self.index, ThreadPhase::Running, ids);
        }
        Ok(())
    }

    /// Stops restoring `id` and drops its half-restored task.
    pub(super) fn abandon_restoring(&mut self, id: TaskId) -> Option<Task> {
        if let Some(r) = self.restorer.as_mut() {
            r.remove(id);
        }
        self.restoring.remove(&id)
    }
}
