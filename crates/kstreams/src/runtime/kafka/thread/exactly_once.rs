//! Exactly-once v2: one transactional producer per thread, the outputs, changelog writes
//! and consumed offsets of a commit interval in one transaction; a failed transaction is
//! aborted and every task rewound; a producer that cannot go on is replaced.

use super::producer::{DeliveryContext, ThreadProducer};
use super::{
    delivery_context, kafka, ThreadState, COMMITTED_TIMEOUT, MAX_ABORTS_IN_A_ROW, TXN_TIMEOUT,
};
use crate::error::{Result, StreamsError};
use crate::runtime::kafka::clients;
use crate::runtime::kafka::{checkpoint, StreamsConfig};
use crate::runtime::TaskId;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl ThreadState {
    /// Exactly-once commit: flush the stores' changelog writes into the transaction, send
    /// the consumed offsets in it, commit it, and begin the next. A transaction that cannot
    /// commit is aborted and every task rewound to the last committed offsets with its
    /// state rebuilt from the changelogs; a fenced producer stops the thread.
    pub(super) fn commit_transaction<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        if !self.txn_dirty && self.offsets.is_empty() {
            return Ok(());
        }
        // Every task's caches first, then the engines: one fsync of the shared journal
        // covers them all (a flush per task would sync it once per task).
        for task in self.tasks.values_mut() {
            task.flush_caches()?;
        }
        for task in self.tasks.values_mut() {
            task.flush_stores()?;
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
        self.offsets_committed();
        self.txn_dirty = false;
        if tpl.count() > 0 {
            self.check_offsets_stored(consumer, &tpl);
        }
        self.publish_metrics();
        self.begin_transaction()
    }

    pub(super) fn begin_transaction(&mut self) -> Result<()> {
        self.txn_began = Instant::now();
        self.producer
            .begin_transaction()
            .map_err(|e| self.transaction_failure(e))
    }

    /// Whether the open transaction is old enough for the coordinator to have aborted it on
    /// its own (`transaction.timeout.ms`). librdkafka reports that abort as fencing, like
    /// the fencing by a newer producer with this transactional id; only the age tells them
    /// apart. Transactions last one commit interval, far below the timeout.
    pub(super) fn transaction_timed_out(&self) -> bool {
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
    pub(super) fn check_offsets_stored<C: ConsumerContext>(
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
    pub(super) fn transaction_failure(&self, e: rdkafka::error::KafkaError) -> StreamsError {
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
                source: e.into(),
            },
        }
    }

    /// A transactional call failed: fatal errors (fencing above all) stop the thread;
    /// anything else aborts the transaction and rewinds every task.
    pub(super) fn on_transaction_error<C: ConsumerContext>(
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
    pub(super) fn abort_and_rewind<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
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
    pub(super) fn replace_producer_and_rewind<C: ConsumerContext>(
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
        let reports = clients::DeliveryReports::needed_by(&self.topology);
        let fresh = transactional_producer(
            &self.config,
            self.index,
            &id,
            reports,
            self.delivery_context(),
        )
        .inspect_err(|_| self.failed = true)?;
        self.producer = fresh;
        self.txn_began = Instant::now();
        self.shared.txn_aborted.fetch_add(1, Ordering::Relaxed);
        self.recreate_tasks_from_committed(consumer)
    }

    /// A delivery context that reports into this thread's shared delivery state.
    pub(super) fn delivery_context(&self) -> DeliveryContext {
        delivery_context(
            &self.config,
            &self.shared,
            self.delivery_failure.clone(),
            self.changelog_acked.clone(),
        )
    }

    /// Closes every task of an aborted attempt: its stores may hold writes of the aborted
    /// transaction, so persistent ones are wiped and their checkpoints removed.
    pub(super) fn close_tasks_for_rewind(&mut self) -> Result<()> {
        self.delivery_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.offsets.clear();
        self.txn_dirty = false;
        let ids: Vec<TaskId> = self
            .tasks
            .keys()
            .chain(self.restoring.keys())
            .copied()
            .collect();
        for id in ids {
            self.shared.withdraw_stores(id);
            let task = self
                .tasks
                .remove(&id)
                .or_else(|| self.abandon_restoring(id));
            if let Some(task) = task {
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
            self.checkpointed.remove(&id);
        }
        Ok(())
    }

    /// Seeks every assigned partition back to its committed offset and creates its task
    /// again, restored from the changelogs.
    pub(super) fn recreate_tasks_from_committed<C: ConsumerContext>(
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
                    crate::runtime::kafka::AutoOffsetReset::Earliest => Offset::Beginning,
                    crate::runtime::kafka::AutoOffsetReset::Latest => Offset::End,
                },
            };
            consumer
                .seek(e.topic(), e.partition(), to, COMMITTED_TIMEOUT)
                .map_err(kafka("rewinding to the committed offset"))?;
        }
        // Records buffered in partition groups belong to the aborted attempt.
        self.generation += 1;
        self.create_tasks(&assignment, Some(&committed));
        self.pause_restoring(consumer);
        self.report_phase();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        tracing::info!(
            thread = self.index,
            "transaction aborted; tasks rewound to the committed offsets and restored"
        );
        Ok(())
    }
}

/// Aborts the open transaction. librdkafka purges the records still queued and waits for
/// their delivery reports, which only polling serves: so abort in short steps, polling
/// between them.
pub(super) fn abort(producer: &ThreadProducer) -> rdkafka::error::KafkaResult<()> {
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

/// A transactional producer with `id`, initialized: any older producer with this id (a
/// zombie, or this thread's own previous producer) is fenced and its open transaction
/// aborted. A transaction is begun.
pub(super) fn transactional_producer(
    config: &StreamsConfig,
    index: usize,
    id: &str,
    reports: clients::DeliveryReports,
    delivery: DeliveryContext,
) -> Result<Rc<ThreadProducer>> {
    let producer: ThreadProducer = clients::producer_config(config, index, Some(id), reports)
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
