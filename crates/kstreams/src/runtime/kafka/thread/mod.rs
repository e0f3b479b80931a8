//! A stream thread: one consumer, one producer, the tasks of its partitions.
//!
//! The loop polls a batch, runs each record through its task, and commits every
//! `commit.interval.ms` in the order every guarantee depends on: flush stores, flush the
//! producer and wait for acknowledgements, check that no delivery failed, then commit the
//! consumed offsets.
//!
//! | module | what |
//! |---|---|
//! | [`fetch`] | records taken from librdkafka a batch at a time |
//! | [`poll_loop`] | the loop: poll, partition groups, punctuation, when to commit |
//! | [`commit`] | the at-least-once commit, checkpoints |
//! | [`exactly_once`] | transactions: commit, abort and rewind, a replaced producer |
//! | [`rebalance`] | revocation and assignment |
//! | [`restoration`] | stores restored from their changelogs |
//! | [`report`] | the loop's measurements and the tasks' offsets, lag and stores, published |
//! | [`producer`] | the producer at work: delivery reports, the commit's flush, the collector |
//! | [`linger`] | when the output leaves: in batches while behind, at once when caught up |
//! | [`topic_handles`] | records produced through topic handles looked up once |

mod commit;
mod exactly_once;
mod fetch;
mod linger;
mod poll_loop;
pub(crate) mod producer;
mod rebalance;
mod report;
mod restoration;
mod topic_handles;

use exactly_once::{abort, transactional_producer};
use poll_loop::main_loop;
use rebalance::RebalanceContext;

use super::clients;
use super::{Env, FastMap, Shared, StreamsConfig, ThreadPhase};
use crate::error::{Result, StreamsError};
use crate::runtime::{InputRecord, Task, TaskId};
use crate::topology::Topology;
use producer::{DeliveryContext, ThreadProducer};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedHeaders, Message};
use rdkafka::TopicPartitionList;
use send_wrapper::SendWrapper;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Records processed before the loop checks for commits and punctuation.
const MAX_BATCH: usize = 1000;
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
        source: source.into(),
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
    /// How long a commit waits for the producer's flush at least once.
    flush_timeout: Duration,
    partitions: Arc<FastMap<String, u32>>,
    topic_sub: FastMap<String, u32>,
    tasks: BTreeMap<TaskId, Task>,
    /// Next offset to commit, per topic and partition. Keyed by topic first so that the
    /// per-record update looks up by `&str` without allocating.
    offsets: FastMap<String, FastMap<i32, i64>>,
    /// Set by a callback that failed; the loop stops with it.
    error: Option<StreamsError>,
    /// The instance's persistent database.
    database: Option<Arc<crate::state::FjallDatabase>>,
    /// The instance's record-cache budget.
    cache_budget: Arc<crate::state::CacheBudget>,
    /// Per task with persistent logged stores: next changelog offset per topic its stores
    /// hold, written to the checkpoint on commit.
    positions: HashMap<TaskId, HashMap<String, i64>>,
    /// Per task: the offsets of the checkpoint file it last wrote, so that a commit that
    /// moved none of them writes (and fsyncs) nothing. Forgotten whenever the task goes or
    /// its checkpoint file may have been removed.
    checkpointed: HashMap<TaskId, super::checkpoint::Offsets>,
    /// The instance's global stores.
    globals: Option<Arc<crate::topology::GlobalStores>>,
    /// Acknowledged changelog offsets, from the producer's delivery reports.
    changelog_acked: Arc<std::sync::Mutex<HashMap<String, HashMap<i32, i64>>>>,
    /// Reads changelogs when tasks are assigned; created on first need.
    restorer: Option<super::restore::Restorer>,
    /// Tasks whose stores are still being restored: their partitions are paused.
    restoring: BTreeMap<TaskId, Task>,
    /// Counts rebalance callbacks, so the loop can tell that records it polled before
    /// one belong to an assignment that no longer exists.
    generation: u64,
    /// Committed offsets of the assigned partitions, as read at assignment and updated by
    /// every commit: where consumption restarts, for telling whether an empty partition
    /// lags.
    start_offsets: HashMap<(String, i32), i64>,
    /// Tasks created and closed since the thread started.
    tasks_created: u64,
    tasks_closed: u64,
    /// Once the thread has failed nothing more is committed: the failure may be that
    /// outputs were lost, and the partitions' next owner must repeat the work.
    failed: bool,
    /// Tasks being closed, suspended for their last commit: if that commit fails under
    /// exactly-once, the rewind closes them dirty and does not create them again.
    closing: Vec<TaskId>,
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
    fn process<M: Message<Headers = BorrowedHeaders>>(&mut self, msg: &M) -> Result<()> {
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
        let headers = super::headers::read(msg);
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
                    .insert(topic.to_string(), FastMap::from_iter([(partition, next)]));
            }
        }
        Ok(())
    }

    /// The pending offsets were committed: they are where consumption restarts now.
    fn offsets_committed(&mut self) {
        for (topic, parts) in self.offsets.drain() {
            for (partition, offset) in parts {
                self.start_offsets
                    .insert((topic.clone(), partition), offset);
            }
        }
    }

    fn task_dir(&self, id: TaskId) -> std::path::PathBuf {
        self.config
            .state_dir
            .join(&self.config.application_id)
            .join(id.to_string())
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
        production_handler: (!config.exactly_once()).then(|| config.production_handler.clone()),
        skipped: shared.delivery_errors_skipped.clone(),
        changelog_acked,
        ..DeliveryContext::default()
    }
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
    let reports = clients::DeliveryReports::needed_by(&topology);
    let producer_settings = clients::producer_config(&config, index, None, reports);
    let consumer_settings = clients::consumer_config(&config, index);
    let producer = match &transactional_id {
        Some(id) => transactional_producer(&config, index, id, reports, delivery)?,
        None => Rc::new(
            producer_settings
                .create_with_context(delivery)
                .map_err(kafka("creating the producer"))?,
        ),
    };
    let mut topic_sub = FastMap::default();
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
        flush_timeout: clients::commit_flush_timeout(&producer_settings, &consumer_settings),
        partitions,
        topic_sub,
        tasks: BTreeMap::new(),
        offsets: FastMap::default(),
        error: None,
        restorer: None,
        restoring: BTreeMap::new(),
        database,
        cache_budget,
        positions: HashMap::new(),
        checkpointed: HashMap::new(),
        changelog_acked,
        globals,
        generation: 0,
        start_offsets: HashMap::new(),
        tasks_created: 0,
        tasks_closed: 0,
        failed: false,
        closing: Vec::new(),
        transactional_id,
        txn_dirty: false,
        txn_offsets_stored: None,
        aborts_in_a_row: 0,
        txn_began: Instant::now(),
    }));
    let consumer: BaseConsumer<RebalanceContext> = consumer_settings
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
        // Processors close before the final commit, so that what they write on close is
        // committed with it (Kafka Streams' suspend, commit, close).
        let all: Vec<TaskId> = {
            let st = state.borrow();
            st.tasks
                .keys()
                .chain(st.restoring.keys())
                .copied()
                .collect()
        };
        state.borrow_mut().suspend_tasks(&all);
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
    let restoring = std::mem::take(&mut state.borrow_mut().restoring);
    for (id, mut task) in tasks.into_iter().chain(restoring) {
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
