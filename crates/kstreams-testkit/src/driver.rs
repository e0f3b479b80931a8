//! The driver: tasks, topic logs, and the loop that feeds repartition topics back.

use kstreams::error::StreamsError;
use kstreams::internals::{
    FjallDatabase, InputRecord, OutgoingRecord, RecordCollector, Task, TaskConfig,
};
use kstreams::processor::{
    DeserializationExceptionHandler, Headers, LogAndFail, ProcessingExceptionHandler,
    ProductionExceptionHandler, SharedDeserializationHandler, SharedProcessingHandler,
    SharedProductionHandler,
};
use kstreams::runtime::partitioner::partition_for_key;
use kstreams::runtime::{TaskId, TaskMetrics};
use kstreams::serde::Serde;
use kstreams::state::{MemoryBudget, StoreHandle, StoreInit};
use kstreams::topology::GlobalStores;
use kstreams::Topology;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::topics::{TestInputTopic, TestOutputTopic};
use crate::KeyValueStoreView;

/// The driver could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestDriverError {
    /// Topics that a join reads together have different partition counts.
    #[error("topics {topics:?} must be co-partitioned but have partition counts {counts:?}")]
    NotCopartitioned {
        /// The topics of the group.
        topics: Vec<String>,
        /// Their partition counts.
        counts: Vec<u32>,
    },
    /// Creating a task failed.
    #[error(transparent)]
    Streams(#[from] StreamsError),
}

/// A record in a topic log.
#[derive(Debug, Clone)]
pub(crate) struct StoredRecord {
    pub(crate) partition: u32,
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) timestamp: i64,
    pub(crate) headers: Headers,
}

#[derive(Default)]
pub(crate) struct TopicLog {
    /// All records in the order they were written, across partitions.
    pub(crate) records: Vec<StoredRecord>,
    next_offset: Vec<i64>,
    round_robin: u32,
}

/// Topic logs shared by the driver and the task collectors.
#[derive(Default)]
pub(crate) struct Topics {
    pub(crate) logs: HashMap<String, TopicLog>,
    partitions: HashMap<String, u32>,
    /// Topics some task reads: what is written there is processed next.
    consumed: HashMap<String, u32>,
    pending: VecDeque<(String, usize)>,
    default_partitions: u32,
}

impl Topics {
    pub(crate) fn partitions(&self, topic: &str) -> u32 {
        self.partitions
            .get(topic)
            .copied()
            .unwrap_or(self.default_partitions)
    }

    /// Appends a record; returns its index in the topic's log.
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: Option<u32>,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<usize, StreamsError> {
        let n = self.partitions(topic);
        let log = self.logs.entry(topic.to_string()).or_default();
        let partition = match (partition, &key) {
            (Some(p), _) if p < n => p,
            (Some(p), _) => {
                return Err(StreamsError::Send {
                    topic: topic.to_string(),
                    reason: format!("partition {p} out of range, topic has {n}"),
                })
            }
            (None, Some(k)) => partition_for_key(k, n),
            (None, None) => {
                log.round_robin = log.round_robin.wrapping_add(1);
                log.round_robin % n
            }
        };
        if log.next_offset.len() < n as usize {
            log.next_offset.resize(n as usize, 0);
        }
        let offset = log.next_offset[partition as usize];
        log.next_offset[partition as usize] += 1;
        log.records.push(StoredRecord {
            partition,
            offset,
            key,
            value,
            timestamp,
            headers,
        });
        let index = log.records.len() - 1;
        if self.consumed.contains_key(topic) {
            self.pending.push_back((topic.to_string(), index));
        }
        Ok(index)
    }
}

/// The collector of every task: writes into the shared topic logs.
struct DriverCollector(Rc<RefCell<Topics>>);

