//! Declaring stores: suppliers make engines, builders add serdes and logging.

use super::{CacheBudget, FjallDatabase, InMemoryKeyValueStore, KeyValueBytesStore};
use crate::error::StoreError;
use crate::runtime::TaskId;
use crate::serde::{Serde, SharedSerde};
use std::any::Any;
use std::path::Path;
use std::sync::Arc;

/// What a supplier gets when a task opens its copy of a store.
#[derive(Debug, Clone, Copy)]
pub struct StoreInit<'a> {
    /// The application id.
    pub application_id: &'a str,
    /// The task that owns this copy.
    pub task_id: TaskId,
    /// `state.dir/<application.id>/<task id>/`, for the task's own files (checkpoints);
    /// `None` under a runtime without a state directory.
    pub task_dir: Option<&'a Path>,
    /// The instance's persistent database; `None` when the runtime has none.
    pub database: Option<&'a Arc<FjallDatabase>>,
    /// The instance's record-cache budget; `None` turns caching off.
    pub cache_budget: Option<&'a Arc<CacheBudget>>,
}

/// Makes one bytes store per task.
pub trait KeyValueBytesStoreSupplier: Send + Sync + 'static {
    /// The store name, unique in the topology.
    fn name(&self) -> &str;
    /// Opens the task's copy.
    fn get(&self, init: &StoreInit<'_>) -> Result<Box<dyn KeyValueBytesStore>, StoreError>;
    /// Whether the engine keeps data on disk.
    fn persistent(&self) -> bool {
        false
    }
}

/// Supplies [`InMemoryKeyValueStore`]s.
#[derive(Debug, Clone)]
pub struct InMemoryStoreSupplier {
    name: String,
}

impl KeyValueBytesStoreSupplier for InMemoryStoreSupplier {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&self, _init: &StoreInit<'_>) -> Result<Box<dyn KeyValueBytesStore>, StoreError> {
        Ok(Box::new(InMemoryKeyValueStore::new(self.name.clone())))
    }
}

/// Supplies persistent [`FjallStore`](super::FjallStore)s in the instance's database.
#[derive(Debug, Clone)]
pub struct PersistentStoreSupplier {
    name: String,
}

impl KeyValueBytesStoreSupplier for PersistentStoreSupplier {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&self, init: &StoreInit<'_>) -> Result<Box<dyn KeyValueBytesStore>, StoreError> {
        let db = init.database.ok_or_else(|| StoreError::Engine {
            store: self.name.clone(),
            reason:
                "a persistent store needs the runtime's state directory, and this runtime has none"
                    .into(),
        })?;
        Ok(Box::new(db.open_store(init.task_id, &self.name)?))
    }
    fn persistent(&self) -> bool {
        true
    }
}

/// Factory functions for store suppliers and builders, after Kafka Streams' `Stores`.
///
/// ```
/// use kstreams::state::Stores;
/// use kstreams::serde::{I64Serde, StringSerde};
///
/// let counts = Stores::key_value_store_builder(
///     Stores::in_memory_key_value_store("counts"),
///     StringSerde,
///     I64Serde,
/// );
/// assert_eq!(counts.name(), "counts");
/// ```
#[derive(Debug)]
pub struct Stores;

impl Stores {
    /// An in-memory key-value store supplier.
    pub fn in_memory_key_value_store(name: impl Into<String>) -> InMemoryStoreSupplier {
        InMemoryStoreSupplier { name: name.into() }
    }

    /// A persistent key-value store supplier (fjall); the default of DSL stores.
    pub fn persistent_key_value_store(name: impl Into<String>) -> PersistentStoreSupplier {
        PersistentStoreSupplier { name: name.into() }
    }

