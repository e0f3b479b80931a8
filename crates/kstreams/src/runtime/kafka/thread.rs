//! A stream thread: one consumer, one producer, the tasks of its partitions.
//!
//! The loop polls a batch, runs each record through its task, and commits every
//! `commit.interval.ms` in the order every guarantee depends on: flush stores, flush the
//! producer and wait for acknowledgements, check that no delivery failed, then commit the
//! consumed offsets.

use super::clients::{self, DeliveryContext, ProducerCollector, ThreadProducer};
use super::partition_group::PartitionGroups;
use super::{checkpoint, commit_metadata, restore};
use super::{Env, Shared, StreamsConfig, ThreadPhase};
use crate::error::{Result, StreamsError};
use crate::processor::{Headers, ProductionHandler};
use crate::runtime::{InputRecord, Task, TaskConfig, TaskId};
use crate::topology::Topology;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::producer::Producer;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use send_wrapper::SendWrapper;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Records processed before the loop checks for commits and punctuation.
const MAX_BATCH: usize = 1000;
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one transactional call may take before it counts as failed.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);
/// Transactions aborted in a row, each followed by a replay, before the thread gives up.
const MAX_ABORTS_IN_A_ROW: u32 = 3;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn kafka(context: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> StreamsError + '_ {
    move |source| StreamsError::Kafka {
        context: context.to_string(),
        source,
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    let mut parts: Vec<String> = tpl
        .elements()
        .iter()
        .map(|e| format!("{}-{}", e.topic(), e.partition()))
        .collect();
    parts.sort();
    parts.join(", ")
}

/// What the thread owns besides its clients. Shared with the rebalance callbacks, which
/// librdkafka runs inside `poll` on this same thread.
struct ThreadState {
    index: usize,
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    shared: Arc<Shared>,
    producer: Rc<ThreadProducer>,
    delivery_failure: Arc<std::sync::Mutex<Option<String>>>,
    partitions: Arc<HashMap<String, u32>>,
    topic_sub: HashMap<String, u32>,
    tasks: BTreeMap<TaskId, Task>,
    /// Next offset to commit, per topic and partition. Keyed by topic first so that the
    /// per-record update looks up by `&str` without allocating.
    offsets: HashMap<String, HashMap<i32, i64>>,
    /// Set by a callback that failed; the loop stops with it.
    error: Option<StreamsError>,
    /// The instance's persistent database.
    database: Option<Arc<crate::state::FjallDatabase>>,
    /// The instance's record-cache budget.
    cache_budget: Arc<crate::state::CacheBudget>,
    /// Per task with persistent logged stores: next changelog offset per topic its stores
    /// hold, written to the checkpoint on commit.
    positions: HashMap<TaskId, HashMap<String, i64>>,
    /// The instance's global stores.
    globals: Option<Arc<crate::topology::GlobalStores>>,
    /// Acknowledged changelog offsets, from the producer's delivery reports.
    changelog_acked: Arc<std::sync::Mutex<HashMap<String, HashMap<i32, i64>>>>,
    /// Reads changelogs when tasks are assigned; created on first need.
    restore_consumer: Option<BaseConsumer>,
    /// Counts rebalance callbacks, so the loop can tell that records it polled before
    /// one belong to an assignment that no longer exists.
    generation: u64,
    /// Committed offsets of the assigned partitions at assignment: where consumption
    /// starts, for telling whether an empty partition lags.
    start_offsets: HashMap<(String, i32), i64>,
    /// Once the thread has failed nothing more is committed: the failure may be that
    /// outputs were lost, and the partitions' next owner must repeat the work.
    failed: bool,
    /// Exactly-once: the producer's `transactional.id`.
    transactional_id: Option<String>,
    /// Exactly-once: something was processed or punctuated since the last commit.
    txn_dirty: bool,
    /// Exactly-once: whether the broker stores offsets sent in a transaction (checked after
    /// the first commit; librdkafka's mock broker does not).
    txn_offsets_stored: Option<bool>,
    /// Exactly-once: transactions aborted since the last one committed.
    aborts_in_a_row: u32,
    /// Exactly-once: when the open transaction began.
    txn_began: Instant,
}

impl ThreadState {
    fn process(&mut self, msg: &BorrowedMessage<'_>) -> Result<()> {
        let topic = msg.topic();
        let partition = msg.partition();
        let Some(&sub) = self.topic_sub.get(topic) else {
            return Err(StreamsError::UnknownTopic {
                task: format!("thread {}", self.index),
                topic: topic.to_string(),
            });
        };
        let id = TaskId::new(sub, partition as u32);
        let Some(task) = self.tasks.get_mut(&id) else {
            return Err(StreamsError::InvalidState(format!(
                "record from {topic}-{partition} but task {id} is not assigned to thread {}",
                self.index
            )));
        };
        let mut headers = Headers::new();
        if let Some(h) = msg.headers() {
            for header in h.iter() {
                headers.add(header.key, header.value.map(<[u8]>::to_vec));
            }
        }
        task.process(InputRecord {
            topic,
            partition: partition as u32,
            offset: msg.offset(),
            timestamp: msg.timestamp().to_millis().unwrap_or(-1),
            key: msg.key(),
            value: msg.payload(),
            headers,
        })?;
        self.txn_dirty = true;
        let next = msg.offset() + 1;
        match self.offsets.get_mut(topic) {
            Some(parts) => {
                parts.insert(partition, next);
            }
            None => {
                self.offsets
                    .insert(topic.to_string(), HashMap::from([(partition, next)]));
            }
        }
        Ok(())
    }

    /// The pending offsets, each with its partition's time as metadata (Kafka Streams'
    /// `TopicPartitionMetadata`).
    fn offsets_to_commit(&self) -> Result<TopicPartitionList> {
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

    /// Commits what was processed: at-least-once flushes stores, flushes the producer,
    /// checks every delivery, then commits offsets; exactly-once commits a transaction.
    fn commit<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        if self.transactional_id.is_some() {
            return self.commit_transaction(consumer);
        }
        for task in self.tasks.values_mut() {
            task.flush()?;
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
        self.write_checkpoints();
        self.publish_metrics();
        if self.offsets.is_empty() {
            return Ok(());
        }
        let tpl = self.offsets_to_commit()?;
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                self.offsets.clear();
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

    /// Exactly-once commit: flush the stores' changelog writes into the transaction, send
    /// the consumed offsets in it, commit it, and begin the next. A transaction that cannot
    /// commit is aborted and every task rewound to the last committed offsets with its
    /// state rebuilt from the changelogs; a fenced producer stops the thread.
    fn commit_transaction<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<()> {
        if !self.txn_dirty && self.offsets.is_empty() {
            return Ok(());
        }
        for task in self.tasks.values_mut() {
            task.flush()?;
        }
        // A record's failed delivery fails the transaction: librdkafka refuses to commit it.
        let tpl = self.offsets_to_commit()?;
        let mut outcome = Ok(());
        if tpl.count() > 0 {
            let Some(group) = consumer.group_metadata() else {
                return Err(StreamsError::InvalidState(
                    "exactly-once commit: the consumer has no group metadata".into(),
                ));
            };
            outcome = self
                .producer
                .send_offsets_to_transaction(&tpl, &group, TXN_TIMEOUT);
        }
        if outcome.is_ok() {
            outcome = self.producer.commit_transaction(TXN_TIMEOUT);
        }
        if let Err(e) = outcome {
            return self.on_transaction_error(consumer, e);
        }
        self.shared.txn_committed.fetch_add(1, Ordering::Relaxed);
        self.aborts_in_a_row = 0;
        self.offsets.clear();
        self.txn_dirty = false;
        if tpl.count() > 0 {
            self.check_offsets_stored(consumer, &tpl);
        }
        self.publish_metrics();
        self.begin_transaction()
    }

    fn begin_transaction(&mut self) -> Result<()> {
        self.txn_began = Instant::now();
        self.producer
            .begin_transaction()
            .map_err(|e| self.transaction_failure(e))
    }

    /// Whether the open transaction is old enough for the coordinator to have aborted it on
    /// its own (`transaction.timeout.ms`). librdkafka reports that abort as fencing, like
    /// the fencing by a newer producer with this transactional id; only the age tells them
    /// apart. Transactions last one commit interval, far below the timeout.
    fn transaction_timed_out(&self) -> bool {
        let timeout_ms = self
            .config
            .client_config
            .get("transaction.timeout.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(clients::TRANSACTION_TIMEOUT_MS);
        self.txn_began.elapsed() >= Duration::from_millis(timeout_ms * 9 / 10)
    }

    /// Whether the broker kept the offsets sent in the transaction just committed. A broker
    /// that drops them (librdkafka's mock) would make every restart reprocess from the
    /// start, so on such a broker they are also committed directly after each
    /// transaction, and exactly-once is not guaranteed there (said once, loudly).
    fn check_offsets_stored<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        sent: &TopicPartitionList,
    ) {
        if self.txn_offsets_stored.is_none() {
            let stored = consumer
                .committed_offsets(sent.clone(), COMMITTED_TIMEOUT)
                .map(|got| {
                    sent.elements().iter().all(|e| {
                        got.find_partition(e.topic(), e.partition())
                            .is_some_and(|g| g.offset() == e.offset())
                    })
                })
                .unwrap_or(true);
            if !stored {
                tracing::warn!(
                    "the broker did not store the offsets sent in the transaction (a broker \
                     without transactional offset commits, like librdkafka's mock); committing \
                     them directly after each transaction: exactly-once is NOT guaranteed here"
                );
            }
            self.txn_offsets_stored = Some(stored);
        }
        if self.txn_offsets_stored == Some(false) {
            if let Err(e) = consumer.commit(sent, CommitMode::Sync) {
                tracing::warn!(
                    thread = self.index,
                    "direct commit after the transaction failed: {e}"
                );
            }
        }
    }

    /// The error for a transactional call that failed fatally. Only `PRODUCER_FENCED` means
    /// that a newer producer took this transactional id; `INVALID_PRODUCER_EPOCH` is what
    /// the coordinator answers after it aborted a transaction that outlived
    /// `transaction.timeout.ms` (KIP-588), which a new producer recovers from.
    fn transaction_failure(&self, e: rdkafka::error::KafkaError) -> StreamsError {
        let fenced = e.rdkafka_error_code().is_some_and(|c| {
            matches!(
                c,
                rdkafka::types::RDKafkaErrorCode::ProducerFenced
                    | rdkafka::types::RDKafkaErrorCode::Fenced
            )
        });
        match (&self.transactional_id, fenced) {
            (Some(id), true) => StreamsError::ProducerFenced {
                transactional_id: id.clone(),
                reason: e.to_string(),
            },
            _ => StreamsError::Kafka {
                context: "exactly-once transaction".into(),
                source: e,
            },
        }
    }

    /// A transactional call failed: fatal errors (fencing above all) stop the thread;
    /// anything else aborts the transaction and rewinds every task.
    fn on_transaction_error<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        e: rdkafka::error::KafkaError,
    ) -> Result<()> {
        let fatal = match &e {
            rdkafka::error::KafkaError::Transaction(r) => r.is_fatal(),
            _ => false,
        };
        let err = self.transaction_failure(e);
        // The same failure again and again (a record the broker always rejects) would
        // abort and replay forever: after a few, the thread fails and its handler decides.
        self.aborts_in_a_row += 1;
        let fenced = matches!(err, StreamsError::ProducerFenced { .. });
        if fenced && self.transaction_timed_out() && self.aborts_in_a_row <= MAX_ABORTS_IN_A_ROW {
            // The coordinator aborted a transaction that outlived its timeout (the records
            // sent to a dead leader, say) and bumped the epoch: not a newer instance.
            tracing::warn!(
                thread = self.index,
                "the transaction outlived transaction.timeout.ms and the coordinator aborted \
                 it; replacing the producer: {err}"
            );
            return self.replace_producer_and_rewind(consumer);
        }
        if fenced || self.aborts_in_a_row > MAX_ABORTS_IN_A_ROW {
            tracing::error!(thread = self.index, "{err}");
            self.failed = true;
            return Err(err);
        }
        if fatal {
            // The producer cannot go on (say the coordinator aborted a transaction that
            // outlived its timeout while a partition leader was down): as Kafka Streams
            // does, start a new producer with the same transactional id and replay.
            tracing::warn!(
                thread = self.index,
                "transaction failed fatally, replacing the producer: {err}"
            );
            return self.replace_producer_and_rewind(consumer);
        }
        tracing::warn!(thread = self.index, "transaction failed, aborting: {err}");
        self.abort_and_rewind(consumer)
    }

    /// Aborts the open transaction, then rewinds every task to its partitions' committed
    /// offsets with its stores rebuilt from their changelogs, which hold only committed
    /// transactions (read_committed). The aborted outputs are regenerated by reprocessing.
    /// If the abort itself fails (the coordinator already ended the transaction), the
    /// producer is replaced instead.
    fn abort_and_rewind<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<()> {
        if let Err(e) = abort(&self.producer) {
            let err = self.transaction_failure(e);
            if matches!(err, StreamsError::ProducerFenced { .. }) && !self.transaction_timed_out() {
                tracing::error!(
                    thread = self.index,
                    "aborting the transaction failed: {err}"
                );
                self.failed = true;
                return Err(err);
            }
            tracing::warn!(
                thread = self.index,
                "aborting the transaction failed, replacing the producer: {err}"
            );
            return self.replace_producer_and_rewind(consumer);
        }
        self.shared.txn_aborted.fetch_add(1, Ordering::Relaxed);
        self.close_tasks_for_rewind()?;
        self.recreate_tasks_from_committed(consumer)?;
        self.begin_transaction()
    }

    /// Drops the producer, whose open transaction the broker aborts when the new one
    /// initializes with the same transactional id (fencing the old epoch), then rewinds
    /// every task as [`abort_and_rewind`](Self::abort_and_rewind) does.
    fn replace_producer_and_rewind<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        self.close_tasks_for_rewind()?;
        let Some(id) = self.transactional_id.clone() else {
            return Err(StreamsError::InvalidState(
                "replacing the producer outside exactly-once".into(),
            ));
        };
        // The tasks held the only other references to the producer: this drops it.
        let fresh = transactional_producer(&self.config, self.index, &id, self.delivery_context())
            .inspect_err(|_| self.failed = true)?;
        self.producer = fresh;
        self.txn_began = Instant::now();
        self.shared.txn_aborted.fetch_add(1, Ordering::Relaxed);
        self.recreate_tasks_from_committed(consumer)
    }

    /// A delivery context that reports into this thread's shared delivery state.
    fn delivery_context(&self) -> DeliveryContext {
        delivery_context(
            &self.config,
            &self.shared,
            self.delivery_failure.clone(),
            self.changelog_acked.clone(),
        )
    }

    /// Closes every task of an aborted attempt: its stores may hold writes of the aborted
    /// transaction, so persistent ones are wiped and their checkpoints removed.
    fn close_tasks_for_rewind(&mut self) -> Result<()> {
        self.delivery_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.offsets.clear();
        self.txn_dirty = false;
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for id in ids {
            self.shared.withdraw_stores(id);
            if let Some(task) = self.tasks.remove(&id) {
                self.shared.retire_metrics(id, task.metrics());
                drop(task);
                checkpoint::remove(&self.task_dir(id));
                if let Some(db) = &self.database {
                    for store in self.topology.stores_of(id.subtopology) {
                        if store.persistent {
                            db.wipe_store(id, &store.name)?;
                        }
                    }
                }
            }
            self.positions.remove(&id);
        }
        Ok(())
    }

    /// Seeks every assigned partition back to its committed offset and creates its task
    /// again, restored from the changelogs.
    fn recreate_tasks_from_committed<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let assignment = consumer
            .assignment()
            .map_err(kafka("reading the assignment"))?;
        let committed = consumer
            .committed_offsets(assignment.clone(), COMMITTED_TIMEOUT)
            .map_err(kafka("reading committed offsets to rewind"))?;
        for e in assignment.elements() {
            let to = match committed
                .find_partition(e.topic(), e.partition())
                .map(|c| c.offset())
            {
                Some(Offset::Offset(o)) => Offset::Offset(o),
                _ => match self.config.auto_offset_reset {
                    super::AutoOffsetReset::Earliest => Offset::Beginning,
                    super::AutoOffsetReset::Latest => Offset::End,
                },
            };
            consumer
                .seek(e.topic(), e.partition(), to, COMMITTED_TIMEOUT)
                .map_err(kafka("rewinding to the committed offset"))?;
        }
        // Records buffered in partition groups belong to the aborted attempt.
        self.generation += 1;
        self.create_tasks(&assignment, Some(&committed));
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        tracing::info!(
            thread = self.index,
            "transaction aborted; tasks rewound to the committed offsets and restored"
        );
        Ok(())
    }

    /// Copies the tasks' counters where `KafkaStreams::metrics` reads them.
    fn publish_metrics(&self) {
        let mut all = self
            .shared
            .task_metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (id, task) in &self.tasks {
            all.insert(*id, task.metrics().clone());
        }
    }

    fn on_revoke<C: ConsumerContext>(
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
        match self.commit(consumer) {
            Ok(()) if self.transactional_id.is_some() && !self.failed => self.write_checkpoints(),
            Ok(()) => {}
            Err(e) => {
                tracing::error!(thread = self.index, "commit on revocation failed: {e}");
                self.error.get_or_insert(e);
            }
        }
        let revoked: Vec<TaskId> = tpl
            .elements()
            .iter()
            .filter_map(|e| {
                self.topic_sub
                    .get(e.topic())
                    .map(|&s| TaskId::new(s, e.partition() as u32))
            })
            .collect();
        for id in revoked {
            self.shared.withdraw_stores(id);
            if let Some(mut task) = self.tasks.remove(&id) {
                self.shared.retire_metrics(id, task.metrics());
                if let Err(e) = task.close() {
                    tracing::warn!(task = %id, "closing revoked task failed: {e}");
                }
            }
            self.positions.remove(&id);
        }
        for e in tpl.elements() {
            if let Some(parts) = self.offsets.get_mut(e.topic()) {
                parts.remove(&e.partition());
            }
        }
        self.offsets.retain(|_, parts| !parts.is_empty());
    }

    fn task_dir(&self, id: TaskId) -> std::path::PathBuf {
        self.config
            .state_dir
            .join(&self.config.application_id)
            .join(id.to_string())
    }

    /// A new task, its stores restored from their changelogs before any record reaches it.
    /// Persistent stores restore from their checkpoint; without a usable one they are wiped
    /// and restored in full.
    fn create_and_restore(
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

    /// Writes the checkpoint of every task with persistent logged stores: the changelog
    /// offsets their stores now hold (after the stores and the producer were flushed).
    fn write_checkpoints(&mut self) {
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
            let dir = self.task_dir(id);
            if let Err(e) = checkpoint::write(&dir, &offsets) {
                tracing::warn!(task = %id, "writing checkpoint failed: {e}");
            }
        }
    }

    fn on_assign(&mut self, tpl: &TopicPartitionList, committed: Option<&TopicPartitionList>) {
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
        let ids = self.tasks.keys().copied().collect();
        self.shared
            .thread_phase(self.index, ThreadPhase::Running, ids);
    }

    /// Creates and restores the tasks of the partitions in `tpl` that have none yet, each
    /// resuming the stream time its partitions were committed with.
    fn create_tasks(&mut self, tpl: &TopicPartitionList, committed: Option<&TopicPartitionList>) {
        let mut task_config = TaskConfig::new(self.config.application_id.clone());
        task_config.deserialization_handler = self.config.deserialization_handler;
        task_config.processing_handler = self.config.processing_handler;
        task_config.production_handler = self.config.production_handler;
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
            if self.tasks.contains_key(&id) {
                continue;
            }
            task_config.task_dir = Some(
                self.config
                    .state_dir
                    .join(&self.config.application_id)
                    .join(id.to_string()),
            );
            let collector = ProducerCollector {
                producer: self.producer.clone(),
                partitions: self.partitions.clone(),
            };
            match self.create_and_restore(id, &task_config, collector) {
                Ok(mut task) => {
                    // The task resumes the partition times its partitions were committed
                    // with, and the stream time (their maximum).
                    for c in committed.map(|c| c.elements()).unwrap_or_default() {
                        if c.partition() != e.partition()
                            || self.topic_sub.get(c.topic()) != Some(&sub)
                        {
                            continue;
                        }
                        if let Some(t) = commit_metadata::decode(c.metadata()) {
                            tracing::debug!(task = %id, "resuming {} at partition time {t}", c.topic());
                            task.resume_partition_time(c.topic(), t);
                        }
                    }
                    self.shared
                        .publish_stores(id, task.stores().cloned().collect());
                    self.tasks.insert(id, task);
                }
                Err(e) => {
                    tracing::error!(task = %id, "creating task failed: {e}");
                    self.error.get_or_insert(e);
                }
            }
        }
    }
}

