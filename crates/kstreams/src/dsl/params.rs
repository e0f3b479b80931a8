//! Parameter objects of DSL operations, after Kafka Streams' `Consumed`, `Produced`,
//! `Grouped`, `Materialized`, `Repartitioned` and `Named`.
//!
//! Serdes left out are inherited from the stream when its types did not change since a
//! source; a stateful operation that still lacks one fails at `build()` with
//! [`TopologyError::MissingSerde`](crate::TopologyError::MissingSerde).

use crate::processor::{
    DeserializationExceptionHandler, InvalidTimestamp, SharedDeserializationHandler,
    StreamPartitioner, TimestampExtractor,
};
use crate::serde::{Serde, SharedSerde};
use crate::state::{KeyValueBytesStoreSupplier, Stores};
use std::sync::Arc;

/// How a source topic is read: serdes, a name, a deserialization handler, and where event
/// time comes from.
///
/// Here the source node gets a name of its own (shown by
/// [`Topology::describe`](crate::Topology::describe)), and records without a valid
/// timestamp are skipped and counted instead of stopping the task:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams::processor::InvalidTimestamp;
/// use kstreams_testkit::TestDriver;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream(
///         "clicks",
///         Consumed::with(StringSerde, StringSerde)
///             .with_name("clicks-source")
///             .on_invalid_timestamp(InvalidTimestamp::SkipAndCount),
///     )
///     .to("clicks-copy", Produced::with(StringSerde, StringSerde));
/// let topology = builder.build()?;
/// assert!(topology
///     .describe()
///     .to_string()
///     .contains("Source: clicks-source (topics: [clicks])"));
///
/// let driver = TestDriver::new(topology)?;
/// let clicks = driver.input_topic("clicks", StringSerde, StringSerde);
/// clicks.pipe_input_at("alice".to_string(), "/home".to_string(), 1_000)?;
/// clicks.pipe_input_at("bob".to_string(), "/cart".to_string(), -1)?; // no timestamp
/// let copy = driver.output_topic("clicks-copy", StringSerde, StringSerde);
/// assert_eq!(copy.read_values(), ["/home"]);
/// assert_eq!(driver.metrics().dropped, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct Consumed<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) name: Option<String>,
    pub(crate) handler: Option<SharedDeserializationHandler>,
    pub(crate) extractor: Option<Arc<dyn TimestampExtractor<K, V>>>,
    pub(crate) on_invalid: InvalidTimestamp,
}

impl<K: 'static, V: 'static> Consumed<K, V> {
    /// Reads keys and values with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Consumed {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            name: None,
            handler: None,
            extractor: None,
            on_invalid: InvalidTimestamp::default(),
        }
    }
    /// Names the source node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Reads event time with this extractor instead of the record's timestamp.
    pub fn with_timestamp_extractor(mut self, extractor: impl TimestampExtractor<K, V>) -> Self {
        self.extractor = Some(Arc::new(extractor));
        self
    }
    /// What to do with records whose timestamp is invalid (negative). Default: fail.
    pub fn on_invalid_timestamp(mut self, policy: InvalidTimestamp) -> Self {
        self.on_invalid = policy;
        self
    }
    /// Overrides the task's deserialization handler for this source.
    pub fn with_deserialization_handler(
        mut self,
        handler: impl DeserializationExceptionHandler,
    ) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }
}

/// How records are written to a topic: serdes, a partitioner, a name for the sink node.
///
/// Without a partitioner a record goes to the partition of its serialized key (murmur2,
/// as the Java producer). Here a partitioner sends every order of the `eu` region to
/// partition 0 and leaves the others to the default:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams_testkit::TestDriver;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("orders", Consumed::with(StringSerde, StringSerde))
///     .to(
///         "orders-by-region",
///         Produced::with(StringSerde, StringSerde).with_partitioner(
///             |_topic: &str, _key: Option<&String>, region: &String, _partitions: u32| {
///                 (region == "eu").then_some(0)
///             },
///         ),
///     );
///
/// let driver = TestDriver::builder(builder.build()?)
///     .partitions("orders", 4)
///     .partitions("orders-by-region", 4)
///     .build()?;
/// let orders = driver.input_topic("orders", StringSerde, StringSerde);
/// for order in ["o-1", "o-2", "o-3"] {
///     orders.pipe_input(order.to_string(), "eu".to_string())?;
/// }
/// let out = driver.output_topic("orders-by-region", StringSerde, StringSerde);
/// let partitions: Vec<u32> = out.read_records().iter().map(|r| r.partition).collect();
/// assert_eq!(partitions, [0, 0, 0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
    pub(crate) name: Option<String>,
}

