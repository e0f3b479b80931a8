//! The Kafka runtime: `KafkaStreams` runs a topology against a Kafka cluster.
//!
//! The application id is the consumer group. Each stream thread owns a consumer and a
//! producer; the group's range assignment gives each thread partitions, and the thread
//! creates one task per (subtopology, partition). Starting another instance with the same
//! application id splits the partitions; stopping one moves its partitions to the others.
//!
//! ```no_run
//! use kstreams::runtime::kafka::{KafkaStreams, StreamsConfig};
//! use kstreams::serde::StringSerde;
//! use kstreams::{Consumed, Produced, StreamsBuilder};
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("text-input", Consumed::with(StringSerde, StringSerde))
//!     .filter(|_, v| v.contains('a'))
//!     .map_values(|v| v.to_uppercase())
//!     .to("text-output", Produced::with(StringSerde, StringSerde));
//! let config = StreamsConfig::new("text-transformer", "127.0.0.1:9092").num_stream_threads(2);
//! let streams = KafkaStreams::new(builder.build()?, config);
//! streams.start()?;
//! kstreams::runtime::kafka::wait_for_shutdown_signal(&streams);
//! streams.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod admin;
pub(crate) mod checkpoint;
mod clients;
pub(crate) mod commit_metadata;
mod config;
mod global;
mod headers;
#[cfg(feature = "http")]
pub mod http;
mod inspect;
pub mod introspect;
mod partition_group;
mod private_files;
mod process_id;
pub mod prometheus;
mod restore;
mod sensor;
mod shared;
mod supervisor;
mod thread;
mod topics;

pub use admin::*;
pub use config::{AutoOffsetReset, ProcessingGuarantee, StreamsConfig};
pub use inspect::QueryError;

use crate::error::{Result, StreamsError};
use crate::runtime::{TaskId, TaskMetrics};
use crate::state::{CompositeReadOnlyStore, StoreHandle};
use crate::topology::Topology;
use shared::lock;
pub(crate) use shared::{Shared, ThreadPhase};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use supervisor::spawn_thread;
pub(crate) use supervisor::{catch_thread_panic, global_thread_failed, Env};

/// Client states, as Kafka Streams' `KafkaStreams.State`. Serialized as Kafka names
/// them: `RUNNING`, `PENDING_SHUTDOWN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum State {
    /// Built, not started.
    Created,
    /// Joining the group or moving partitions.
    Rebalancing,
    /// Every thread has its tasks and processes.
    Running,
    /// `close()` was called; threads are stopping.
    PendingShutdown,
    /// Stopped cleanly.
    NotRunning,
    /// A fatal error is shutting the client down.
    PendingError,
    /// Stopped after a fatal error.
    Error,
}

/// What to do when a stream thread fails (Kafka's `StreamThreadExceptionResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamThreadExceptionResponse {
    /// Start a new thread in its place; it rejoins the group and resumes from the last
    /// committed offsets.
    ReplaceThread,
    /// Stop this client (the default, as in Kafka Streams).
    ShutdownClient,
    /// Stop this client. Kafka Streams also asks every other instance to stop through the
    /// group protocol; librdkafka cannot, so other instances keep running.
    ShutdownApplication,
}

/// A hash map looked up for every record (by topic, by partition). foldhash instead of
/// SipHash: several lookups a record cost about 5% of a stateless record's CPU with SipHash.
/// Its seed is random per process, so keys chosen to collide cannot slow it.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Counters of a [`KafkaStreams`] instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ClientMetrics {
    /// The sum of the instance's task counters (drops, handler decisions, dead letters).
    pub tasks: TaskMetrics,
    /// Exactly-once transactions committed.
    pub transactions_committed: u64,
    /// Exactly-once transactions aborted (each followed by a rewind of the thread's tasks,
    /// or by the thread's end).
    pub transactions_aborted: u64,
    /// Failed deliveries that the production handler skipped.
    pub delivery_errors_skipped: u64,
}

