//! Typed views over bytes stores. The serdes run here, and only here.

use super::builder::StoreSerdes;
use super::registry::StoreOps;
use super::StoreHandle;
use crate::error::{Field, SerdeError, StoreError};
use std::cell::RefCell;
use std::ops::Bound;
use std::sync::Arc;

/// A value and the timestamp of the record that last wrote it (Kafka's `ValueAndTimestamp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueAndTimestamp<V> {
    /// The value.
    pub value: V,
    /// Timestamp of the last update.
    pub timestamp: i64,
}

/// Shared machinery of the typed views: serdes plus reusable encode buffers.
pub(crate) struct StoreAccess<K, V> {
    handle: StoreHandle,
    serdes: Arc<StoreSerdes<K, V>>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: RefCell<Vec<u8>>,
}

impl<K: 'static, V: 'static> StoreAccess<K, V> {
    pub(crate) fn new(handle: StoreHandle, serdes: Arc<StoreSerdes<K, V>>) -> Self {
        StoreAccess {
            handle,
            serdes,
            key_buf: RefCell::new(Vec::with_capacity(64)),
            value_buf: RefCell::new(Vec::with_capacity(64)),
        }
    }

    fn serde_err(&self, field: Field, source: SerdeError) -> StoreError {
        StoreError::Serde {
            store: self.handle.name.to_string(),
            field,
            source,
        }
    }

    fn with_key<R>(
        &self,
        key: &K,
        f: impl FnOnce(&[u8]) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut buf = self.key_buf.borrow_mut();
        buf.clear();
        self.serdes
            .key
            .serialize(key, &mut buf)
            .map_err(|e| self.serde_err(Field::Key, e))?;
        f(&buf)
    }

    fn decode_key(&self, bytes: &[u8]) -> Result<K, StoreError> {
        self.serdes
            .key
            .deserialize(bytes)
            .map_err(|e| self.serde_err(Field::Key, e))
    }

    fn decode_value(&self, bytes: &[u8]) -> Result<V, StoreError> {
        self.serdes
            .value
            .deserialize(bytes)
            .map_err(|e| self.serde_err(Field::Value, e))
    }

    /// Splits the stored bytes into timestamp and value for timestamped stores.
    fn decode_stored(&self, bytes: &[u8]) -> Result<ValueAndTimestamp<V>, StoreError> {
        if !self.handle.timestamped {
            return Ok(ValueAndTimestamp {
                value: self.decode_value(bytes)?,
                timestamp: -1,
            });
        }
        if bytes.len() < 8 {
            return Err(self.serde_err(
                Field::Value,
                SerdeError::Invalid {
                    expected: "timestamped value",
                    reason: format!("{} bytes, fewer than the 8-byte timestamp", bytes.len()),
                },
            ));
        }
        let (ts, value) = bytes.split_at(8);
        let mut arr = [0u8; 8];
        arr.copy_from_slice(ts);
        Ok(ValueAndTimestamp {
            value: self.decode_value(value)?,
            timestamp: i64::from_be_bytes(arr),
        })
    }

    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StoreError> {
        StoreOps::count(&self.handle.ops.get);
        self.with_key(key, |k| {
            let mut decoded = None;
            self.handle.lock().get_with(k, &mut |raw| {
                decoded = raw.map(|b| self.decode_stored(b));
            })?;
            decoded.transpose()
        })
    }

    fn put(&self, key: &K, value: &V, timestamp: i64) -> Result<(), StoreError> {
        StoreOps::count(&self.handle.ops.put);
        let mut vbuf = self.value_buf.borrow_mut();
        vbuf.clear();
        if self.handle.timestamped {
            vbuf.extend_from_slice(&timestamp.to_be_bytes());
        }
        self.serdes
            .value
            .serialize(value, &mut vbuf)
            .map_err(|e| self.serde_err(Field::Value, e))?;
        self.with_key(key, |k| self.handle.lock().put(k, &vbuf))
    }