struct RebalanceContext {
    state: SendWrapper<Rc<RefCell<ThreadState>>>,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.state.borrow_mut().on_revoke(consumer, tpl);
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
                self.state.borrow_mut().on_assign(tpl, committed.as_ref())
            }
            Rebalance::Error(e) => tracing::warn!("rebalance error: {e}"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// Aborts the open transaction. librdkafka purges the records still queued and waits for
/// their delivery reports, which only polling serves: so abort in short steps, polling
/// between them.
fn abort(producer: &ThreadProducer) -> rdkafka::error::KafkaResult<()> {
    let deadline = Instant::now() + TXN_TIMEOUT;
    loop {
        producer.poll(Duration::ZERO);
        match producer.abort_transaction(Duration::from_millis(100)) {
            Err(rdkafka::error::KafkaError::Transaction(e))
                if e.is_retriable() && Instant::now() < deadline =>
            {
                producer.poll(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The producer context of a stream thread, reporting into the thread's delivery state.
fn delivery_context(
    config: &StreamsConfig,
    shared: &Shared,
    failure: Arc<std::sync::Mutex<Option<String>>>,
    changelog_acked: Arc<std::sync::Mutex<HashMap<String, HashMap<i32, i64>>>>,
) -> DeliveryContext {
    DeliveryContext {
        failure,
        // Under exactly-once a failed delivery fails the transaction whatever the handler
        // says, so only at-least-once can skip one.
        skip_failed: config.production_handler == ProductionHandler::Continue
            && !config.exactly_once(),
        skipped: shared.delivery_errors_skipped.clone(),
        changelog_acked,
        ..DeliveryContext::default()
    }
}

/// A transactional producer with `id`, initialized: any older producer with this id (a
/// zombie, or this thread's own previous producer) is fenced and its open transaction
/// aborted. A transaction is begun.
fn transactional_producer(
    config: &StreamsConfig,
    index: usize,
    id: &str,
    delivery: DeliveryContext,
) -> Result<Rc<ThreadProducer>> {
    let producer: ThreadProducer = clients::producer_config(config, index, Some(id))
        .create_with_context(delivery)
        .map_err(kafka("creating the producer"))?;
    let fenced = |e: rdkafka::error::KafkaError| StreamsError::ProducerFenced {
        transactional_id: id.to_string(),
        reason: e.to_string(),
    };
    producer
        .init_transactions(TXN_TIMEOUT)
        .map_err(kafka("initializing transactions"))?;
    producer.begin_transaction().map_err(fenced)?;
    tracing::info!(thread = index, "exactly-once: transactional.id {id}");
    Ok(Rc::new(producer))
}

/// Runs one stream thread until shutdown or a fatal error.
pub(crate) fn run(index: usize, env: Env) -> Result<()> {
    let Env {
        topology,
        config,
        shared,
        partitions,
        database,
        cache_budget,
        globals,
        process_id,
    } = env;
    let app = config.application_id.clone();
    let delivery_failure = Arc::default();
    let changelog_acked = Arc::default();
    let delivery = delivery_context(
        &config,
        &shared,
        Arc::clone(&delivery_failure),
        Arc::clone(&changelog_acked),
    );
    let transactional_id = process_id.map(|p| format!("{app}-{p}-{index}"));
    let producer = match &transactional_id {
        Some(id) => transactional_producer(&config, index, id, delivery)?,
        None => Rc::new(
            clients::producer_config(&config, index, None)
                .create_with_context(delivery)
                .map_err(kafka("creating the producer"))?,
        ),
    };
    let mut topic_sub = HashMap::new();
    for sub in 0..topology.subtopology_count() {
        for t in topology.source_topics(sub, &app) {
            topic_sub.insert(t, sub);
        }
    }
    let topics: Vec<String> = topic_sub.keys().cloned().collect();
    let state = Rc::new(RefCell::new(ThreadState {
        index,
        topology,
        config: config.clone(),
        shared: shared.clone(),
        producer: producer.clone(),
        delivery_failure,
        partitions,
        topic_sub,
        tasks: BTreeMap::new(),
        offsets: HashMap::new(),
        error: None,
        restore_consumer: None,
        database,
        cache_budget,
        positions: HashMap::new(),
        changelog_acked,
        globals,
        generation: 0,
        start_offsets: HashMap::new(),
        failed: false,
        transactional_id,
        txn_dirty: false,
        txn_offsets_stored: None,
        aborts_in_a_row: 0,
        txn_began: Instant::now(),
    }));
    let consumer: BaseConsumer<RebalanceContext> = clients::consumer_config(&config, index)
        .create_with_context(RebalanceContext {
            state: SendWrapper::new(state.clone()),
        })
        .map_err(kafka("creating the consumer"))?;
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&refs).map_err(kafka("subscribing"))?;
    tracing::info!(
        thread = index,
        "stream thread started, subscribed to {refs:?}"
    );

    drop(producer);
    let result = main_loop(&consumer, &state, &config, &shared);
    // A clean stop commits what was processed; a failed one must not (the failure may be
    // exactly that outputs were lost), and the partitions' next owner repeats the work.
    if result.is_ok() {
        let commit = state.borrow_mut().commit(&consumer);
        match commit {
            Ok(()) if state.borrow().transactional_id.is_some() => {
                state.borrow_mut().write_checkpoints()
            }
            Ok(()) => {}
            Err(e) => {
                tracing::error!(thread = index, "final commit failed: {e}");
                state.borrow_mut().failed = true;
            }
        }
    } else {
        state.borrow_mut().failed = true;
    }
    if state.borrow().failed && state.borrow().transactional_id.is_some() {
        // Abort now rather than leave the transaction open until the broker times it out,
        // which would hold back read_committed consumers of every output partition.
        let producer = state.borrow().producer.clone();
        if let Err(e) = abort(&producer) {
            tracing::warn!(thread = index, "aborting the open transaction failed: {e}");
        } else {
            shared.txn_aborted.fetch_add(1, Ordering::Relaxed);
        }
    }
    consumer.unsubscribe();
    let tasks = std::mem::take(&mut state.borrow_mut().tasks);
    for (id, mut task) in tasks {
        shared.withdraw_stores(id);
        shared.retire_metrics(id, task.metrics());
        if let Err(e) = task.close() {
            tracing::warn!(task = %id, "closing task failed: {e}");
        }
    }
    // Closing the consumer runs its last revocation callback, which reports the thread as
    // rebalancing: only after that is it dead, or the client would wait for it forever.
    drop(consumer);
    shared.thread_phase(index, ThreadPhase::Dead, Vec::new());
    result
}

fn partition_list(parts: &[(String, i32)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in parts {
        tpl.add_partition(topic, *partition);
    }
    tpl
}

/// Resumes fetching partitions a partition group had paused. librdkafka refetches from
/// the position after the last record polled: mid-batch, which a broker must answer with
/// that batch (Tansu's memory engine skips to the next one: its `midbatch` gap).
fn resume<C: ConsumerContext>(consumer: &BaseConsumer<C>, parts: Vec<(String, i32)>) {
    if parts.is_empty() {
        return;
    }
    let tpl = partition_list(&parts);
    tracing::debug!("resuming {}", describe(&tpl));
    // After a rebalance some may no longer be assigned: nothing to resume there.
    if let Err(e) = consumer.resume(&tpl) {
        tracing::debug!("resuming {}: {e}", describe(&tpl));
    }
}

/// The consumer's fetch position (next offset to fetch) of every assigned partition.
fn fetch_positions<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> HashMap<(String, i32), i64> {
    consumer
        .position()
        .map(|tpl| {
            tpl.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A partition's start and end offsets as the client last learned them from a fetch (no
/// request); `None` before any fetch answered.
fn cached_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client handle is valid while `consumer` lives; librdkafka only reads the
    // NUL-terminated topic name and writes the two offsets, which outlive the call.
    // rust-rdkafka has no binding for this cached (non-blocking) lookup.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low.max(0), high))
}

fn main_loop(
    consumer: &BaseConsumer<RebalanceContext>,
    state: &Rc<RefCell<ThreadState>>,
    config: &StreamsConfig,
    shared: &Shared,
) -> Result<()> {
    let mut last_commit = Instant::now();
    let mut last_punctuate = Instant::now();
    let sources: Vec<Vec<String>> = {
        let st = state.borrow();
        (0..st.topology.subtopology_count())
            .map(|sub| st.topology.source_topics(sub, &config.application_id))
            .collect()
    };
    let mut groups = PartitionGroups::new(
        &sources,
        config.max_task_idle,
        config.buffered_records_per_partition,
    );
    let mut generation = state.borrow().generation;
    while shared.is_running() {
        let mut batch = 0;
        let mut polled = 0;
        while polled < MAX_BATCH {
            // Block briefly for the first record; while records wait in a partition group,
            // only a little, so an idle timeout is noticed without spinning.
            let timeout = match (polled, groups.len()) {
                (0, 0) => Duration::from_millis(100),
                (0, _) => Duration::from_millis(5),
                _ => Duration::ZERO,
            };
            let msg = match consumer.poll(timeout) {
                None => break,
                Some(Err(e)) => {
                    // Transient client errors (a broker down, a request failing) are
                    // retried by librdkafka; they are logged, not fatal.
                    tracing::warn!("consumer error: {e}");
                    break;
                }
                Some(Ok(msg)) => msg,
            };
            polled += 1;
            if state.borrow().generation != generation {
                // A rebalance ran inside poll: every partition was revoked and reassigned
                // from its committed offset, so what was buffered will be fetched again.
                tracing::debug!(
                    "dropping {} records buffered across a rebalance",
                    groups.len()
                );
                resume(consumer, groups.clear());
                generation = state.borrow().generation;
            }
            if let Some(msg) = groups.offer(msg) {
                state.borrow_mut().process(&msg)?;
                batch += 1;
            }
        }
        if state.borrow().generation != generation {
            resume(consumer, groups.clear());
            generation = state.borrow().generation;
        }
        let positions = if groups.len() > 0 {
            fetch_positions(consumer)
        } else {
            HashMap::new()
        };
        let starts = state.borrow().start_offsets.clone();
        let lagging = |topic: &str, partition: i32| -> i64 {
            // An end offset not known yet (no fetch answered): records may be waiting, so
            // wait, but no longer than for a possible commit marker.
            let Some((low, high)) = cached_watermarks(consumer, topic, partition) else {
                return 1;
            };
            let key = (topic.to_string(), partition);
            // Where consumption stands: after the last record polled, else where the
            // assignment started (committed offset, or the beginning).
            let position = positions
                .get(&key)
                .or_else(|| starts.get(&key))
                .copied()
                .unwrap_or(low);
            (high - position).max(0)
        };
        for msg in groups.ready(&lagging) {
            state.borrow_mut().process(&msg)?;
            batch += 1;
        }
        let (to_pause, to_resume) = groups.flow_control();
        if !to_pause.is_empty() {
            let tpl = partition_list(&to_pause);
            tracing::debug!("pausing {}: their buffers are full", describe(&tpl));
            if let Err(e) = consumer.pause(&tpl) {
                tracing::warn!("pausing {}: {e}", describe(&tpl));
            }
        }
        resume(consumer, to_resume);
        if batch > 0 {
            shared.add_processed(batch as u64);
            tracing::debug!("processed a batch of {batch} records");
        }
        // The producer of this turn: exactly-once may have replaced it during a commit.
        let producer = state.borrow().producer.clone();
        clients::serve_delivery_reports(&producer);
        if let Some(e) = state.borrow_mut().error.take() {
            return Err(e);
        }
        if last_punctuate.elapsed() >= Duration::from_millis(100) {
            let now = now_ms();
            let mut st = state.borrow_mut();
            let mut punctuated = false;
            for task in st.tasks.values_mut() {
                let before = task.metrics().punctuations;
                task.punctuate_wall_clock(now)?;
                punctuated |= task.metrics().punctuations != before;
            }
            st.txn_dirty |= punctuated;
            drop(st);
            last_punctuate = Instant::now();
        }
        if last_commit.elapsed() >= config.commit_interval {
            state.borrow_mut().commit(consumer)?;
            last_commit = Instant::now();
        }
    }
    Ok(())
}