/// A running kstreams application instance: it runs a [`Topology`] against a Kafka
/// cluster, and answers interactive queries on the stores of the tasks it owns.
///
/// Build it from a topology and a [`StreamsConfig`], [`start`](Self::start) it, and
/// [`close`](Self::close) it for a final commit. While it runs,
/// [`store`](Self::store) reads a materialized store across the local tasks: the
/// application's state, queried where it is computed.
///
/// Here an instance counts words on the embedded broker (librdkafka's in-process mock)
/// and is queried for a count. The words `kafka`, `streams`, `kafka` are already in the
/// `words` topic, written by an rdkafka producer (hidden).
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams::runtime::kafka::{EmbeddedCluster, NewTopic};
/// use std::time::{Duration, Instant};
/// # use rdkafka::config::ClientConfig;
/// # use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = EmbeddedCluster::start()?;
/// let admin = cluster.admin()?;
/// admin.create_topics(&[NewTopic::new("words", 1)])?;
/// # let producer: BaseProducer = ClientConfig::new()
/// #     .set("bootstrap.servers", cluster.bootstrap_servers())
/// #     .create()?;
/// # for word in ["kafka", "streams", "kafka"] {
/// #     producer
/// #         .send(BaseRecord::to("words").key(word).payload(word))
/// #         .map_err(|(e, _)| e)?;
/// # }
/// # producer.flush(Duration::from_secs(10))?;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("words", Consumed::with(StringSerde, StringSerde))
///     .group_by_key(Grouped::default())
///     .count(Materialized::named("counts"));
/// let topology = builder.build()?;
/// // The embedded broker cannot create topics on request: create the store's changelog
/// // here (on a real cluster, `start` does it).
/// for t in topology.internal_topics("word-count", &|_| Some(1))? {
///     admin.create_topics(&[NewTopic::new(t.name, t.partitions)])?;
/// }
/// # let state_dir = std::env::temp_dir().join(format!("kstreams-doc-{}", std::process::id()));
///
/// let config = StreamsConfig::new("word-count", cluster.bootstrap_servers())
///     .state_dir(&state_dir)
///     .commit_interval(Duration::from_millis(100));
/// let streams = KafkaStreams::new(topology, config);
/// streams.start()?;
///
/// // Interactive query: poll the running instance's store until the count arrives.
/// let deadline = Instant::now() + Duration::from_secs(60);
/// let count = loop {
///     let count = streams
///         .store::<String, i64>("counts")
///         .and_then(|store| store.get(&"kafka".to_string()).ok().flatten());
///     if count == Some(2) || Instant::now() > deadline {
///         break count;
///     }
///     std::thread::sleep(Duration::from_millis(100));
/// };
/// assert_eq!(count, Some(2));
/// streams.close();
/// assert_eq!(streams.state(), State::NotRunning);
/// # let _ = std::fs::remove_dir_all(&state_dir);
/// # Ok(())
/// # }
/// ```
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    shared: Arc<Shared>,
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
    next_thread: Arc<AtomicUsize>,
    database: Mutex<Option<Arc<crate::state::FjallDatabase>>>,
    #[cfg(feature = "http")]
    http: Mutex<Option<http::HttpServer>>,
}

impl KafkaStreams {
    /// A client for `topology`; nothing connects until [`start`](Self::start).
    pub fn new(topology: Topology, config: StreamsConfig) -> Self {
        KafkaStreams {
            topology: Arc::new(topology),
            config: Arc::new(config),
            shared: Arc::new(Shared::new()),
            handles: Arc::new(Mutex::new(Vec::new())),
            next_thread: Arc::new(AtomicUsize::new(0)),
            database: Mutex::new(None),
            #[cfg(feature = "http")]
            http: Mutex::new(None),
        }
    }

    /// Called with `(old, new)` on every state change.
    pub fn set_state_listener(&self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        *lock(&self.shared.listener) = Some(Box::new(listener));
    }

    /// Decides what happens when a stream thread fails.
    pub fn set_uncaught_exception_handler(
        &self,
        handler: impl Fn(&StreamsError) -> StreamThreadExceptionResponse + Send + Sync + 'static,
    ) {
        *lock(&self.shared.handler) = Some(Box::new(handler));
    }