    /// A builder for a plain key-value store with these serdes.
    pub fn key_value_store_builder<K: 'static, V: 'static>(
        supplier: impl KeyValueBytesStoreSupplier,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> StoreBuilder<K, V> {
        StoreBuilder {
            supplier: Arc::new(supplier),
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            logging: true,
            timestamped: false,
            caching: false,
            changelog_format: None,
        }
    }

    /// A builder for a store whose values carry the timestamp of their last update, as the
    /// DSL's table and aggregation stores do.
    pub fn timestamped_key_value_store_builder<K: 'static, V: 'static>(
        supplier: impl KeyValueBytesStoreSupplier,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> StoreBuilder<K, V> {
        let mut b = Self::key_value_store_builder(supplier, key_serde, value_serde);
        b.timestamped = true;
        b
    }
}

/// A store declaration: engine supplier, serdes and logging. Add it to a topology with
/// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store).
///
/// Made by [`Stores`]. By default a store is logged to a compacted changelog topic,
/// `<application.id>-<store>-changelog`, from which a task restores it after a restart or
/// on another instance; the topology lists that topic among the internal topics to
/// create. A store whose contents can be rebuilt otherwise can turn logging off:
///
/// ```
/// use kstreams::serde::{I64Serde, StringSerde};
/// use kstreams::state::Stores;
/// use kstreams::{Consumed, StreamsBuilder};
/// # use kstreams::processor::{Processor, ProcessorContext, Record};
/// # struct Noop;
/// # impl Processor<String, String> for Noop {
/// #     fn process(&mut self, _: &mut ProcessorContext<'_, String, String>, _: Record<String, String>) -> kstreams::Result<()> {
/// #         Ok(())
/// #     }
/// # }
///
/// let logged = Stores::key_value_store_builder(
///     Stores::persistent_key_value_store("balances"),
///     StringSerde,
///     I64Serde,
/// );
/// let scratch = Stores::key_value_store_builder(
///     Stores::in_memory_key_value_store("scratch"),
///     StringSerde,
///     I64Serde,
/// )
/// .with_logging_disabled();
///
/// let builder = StreamsBuilder::new();
/// builder.add_state_store(logged).add_state_store(scratch);
/// builder
///     .stream("payments", Consumed::with(StringSerde, StringSerde))
///     .process(|| Noop, &["balances", "scratch"]);
/// let topology = builder.build()?;
///
/// let internal: Vec<String> = topology
///     .internal_topics("bank", &|_| Some(6))?
///     .into_iter()
///     .map(|t| t.name)
///     .collect();
/// assert_eq!(internal, ["bank-balances-changelog"]);
/// # Ok::<(), kstreams::StreamsError>(())
/// ```
#[must_use]
pub struct StoreBuilder<K, V> {
    pub(crate) supplier: Arc<dyn KeyValueBytesStoreSupplier>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) logging: bool,
    pub(crate) timestamped: bool,
    pub(crate) caching: bool,
    /// The changelog layout; by default Kafka's timestamped layout for timestamped stores
    /// and the stored bytes otherwise.
    pub(crate) changelog_format: Option<super::ChangelogFormat>,
}

impl<K: 'static, V: 'static> StoreBuilder<K, V> {
    /// The store name.
    pub fn name(&self) -> &str {
        self.supplier.name()
    }
    /// Turns off the changelog topic: the store is then not fault-tolerant.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
    /// Puts a record cache in front of the store: repeated updates of a key between
    /// commits reach the engine and the changelog once. DSL stores have it on.
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }
    /// Turns the changelog topic on (the default).
    pub fn with_logging_enabled(mut self) -> Self {
        self.logging = true;
        self
    }

    /// Logs in the layout of a Kafka window or session store (the DSL's windowed stores).
    pub(crate) fn with_changelog_format(mut self, format: super::ChangelogFormat) -> Self {
        self.changelog_format = Some(format);
        self
    }

    pub(crate) fn into_def(self) -> StoreDef {
        let changelog_format = self.changelog_format.unwrap_or(if self.timestamped {
            super::ChangelogFormat::Timestamped
        } else {
            super::ChangelogFormat::Raw
        });
        StoreDef {
            changelog_format,
            name: self.supplier.name().to_string(),
            supplier: self.supplier,
            serdes: Arc::new(StoreSerdes {
                key: self.key_serde,
                value: self.value_serde,
            }),
            logging: self.logging,
            timestamped: self.timestamped,
            caching: self.caching,
        }
    }
}

/// Serdes of a store, kept behind `Any` in the untyped topology and recovered once when a
/// processor asks for its typed view.
pub(crate) struct StoreSerdes<K, V> {
    pub(crate) key: SharedSerde<K>,
    pub(crate) value: SharedSerde<V>,
}

/// A store as the untyped topology keeps it.
#[derive(Clone)]
pub(crate) struct StoreDef {
    pub(crate) name: String,
    pub(crate) supplier: Arc<dyn KeyValueBytesStoreSupplier>,
    pub(crate) serdes: Arc<dyn Any + Send + Sync>,
    pub(crate) logging: bool,
    pub(crate) timestamped: bool,
    pub(crate) caching: bool,
    pub(crate) changelog_format: super::ChangelogFormat,
}
