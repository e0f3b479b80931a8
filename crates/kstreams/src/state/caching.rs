//! The record cache: absorbs repeated updates of a key between commits.
//!
//! Like Kafka Streams' caching layer, it sits above change logging: a key updated twenty
//! times between two commits reaches the engine and the changelog once, at the flush that
//! precedes the commit (or when the instance's cache budget runs out). Unlike Kafka
//! Streams, it does not hold back records forwarded downstream: processors still see every
//! update.

use super::{ChangeSink, KeyValueBytesStore, KeyValueIter, RestoreBatch};
use crate::error::{StoreError, StreamsError};
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes held by the record caches of one instance, against their share of the budget.
#[derive(Debug)]
pub struct CacheBudget {
    limit: u64,
    used: AtomicU64,
}

impl CacheBudget {
    /// A budget of `limit` bytes for all caches together.
    pub fn new(limit: u64) -> Arc<CacheBudget> {
        Arc::new(CacheBudget {
            limit,
            used: AtomicU64::new(0),
        })
    }
    /// Bytes in use now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Per-entry bookkeeping cost counted on top of key and value bytes.
const ENTRY_OVERHEAD: usize = 64;

struct Entry {
    /// `None`: deleted.
    value: Option<Vec<u8>>,
    dirty: bool,
}

/// A caching wrapper around a (change-logged) store.
pub struct CachingStore {
    inner: Box<dyn KeyValueBytesStore>,
    entries: HashMap<Vec<u8>, Entry, foldhash::fast::RandomState>,
    /// Dirty keys in the order they were first dirtied since the last flush.
    dirty: Vec<Vec<u8>>,
    bytes: usize,
    budget: Arc<CacheBudget>,
}

impl CachingStore {
    /// Drops the cached entries `expired` holds, dirty or not (their updates would only be
    /// deleted below), with their places in the dirty list, and returns their bytes.
    fn drop_cached(&mut self, expired: &dyn Fn(&[u8]) -> bool) {
        let mut freed = 0;
        self.entries.retain(|k, e| {
            let keep = !expired(k);
            if !keep {
                freed += k.len() + e.value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
            }
            keep
        });
        self.dirty.retain(|k| !expired(k));
        self.charge(0, freed);
    }

    /// Caches `inner` under `budget`.
    pub fn new(inner: Box<dyn KeyValueBytesStore>, budget: Arc<CacheBudget>) -> Self {
        CachingStore {
            inner,
            entries: HashMap::default(),
            dirty: Vec::new(),
            bytes: 0,
            budget,
        }
    }

    fn cost(key: &[u8], value: Option<&[u8]>) -> usize {
        key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD
    }

    /// Accounts an entry growing by `add` and shrinking by `remove` bytes.
    fn charge(&mut self, add: usize, remove: usize) {
        let before = self.bytes;
        self.bytes = (self.bytes + add).saturating_sub(remove);
        if self.bytes >= before {
            self.budget
                .used
                .fetch_add((self.bytes - before) as u64, Ordering::Relaxed);
        } else {
            self.budget
                .used
                .fetch_sub((before - self.bytes) as u64, Ordering::Relaxed);
        }
    }