    /// The current state.
    pub fn state(&self) -> State {
        *lock(&self.shared.state)
    }

    /// The tasks each live thread runs now.
    pub fn assigned_tasks(&self) -> Vec<TaskId> {
        let mut v: Vec<TaskId> = lock(&self.shared.threads)
            .values()
            .filter(|(p, _)| *p != ThreadPhase::Dead)
            .flat_map(|(_, t)| t.iter().copied())
            .collect();
        v.sort();
        v
    }

    /// A read-only view of store `name` across this instance's tasks, while it runs
    /// (Kafka Streams' interactive queries, local instance only). Keys of partitions other
    /// instances own are not here. `None` when no local task has the store, or its types
    /// are not `(K, V)`.
    pub fn store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<CompositeReadOnlyStore<K, V>> {
        if let Some(global) = lock(&self.shared.globals)
            .as_ref()
            .and_then(|g| g.store(name))
        {
            return CompositeReadOnlyStore::new(vec![global.clone()]);
        }
        let handles: Vec<StoreHandle> = lock(&self.shared.stores)
            .values()
            .flat_map(|v| v.iter().filter(|h| h.name() == name).cloned())
            .collect();
        if handles.is_empty() {
            return None;
        }
        CompositeReadOnlyStore::new(handles)
    }

    /// Changelog records applied by restoration since start, and the time it took.
    pub fn restoration(&self) -> (u64, Duration) {
        (
            self.shared.restored.load(Ordering::Relaxed),
            Duration::from_nanos(self.shared.restore_nanos.load(Ordering::Relaxed)),
        )
    }

    /// The instance's counters: its tasks' (live ones as of their last commit, closed ones
    /// in full), transactions, and deliveries the production handler skipped.
    pub fn metrics(&self) -> ClientMetrics {
        self.shared.client_metrics()
    }

    /// The instance as it stands: its state, every live thread with its tasks, their
    /// partitions' offsets and lag, stores and restoration, the threads' loop measurements,
    /// and the process's CPU and memory (Kafka Streams' `metadataForLocalThreads` and
    /// `metrics()` in one). Threads publish about once a second; this never waits on them.
    pub fn local_state(&self) -> introspect::LocalState {
        self.inspector().local_state()
    }

    /// [`local_state`](Self::local_state) in the Prometheus text format, with Kafka
    /// Streams' metric names: what `/metrics` serves. See [`prometheus`] for the names.
    pub fn prometheus_text(&self) -> String {
        prometheus::render(&self.local_state())
    }

    /// Lets store `name` be read by text key, with [`query_json`](Self::query_json) and
    /// at `/stores/{name}/{key}`: keys parse with `K::from_str`, values serialize with
    /// serde. Only key-value stores (windowed ones are read through [`store`](Self::store)).
    pub fn expose_store<K, V>(&self, name: &str)
    where
        K: std::str::FromStr + 'static,
        K::Err: std::fmt::Display,
        V: serde::Serialize + 'static,
    {
        lock(&self.shared.queries)
            .insert(name.to_string(), Arc::new(inspect::Typed::<K, V>::new()));
    }

    /// The value of `key` in store `name`, as JSON: `Ok(None)` when this instance owns
    /// the key's partition and the key has no value. The key's partition is found as
    /// Kafka Streams' `queryMetadataForKey` does (the store's key serde, the default
    /// partitioner); a partition this instance does not serve now is a
    /// [`QueryError::NotHosted`], never another partition's answer.
    ///
    /// As in Kafka Streams, this assumes the store's input was partitioned by the default
    /// partitioner over that same key serde (what kstreams' repartition topics and Kafka's
    /// Java producers do). Input written with another partitioner (librdkafka's default
    /// `consistent_random`, a custom `StreamPartitioner`) puts keys where this does not
    /// look, and a key that exists may then answer `Ok(None)`.
    pub fn query_json(
        &self,
        name: &str,
        key: &str,
    ) -> std::result::Result<Option<serde_json::Value>, QueryError> {
        self.inspector().query_json(name, key)
    }

