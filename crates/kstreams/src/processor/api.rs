//! The `Processor` trait and the context it runs in.

use super::node::Child;
use super::{Record, RecordMetadata};
use crate::error::{Result, StoreError, StreamsError};
use crate::runtime::context::TaskContext;
use crate::runtime::TaskId;
use crate::state::{KeyValueStore, TimestampedKeyValueStore};
use std::time::Duration;

/// What drives a punctuation: the task's stream time (the highest record timestamp seen),
/// or the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// Advances only with data. Fires as soon as data arrives, then on a grid of the
    /// interval aligned to 0; a jump over several intervals fires once.
    StreamTime,
    /// Advances with real time (or the test driver's clock), data or not.
    WallClockTime,
}

/// Identifies a schedule registered with [`ProcessorContext::schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PunctuatorId(pub(crate) u64);

/// A record processor: takes records of `(KIn, VIn)` and forwards records of
/// `(KOut, VOut)` to its children.
///
/// One instance exists per task, created by the supplier given to the topology, so it
/// may keep state in fields without locking. `process` is required; `init`,
/// `punctuate` and `close` default to doing nothing.
///
/// Kafka Streams registers punctuation callbacks as closures; here a processor schedules
/// with [`ProcessorContext::schedule`] and receives the calls in [`Processor::punctuate`],
/// which avoids a closure borrowing the processor.
pub trait Processor<KIn, VIn, KOut = KIn, VOut = VIn>: 'static {
    /// Called once before the first record: fetch stores and schedule punctuations here.
    fn init(&mut self, _ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<()>;

    /// Called when a schedule registered by this processor is due, with the stream time or
    /// wall-clock time that triggered it.
    fn punctuate(
        &mut self,
        _ctx: &mut ProcessorContext<'_, KOut, VOut>,
        _id: PunctuatorId,
        _timestamp: i64,
    ) -> Result<()> {
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) {}
}

/// A processor's view of its task: forwarding, stores, time, record metadata.
pub struct ProcessorContext<'a, K, V> {
    pub(crate) task: &'a mut TaskContext,
    pub(crate) node: &'a super::node::NodeInfo,
    pub(crate) children: &'a [Child<K, V>],
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// Name of the processor node.
    pub fn processor_name(&self) -> &str {
        &self.node.name
    }

    /// The task running this processor.
    pub fn task_id(&self) -> TaskId {
        self.task.task_id
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.task.application_id
    }

    /// Topic, partition and offset of the input record being processed; `None` during
    /// wall-clock punctuation.
    pub fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.task.current.as_ref()
    }

    /// The task's stream time: the highest timestamp it has seen (`i64::MIN` before any).
    pub fn stream_time(&self) -> i64 {
        self.task.stream_time
    }

    /// The stream time the task resumed from its previous owner's commit (`i64::MIN` for
    /// a task that started afresh).
    pub(crate) fn resumed_stream_time(&self) -> i64 {
        self.task.resumed_stream_time
    }

    /// The wall-clock time in milliseconds, as the runtime or test driver last set it.
    pub fn wall_clock_time(&self) -> i64 {
        self.task.wall_clock_ms
    }

    /// Schedules periodic calls to [`Processor::punctuate`].
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> PunctuatorId {
        let ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        let now = self.task.wall_clock_ms;
        self.task.schedules.add(self.node.index, ms, kind, now)
    }

    /// Cancels a schedule.
    pub fn cancel(&mut self, id: PunctuatorId) {
        self.task.schedules.cancel(id);
    }

    fn check_connected(&self, name: &str) -> Result<(), StoreError> {
        if self.node.stores.iter().any(|s| s == name) {
            Ok(())
        } else {
            Err(StoreError::NotFound(name.to_string()))
        }
    }

    /// A typed view of a store connected to this processor.
    pub fn key_value_store<SK: 'static, SV: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStore<SK, SV>, StoreError> {
        self.check_connected(name)?;
        Ok(KeyValueStore::new(self.task.stores.get(name)?.access()?))
    }

    /// A typed view of a timestamped store connected to this processor.
    pub fn timestamped_key_value_store<SK: 'static, SV: 'static>(
        &self,
        name: &str,
    ) -> Result<TimestampedKeyValueStore<SK, SV>, StoreError> {
        self.check_connected(name)?;
        Ok(TimestampedKeyValueStore::new(
            self.task.stores.get(name)?.access()?,
        ))
    }

    /// A typed view of a global store (a [`GlobalKTable`](crate::dsl::GlobalKTable)'s),
    /// shared by every task of the instance. Read it; the global topic writes it.
    pub fn global_store<SK: 'static, SV: 'static>(
        &self,
        name: &str,
    ) -> Result<TimestampedKeyValueStore<SK, SV>, StoreError> {
        let handle = self
            .task
            .globals
            .as_ref()
            .and_then(|g| g.store(name))
            .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
        Ok(TimestampedKeyValueStore::new(handle.access()?))
    }

    /// An error from user code, carrying this processor's name and the input record's
    /// topic, partition and offset.
    pub fn error(&self, message: impl Into<String>) -> StreamsError {
        StreamsError::Processing {
            processor: self.node.name.to_string(),
            origin: self.task.origin(),
            message: message.into(),
        }
    }

    /// Counts a record this processor drops on purpose (null key at an aggregation, say),
    /// so that no record disappears without a trace.
    pub fn record_dropped(&mut self, reason: &str) {
        self.task.metrics.dropped += 1;
        tracing::debug!(
            processor = %self.node.name,
            origin = %self.task.origin(),
            "dropping record: {reason}"
        );
    }

    /// The names of the children, in forwarding order.
    pub fn child_names(&self) -> impl Iterator<Item = &str> {
        self.children.iter().map(|c| &*c.name)
    }
}

impl<K: Clone, V: Clone> ProcessorContext<'_, K, V> {
    /// Forwards a record to every child, in the order they were added.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<()> {
        super::node::forward_all(self.children, self.task, record)
    }

    /// Forwards a record to the child with this name only.
    pub fn forward_to(&mut self, child: &str, record: Record<K, V>) -> Result<()> {
        match self.children.iter().find(|c| &*c.name == child) {
            Some(c) => c.process(self.task, record),
            None => Err(self.error(format!("no child named {child:?}"))),
        }
    }

    /// Forwards a record to the child at `index` in forwarding order.
    pub(crate) fn forward_to_index(&mut self, index: usize, record: Record<K, V>) -> Result<()> {
        match self.children.get(index) {
            Some(c) => c.process(self.task, record),
            None => Err(self.error(format!("no child at index {index}"))),
        }
    }
}