    fn delete(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StoreError> {
        StoreOps::count(&self.handle.ops.delete);
        let old = self.with_key(key, |k| self.handle.lock().delete(k))?;
        old.map(|b| self.decode_stored(&b)).transpose()
    }

    fn range(
        &self,
        from: Option<&K>,
        to: Option<&K>,
    ) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StoreError> {
        StoreOps::count(&self.handle.ops.range);
        let encode = |k: &K| -> Result<Vec<u8>, StoreError> {
            let mut b = Vec::new();
            self.serdes
                .key
                .serialize(k, &mut b)
                .map_err(|e| self.serde_err(Field::Key, e))?;
            Ok(b)
        };
        let from_b = from.map(encode).transpose()?;
        let to_b = to.map(encode).transpose()?;
        let lower = from_b.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let upper = to_b.as_deref().map_or(Bound::Unbounded, Bound::Included);
        self.range_bytes(lower, upper)
    }

    /// The entries between two bounds on the serialized key, decoded.
    fn range_bytes(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StoreError> {
        let engine = self.handle.lock();
        engine
            .range(lower, upper)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((self.decode_key(&k)?, self.decode_stored(&v)?))
            })
            .collect()
    }
}

/// A typed key-value store for processors (Kafka's `KeyValueStore<K, V>`).
///
/// Reads and writes run the store's serdes; the engine holds bytes.
///
/// Declare the store with [`Stores::key_value_store_builder`](super::Stores::key_value_store_builder),
/// add it with [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store),
/// connect it in [`KStream::process`](crate::KStream::process), and get it in the processor
/// from [`ProcessorContext::key_value_store`](crate::processor::ProcessorContext::key_value_store).
/// Each task has its own copy, holding the keys of its partition. Here each user's
/// shopping cart lives in the store until checkout:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams::state::Stores;
/// use kstreams_testkit::TestDriver;
///
/// /// Collects a user's items; on "checkout", emits and forgets the cart.
/// struct Carts;
///
/// impl Processor<String, String> for Carts {
///     fn process(
///         &mut self,
///         ctx: &mut ProcessorContext<'_, String, String>,
///         event: Record<String, String>,
///     ) -> kstreams::Result<()> {
///         let mut carts = ctx.key_value_store::<String, Vec<String>>("carts")?;
///         let Some(user) = event.key.clone() else { return Ok(()) };
///         if event.value == "checkout" {
///             if let Some(items) = carts.delete(&user)? {
///                 ctx.forward(event.with_value(items.join(", ")))?;
///             }
///         } else {
///             let mut items = carts.get(&user)?.unwrap_or_default();
///             items.push(event.value);
///             carts.put(&user, &items)?;
///         }
///         Ok(())
///     }
/// }
///
/// let builder = StreamsBuilder::new();
/// builder.add_state_store(Stores::key_value_store_builder(
///     Stores::persistent_key_value_store("carts"),
///     StringSerde,
///     JsonSerde::<Vec<String>>::new(),
/// ));
/// builder
///     .stream("cart-events", Consumed::with(StringSerde, StringSerde))
///     .process(|| Carts, &["carts"])
///     .to("orders", Produced::with(StringSerde, StringSerde));
///
/// let driver = TestDriver::new(builder.build()?)?;
/// let events = driver.input_topic("cart-events", StringSerde, StringSerde);
/// for (user, event) in [("alice", "book"), ("bob", "pen"), ("alice", "lamp"), ("alice", "checkout")] {
///     events.pipe_input(user.to_string(), event.to_string())?;
/// }
/// let orders = driver.output_topic("orders", StringSerde, StringSerde);
/// assert_eq!(orders.read_key_values(), [(Some("alice".to_string()), "book, lamp".to_string())]);
///
/// let carts = driver.key_value_store::<String, Vec<String>>("carts").unwrap();
/// assert_eq!(carts.all()?, [("bob".to_string(), vec!["pen".to_string()])]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyValueStore<K, V> {
    access: StoreAccess<K, V>,
}