impl RecordCollector for DriverCollector {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        self.0.borrow_mut().append(
            r.topic,
            r.partition,
            r.key.map(<[u8]>::to_vec),
            r.value.map(<[u8]>::to_vec),
            r.timestamp,
            r.headers.clone(),
        )?;
        Ok(())
    }

    fn partition_count(&self, topic: &str) -> Option<u32> {
        Some(self.0.borrow().partitions(topic))
    }
}

/// Marks a global topic in `Topics::consumed`: its records go to the global stores.
const GLOBAL: u32 = u32::MAX;

pub(crate) struct Inner {
    pub(crate) topics: Rc<RefCell<Topics>>,
    tasks: BTreeMap<TaskId, Task>,
    globals: Option<Arc<GlobalStores>>,
    pub(crate) application_id: String,
    pub(crate) wall_clock_ms: i64,
    /// Declared last: dropped after the tasks that use it.
    state: Option<TempState>,
}

/// A state directory of the driver's own, removed when the driver is dropped.
struct TempState {
    dir: std::path::PathBuf,
    db: Option<Arc<FjallDatabase>>,
}

impl Drop for TempState {
    fn drop(&mut self) {
        self.db = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_state() -> Result<TempState, StreamsError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kstreams-testkit-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let db = FjallDatabase::open(&dir.join("fjall"), MemoryBudget::default())?;
    Ok(TempState { dir, db: Some(db) })
}

impl Inner {
    /// Processes everything waiting in topics that tasks read, in write order, then
    /// flushes the record caches so their changelog records are visible right away (as
    /// Kafka's TopologyTestDriver commits after every record).
    fn drain(&mut self) -> Result<(), StreamsError> {
        loop {
            let next = self.topics.borrow_mut().pending.pop_front();
            let Some((topic, index)) = next else {
                for task in self.tasks.values_mut() {
                    task.flush_caches()?;
                }
                if self.topics.borrow().pending.is_empty() {
                    return Ok(());
                }
                continue;
            };
            let (sub, record) = {
                let topics = self.topics.borrow();
                let sub = topics.consumed[&topic];
                (sub, topics.logs[&topic].records[index].clone())
            };
            let input = InputRecord {
                topic: &topic,
                partition: record.partition,
                offset: record.offset,
                timestamp: record.timestamp,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers: record.headers.clone(),
            };
            if sub == GLOBAL {
                // A global table is up to date before the next record reaches any task.
                if let Some(g) = &self.globals {
                    g.apply(&input)?;
                }
                continue;
            }
            let id = TaskId::new(sub, record.partition);
            let Some(task) = self.tasks.get_mut(&id) else {
                return Err(StreamsError::UnknownTopic {
                    task: id.to_string(),
                    topic,
                });
            };
            task.process(input)?;
        }
    }

    pub(crate) fn pipe(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        self.topics
            .borrow_mut()
            .append(topic, None, key, value, timestamp, headers)?;
        self.drain()
    }

