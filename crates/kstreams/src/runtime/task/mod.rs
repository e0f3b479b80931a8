//! The task step shared by every runtime.

use super::collector::{OutgoingRecord, RecordCollector};
use super::context::TaskContext;
use super::metrics::TaskMetrics;
use super::punctuation::Schedules;
use super::TaskId;
use crate::error::{Origin, StoreError};
use crate::error::{Result, StreamsError, TopologyError};
use crate::processor::node::{take_panicked_node, Lifecycle};
use crate::processor::source::{InputRecord, RawSource};
use crate::processor::{
    panic_message, ErrorContext, HandlerResponse, Headers, LogAndFail, PunctuationType, RawInput,
    SharedDeserializationHandler, SharedProcessingHandler, SharedProductionHandler,
};
use crate::state::{KeyValueBytesStore, StoreHandle, StoreInit, StoreRegistry};
use crate::topology::instantiate::{Instance, Instantiator};
use crate::topology::Topology;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

mod lifecycle;
use lifecycle::Phase;

/// Settings a task needs from its runtime.
#[derive(Clone)]
pub struct TaskConfig {
    /// The application id: consumer group, and prefix of internal topics.
    pub application_id: String,
    /// What to do with records that fail to deserialize.
    pub deserialization_handler: SharedDeserializationHandler,
    /// What to do when user code fails on a record.
    pub processing_handler: SharedProcessingHandler,
    /// What to do when an output record cannot be serialized or sent.
    pub production_handler: SharedProductionHandler,
    /// Where dead-letter handlers send failed records.
    pub dead_letter_topic: Option<String>,
    /// Directory for this task's persistent stores, if any.
    pub task_dir: Option<PathBuf>,
    /// Wall-clock time at creation, in milliseconds.
    pub wall_clock_ms: i64,
    /// The instance's persistent database, for persistent stores.
    pub database: Option<std::sync::Arc<crate::state::FjallDatabase>>,
    /// The instance's record-cache budget; `None` turns record caches off.
    pub cache_budget: Option<std::sync::Arc<crate::state::CacheBudget>>,
    /// The instance's global stores, when the topology has global tables.
    pub globals: Option<std::sync::Arc<crate::topology::GlobalStores>>,
}

impl TaskConfig {
    /// Defaults for `application_id`: fail on bad input, no state directory, clock at 0.
    pub fn new(application_id: impl Into<String>) -> Self {
        TaskConfig {
            application_id: application_id.into(),
            deserialization_handler: Arc::new(LogAndFail),
            processing_handler: Arc::new(LogAndFail),
            production_handler: Arc::new(LogAndFail),
            dead_letter_topic: None,
            task_dir: None,
            wall_clock_ms: 0,
            database: None,
            cache_budget: None,
            globals: None,
        }
    }
}

struct Source {
    topic: Arc<str>,
    node: Box<dyn RawSource>,
}