    /// Writes the dirty entries down, in the order they were dirtied. If the store below
    /// fails, the entry it failed on and those after it stay dirty, in order, for the next
    /// attempt: none of them is dropped.
    fn write_back(&mut self) -> Result<(), StoreError> {
        let mut dirty = std::mem::take(&mut self.dirty);
        for i in 0..dirty.len() {
            let key = &dirty[i];
            let Some(entry) = self.entries.get_mut(key) else {
                continue;
            };
            if !entry.dirty {
                continue;
            }
            let written = match &entry.value {
                Some(v) => self.inner.put(key, v),
                None => self.inner.delete(key).map(drop),
            };
            match written {
                Ok(()) => entry.dirty = false,
                Err(e) => {
                    dirty.drain(..i);
                    self.dirty = dirty;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Empties the cache after writing it back, returning its bytes to the budget, and its
    /// table's room too: the budget counts entries, not the table, and a table kept at its
    /// largest size by each of a thread's stores added up to more than the budget itself
    /// (16 MiB of tables for a 16 MiB budget over ingest's eight customer stores, heaptrack).
    fn evict_all(&mut self) -> Result<(), StoreError> {
        self.write_back()?;
        self.entries = HashMap::default();
        self.budget
            .used
            .fetch_sub(self.bytes as u64, Ordering::Relaxed);
        self.bytes = 0;
        Ok(())
    }

    fn insert(&mut self, key: &[u8], value: Option<&[u8]>, dirty: bool) -> Result<(), StoreError> {
        let add = Self::cost(key, value);
        match self.entries.get_mut(key) {
            Some(e) => {
                let old = key.len() + e.value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
                match (&mut e.value, value) {
                    (Some(slot), Some(v)) => {
                        slot.clear();
                        slot.extend_from_slice(v);
                    }
                    (slot, v) => *slot = v.map(<[u8]>::to_vec),
                }
                if dirty && !e.dirty {
                    self.dirty.push(key.to_vec());
                }
                e.dirty |= dirty;
                self.charge(add, old);
            }
            None => {
                self.entries.insert(
                    key.to_vec(),
                    Entry {
                        value: value.map(<[u8]>::to_vec),
                        dirty,
                    },
                );
                if dirty {
                    self.dirty.push(key.to_vec());
                }
                self.charge(add, 0);
            }
        }
        if self.budget.used() > self.budget.limit {
            self.evict_all()?;
        }
        Ok(())
    }
}

impl KeyValueBytesStore for CachingStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.entries.get(key) {
            Some(e) => Ok(e.value.clone()),
            None => self.inner.get(key),
        }
    }

    fn get_with(&self, key: &[u8], f: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        match self.entries.get(key) {
            Some(e) => {
                f(e.value.as_deref());
                Ok(())
            }
            None => self.inner.get_with(key, f),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.insert(key, Some(value), true)
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(key)?;
        self.insert(key, None, true)?;
        Ok(old)
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> KeyValueIter<'_> {
        // Scans merge cache and engine: dirty entries override, deletions hide.
        let mut merged: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            std::collections::BTreeMap::new();
        for kv in self.inner.range(from, to) {
            match kv {
                Ok((k, v)) => {
                    merged.insert(k, Some(v));
                }
                Err(e) => return Box::new(std::iter::once(Err(e))),
            }
        }
        for (k, e) in &self.entries {
            if std::ops::RangeBounds::<[u8]>::contains(&(from, to), k.as_slice()) && e.dirty {
                merged.insert(k.clone(), e.value.clone());
            }
        }
        Box::new(
            merged
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| Ok((k, v)))),
        )
    }

    fn approximate_num_entries(&self) -> u64 {
        self.inner.approximate_num_entries()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.write_back()?;
        self.inner.flush()
    }

    fn flush_cache(&mut self) -> Result<(), StoreError> {
        self.write_back()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        let r = self.evict_all();
        self.inner.close()?;
        r
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        if let Some(e) = self.entries.remove(key) {
            let cost = key.len() + e.value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
            self.charge(0, cost);
        }
        self.inner.restore(key, value)
    }

    fn restore_batch(&mut self, batch: &RestoreBatch) -> Result<(), StoreError> {
        for (key, _) in batch.iter() {
            if let Some(e) = self.entries.remove(key) {
                let cost = key.len() + e.value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
                self.charge(0, cost);
            }
        }
        self.inner.restore_batch(batch)
    }

    fn expire_range(&mut self, from: Option<&[u8]>, to: &[u8]) -> Result<(), StoreError> {
        self.drop_cached(&|k| from.is_none_or(|f| k >= f) && k < to);
        self.inner.expire_range(from, to)
    }

    fn expire_where(&mut self, expired: &dyn Fn(&[u8]) -> bool) -> Result<(), StoreError> {
        self.drop_cached(expired);
        self.inner.expire_where(expired)
    }

    fn stamp_logged(&mut self, timestamp: i64) -> bool {
        self.inner.stamp_logged(timestamp)
    }

    fn drain_logged(&mut self, f: &mut ChangeSink<'_>) -> Result<(), StreamsError> {
        self.inner.drain_logged(f)
    }
}

impl Drop for CachingStore {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(self.bytes as u64, Ordering::Relaxed);
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ChangeLoggingStore, InMemoryKeyValueStore};