impl<K: 'static, V: 'static> KeyValueStore<K, V> {
    pub(crate) fn new(access: StoreAccess<K, V>) -> Self {
        KeyValueStore { access }
    }
    /// The value for `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>, StoreError> {
        Ok(self.access.get(key)?.map(|v| v.value))
    }
    /// Inserts or replaces.
    pub fn put(&mut self, key: &K, value: &V) -> Result<(), StoreError> {
        self.access.put(key, value, -1)
    }
    /// Inserts only when absent; returns the existing value otherwise.
    pub fn put_if_absent(&mut self, key: &K, value: &V) -> Result<Option<V>, StoreError> {
        match self.get(key)? {
            Some(existing) => Ok(Some(existing)),
            None => self.put(key, value).map(|()| None),
        }
    }
    /// Removes `key`, returning the old value.
    pub fn delete(&mut self, key: &K) -> Result<Option<V>, StoreError> {
        Ok(self.access.delete(key)?.map(|v| v.value))
    }
    /// Pairs with `from <= key <= to` in serialized-key order.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>, StoreError> {
        strip(self.access.range(Some(from), Some(to)))
    }
    /// All pairs in serialized-key order.
    pub fn all(&self) -> Result<Vec<(K, V)>, StoreError> {
        strip(self.access.range(None, None))
    }
    /// Number of entries, possibly approximate.
    pub fn approximate_num_entries(&self) -> u64 {
        self.access.handle.approximate_num_entries()
    }
}

fn strip<K, V>(
    r: Result<Vec<(K, ValueAndTimestamp<V>)>, StoreError>,
) -> Result<Vec<(K, V)>, StoreError> {
    Ok(r?.into_iter().map(|(k, v)| (k, v.value)).collect())
}

/// A typed store whose values carry the timestamp of their last update. The DSL keeps its
/// tables and aggregates in these, in Kafka Streams' layout: 8-byte big-endian timestamp,
/// then the value bytes.
///
/// Declare one with [`Stores::timestamped_key_value_store_builder`](super::Stores::timestamped_key_value_store_builder)
/// and get it in a processor from
/// [`ProcessorContext::timestamped_key_value_store`](crate::processor::ProcessorContext::timestamped_key_value_store).
/// The timestamps let a processor tell a late record from a newer one. Here the store
/// keeps each sensor's latest reading, and a reading older than the stored one, arriving
/// out of order, is ignored:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams::state::{Stores, ValueAndTimestamp};
/// use kstreams_testkit::TestDriver;
///
/// /// Forwards a sensor's reading only if it is newer than the last one kept.
/// struct Latest;
///
/// impl Processor<String, f64> for Latest {
///     fn process(
///         &mut self,
///         ctx: &mut ProcessorContext<'_, String, f64>,
///         reading: Record<String, f64>,
///     ) -> kstreams::Result<()> {
///         let mut latest = ctx.timestamped_key_value_store::<String, f64>("latest-readings")?;
///         let Some(sensor) = &reading.key else { return Ok(()) };
///         if let Some(ValueAndTimestamp { timestamp, .. }) = latest.get(sensor)? {
///             if timestamp > reading.timestamp {
///                 return Ok(()); // out of order: an older reading than the one kept
///             }
///         }
///         latest.put(sensor, &reading.value, reading.timestamp)?;
///         ctx.forward(reading)
///     }
/// }
///
/// let builder = StreamsBuilder::new();
/// builder.add_state_store(Stores::timestamped_key_value_store_builder(
///     Stores::in_memory_key_value_store("latest-readings"),
///     StringSerde,
///     F64Serde,
/// ));
/// builder
///     .stream("readings", Consumed::with(StringSerde, F64Serde))
///     .process(|| Latest, &["latest-readings"])
///     .to("current-readings", Produced::with(StringSerde, F64Serde));
///
/// let driver = TestDriver::new(builder.build()?)?;
/// let readings = driver.input_topic("readings", StringSerde, F64Serde);
/// readings.pipe_input_at("boiler".to_string(), 71.5, 1_000)?;
/// readings.pipe_input_at("boiler".to_string(), 74.0, 3_000)?;
/// readings.pipe_input_at("boiler".to_string(), 72.0, 2_000)?; // late
///
/// let current = driver.output_topic("current-readings", StringSerde, F64Serde);
/// assert_eq!(current.read_values(), [71.5, 74.0]);
/// let store = driver.key_value_store::<String, f64>("latest-readings").unwrap();
/// assert_eq!(store.get(&"boiler".to_string())?, Some(74.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TimestampedKeyValueStore<K, V> {
    access: StoreAccess<K, V>,
}