impl<K: 'static, V: 'static> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            key_serde: None,
            value_serde: None,
            partitioner: None,
            name: None,
        }
    }
}

impl<K: 'static, V: 'static> Produced<K, V> {
    /// Writes with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Produced {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            ..Default::default()
        }
    }
    /// Writes with the stream's own serdes.
    pub fn inherit() -> Self {
        Self::default()
    }
    /// Chooses partitions with a custom partitioner.
    pub fn with_partitioner(mut self, p: impl StreamPartitioner<K, V>) -> Self {
        self.partitioner = Some(Arc::new(p));
        self
    }
    /// Names the sink node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Serdes and a name for the repartition topic of a grouping.
///
/// A grouping that changes the key writes the stream through a repartition topic first,
/// so that each key's records meet in one task. The serdes say how to write the new key
/// and the values there; the name makes the topic's name stable when the topology
/// changes elsewhere:
///
/// ```
/// use kstreams::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("page-views", Consumed::with(StringSerde, StringSerde))
///     .group_by(
///         |_user, page| page.clone(),
///         Grouped::with(StringSerde, StringSerde).with_name("views-by-page"),
///     )
///     .count(Materialized::named("views-per-page"));
/// let topology = builder.build()?;
///
/// let internal: Vec<String> = topology
///     .internal_topics("site", &|_| Some(3))?
///     .into_iter()
///     .map(|t| t.name)
///     .collect();
/// assert_eq!(
///     internal,
///     ["site-views-by-page-repartition", "site-views-per-page-changelog"]
/// );
/// # Ok::<(), StreamsError>(())
/// ```
#[must_use]
pub struct Grouped<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Clone for Grouped<K, V> {
    fn clone(&self) -> Self {
        Grouped {
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            name: self.name.clone(),
        }
    }
}

impl<K: 'static, V: 'static> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            key_serde: None,
            value_serde: None,
            name: None,
        }
    }
}

impl<K: 'static, V: 'static> Grouped<K, V> {
    /// Groups with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Grouped {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            name: None,
        }
    }
    /// Names the grouping; a repartition topic is then `<application.id>-<name>-repartition`.
    pub fn named(name: impl Into<String>) -> Self {
        Grouped {
            name: Some(name.into()),
            ..Default::default()
        }
    }
    /// Adds a name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// How a table or aggregation result is stored: store name, serdes, engine, logging.
///
/// The engine is the persistent one (fjall) unless [`in_memory`](Self::in_memory) or
/// [`with_store`](Self::with_store) says otherwise.
///
/// The name makes the store queryable (interactive queries, the test driver) and names
/// its changelog topic, `<application.id>-<name>-changelog`. The serdes are needed where
/// the stored type is new to the topology, such as an aggregate's. Here each customer's
/// spending is aggregated into a struct stored as JSON, in memory, under a name:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams_testkit::TestDriver;
///
/// #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Spending {
///     orders: u32,
///     total: i64,
/// }
///
/// let builder = StreamsBuilder::new();
/// let spending: KTable<String, Spending> = builder
///     .stream("orders", Consumed::with(StringSerde, I64Serde))
///     .group_by_key(Grouped::default())
///     .aggregate(
///         Spending::default,
///         |_customer, amount, so_far| Spending {
///             orders: so_far.orders + 1,
///             total: so_far.total + amount,
///         },
///         Materialized::named("spending")
///             .with_value_serde(JsonSerde::new())
///             .in_memory(),
///     );
/// assert_eq!(spending.queryable_store_name(), Some("spending"));
/// let topology = builder.build()?;
/// assert_eq!(
///     topology.internal_topics("shop", &|_| Some(1))?[0].name,
///     "shop-spending-changelog"
/// );
///
/// let driver = TestDriver::new(topology)?;
/// let orders = driver.input_topic("orders", StringSerde, I64Serde);
/// orders.pipe_input("alice".to_string(), 30)?;
/// orders.pipe_input("alice".to_string(), 12)?;
/// let store = driver.key_value_store::<String, Spending>("spending").unwrap();
/// assert_eq!(
///     store.get(&"alice".to_string())?,
///     Some(Spending { orders: 2, total: 42 })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) supplier: Option<Arc<dyn KeyValueBytesStoreSupplier>>,
    pub(crate) logging: bool,
    pub(crate) caching: bool,
    pub(crate) in_memory: bool,
    pub(crate) retention_ms: Option<i64>,
}

