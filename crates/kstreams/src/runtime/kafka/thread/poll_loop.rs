//! The loop of a stream thread: serve the consumer queue's rebalances, take a batch of
//! records, hand each to its task through the partition groups, serve delivery reports,
//! punctuate, and commit on the interval.

use super::fetch::FetchQueue;
use super::producer;
use super::report::{LoopSensors, Turn, REPORT_EVERY};
use super::{describe, now_ms, RebalanceContext, ThreadState, MAX_BATCH};
use crate::error::Result;
use crate::runtime::kafka::partition_group::PartitionGroups;
use crate::runtime::kafka::{Shared, StreamsConfig};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::Producer as _;
use rdkafka::{Offset, TopicPartitionList};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

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
pub(super) fn fetch_positions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
) -> HashMap<(String, i32), i64> {
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
pub(super) fn cached_watermarks<C: ConsumerContext>(
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

/// Moves a partition's consumption back to `offset`. Records of it already fetched are
/// discarded by librdkafka (the seek starts a new fetch version).
fn rewind<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    (topic, partition): &(String, i32),
    offset: i64,
) -> rdkafka::error::KafkaResult<()> {
    consumer.seek(
        topic,
        *partition,
        Offset::Offset(offset),
        Duration::from_secs(10),
    )
}

/// Serves what waits on the consumer queue: rebalances (whose callbacks run here), commit
/// replies and client errors. A record found there was fetched before its partition was
/// forwarded to the fetch queue (see [`super::fetch`]): the partition is forwarded and
/// rewound to it, so it comes again, through the fetch queue.
fn serve_consumer_queue(
    consumer: &BaseConsumer<RebalanceContext>,
    fetch: &FetchQueue<'_>,
    state: &Rc<RefCell<ThreadState>>,
    persistent: &mut PersistentErrors,
    config: &StreamsConfig,
) -> Result<()> {
    // With nothing assigned, this is where the loop waits.
    let idle = {
        let st = state.borrow();
        st.tasks.is_empty() && st.restoring.is_empty()
    };
    let mut timeout = if idle {
        Duration::from_millis(100)
    } else {
        Duration::ZERO
    };
    // `poll` answers `None` both when the queue is empty and after serving an event: it
    // is asked again after a rebalance, at most a few times a turn.
    for _ in 0..8 {
        let generation = state.borrow().generation;
        match consumer.poll(timeout) {
            None if state.borrow().generation == generation => break,
            None => {}
            Some(Err(e)) => {
                persistent.observe(&e, config.startup_timeout)?;
                tracing::warn!("consumer error: {e}");
            }
            Some(Ok(msg)) => {
                persistent.unknown_topic_since = None;
                let part = (msg.topic().to_string(), msg.partition());
                let offset = msg.offset();
                drop(msg);
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&part.0, part.1);
                fetch.forward(&tpl);
                tracing::debug!(
                    "{}-{} offset {offset} was fetched before its partition was forwarded: \
                     rewinding to it",
                    part.0,
                    part.1
                );
                // A partition no longer assigned is not this thread's to read.
                if let Err(e) = rewind(consumer, &part, offset) {
                    tracing::warn!("rewinding {}-{} to {offset}: {e}", part.0, part.1);
                }
            }
        }
        timeout = Duration::ZERO;
    }
    Ok(())
}