    fn inspector(&self) -> inspect::Inspector {
        inspect::Inspector {
            topology: self.topology.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Records processed by this instance since start.
    pub fn processed(&self) -> u64 {
        self.shared.processed.load(Ordering::Relaxed)
    }

    /// Checks topics, creates internal topics, and starts the stream threads.
    pub fn start(&self) -> Result<()> {
        if self.state() != State::Created {
            return Err(StreamsError::InvalidState(format!(
                "start() in state {:?}",
                self.state()
            )));
        }
        self.config.validate()?;
        // Bound before anything starts, so a taken port fails `start`, and `/health`
        // answers while topics are checked and stores restore.
        #[cfg(feature = "http")]
        if let Some(addr) = &self.config.http_listener {
            let server = http::HttpServer::serve(addr, &self.config, self.inspector())?;
            *lock(&self.http) = Some(server);
        }
        let started = self.start_threads();
        if started.is_err() {
            self.stop_http();
        }
        #[cfg(feature = "http")]
        if let Some(server) = lock(&self.http).as_mut() {
            // The instance runs without it, unseen by the others: not worth stopping it.
            if let Err(e) = server.start_status(&self.config) {
                tracing::error!("the instance will not publish its status: {e}");
            }
        }
        started
    }

    /// The value of `key` in store `name`, as JSON, from whichever instance of the
    /// application owns the key: this one ([`query_json`](Self::query_json)), or the one
    /// the status topic says runs the key's task, asked over HTTP. Kafka Streams'
    /// `queryMetadataForKey` and the remote call it leaves to the user, in one.
    ///
    /// A key whose task is moving answers [`QueryError::Rebalancing`], one still
    /// restoring [`QueryError::Unavailable`]: ask again. Needs
    /// [`StreamsConfig::http_listener`] on every instance.
    #[cfg(feature = "http")]
    pub fn query_key(
        &self,
        name: &str,
        key: &str,
    ) -> std::result::Result<Option<serde_json::Value>, QueryError> {
        // Not under the lock: asking another instance may take seconds.
        let node = lock(&self.http).as_ref().map(http::HttpServer::node);
        match node {
            Some(node) => node.query_key(name, key),
            None => self.query_json(name, key),
        }
    }

    /// Every instance of the application, as the status topic shows them (this one as
    /// it is now): their addresses, states, threads, tasks and metrics. Empty without
    /// [`StreamsConfig::http_listener`].
    #[cfg(feature = "http")]
    pub fn instances(&self) -> Vec<http::status::InstanceStatus> {
        let node = lock(&self.http)
            .as_ref()
            .map(|s| (s.node(), s.advertised().to_string()));
        match node {
            Some((node, advertised)) => node.instances(Some(advertised)),
            None => Vec::new(),
        }
    }

    /// The address the HTTP endpoints listen on, once [`start`](Self::start)ed with
    /// [`StreamsConfig::http_listener`] (with the port chosen, when 0 was asked for).
    #[cfg(feature = "http")]
    pub fn http_local_addr(&self) -> Option<std::net::SocketAddr> {
        lock(&self.http).as_ref().map(http::HttpServer::local_addr)
    }

    fn stop_http(&self) {
        #[cfg(feature = "http")]
        {
            // Taken out first: stopping joins threads, which must not hold the lock.
            let server = lock(&self.http).take();
            if let Some(mut server) = server {
                server.stop();
            }
        }
    }

    fn start_threads(&self) -> Result<()> {
        let partitions = topics::prepare(
            &self.topology,
            &self.config,
            &clients::admin_config(&self.config),
        )?;
        let partitions: Arc<FastMap<String, u32>> = Arc::new(partitions.into_iter().collect());
        *lock(&self.shared.partitions) = partitions.clone();
        // The state directory and the application's directory in it: private, the user's
        // own, not links (checkpoints and the process id live there).
        let app_dir = self.config.state_dir.join(&self.config.application_id);
        for dir in [&self.config.state_dir, &app_dir] {
            private_files::ensure_private_dir(dir).map_err(|e| {
                StreamsError::Config(format!("state directory {}: {e}", dir.display()))
            })?;
        }
        let database = if self.topology.has_persistent_stores() {
            let dir = self
                .config
                .state_dir
                .join(&self.config.application_id)
                .join("fjall");
            Some(crate::state::FjallDatabase::open(
                &dir,
                self.config.memory_budget,
            )?)
        } else {
            None
        };
        *lock(&self.database) = database.clone();
        let process_id = if self.config.exactly_once() {
            let dir = self.config.state_dir.join(&self.config.application_id);
            let id = process_id::load_or_create(&dir).map_err(|e| {
                StreamsError::Config(format!(
                    "cannot keep the process id under {}: {e}",
                    dir.display()
                ))
            })?;
            Some(Arc::<str>::from(id))
        } else {
            None
        };
        let cache_budget =
            crate::state::CacheBudget::new(self.config.memory_budget.record_cache_bytes());
        self.shared.running.store(true, Ordering::Release);
        self.shared.set_state(State::Rebalancing);
        // Global tables are loaded in full before any stream thread starts.
        let globals = if self.topology.global_topics().is_empty() {
            None
        } else {
            let loaded =
                global::bootstrap(&self.topology, &self.config, &partitions, database.as_ref());
            let (stores, consumer) = match loaded {
                Ok(x) => x,
                Err(e) => {
                    self.shared.running.store(false, Ordering::Release);
                    self.shared.set_state(State::Error);
                    return Err(e);
                }
            };
            let handle = global::spawn(
                stores.clone(),
                consumer,
                self.shared.clone(),
                &self.config.application_id,
            )?;
            lock(&self.handles).push(handle);
            *lock(&self.shared.globals) = Some(stores.clone());
            Some(stores)
        };
        for _ in 0..self.config.num_stream_threads {
            spawn_thread(
                Env {
                    topology: self.topology.clone(),
                    config: self.config.clone(),
                    shared: self.shared.clone(),
                    partitions: partitions.clone(),
                    database: database.clone(),
                    cache_budget: cache_budget.clone(),
                    globals: globals.clone(),
                    process_id: process_id.clone(),
                },
                self.handles.clone(),
                self.next_thread.clone(),
            );
        }
        Ok(())
    }

    /// Stops the threads after their final commit, waiting at most `timeout`. Returns
    /// whether every thread stopped in time.
    pub fn close_timeout(&self, timeout: Duration) -> bool {
        if matches!(self.state(), State::Created) {
            self.shared.set_state(State::NotRunning);
            self.stop_http();
            return true;
        }
        let error = matches!(self.state(), State::PendingError | State::Error);
        if !error {
            self.shared.set_state(State::PendingShutdown);
        }
        self.shared.running.store(false, Ordering::Release);
        let deadline = crate::time::deadline(timeout);
        loop {
            let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.handles));
            if handles.is_empty() {
                break;
            }
            let mut handles = handles.into_iter();
            while let Some(h) = handles.next() {
                while !h.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if h.is_finished() {
                    let _ = h.join();
                } else {
                    // Kept, so a later close waits for them instead of reporting a stop
                    // that has not happened.
                    let mut kept = lock(&self.handles);
                    kept.push(h);
                    kept.extend(handles);
                    return false;
                }
            }
        }
        self.shared.set_state(if error {
            State::Error
        } else {
            State::NotRunning
        });
        self.stop_http();
        true
    }

    /// Stops the threads after their final commit.
    pub fn close(&self) {
        self.close_timeout(Duration::from_secs(300));
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if self.shared.is_running() {
            self.close();
        }
    }
}

/// Blocks until SIGINT or SIGTERM arrives, or the client stops on its own (error). Call
/// [`KafkaStreams::close`] afterwards for a graceful shutdown with a final commit.
pub fn wait_for_shutdown_signal(streams: &KafkaStreams) {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
            tracing::warn!("cannot watch signal {sig}: {e}");
        }
    }
    while !flag.load(Ordering::Relaxed) && streams.shared.is_running() {
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::info!("shutting down");
}
