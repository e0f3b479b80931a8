//! State stores.
//!
//! Engines store bytes ([`KeyValueBytesStore`]); processors use typed views
//! ([`KeyValueStore`], [`TimestampedKeyValueStore`]) that run the store's serdes. Keys are
//! ordered by their serialized bytes, unsigned and lexicographic, as in Kafka Streams, so
//! range scans follow the key serde's byte order.
//!
//! A store is declared once in the topology ([`StoreBuilder`]) and instantiated per task:
//! each task owns its own copy for its partition. Stores are changelogged by default to
//! `<application.id>-<store>-changelog`; the topology lists those topics so that the runtime
//! can create and restore them.
//!
//! ```
//! use kstreams::state::{KeyValueBytesStore, InMemoryKeyValueStore};
//! use std::ops::Bound;
//!
//! let mut store = InMemoryKeyValueStore::new("s");
//! store.put(b"b", b"2").unwrap();
//! store.put(b"a", b"1").unwrap();
//! let keys: Vec<_> = store
//!     .range(Bound::Unbounded, Bound::Unbounded)
//!     .map(|kv| kv.unwrap().0)
//!     .collect();
//! assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
//! ```

mod builder;
pub(crate) mod caching;
pub(crate) mod changelog;
mod changelog_format;
mod composite;
mod memory;
pub(crate) mod persistent;
mod registry;
mod restore_batch;
mod typed;

pub use builder::{
    InMemoryStoreSupplier, KeyValueBytesStoreSupplier, StoreBuilder, StoreInit, Stores,
};
pub(crate) use builder::{StoreDef, StoreSerdes};
pub use caching::CacheBudget;
pub(crate) use caching::CachingStore;
pub(crate) use changelog::ChangeLoggingStore;
pub(crate) use changelog_format::ChangelogFormat;
pub use composite::CompositeReadOnlyStore;
pub use memory::InMemoryKeyValueStore;
pub(crate) use persistent::FjallDatabase;
pub use persistent::MemoryBudget;
pub(crate) use registry::StoreRegistry;
pub use registry::{StoreHandle, StoreOpCounts};
pub use restore_batch::RestoreBatch;
pub use typed::{
    KeyValueStore, ReadOnlyKeyValueStore, TimestampedKeyValueStore, ValueAndTimestamp,
};

use crate::error::StoreError;
use std::ops::Bound;

/// Receives logged writes: key, value or `None` for a deletion, and the timestamp of the
/// step that wrote it.
pub type ChangeSink<'a> =
    dyn FnMut(&[u8], Option<&[u8]>, i64) -> Result<(), crate::error::StreamsError> + 'a;

/// Iterator over key-value pairs of a bytes store, in key order.
pub type KeyValueIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

/// A key-value storage engine over bytes. Implemented by the in-memory engine here and by
/// persistent engines; wrappers (change logging, caching, metrics) implement it too.
///
/// Change logging relies on an engine that is not [`persistent`](Self::persistent) to
/// answer exactly: `get` and `get_with` find nothing only for an absent key, and `delete`
/// returns the value it removed. It then sends nothing for a key created and deleted
/// between two commits.
pub trait KeyValueBytesStore: Send {
    /// Store name.
    fn name(&self) -> &str;
    /// The value of `key`, if present.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Calls `f` with the value of `key` without copying it out, where the engine can.
    fn get_with(&self, key: &[u8], f: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        let v = self.get(key)?;
        f(v.as_deref());
        Ok(())
    }
    /// Inserts or replaces.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`, returning the old value.
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Pairs with keys within the bounds, ascending.
    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> KeyValueIter<'_>;
    /// Number of entries, possibly approximate for persistent engines.
    fn approximate_num_entries(&self) -> u64;
    /// Writes cached updates down to the layers below (caching wrappers only).
    fn flush_cache(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Makes writes durable (no-op in memory).
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Releases resources. Later calls may fail with [`StoreError::Closed`].
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Whether the data survives a restart of the process.
    fn persistent(&self) -> bool {
        false
    }
    /// Applies one changelog record during restoration (`None` deletes), without logging it.
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        match value {
            Some(v) => self.put(key, v),
            None => self.delete(key).map(|_| ()),
        }
    }
    /// Applies a batch of changelog records during restoration, oldest first, without
    /// logging them. By default one [`restore`](Self::restore) each; an engine with a
    /// cheaper bulk write overrides it (fjall writes a batch with one journal write instead
    /// of one per record).
    fn restore_batch(&mut self, batch: &RestoreBatch) -> Result<(), StoreError> {
        batch.iter().try_for_each(|(k, v)| self.restore(k, v))
    }
    /// Drops every entry with a key in `[from, to)` (from the start when `from` is
    /// `None`): window stores expire old windows this way, as Kafka Streams drops old
    /// segments. A change-logging wrapper logs a tombstone per key (see
    /// [`ChangeLoggingStore`]). By default one delete
    /// per key; engines with a cheaper way override it.
    fn expire_range(&mut self, from: Option<&[u8]>, to: &[u8]) -> Result<(), StoreError> {
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        let keys: Vec<Vec<u8>> = self
            .range(lower, Bound::Excluded(to))
            .map(|kv| kv.map(|(k, _)| k))
            .collect::<Result<_, _>>()?;
        for k in &keys {
            self.delete(k)?;
        }
        Ok(())
    }
    /// Drops every entry whose key `expired` holds: stores whose keys come first
    /// (sessions, join sides, sliding windows' records) expire this way, once per retention
    /// period of stream time, logged like [`expire_range`](Self::expire_range). One pass
    /// over the keys; by default one delete per expired key, and engines with a cheaper way
    /// override it.
    fn expire_where(&mut self, expired: &dyn Fn(&[u8]) -> bool) -> Result<(), StoreError> {
        let keys: Vec<Vec<u8>> = self
            .range(Bound::Unbounded, Bound::Unbounded)
            .filter_map(|kv| match kv {
                Ok((k, _)) => expired(&k).then_some(Ok(k)),
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()?;
        for k in &keys {
            self.delete(k)?;
        }
        Ok(())
    }
    /// Ends a step: the writes logged since the last call take `timestamp`. Returns whether
    /// the pending writes have outgrown their memory bound and should be sent now rather
    /// than at the commit (change-logging wrappers only; engines log nothing).
    fn stamp_logged(&mut self, _timestamp: i64) -> bool {
        false
    }
    /// Hands the writes logged since the last call to `f`, each key's latest once, in the
    /// order the keys were first written, and forgets them (change-logging wrappers only).
    fn drain_logged(&mut self, _f: &mut ChangeSink<'_>) -> Result<(), crate::error::StreamsError> {
        Ok(())
    }
}