impl<K: 'static, V: 'static> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            name: None,
            key_serde: None,
            value_serde: None,
            supplier: None,
            logging: true,
            caching: true,
            in_memory: false,
            retention_ms: None,
        }
    }
}

impl<K: 'static, V: 'static> Materialized<K, V> {
    /// A store with this name, queryable from the test driver and the runtime.
    pub fn named(name: impl Into<String>) -> Self {
        Materialized {
            name: Some(name.into()),
            ..Default::default()
        }
    }
    /// A store with a generated name and these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Materialized {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            ..Default::default()
        }
    }
    /// Sets the key serde.
    pub fn with_key_serde(mut self, serde: impl Serde<K>) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }
    /// Sets the value serde.
    pub fn with_value_serde(mut self, serde: impl Serde<V>) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }
    /// Uses this engine instead of the default.
    pub fn with_store(mut self, supplier: impl KeyValueBytesStoreSupplier) -> Self {
        self.name = Some(supplier.name().to_string());
        self.supplier = Some(Arc::new(supplier));
        self
    }
    /// Turns off the changelog topic.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Turns off the record cache (Kafka Streams' `withCachingDisabled`): every update goes
    /// straight to the store (change logging still folds a key's writes until the commit, or
    /// until a store's pending writes pass 4 MiB). The cache pays when keys are updated many
    /// times between commits; when each key is updated about once (one customer's window
    /// among a million), it only adds a copy per update and evictions that write it back.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// How long a windowed aggregation keeps windows (stream time past their start, or a
    /// session's end), default one day as in Kafka Streams; never less than the window
    /// size plus grace. Ignored by aggregations without windows.
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention_ms = Some(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        self
    }

    /// Keeps the store in memory instead of the default persistent engine; it is rebuilt
    /// from its changelog whenever its task starts.
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }

    pub(crate) fn supplier_or_default(&self, name: &str) -> Arc<dyn KeyValueBytesStoreSupplier> {
        match &self.supplier {
            Some(s) => s.clone(),
            None if self.in_memory => Arc::new(Stores::in_memory_key_value_store(name)),
            None => Arc::new(Stores::persistent_key_value_store(name)),
        }
    }
}

/// Serdes, name and partition count of an explicit repartition topic.
#[must_use]
pub struct Repartitioned<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) name: Option<String>,
    pub(crate) partitions: Option<u32>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
}

impl<K: 'static, V: 'static> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Repartitioned {
            key_serde: None,
            value_serde: None,
            name: None,
            partitions: None,
            partitioner: None,
        }
    }
}

impl<K: 'static, V: 'static> Repartitioned<K, V> {
    /// Repartitions with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Repartitioned {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            ..Default::default()
        }
    }
    /// Names the topic `<application.id>-<name>-repartition`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Fixes the partition count instead of inheriting it from upstream.
    pub fn with_partitions(mut self, n: u32) -> Self {
        self.partitions = Some(n);
        self
    }
    /// Chooses partitions with a custom partitioner.
    pub fn with_partitioner(mut self, p: impl StreamPartitioner<K, V>) -> Self {
        self.partitioner = Some(Arc::new(p));
        self
    }
}

/// Serdes of a stream-stream join's stores: key, this side's values, the other side's.
/// Left out, they are inherited from the streams.
#[must_use]
pub struct StreamJoined<K, V, VO> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) other_value_serde: Option<SharedSerde<VO>>,
}

impl<K: 'static, V: 'static, VO: 'static> StreamJoined<K, V, VO> {
    /// Joins with these serdes.
    pub fn with(
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
        other_value_serde: impl Serde<VO>,
    ) -> Self {
        StreamJoined {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            other_value_serde: Some(Arc::new(other_value_serde)),
        }
    }
    /// Joins with the streams' own serdes.
    pub fn inherit() -> Self {
        StreamJoined {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
        }
    }
}