/// One subtopology instantiated for one partition.
///
/// A task is driven from one thread: the test driver or a stream thread hands it records
/// one at a time with [`Task::process`] and advances wall-clock time with
/// [`Task::punctuate_wall_clock`].
pub struct Task {
    ctx: TaskContext,
    sources: Vec<Source>,
    lifecycles: Vec<Rc<RefCell<dyn Lifecycle>>>,
    /// Records each processor and sink took.
    processed: Vec<(Arc<str>, Rc<std::cell::Cell<u64>>)>,
    phase: Phase,
    /// How many processors initialized, parents first (`lifecycles` reversed): those are the
    /// ones closed.
    initialized: usize,
    /// Reused for changelog keys rewritten into Kafka's layouts.
    changelog_key: Vec<u8>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.ctx.task_id)
            .field(
                "sources",
                &self.sources.iter().map(|s| &s.topic).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Task {
    /// Creates the task with its stores open and its processors not yet initialized: the
    /// stream thread restores the stores first, then calls [`initialize`](Self::initialize).
    pub(crate) fn new(
        topology: &Topology,
        id: TaskId,
        config: &TaskConfig,
        collector: Box<dyn RecordCollector>,
    ) -> Result<Task> {
        let sub = topology
            .subtopologies
            .get(id.subtopology as usize)
            .ok_or_else(|| {
                StreamsError::Topology(TopologyError::Invalid(format!(
                    "task {id}: no subtopology {}",
                    id.subtopology
                )))
            })?;
        let app = config.application_id.as_str();
        let wants_dlq = config.deserialization_handler.may_dead_letter()
            || config.processing_handler.may_dead_letter();
        if wants_dlq && config.dead_letter_topic.is_none() {
            return Err(StreamsError::Config(
                "a dead-letter handler is configured but no dead-letter topic".into(),
            ));
        }
        let defs: Vec<_> = sub.stores.iter().map(|&i| &topology.stores[i]).collect();
        let stores = StoreRegistry::open(
            &defs,
            &StoreInit {
                application_id: app,
                task_id: id,
                task_dir: config.task_dir.as_deref(),
                database: config.database.as_ref(),
                cache_budget: config.cache_budget.as_ref(),
            },
        )?;
        let mut inst = Instantiator::new(topology, app, config.deserialization_handler.clone());
        let mut sources = Vec::new();
        for (topic, node) in &sub.sources {
            match inst.build(*node)? {
                Instance::Source(src) => sources.push(Source {
                    topic: topic.resolve(app).into(),
                    node: src,
                }),
                Instance::Node(_) => {
                    return Err(StreamsError::Topology(TopologyError::Invalid(format!(
                        "source topic {} is not read by a source node",
                        topic.name
                    ))))
                }
            }
        }
        let lifecycles = std::mem::take(&mut inst.lifecycles);
        let processed = std::mem::take(&mut inst.processed);
        Ok(Task {
            ctx: TaskContext {
                task_id: id,
                application_id: app.into(),
                current: None,
                current_timestamp: -1,
                stream_time: i64::MIN,
                resumed_stream_time: i64::MIN,
                processor_metadata: Default::default(),
                wall_clock_ms: config.wall_clock_ms,
                collector,
                stores,
                schedules: Schedules::default(),
                metrics: TaskMetrics::default(),
                globals: config.globals.clone(),
                processing_handler: config.processing_handler.clone(),
                production_handler: config.production_handler.clone(),
                dead_letter_topic: config.dead_letter_topic.as_deref().map(Arc::from),
            },
            sources,
            lifecycles,
            processed,
            phase: Phase::Created,
            initialized: 0,
            changelog_key: Vec::new(),
        })
    }

    /// The task id.
    pub fn id(&self) -> TaskId {
        self.ctx.task_id
    }

    /// The resolved topics this task reads.
    pub fn source_topics(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|s| &*s.topic)
    }

    /// Processes one input record through the subtopology, then runs any stream-time
    /// punctuation that became due.
    pub fn process(&mut self, record: InputRecord<'_>) -> Result<()> {
        if self.phase != Phase::Running {
            return Err(StreamsError::InvalidState(format!(
                "task {} is {}: it takes records only while running",
                self.ctx.task_id, self.phase
            )));
        }
        let Some(src) = self.sources.iter_mut().find(|s| &*s.topic == record.topic) else {
            return Err(StreamsError::UnknownTopic {
                task: self.ctx.task_id.to_string(),
                topic: record.topic.to_string(),
            });
        };
        self.ctx.metrics.processed += 1;
        let topic = src.topic.clone();
        self.ctx.current_timestamp = record.timestamp;
        // Kept for a dead-letter record; the headers only when that can happen, since
        // the source moves them into the typed record.
        let (key, value, timestamp) = (record.key, record.value, record.timestamp);
        let headers = self
            .ctx
            .processing_handler
            .may_dead_letter()
            .then(|| record.headers.clone());
        let ctx = &mut self.ctx;
        let result = catch_unwind(AssertUnwindSafe(|| {
            src.node.process_raw(ctx, &topic, record)
        }))
        .unwrap_or_else(|payload| {
            // Outside any node: a serde or timestamp extractor of the source.
            let processor = take_panicked_node()
                .map_or_else(|| format!("source of {topic}"), |n| n.to_string());
            Err(StreamsError::Processing {
                processor,
                origin: self.ctx.origin(),
                message: panic_message(&*payload),
            })
        });
        let handled = match result {
            Err(err) if is_processing_failure(&err) => {
                let empty = Headers::new();
                let raw = RawInput {
                    key,
                    value,
                    timestamp,
                    headers: headers.as_ref().unwrap_or(&empty),
                };
                self.on_processing_error(err, Some(raw))
            }
            other => other,
        };
        self.ctx.current = None;
        handled?;
        self.stage_changelogs()?;
        if self.ctx.schedules.any(PunctuationType::StreamTime) {
            let now = self.ctx.stream_time;
            self.run_due(PunctuationType::StreamTime, now)?;
        }
        Ok(())
    }

    /// Applies the processing handler to a failure of user code or of a store on a
    /// record; `raw` is `None` for a punctuation, which has no input to dead-letter.
    fn on_processing_error(&mut self, err: StreamsError, raw: Option<RawInput<'_>>) -> Result<()> {
        let origin = error_origin(&err)
            .cloned()
            .unwrap_or_else(|| self.ctx.origin());
        let processor = match &err {
            StreamsError::Processing { processor, .. } => Some(processor.as_str()),
            _ => None,
        };
        let response = self
            .ctx
            .processing_handler
            .handle(&ErrorContext::of(&origin, processor), &err);
        match (response, raw) {
            (HandlerResponse::DeadLetter, Some(raw)) => {
                self.ctx.metrics.processing_errors += 1;
                self.ctx.dead_letter(raw, &err)
            }
            (HandlerResponse::Continue | HandlerResponse::DeadLetter, _) => {
                tracing::warn!(
                    task = %self.ctx.task_id,
                    handler = self.ctx.processing_handler.name(),
                    "skipping {}: {err}",
                    if origin.offset < 0 {
                        "punctuation"
                    } else {
                        "record"
                    }
                );
                self.ctx.metrics.dropped += 1;
                self.ctx.metrics.processing_errors += 1;
                Ok(())
            }
            (HandlerResponse::Fail, _) => {
                tracing::error!(
                    task = %self.ctx.task_id,
                    handler = self.ctx.processing_handler.name(),
                    "{err}"
                );
                Err(err)
            }
        }
    }

    /// Ends a step for the logged stores: their writes take the step's timestamp and wait
    /// for the commit, where a key's writes go out once ([`ChangeLoggingStore`]); a store
    /// whose pending writes outgrew their bound sends them now.
    ///
    /// [`ChangeLoggingStore`]: crate::state::ChangeLoggingStore
    fn stage_changelogs(&mut self) -> Result<()> {
        self.send_changelogs_where(|store, now| store.stamp_logged(now))
    }

    /// Sends every logged store's pending writes to its changelog topic, in this task's
    /// partition: the first step of a commit, before the producer is flushed.
    fn send_changelogs(&mut self) -> Result<()> {
        self.send_changelogs_where(|store, now| {
            store.stamp_logged(now);
            true
        })
    }

    /// Ends the step in every logged store, and sends the pending writes of those for
    /// which `send` (given the store and the step's timestamp) says so.
    fn send_changelogs_where(
        &mut self,
        send: impl Fn(&mut dyn KeyValueBytesStore, i64) -> bool,
    ) -> Result<()> {
        let partition = self.ctx.task_id.partition;
        let now = self.ctx.current_timestamp;
        let headers = Headers::new();
        let mut key_buf = std::mem::take(&mut self.changelog_key);
        let collector = &mut self.ctx.collector;
        let result = self.ctx.stores.iter().try_for_each(|handle| {
            let Some(topic) = handle.changelog.as_deref() else {
                return Ok(());
            };
            let mut store = handle.lock();
            if !send(&mut **store, now) {
                return Ok(());
            }
            let (format, name) = (handle.changelog_format, handle.name());
            store.drain_logged(&mut |key, value, timestamp| {
                let logged = format.logged_as(name, key, value, timestamp, &mut key_buf)?;
                collector.send(OutgoingRecord {
                    topic,
                    partition: Some(partition),
                    key: Some(logged.key),
                    value: logged.value,
                    timestamp: logged.timestamp,
                    headers: &headers,
                })
            })
        });
        self.changelog_key = key_buf;
        result
    }

    /// The logged stores of this task, as (store, changelog topic).
    pub fn changelogs(&self) -> Vec<(String, String)> {
        self.ctx
            .stores
            .iter()
            .filter_map(|h| {
                h.changelog
                    .as_deref()
                    .map(|t| (h.name().to_string(), t.to_string()))
            })
            .collect()
    }

    /// Applies one changelog record (its key, value or `None` to delete, and timestamp) to a
    /// store before processing starts, turning Kafka's changelog layout back into the
    /// store's.
    pub fn restore(
        &mut self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<()> {
        let handle = self.ctx.stores.get(store)?;
        let (key, value) = handle
            .changelog_format
            .restored_from(store, key, value, timestamp)?;
        handle.lock().restore(&key, value.as_deref())?;
        Ok(())
    }

    /// The layout `store`'s changelog records have, to turn them back into store writes.
    pub(crate) fn changelog_format(&self, store: &str) -> Result<crate::state::ChangelogFormat> {
        Ok(self.ctx.stores.get(store)?.changelog_format)
    }

    /// Applies a batch of store writes made from changelog records
    /// ([`changelog_format`](Self::changelog_format)) to a store before processing starts.
    pub(crate) fn restore_batch(
        &mut self,
        store: &str,
        batch: &crate::state::RestoreBatch,
    ) -> Result<()> {
        self.ctx.stores.get(store)?.lock().restore_batch(batch)?;
        Ok(())
    }

    /// Sets the wall clock without running punctuation (before `initialize`, whose
    /// processors schedule from it).
    pub(crate) fn set_wall_clock(&mut self, now_ms: i64) {
        self.ctx.wall_clock_ms = now_ms;
    }

    /// Sets the wall clock and runs wall-clock punctuation that became due.
    pub fn punctuate_wall_clock(&mut self, now_ms: i64) -> Result<()> {
        self.ctx.wall_clock_ms = now_ms;
        if self.phase != Phase::Running {
            return Ok(());
        }
        self.run_due(PunctuationType::WallClockTime, now_ms)
    }

    fn run_due(&mut self, kind: PunctuationType, now: i64) -> Result<()> {
        for (node, id) in self.ctx.schedules.due(kind, now) {
            self.ctx.metrics.punctuations += 1;
            self.ctx.current_timestamp = now;
            let lifecycle = self.lifecycles[node].clone();
            let ctx = &mut self.ctx;
            let result = catch_unwind(AssertUnwindSafe(|| {
                lifecycle.borrow_mut().punctuate(ctx, id, now)
            }))
            .unwrap_or_else(|payload| {
                Err(StreamsError::Processing {
                    processor: lifecycle.borrow().name().to_string(),
                    origin: self.ctx.origin(),
                    message: panic_message(&*payload),
                })
            });
            match result {
                Err(err) if is_processing_failure(&err) => self.on_processing_error(err, None)?,
                other => other?,
            }
            // Also after a skipped failure: what the punctuation wrote before it failed is
            // in the store, and the changelog must say so.
            self.stage_changelogs()?;
        }
        Ok(())
    }

    /// The task's stream time (`i64::MIN` before the first record).
    pub fn stream_time(&self) -> i64 {
        self.ctx.stream_time
    }

    /// Resumes the stream time a previous owner of this task reached (from the committed
    /// offsets' metadata), so windows closed before a restart stay closed.
    pub fn resume_stream_time(&mut self, stream_time: i64) {
        self.ctx.stream_time = self.ctx.stream_time.max(stream_time);
        self.ctx.resumed_stream_time = self.ctx.resumed_stream_time.max(stream_time);
    }

    /// Processors' progress to commit with the offsets (Kafka Streams' `ProcessorMetadata`):
    /// by key, such as an emit-final aggregation's store name, a time.
    pub fn processor_metadata(&self) -> &std::collections::BTreeMap<String, i64> {
        &self.ctx.processor_metadata
    }

    /// Resumes a processor's progress committed by a previous owner. Each of the task's
    /// partitions carries it; the latest (highest) value wins, as in Kafka Streams.
    pub fn resume_processor_metadata(&mut self, key: &str, value: i64) {
        let slot = self
            .ctx
            .processor_metadata
            .entry(key.to_string())
            .or_insert(value);
        *slot = (*slot).max(value);
    }

    /// Resumes the partition time of input topic `topic` committed by a previous owner (and
    /// the stream time with it), so the time committed next never goes back.
    pub fn resume_partition_time(&mut self, topic: &str, time: i64) {
        if let Some(s) = self.sources.iter_mut().find(|s| &*s.topic == topic) {
            s.node.resume_partition_time(time);
        }
        self.resume_stream_time(time);
    }

    /// The partition time of input topic `topic`: the highest timestamp taken from this
    /// task's partition of it, `None` before any.
    pub fn partition_time(&self, topic: &str) -> Option<i64> {
        self.sources
            .iter()
            .find(|s| &*s.topic == topic)
            .map(|s| s.node.partition_time())
            .filter(|&t| t >= 0)
    }

    /// Records each processor and sink node took since the task was created (Kafka
    /// Streams' processor-node `process-total`), in topology order; source nodes take
    /// every record of the task ([`TaskMetrics::processed`]).
    pub fn processor_counts(&self) -> impl Iterator<Item = (&str, u64)> {
        self.processed.iter().map(|(name, n)| (&**name, n.get()))
    }

    /// The task's counters.
    pub fn metrics(&self) -> &TaskMetrics {
        &self.ctx.metrics
    }

    /// This task's copy of a store.
    pub fn store(&self, name: &str) -> Option<StoreHandle> {
        self.ctx.stores.get(name).ok().cloned()
    }

    /// All of this task's stores.
    pub fn stores(&self) -> impl Iterator<Item = &StoreHandle> {
        self.ctx.stores.iter()
    }

    /// The collector, e.g. to flush a producer before committing.
    pub fn collector_mut(&mut self) -> &mut dyn RecordCollector {
        &mut *self.ctx.collector
    }

    /// Flushes record caches and stores, and sends the changelog records that produces
    /// (the first half of a commit; the runtime then flushes the producer).
    pub fn flush(&mut self) -> Result<()> {
        self.ctx.stores.flush_caches()?;
        self.send_changelogs()?;
        self.ctx.stores.flush()?;
        Ok(())
    }

    /// Writes record caches down and sends the resulting changelog records, without
    /// making the engines durable (the test driver does this after every record, as
    /// Kafka's TopologyTestDriver commits after every record).
    pub fn flush_caches(&mut self) -> Result<()> {
        self.ctx.stores.flush_caches()?;
        self.send_changelogs()
    }

    /// Makes the stores' engines durable (the end of [`flush`](Self::flush)). A commit
    /// over several tasks writes every task's caches down first and then calls this on
    /// each: the tasks share one database, whose journal then needs a single fsync.
    pub fn flush_stores(&mut self) -> Result<()> {
        self.ctx.stores.flush()?;
        Ok(())
    }
}

/// Whether the processing handler decides about `err`: user code failed, or a store could
/// not encode or decode a record's key or value. A failing storage engine is not one
/// record's fault; skipping would drop every record's state update, so it fails the task.
fn is_processing_failure(err: &StreamsError) -> bool {
    matches!(
        err,
        StreamsError::Processing { .. }
            | StreamsError::Store {
                source: StoreError::Serde { .. },
                ..
            }
    )
}

/// The input coordinates an error carries.
fn error_origin(err: &StreamsError) -> Option<&Origin> {
    match err {
        StreamsError::Processing { origin, .. } | StreamsError::Store { origin, .. } => {
            Some(origin)
        }
        _ => None,
    }
}
