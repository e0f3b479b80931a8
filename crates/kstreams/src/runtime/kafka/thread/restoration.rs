//! Restoration: a task's stores are rebuilt from their changelog topics before it
//! processes anything.

use super::ThreadState;
use crate::error::Result;
use crate::runtime::kafka::clients::ProducerCollector;
use crate::runtime::kafka::{checkpoint, restore};
use crate::runtime::{Task, TaskConfig, TaskId};
use std::collections::HashMap;
use std::time::Duration;

impl ThreadState {
    /// A new task, its stores restored from their changelogs before any record reaches it.
    /// Persistent stores restore from their checkpoint; without a usable one they are wiped
    /// and restored in full.
    pub(super) fn create_and_restore(
        &mut self,
        id: TaskId,
        config: &TaskConfig,
        collector: ProducerCollector,
    ) -> Result<Task> {
        let app = self.config.application_id.clone();
        let partition = id.partition as i32;
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
                match checkpoint.get(&(topic.clone(), partition)) {
                    Some(&offset) => {
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
        let mut task = self.topology.create_task(id, config, Box::new(collector))?;
        if !task.changelogs().is_empty() {
            if self.restore_consumer.is_none() {
                self.restore_consumer = Some(restore::restore_consumer(&self.config, self.index)?);
            }
            if let Some(consumer) = &self.restore_consumer {
                let mut stats = (0, Duration::ZERO);
                let positions = restore::restore_task(
                    consumer,
                    &mut task,
                    &starts,
                    self.config.startup_timeout,
                    &mut stats,
                )?;
                self.shared.add_restored(stats.0, stats.1);
                let durable_topics: HashMap<String, i64> = positions
                    .into_iter()
                    .filter(|(t, _)| {
                        durable
                            .iter()
                            .any(|s| crate::topology::changelog_topic(&app, s) == *t)
                    })
                    .collect();
                if !durable_topics.is_empty() {
                    self.positions.insert(id, durable_topics);
                }
            }
        }
        Ok(task)
    }
}