    fn logged(budget: &Arc<CacheBudget>) -> CachingStore {
        let engine = ChangeLoggingStore::new(Box::new(InMemoryKeyValueStore::new("s")));
        CachingStore::new(Box::new(engine), budget.clone())
    }

    fn drain(s: &mut CachingStore) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        s.drain_logged(&mut |k, v, _| {
            out.push((k.to_vec(), v.map(<[u8]>::to_vec)));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn repeated_updates_reach_the_changelog_once_per_flush() {
        let budget = CacheBudget::new(1 << 20);
        let mut s = logged(&budget);
        for v in 0..20u8 {
            s.put(b"k", &[v]).unwrap();
        }
        s.put(b"gone", b"x").unwrap();
        s.delete(b"gone").unwrap();
        assert_eq!(s.get(b"k").unwrap(), Some(vec![19]));
        assert!(
            drain(&mut s).is_empty(),
            "nothing is written before the flush"
        );
        s.flush_cache().unwrap();
        // `gone` never reached the store below, so its deletion has nothing to forget.
        assert_eq!(drain(&mut s), vec![(b"k".to_vec(), Some(vec![19]))]);
        s.flush_cache().unwrap();
        assert!(
            drain(&mut s).is_empty(),
            "clean entries are not written again"
        );
        assert!(budget.used() > 0);
        drop(s);
        assert_eq!(budget.used(), 0, "a dropped cache returns its bytes");
    }

    #[test]
    fn eviction_gives_back_the_table_with_the_entries() {
        // Room for 981 entries of a 4-byte key and a 1,000-byte value (64 bytes of
        // bookkeeping each): the 982nd write evicts the cache, the next 18 start it again.
        let budget = CacheBudget::new(1 << 20);
        let mut s = logged(&budget);
        let value = vec![1u8; 1000];
        let mut largest = 0;
        for i in 0..1000u32 {
            s.put(&i.to_be_bytes(), &value).unwrap();
            largest = largest.max(s.entries.capacity());
        }
        assert!(largest >= 981, "{largest} slots at most");
        assert_eq!(s.entries.len(), 18);
        assert!(
            s.entries.capacity() < 64,
            "{} slots kept for 18 entries",
            s.entries.capacity()
        );
        // Nothing was lost on the way: every write reaches the changelog once the rest is
        // flushed, and reads see them all.
        s.flush_cache().unwrap();
        assert_eq!(drain(&mut s).len(), 1000);
        assert_eq!(s.get(&5u32.to_be_bytes()).unwrap(), Some(value));
    }

    /// An engine that refuses writes while `refuse` is set.
    struct Refusing {
        inner: InMemoryKeyValueStore,
        refuse: Arc<std::sync::atomic::AtomicBool>,
    }

    impl KeyValueBytesStore for Refusing {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(key)
        }
        fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
            if self.refuse.load(Ordering::Relaxed) {
                return Err(StoreError::Engine {
                    store: "s".into(),
                    reason: "disk full".into(),
                });
            }
            self.inner.put(key, value)
        }
        fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.delete(key)
        }
        fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> KeyValueIter<'_> {
            self.inner.range(from, to)
        }
        fn approximate_num_entries(&self) -> u64 {
            self.inner.approximate_num_entries()
        }
    }

    #[test]
    fn a_failed_write_back_keeps_the_unwritten_entries_dirty() {
        let refuse = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let engine = Refusing {
            inner: InMemoryKeyValueStore::new("s"),
            refuse: refuse.clone(),
        };
        let logged = ChangeLoggingStore::new(Box::new(engine));
        let mut s = CachingStore::new(Box::new(logged), CacheBudget::new(1 << 20));
        for k in [b"a", b"b", b"c"] {
            s.put(k, b"1").unwrap();
        }
        refuse.store(true, Ordering::Relaxed);
        assert!(s.flush_cache().is_err());
        refuse.store(false, Ordering::Relaxed);
        // The next flush writes all three, in the order they were dirtied.
        s.flush_cache().unwrap();
        let logged: Vec<Vec<u8>> = drain(&mut s).into_iter().map(|(k, _)| k).collect();
        assert_eq!(logged, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn scans_see_cached_writes_and_deletions() {
        let budget = CacheBudget::new(1 << 20);
        let mut s = logged(&budget);
        s.put(b"a", b"1").unwrap();
        s.put(b"b", b"2").unwrap();
        s.flush_cache().unwrap();
        s.delete(b"a").unwrap();
        s.put(b"c", b"3").unwrap();
        s.put(b"b", b"22").unwrap();
        let all: Vec<_> = s
            .range(Bound::Unbounded, Bound::Unbounded)
            .map(|kv| kv.unwrap())
            .collect();
        assert_eq!(
            all,
            vec![
                (b"b".to_vec(), b"22".to_vec()),
                (b"c".to_vec(), b"3".to_vec())
            ]
        );
    }

    #[test]
    fn expiry_drops_cached_and_written_entries_and_logs_a_tombstone_per_written_one() {
        let budget = CacheBudget::new(1 << 20);
        let mut s = logged(&budget);
        for k in [b"a", b"b", b"c", b"d"] {
            s.put(k, b"old").unwrap();
        }
        s.flush_cache().unwrap();
        drain(&mut s);
        // "b" is dirty in the cache and written below; "e" only in the cache.
        s.put(b"b", b"new").unwrap();
        s.put(b"e", b"new").unwrap();
        let used = budget.used();
        s.expire_range(Some(b"b"), b"d").unwrap();
        s.expire_range(None, b"a\xff").unwrap();
        assert!(budget.used() < used, "expired entries return their bytes");
        s.flush_cache().unwrap();
        let left: Vec<_> = s
            .range(Bound::Unbounded, Bound::Unbounded)
            .map(|kv| kv.unwrap().0)
            .collect();
        assert_eq!(left, [b"d".to_vec(), b"e".to_vec()]);
        assert_eq!(
            drain(&mut s),
            vec![
                (b"b".to_vec(), None),
                (b"c".to_vec(), None),
                (b"a".to_vec(), None),
                (b"e".to_vec(), Some(b"new".to_vec()))
            ],
            "a tombstone for each expired key the changelog had; not the expired update of b"
        );
    }

    #[test]
    fn expiry_by_key_drops_cached_and_written_entries_and_logs_their_tombstones() {
        let budget = CacheBudget::new(1 << 20);
        let mut s = logged(&budget);
        for k in [b"a1", b"b2", b"c1", b"d2"] {
            s.put(k, b"old").unwrap();
        }
        s.flush_cache().unwrap();
        drain(&mut s);
        // "b2" is dirty in the cache and written below; "e2" and "f1" only in the cache.
        s.put(b"b2", b"new").unwrap();
        s.put(b"e2", b"new").unwrap();
        s.put(b"f1", b"new").unwrap();
        let used = budget.used();
        s.expire_where(&|k| k.ends_with(b"2")).unwrap();
        assert!(budget.used() < used, "expired entries return their bytes");
        s.flush_cache().unwrap();
        let left: Vec<_> = s
            .range(Bound::Unbounded, Bound::Unbounded)
            .map(|kv| kv.unwrap().0)
            .collect();
        assert_eq!(left, [b"a1".to_vec(), b"c1".to_vec(), b"f1".to_vec()]);
        assert_eq!(
            drain(&mut s),
            vec![
                (b"b2".to_vec(), None),
                (b"d2".to_vec(), None),
                (b"f1".to_vec(), Some(b"new".to_vec()))
            ],
            "tombstones for the expired keys the changelog had; not the updates of b2 and e2"
        );
    }

    #[test]
    fn an_exhausted_budget_writes_the_cache_down() {
        let budget = CacheBudget::new(1_000);
        let mut s = logged(&budget);
        for i in 0..100u32 {
            s.put(&i.to_be_bytes(), b"value").unwrap();
        }
        assert!(budget.used() <= 1_000, "used {}", budget.used());
        let written = drain(&mut s);
        assert!(!written.is_empty(), "evictions wrote entries down");
        s.flush_cache().unwrap();
        assert_eq!(
            written.len() + drain(&mut s).len(),
            100,
            "every key reached the changelog once"
        );
    }
}
