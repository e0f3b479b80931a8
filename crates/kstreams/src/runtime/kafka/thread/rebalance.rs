//! Rebalances: a revocation suspends the revoked tasks, commits, then closes them; an
//! assignment creates the new ones, resuming the partition times they were committed with.

use super::producer::ProducerCollector;
use super::{describe, now_ms, ThreadState, COMMITTED_TIMEOUT};
use crate::error::StreamsError;
use crate::runtime::kafka::{commit_metadata, ThreadPhase};
use crate::runtime::{Task, TaskConfig, TaskId};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use send_wrapper::SendWrapper;
use std::cell::RefCell;
use std::rc::Rc;

impl ThreadState {
    pub(super) fn on_revoke<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) {
        tracing::info!(
            "Revoking previously assigned partitions [{}] for group {}",
            describe(tpl),
            self.config.application_id
        );
        self.generation += 1;
        self.shared
            .thread_phase(self.index, ThreadPhase::Rebalancing, Vec::new());
        let revoked: Vec<TaskId> = tpl
            .elements()
            .iter()
            .filter_map(|e| {
                self.topic_sub
                    .get(e.topic())
                    .map(|&s| TaskId::new(s, e.partition() as u32))
            })
            .collect();
        self.suspend_tasks(&revoked);
        match self.commit(consumer) {
            Ok(()) if self.transactional_id.is_some() && !self.failed => self.write_checkpoints(),
            Ok(()) => {}
            Err(e) => {
                tracing::error!(thread = self.index, "commit on revocation failed: {e}");
                self.error.get_or_insert(e);
            }
        }
        for id in revoked {
            self.shared.withdraw_stores(id);
            let task = self
                .tasks
                .remove(&id)
                .or_else(|| self.abandon_restoring(id));
            if let Some(mut task) = task {
                self.tasks_closed += 1;
                self.shared.retire_metrics(id, task.metrics());
                if let Err(e) = task.close() {
                    tracing::warn!(task = %id, "closing revoked task failed: {e}");
                }
            }
            self.positions.remove(&id);
            self.checkpointed.remove(&id);
        }
        self.closed_tasks();
        for e in tpl.elements() {
            if let Some(parts) = self.offsets.get_mut(e.topic()) {
                parts.remove(&e.partition());
            }
        }
        self.offsets.retain(|_, parts| !parts.is_empty());
    }

    /// Resumes in `task` the partition times its partitions were committed with, the
    /// stream time (their maximum) and its processors' progress.
    pub(super) fn resume_committed(&self, task: &mut Task, committed: Option<&TopicPartitionList>) {
        let id = task.id();
        for c in committed.map(|c| c.elements()).unwrap_or_default() {
            if c.partition() != id.partition as i32
                || self.topic_sub.get(c.topic()) != Some(&id.subtopology)
            {
                continue;
            }
            if let Some(d) = commit_metadata::decode(c.metadata()) {
                let t = d.partition_time;
                tracing::debug!(task = %id, "resuming {} at partition time {t}", c.topic());
                task.resume_partition_time(c.topic(), t);
                for (key, value) in &d.processor {
                    task.resume_processor_metadata(key, *value);
                }
            }
        }
    }

    /// Suspends the running tasks among `ids` before the commit that precedes closing them:
    /// what their processors' `close` writes to stores goes out with that commit, as in
    /// Kafka Streams (suspend, commit, close). A restoring task is closed as it is. Until
    /// [`closed_tasks`](Self::closed_tasks), an exactly-once rewind in that commit (a
    /// failed transaction) does not create them again.
    pub(super) fn suspend_tasks(&mut self, ids: &[TaskId]) {
        self.closing = ids.to_vec();
        for id in ids {
            if let Some(task) = self.tasks.get_mut(id) {
                task.suspend();
                // Under exactly-once the stores may have changed with no record since the
                // last commit, which would otherwise skip an idle transaction.
                self.txn_dirty = true;
            }
        }
    }

    /// The tasks [`suspend_tasks`](Self::suspend_tasks) named are closed: a rewind may
    /// create every assigned task again.
    pub(super) fn closed_tasks(&mut self) {
        self.closing.clear();
    }

    pub(super) fn on_assign<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
        committed: Option<&TopicPartitionList>,
    ) {
        self.generation += 1;
        self.start_offsets = committed
            .map(|c| c.elements())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                _ => None,
            })
            .collect();
        tracing::info!(
            "Setting newly assigned partitions [{}] for group {}",
            describe(tpl),
            self.config.application_id
        );
        self.create_tasks(tpl, committed);
        self.pause_restoring(consumer);
        self.report_phase();
    }

    /// Running once no task is left restoring; every task, ready or restoring, is listed.
    pub(super) fn report_phase(&self) {
        let ids = self
            .tasks
            .keys()
            .chain(self.restoring.keys())
            .copied()
            .collect();
        let phase = if self.restoring.is_empty() {
            ThreadPhase::Running
        } else {
            ThreadPhase::Rebalancing
        };
        self.shared.thread_phase(self.index, phase, ids);
    }

    /// Creates and restores the tasks of the partitions in `tpl` that have none yet, each
    /// resuming the stream time its partitions were committed with.
    pub(super) fn create_tasks(
        &mut self,
        tpl: &TopicPartitionList,
        committed: Option<&TopicPartitionList>,
    ) {
        let mut task_config = TaskConfig::new(self.config.application_id.clone());
        task_config.deserialization_handler = self.config.deserialization_handler.clone();
        task_config.processing_handler = self.config.processing_handler.clone();
        task_config.production_handler = self.config.production_handler.clone();
        task_config.dead_letter_topic = self.config.dead_letter_topic.clone();
        task_config.wall_clock_ms = now_ms();
        task_config.database = self.database.clone();
        task_config.cache_budget = Some(self.cache_budget.clone());
        task_config.globals = self.globals.clone();
        for e in tpl.elements() {
            let Some(&sub) = self.topic_sub.get(e.topic()) else {
                continue;
            };
            let id = TaskId::new(sub, e.partition() as u32);
            if self.tasks.contains_key(&id)
                || self.restoring.contains_key(&id)
                || self.closing.contains(&id)
            {
                continue;
            }
            task_config.task_dir = Some(
                self.config
                    .state_dir
                    .join(&self.config.application_id)
                    .join(id.to_string()),
            );
            let collector = ProducerCollector::new(self.producer.clone(), self.partitions.clone());
            match self.create_and_restore(id, &task_config, collector, committed) {
                Ok(()) => self.tasks_created += 1,
                Err(e) => {
                    tracing::error!(task = %id, "creating task failed: {e}");
                    self.error.get_or_insert(e);
                }
            }
        }
    }
}