    pub(crate) fn stores(&self, name: &str) -> Vec<StoreHandle> {
        if let Some(global) = self.globals.as_ref().and_then(|g| g.store(name)) {
            return vec![global.clone()];
        }
        self.tasks.values().filter_map(|t| t.store(name)).collect()
    }
}

/// Runs a topology on in-memory topics. See the [crate docs](crate).
pub struct TestDriver {
    pub(crate) inner: Rc<RefCell<Inner>>,
}

/// Configures a [`TestDriver`].
#[must_use]
pub struct TestDriverBuilder {
    topology: Arc<Topology>,
    application_id: String,
    partitions: HashMap<String, u32>,
    default_partitions: u32,
    handler: SharedDeserializationHandler,
    processing_handler: SharedProcessingHandler,
    production_handler: SharedProductionHandler,
    dead_letter_topic: Option<String>,
    wall_clock_ms: i64,
}

impl TestDriverBuilder {
    /// The application id (prefix of internal topics). Default `test-app`.
    pub fn application_id(mut self, id: impl Into<String>) -> Self {
        self.application_id = id.into();
        self
    }
    /// Partition count of a user topic (input or output).
    pub fn partitions(mut self, topic: impl Into<String>, n: u32) -> Self {
        self.partitions.insert(topic.into(), n.max(1));
        self
    }
    /// Partition count of user topics not named with [`partitions`](Self::partitions).
    /// Default 1.
    pub fn default_partitions(mut self, n: u32) -> Self {
        self.default_partitions = n.max(1);
        self
    }
    /// What the tasks do with records that fail to deserialize.
    pub fn deserialization_handler(mut self, h: impl DeserializationExceptionHandler) -> Self {
        self.handler = Arc::new(h);
        self
    }
    /// What the tasks do when user code fails on a record.
    pub fn processing_handler(mut self, h: impl ProcessingExceptionHandler) -> Self {
        self.processing_handler = Arc::new(h);
        self
    }
    /// What the tasks do when an output record cannot be serialized or sent.
    pub fn production_handler(mut self, h: impl ProductionExceptionHandler) -> Self {
        self.production_handler = Arc::new(h);
        self
    }
    /// Where dead-letter handlers send failed records.
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }
    /// The wall clock at start, in milliseconds.
    pub fn wall_clock_ms(mut self, ms: i64) -> Self {
        self.wall_clock_ms = ms;
        self
    }

    /// Creates the tasks: one per partition of every subtopology.
    pub fn build(self) -> Result<TestDriver, TestDriverError> {
        let app = self.application_id.clone();
        let mut topics = Topics {
            default_partitions: self.default_partitions,
            ..Default::default()
        };
        topics.partitions = self.partitions.clone();
        let known = |t: &str| {
            Some(
                self.partitions
                    .get(t)
                    .copied()
                    .unwrap_or(self.default_partitions),
            )
        };
        for group in self.topology.copartition_groups(&app) {
            let counts: Vec<u32> = group
                .iter()
                .map(|t| {
                    self.topology
                        .internal_topics(&app, &known)
                        .ok()
                        .and_then(|it| it.into_iter().find(|i| &i.name == t).map(|i| i.partitions))
                        .or_else(|| known(t))
                        .unwrap_or(1)
                })
                .collect();
            if counts.windows(2).any(|w| w[0] != w[1]) {
                return Err(TestDriverError::NotCopartitioned {
                    topics: group,
                    counts,
                });
            }
        }
        for t in self.topology.internal_topics(&app, &known)? {
            topics.partitions.insert(t.name, t.partitions);
        }
        let counts = self.topology.partition_counts(&app, &known)?;
        for sub in 0..self.topology.subtopology_count() {
            for t in self.topology.source_topics(sub, &app) {
                topics.consumed.insert(t, sub);
            }
        }
        for t in self.topology.global_topics() {
            topics.consumed.insert(t, GLOBAL);
        }
        let topics = Rc::new(RefCell::new(topics));
        let mut config = TaskConfig::new(app.clone());
        config.deserialization_handler = self.handler.clone();
        config.processing_handler = self.processing_handler.clone();
        config.production_handler = self.production_handler.clone();
        config.dead_letter_topic = self.dead_letter_topic.clone();
        config.wall_clock_ms = self.wall_clock_ms;
        // Persistent stores (the DSL's default) live in a temporary directory of the driver.
        let state = if self.topology.has_persistent_stores() {
            Some(temp_state()?)
        } else {
            None
        };
        config.database = state.as_ref().and_then(|s| s.db.clone());
        config.cache_budget = Some(kstreams::state::CacheBudget::new(
            MemoryBudget::default().record_cache_bytes(),
        ));
        let globals = if self.topology.global_topics().is_empty() {
            None
        } else {
            let init = StoreInit {
                application_id: &app,
                task_id: TaskId::new(GLOBAL, 0),
                task_dir: None,
                database: config.database.as_ref(),
                cache_budget: None,
            };
            Some(Arc::new(
                self.topology
                    .open_global_stores(&init, self.handler.clone())?,
            ))
        };
        config.globals = globals.clone();
        let mut tasks = BTreeMap::new();
        for (sub, &n) in counts.iter().enumerate() {
            for p in 0..n {
                let id = TaskId::new(sub as u32, p);
                let task = self.topology.create_task(
                    id,
                    &config,
                    Box::new(DriverCollector(topics.clone())),
                )?;
                tasks.insert(id, task);
            }
        }
        Ok(TestDriver {
            inner: Rc::new(RefCell::new(Inner {
                topics,
                tasks,
                globals,
                application_id: app,
                wall_clock_ms: self.wall_clock_ms,
                state,
            })),
        })
    }
}