pub(super) fn main_loop(
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
    let mut persistent = PersistentErrors::default();
    let mut sensors = LoopSensors::new();
    let mut fetch = FetchQueue::new(consumer, MAX_BATCH)?;
    let mut fetched = Vec::with_capacity(MAX_BATCH);
    // Partitions rewound during the current batch: their later records in it will come
    // again, and are skipped.
    let mut rewound: HashSet<(String, i32)> = HashSet::new();
    while shared.is_running() {
        let mut turn = Turn::default();
        // Restoration runs a step per turn, between polls: the consumer is polled as often
        // as ever, and the tasks that are ready keep processing.
        let restoring = !state.borrow().restoring.is_empty();
        if restoring {
            state.borrow_mut().restore_step(consumer)?;
        }
        let mut batch = 0;
        let started = Instant::now();
        // Rebalances run here, between batches: never while a batch is being processed.
        serve_consumer_queue(consumer, &fetch, state, &mut persistent, config)?;
        // A rebalance that failed (a task that could not start, a commit on revocation)
        // fails the thread now, before a record of its partitions meets the missing task
        // and reports that instead. Only `serve_consumer_queue` runs rebalances (see
        // `fetch`), so this is the one place such an error can appear.
        if let Some(e) = state.borrow_mut().error.take() {
            return Err(e);
        }
        if state.borrow().generation != generation {
            // Every partition was revoked and reassigned from its committed offset, so
            // what was buffered will be fetched again.
            tracing::debug!(
                "dropping {} records buffered across a rebalance",
                groups.len()
            );
            resume(consumer, groups.clear());
            generation = state.borrow().generation;
            fetch.forward(&consumer.assignment().unwrap_or_default());
        }
        // Block briefly for the first record; while records wait in a partition group or
        // stores restore, only a little, so neither waits on an idle poll. With nothing
        // assigned no record can come: the wait is on the consumer queue instead.
        let assigned = {
            let st = state.borrow();
            !st.tasks.is_empty() || !st.restoring.is_empty()
        };
        let timeout = match (groups.len(), restoring, assigned) {
            (_, _, false) => Duration::ZERO,
            // Output still unacknowledged may have missed being sent: come back for it.
            (0, false, true)
                if !config.exactly_once() && state.borrow().producer.in_flight_count() > 0 =>
            {
                super::linger::RETRY_WITHIN
            }
            (0, false, true) => Duration::from_millis(100),
            _ => Duration::from_millis(5),
        };
        fetch.consume(timeout, &mut fetched);
        let polled = fetched.len();
        let mark = Instant::now();
        turn.poll += mark - started;
        rewound.clear();
        for msg in fetched.drain(..) {
            let msg = match msg {
                Err(e) => {
                    // Transient client errors (a broker down, a request failing) are
                    // retried by librdkafka; they are logged. Errors that no retry cures
                    // fail the thread visibly instead of stalling its partitions for ever.
                    persistent.observe(&e, config.startup_timeout)?;
                    tracing::warn!("consumer error: {e}");
                    continue;
                }
                Ok(msg) => {
                    persistent.unknown_topic_since = None;
                    msg
                }
            };
            if !rewound.is_empty() && rewound.contains(&(msg.topic().to_string(), msg.partition()))
            {
                // Its partition was rewound to an earlier record of this batch.
                continue;
            }
            if state.borrow().is_restoring(msg.topic(), msg.partition()) {
                // Fetched before its partition was paused: it is read again once the
                // task's stores are restored.
                let part = (msg.topic().to_string(), msg.partition());
                let offset = msg.offset();
                drop(msg);
                state.borrow().pause_restoring(consumer);
                rewind(consumer, &part, offset).map_err(|e| crate::error::StreamsError::Kafka {
                    context: format!("rewinding {}-{} until its task is restored", part.0, part.1),
                    source: e.into(),
                })?;
                rewound.insert(part);
                continue;
            }
            if let Some(msg) = groups.offer(msg) {
                state.borrow_mut().process(&msg)?;
                batch += 1;
            }
        }
        turn.process += mark.elapsed();
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
            // Where consumption stands: after the last record polled, else where it
            // restarts (the last committed offset), else the log's start.
            let position = positions
                .get(&key)
                .or_else(|| starts.get(&key))
                .copied()
                .unwrap_or(low);
            (high - position).max(0)
        };
        let started = Instant::now();
        for msg in groups.ready(&lagging) {
            state.borrow_mut().process(&msg)?;
            batch += 1;
        }
        turn.process += started.elapsed();
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
        producer::serve_delivery_reports(&producer);
        if last_punctuate.elapsed() >= Duration::from_millis(100) {
            let started = Instant::now();
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
            // Counted when something was punctuated, as Kafka Streams counts it.
            turn.punctuate = punctuated.then(|| last_punctuate - started);
        }
        if last_commit.elapsed() >= config.commit_interval {
            let started = Instant::now();
            state.borrow_mut().commit(consumer)?;
            last_commit = Instant::now();
            turn.commit = Some(last_commit - started);
        }
        // What this turn produced leaves now if the thread has caught up; else it lingers.
        // Under exactly-once it becomes visible only with its transaction, whose commit
        // sends it (see `linger`).
        if !config.exactly_once() {
            let producer = state.borrow().producer.clone();
            super::linger::send_if_caught_up(&producer, consumer, polled, groups.len());
        }
        turn.polled = polled as u64;
        turn.processed = batch as u64;
        sensors.record(&turn);
        if sensors.last_report.elapsed() >= REPORT_EVERY {
            let st = state.borrow();
            shared.publish_thread(st.index, st.report(consumer, &sensors));
            sensors.last_report = Instant::now();
        }
    }
    Ok(())
}

/// Consumer errors that retrying does not cure. Authorization, authentication and TLS
/// failures, and a compression codec this build lacks, fail the thread at once; a
/// subscribed topic that stays unknown (deleted under the application) fails it once it has
/// lasted the start-up timeout. Anything else is logged and retried by librdkafka.
#[derive(Default)]
struct PersistentErrors {
    unknown_topic_since: Option<Instant>,
}

impl PersistentErrors {
    fn observe(&mut self, e: &rdkafka::error::KafkaError, patience: Duration) -> Result<()> {
        use rdkafka::types::RDKafkaErrorCode as C;
        let fail = || {
            Err(crate::error::StreamsError::Kafka {
                context: "the consumer failed for good".into(),
                source: e.clone().into(),
            })
        };
        match e.rdkafka_error_code() {
            Some(
                C::TopicAuthorizationFailed
                | C::GroupAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::SaslAuthenticationFailed
                | C::Authentication
                | C::SSL
                | C::NotImplemented,
            ) => fail(),
            Some(C::UnknownTopicOrPartition | C::UnknownTopic) => {
                let since = *self.unknown_topic_since.get_or_insert_with(Instant::now);
                if since.elapsed() > patience {
                    fail()
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}
