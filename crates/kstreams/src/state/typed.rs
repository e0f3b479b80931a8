//! Typed views over bytes stores. The serdes run here, and only here.

use super::builder::StoreSerdes;
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
        self.with_key(key, |k| {
            let mut decoded = None;
            self.handle.lock().get_with(k, &mut |raw| {
                decoded = raw.map(|b| self.decode_stored(b));
            })?;
            decoded.transpose()
        })
    }

    fn put(&self, key: &K, value: &V, timestamp: i64) -> Result<(), StoreError> {
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
        let old = self.with_key(key, |k| self.handle.lock().delete(k))?;
        old.map(|b| self.decode_stored(&b)).transpose()
    }

    fn range(
        &self,
        from: Option<&K>,
        to: Option<&K>,
    ) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StoreError> {
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
}

/// A read-only typed view, for the test driver and interactive queries. Reads timestamped
/// stores without their timestamps, as Kafka's `keyValueStore()` query type does.
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
}