pub(super) struct RebalanceContext {
    pub(super) state: SendWrapper<Rc<RefCell<ThreadState>>>,
}

impl ClientContext for RebalanceContext {}

impl RebalanceContext {
    /// Runs a rebalance step and keeps a panic in it as the thread's error: librdkafka calls
    /// these callbacks from C, where a panic would abort the process. (Processors' `init`
    /// and `close` run here too, but the task catches their panics itself.)
    fn guarded(&self, step: impl FnOnce(&mut ThreadState)) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            step(&mut self.state.borrow_mut())
        }));
        if let Err(payload) = result {
            let message = crate::processor::panic_message(&*payload);
            if let Ok(mut state) = self.state.try_borrow_mut() {
                let thread = format!(
                    "{}-StreamThread-{}",
                    state.config.application_id, state.index
                );
                tracing::error!("{thread}: panic during a rebalance: {message}");
                state
                    .error
                    .get_or_insert(StreamsError::ThreadPanicked { thread, message });
            }
        }
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.guarded(|state| state.on_revoke(consumer, tpl));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // Every partition of an assigned task, so that a task's stream time comes
                // from all of them.
                let committed = consumer
                    .committed_offsets((*tpl).clone(), COMMITTED_TIMEOUT)
                    .map_err(|e| {
                        tracing::warn!(
                            "reading committed offsets: {e}; tasks start without a stream time"
                        )
                    })
                    .ok();
                self.guarded(|state| state.on_assign(consumer, tpl, committed.as_ref()))
            }
            Rebalance::Error(e) => tracing::warn!("rebalance error: {e}"),
            Rebalance::Revoke(_) => {}
        }
    }
}