impl TestDriver {
    /// Starts configuring a driver for `topology`.
    pub fn builder(topology: Topology) -> TestDriverBuilder {
        TestDriverBuilder {
            topology: Arc::new(topology),
            application_id: "test-app".into(),
            partitions: HashMap::new(),
            default_partitions: 1,
            handler: Arc::new(LogAndFail),
            processing_handler: Arc::new(LogAndFail),
            production_handler: Arc::new(LogAndFail),
            dead_letter_topic: None,
            wall_clock_ms: 0,
        }
    }

    /// A driver with one partition per user topic.
    pub fn new(topology: Topology) -> Result<TestDriver, TestDriverError> {
        Self::builder(topology).build()
    }

    /// A typed handle for piping records into `topic`.
    pub fn input_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> TestInputTopic<K, V> {
        TestInputTopic::new(
            self.inner.clone(),
            topic,
            Arc::new(key_serde),
            Arc::new(value_serde),
        )
    }

    /// A typed handle for reading `topic`, from its first record.
    pub fn output_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic::new(
            self.inner.clone(),
            topic,
            Arc::new(key_serde),
            Arc::new(value_serde),
        )
    }

    /// Pipes a raw record (for bad input: bytes no serde would write).
    pub fn pipe_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.inner.borrow_mut().pipe(
            topic,
            key.map(<[u8]>::to_vec),
            value.map(<[u8]>::to_vec),
            timestamp,
            Headers::new(),
        )
    }

    /// Advances the wall clock and runs wall-clock punctuation in every task.
    pub fn advance_wall_clock_time(&self, by: Duration) -> Result<(), StreamsError> {
        let mut inner = self.inner.borrow_mut();
        inner.wall_clock_ms = inner
            .wall_clock_ms
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        let now = inner.wall_clock_ms;
        for task in inner.tasks.values_mut() {
            task.punctuate_wall_clock(now)?;
        }
        inner.drain()
    }

    /// A typed view of store `name` across all partitions.
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<KeyValueStoreView<K, V>> {
        let handles = self.inner.borrow().stores(name);
        if handles.is_empty() {
            return None;
        }
        KeyValueStoreView::new(handles)
    }

    /// Names of the tasks, e.g. `0_3`.
    pub fn task_ids(&self) -> Vec<TaskId> {
        self.inner.borrow().tasks.keys().copied().collect()
    }

    /// The counters of every task, summed.
    pub fn metrics(&self) -> TaskMetrics {
        let inner = self.inner.borrow();
        let mut sum = TaskMetrics::default();
        for t in inner.tasks.values() {
            sum.add(t.metrics());
        }
        sum
    }

    /// Every topic that received records, internal ones included, with record counts.
    pub fn topic_sizes(&self) -> BTreeMap<String, usize> {
        let inner = self.inner.borrow();
        let topics = inner.topics.borrow();
        topics
            .logs
            .iter()
            .map(|(k, v)| (k.clone(), v.records.len()))
            .collect()
    }

    /// The driver's state directory, when the topology has persistent stores.
    pub fn state_dir(&self) -> Option<std::path::PathBuf> {
        self.inner.borrow().state.as_ref().map(|s| s.dir.clone())
    }

    /// The application id.
    pub fn application_id(&self) -> String {
        self.inner.borrow().application_id.clone()
    }
}