impl<K: 'static, V: 'static> TimestampedKeyValueStore<K, V> {
    pub(crate) fn new(access: StoreAccess<K, V>) -> Self {
        TimestampedKeyValueStore { access }
    }
    /// The value and timestamp for `key`.
    pub fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StoreError> {
        self.access.get(key)
    }
    /// Inserts or replaces.
    pub fn put(&mut self, key: &K, value: &V, timestamp: i64) -> Result<(), StoreError> {
        self.access.put(key, value, timestamp)
    }
    /// Removes `key`, returning the old value.
    pub fn delete(&mut self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StoreError> {
        self.access.delete(key)
    }
    /// Pairs with `from <= key <= to` in serialized-key order.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StoreError> {
        self.access.range(Some(from), Some(to))
    }
    /// All pairs in serialized-key order.
    pub fn all(&self) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StoreError> {
        self.access.range(None, None)
    }
    /// Pairs whose serialized key lies between two byte bounds: a prefix of the layout,
    /// such as a window store's start time, bounds a range without a whole key.
    pub(crate) fn range_bytes(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StoreError> {
        StoreOps::count(&self.access.handle.ops.range);
        self.access.range_bytes(from, to)
    }
}

/// A read-only typed view, for the test driver and interactive queries. Reads timestamped
/// stores without their timestamps, as Kafka's `keyValueStore()` query type does.
///
/// A read-only view covers one task's copy of a store, that is one partition. Queries
/// usually want the whole store, so interactive queries
/// ([`KafkaStreams::store`](crate::KafkaStreams::store)) and the test driver hand out a
/// [`CompositeReadOnlyStore`](super::CompositeReadOnlyStore), one read-only view per local
/// partition, with the same reads. Here a table of account balances, spread over four
/// partitions, is queried through the test driver of `kstreams-testkit`:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams_testkit::TestDriver;
///
/// let builder = StreamsBuilder::new();
/// builder.table(
///     "balances",
///     Consumed::with(StringSerde, I64Serde),
///     Materialized::named("balances"),
/// );
/// let driver = TestDriver::builder(builder.build()?)
///     .partitions("balances", 4)
///     .build()?;
/// let updates = driver.input_topic("balances", StringSerde, I64Serde);
/// updates.pipe_input("alice".to_string(), 100)?;
/// updates.pipe_input("bob".to_string(), 20)?;
/// updates.pipe_input("alice".to_string(), 70)?;
///
/// // The table's store is timestamped; the read-only views return plain values.
/// let balances = driver.key_value_store::<String, i64>("balances").unwrap();
/// assert_eq!(balances.get(&"alice".to_string())?, Some(70));
/// assert_eq!(balances.get(&"carol".to_string())?, None);
/// let mut all = balances.all()?;
/// all.sort();
/// assert_eq!(all, [("alice".to_string(), 70), ("bob".to_string(), 20)]);
/// assert_eq!(balances.entries_per_partition().len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ReadOnlyKeyValueStore<K, V> {
    access: StoreAccess<K, V>,
}

impl<K: 'static, V: 'static> ReadOnlyKeyValueStore<K, V> {
    pub(crate) fn new(access: StoreAccess<K, V>) -> Self {
        ReadOnlyKeyValueStore { access }
    }
    /// The value for `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>, StoreError> {
        Ok(self.access.get(key)?.map(|v| v.value))
    }
    /// Pairs with `from <= key <= to` in serialized-key order.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>, StoreError> {
        strip(self.access.range(Some(from), Some(to)))
    }
    /// All pairs in serialized-key order.
    pub fn all(&self) -> Result<Vec<(K, V)>, StoreError> {
        strip(self.access.range(None, None))
    }
    /// Number of entries, possibly approximate.
    pub fn approximate_num_entries(&self) -> u64 {
        self.access.handle.approximate_num_entries()
    }
    /// `key` as the store's key serde writes it: what the default partitioner hashes to
    /// find the key's partition (Kafka Streams' `queryMetadataForKey`).
    pub fn serialize_key(&self, key: &K) -> Result<Vec<u8>, StoreError> {
        self.access.with_key(key, |bytes| Ok(bytes.to_vec()))
    }
}
