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
#[non_exhaustive]
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
///
/// A processor plugs into the DSL with [`KStream::process`](crate::KStream::process), which
/// also connects the stores it uses. This one drops retried payments: it remembers every
/// payment id it has forwarded in a store, so the memory survives a restart or a move to
/// another instance (the store is changelogged). The `TestDriver` of `kstreams-testkit`
/// runs it without a broker:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams::state::{KeyValueStore, Stores};
/// use kstreams_testkit::TestDriver;
///
/// /// Forwards the first payment of each id; drops the retries.
/// #[derive(Default)]
/// struct DropRetries {
///     seen: Option<KeyValueStore<String, i64>>,
/// }
///
/// impl Processor<String, String> for DropRetries {
///     fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> kstreams::Result<()> {
///         self.seen = Some(ctx.key_value_store("seen-payments")?);
///         Ok(())
///     }
///
///     fn process(
///         &mut self,
///         ctx: &mut ProcessorContext<'_, String, String>,
///         payment: Record<String, String>,
///     ) -> kstreams::Result<()> {
///         let seen = self.seen.as_mut().expect("init runs first");
///         let Some(id) = &payment.key else {
///             ctx.record_dropped("payment without an id");
///             return Ok(());
///         };
///         if seen.get(id)?.is_some() {
///             return Ok(());
///         }
///         seen.put(id, &payment.timestamp)?;
///         ctx.forward(payment)
///     }
/// }
///
/// let builder = StreamsBuilder::new();
/// builder.add_state_store(Stores::key_value_store_builder(
///     Stores::persistent_key_value_store("seen-payments"),
///     StringSerde,
///     I64Serde,
/// ));
/// builder
///     .stream("payments", Consumed::with(StringSerde, StringSerde))
///     .process(DropRetries::default, &["seen-payments"])
///     .to("payments-once", Produced::with(StringSerde, StringSerde));
///
/// let driver = TestDriver::new(builder.build()?)?;
/// let payments = driver.input_topic("payments", StringSerde, StringSerde);
/// payments.pipe_input("p-1".to_string(), "alice pays 20".to_string())?;
/// payments.pipe_input("p-1".to_string(), "alice pays 20".to_string())?; // a retry
/// payments.pipe_input("p-2".to_string(), "bob pays 5".to_string())?;
///
/// let once = driver.output_topic("payments-once", StringSerde, StringSerde);
/// assert_eq!(once.read_values(), ["alice pays 20", "bob pays 5"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Processor<KIn, VIn, KOut = KIn, VOut = VIn>: 'static {
    /// Called once before the first record, once the task's stores are restored (as in
    /// Kafka Streams): fetch stores, load what is needed from them, and schedule
    /// punctuations here. A task's processors initialize from its sources down, and close
    /// in the same order. An error or a panic here fails the task
    /// ([`StreamsError::ProcessorInit`](crate::StreamsError::ProcessorInit)).
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

    /// Called once when the task closes, if `init` succeeded, before the task's last
    /// commit, as Kafka Streams closes processors when it suspends a task: stores fetched
    /// in `init` are still open, and what is written to them here is committed and reaches
    /// their changelogs, so the partition's next owner restores it. After a failure that
    /// keeps the task from committing it still runs, but nothing it writes is committed. A
    /// panic here is logged and the other processors still close.
    fn close(&mut self) {}
}

/// A processor's view of its task: forwarding, stores, time, record metadata.
///
/// Every [`Processor`] method gets one. Besides [`forward`](Self::forward), it gives the
/// processor its connected stores, the input record's origin
/// ([`record_metadata`](Self::record_metadata)), and schedules
/// ([`schedule`](Self::schedule)). This processor counts page views per page in a store
/// and, once a minute of wall-clock time, forwards every page's total, as Kafka Streams'
/// word-count processor does:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams::processor::{PunctuationType, PunctuatorId};
/// use kstreams::state::Stores;
/// use kstreams_testkit::TestDriver;
/// use std::time::Duration;
///
/// struct ViewCounter;
///
/// impl Processor<String, String, String, i64> for ViewCounter {
///     fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> kstreams::Result<()> {
///         ctx.schedule(Duration::from_secs(60), PunctuationType::WallClockTime);
///         Ok(())
///     }
///
///     fn process(
///         &mut self,
///         ctx: &mut ProcessorContext<'_, String, i64>,
///         view: Record<String, String>,
///     ) -> kstreams::Result<()> {
///         let page = view.value;
///         let mut counts = ctx.key_value_store::<String, i64>("views")?;
///         let count = counts.get(&page)?.unwrap_or(0) + 1;
///         counts.put(&page, &count)
///             .map_err(|e| ctx.error(format!("counting a view of {page}: {e}")))
///     }
///
///     fn punctuate(
///         &mut self,
///         ctx: &mut ProcessorContext<'_, String, i64>,
///         _id: PunctuatorId,
///         now: i64,
///     ) -> kstreams::Result<()> {
///         let counts = ctx.key_value_store::<String, i64>("views")?;
///         for (page, count) in counts.all()? {
///             ctx.forward(Record::new(Some(page), count, now))?;
///         }
///         Ok(())
///     }
/// }
///
/// let builder = StreamsBuilder::new();
/// builder.add_state_store(Stores::key_value_store_builder(
///     Stores::in_memory_key_value_store("views"),
///     StringSerde,
///     I64Serde,
/// ));
/// builder
///     .stream("page-views", Consumed::with(StringSerde, StringSerde))
///     .process(|| ViewCounter, &["views"])
///     .to("views-per-page", Produced::with(StringSerde, I64Serde));
///
/// let driver = TestDriver::new(builder.build()?)?;
/// let views = driver.input_topic("page-views", StringSerde, StringSerde);
/// for (user, page) in [("alice", "/home"), ("bob", "/home"), ("alice", "/cart")] {
///     views.pipe_input(user.to_string(), page.to_string())?;
/// }
/// let totals = driver.output_topic("views-per-page", StringSerde, I64Serde);
/// assert!(totals.is_empty(), "nothing before the minute is up");
///
/// driver.advance_wall_clock_time(Duration::from_secs(60))?;
/// assert_eq!(
///     totals.read_key_values(),
///     [(Some("/cart".to_string()), 1), (Some("/home".to_string()), 2)]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

    /// A processor's progress under `key`, committed with the offsets and resumed from them
    /// by the next owner of the task (Kafka Streams' processor metadata).
    pub(crate) fn processor_metadata(&self, key: &str) -> Option<i64> {
        self.task.processor_metadata.get(key).copied()
    }

    /// Records a processor's progress under `key`, to be committed with the offsets.
    pub(crate) fn set_processor_metadata(&mut self, key: &str, value: i64) {
        match self.task.processor_metadata.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.task.processor_metadata.insert(key.to_string(), value);
            }
        }
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
