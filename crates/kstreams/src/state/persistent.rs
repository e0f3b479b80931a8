//! The persistent engine, on fjall (a pure-Rust LSM tree).
//!
//! One fjall database serves every store of an application instance, one keyspace per
//! (task, store). Its block cache and the write buffers are therefore shared: the memory
//! the stores use follows the instance's [`MemoryBudget`], not the number of tasks, which
//! is how Kafka Streams users tame RocksDB with a shared cache and write buffer manager.

use super::{KeyValueBytesStore, KeyValueIter, RestoreBatch};
use crate::error::StoreError;
use crate::runtime::TaskId;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The memory all stores of one instance may use, split between the engine's block cache
/// (half), its write buffers (a quarter) and the record caches (a quarter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Total bytes.
    pub total_bytes: u64,
}

impl Default for MemoryBudget {
    /// 64 MiB.
    fn default() -> Self {
        MemoryBudget {
            total_bytes: 64 << 20,
        }
    }
}

impl MemoryBudget {
    /// A budget of `total_bytes`.
    pub fn new(total_bytes: u64) -> Self {
        MemoryBudget { total_bytes }
    }
    /// The engine's block cache.
    pub fn block_cache_bytes(&self) -> u64 {
        self.total_bytes / 2
    }
    /// Unflushed writes (memtables) of all stores together.
    pub fn write_buffer_bytes(&self) -> u64 {
        self.total_bytes / 4
    }
    /// Record caches of all stores together.
    pub fn record_cache_bytes(&self) -> u64 {
        self.total_bytes / 4
    }
}

/// Smallest memtable a store rotates at, so that many tasks do not flush tiny tables.
const MIN_MEMTABLE: u64 = 256 << 10;

fn engine_err(store: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine {
        store: store.to_string(),
        reason: e.to_string(),
    }
}

/// The fjall database of one application instance (`<state.dir>/<application.id>/fjall`).
pub struct FjallDatabase {
    db: fjall::Database,
    path: PathBuf,
    budget: MemoryBudget,
    /// Stores open now: the write budget is shared among them.
    open_stores: AtomicUsize,
    /// Writes made through any store, and how many of them the last persist covered: a
    /// commit asks every store to flush, and only the first of them needs the fsync.
    writes: AtomicU64,
    persisted: AtomicU64,
    /// fsyncs of the journal so far.
    syncs: AtomicU64,
}

impl std::fmt::Debug for FjallDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallDatabase")
            .field("path", &self.path)
            .finish()
    }
}

impl FjallDatabase {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path, budget: MemoryBudget) -> Result<Arc<FjallDatabase>, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| engine_err("(database)", e))?;
        let db = fjall::Database::builder(dir)
            .cache_size(budget.block_cache_bytes().max(1 << 20))
            // Durability comes from the changelog; the commit path persists explicitly.
            .manual_journal_persist(true)
            .open()
            .map_err(|e| engine_err("(database)", e))?;
        Ok(Arc::new(FjallDatabase {
            db,
            path: dir.to_path_buf(),
            budget,
            open_stores: AtomicUsize::new(0),
            writes: AtomicU64::new(0),
            persisted: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        }))
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn keyspace_name(task: TaskId, store: &str) -> String {
        let clean: String = store
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.#$".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = format!("{task}.{clean}");
        name.truncate(255);
        name
    }

    /// Opens the store of `task` named `store`.
    pub fn open_store(
        self: &Arc<Self>,
        task: TaskId,
        store: &str,
    ) -> Result<FjallStore, StoreError> {
        let ks = self
            .db
            .keyspace(&Self::keyspace_name(task, store), keyspace_options)
            .map_err(|e| engine_err(store, e))?;
        self.open_stores.fetch_add(1, Ordering::Relaxed);
        Ok(FjallStore {
            name: store.to_string(),
            ks,
            db: self.clone(),
            unflushed: 0,
            open: true,
            key_buf: std::cell::RefCell::new(Vec::with_capacity(64)),
        })
    }

    /// Deletes the data of `task`'s store `store` (before a full restore).
    pub fn wipe_store(&self, task: TaskId, store: &str) -> Result<(), StoreError> {
        let name = Self::keyspace_name(task, store);
        if !self.db.keyspace_exists(&name) {
            return Ok(());
        }
        let ks = self
            .db
            .keyspace(&name, keyspace_options)
            .map_err(|e| engine_err(store, e))?;
        self.db
            .delete_keyspace(ks)
            .map_err(|e| engine_err(store, e))
    }

    /// Makes every write so far durable. The journal is shared by all stores, so a persist
    /// with no write since the last one returns at once: a commit flushes every task's
    /// stores, one after the other, and pays for one fsync, not one per store.
    pub fn persist(&self) -> Result<(), StoreError> {
        // Counted after each write completes: whatever this number covers is in the journal.
        let written = self.writes.load(Ordering::Acquire);
        if self.persisted.load(Ordering::Acquire) >= written {
            return Ok(());
        }
        self.db
            .persist(fjall::PersistMode::SyncData)
            .map_err(|e| engine_err("(database)", e))?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.persisted.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    /// fsyncs of the journal so far (for tests).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Write-buffer share of one store now.
    fn memtable_limit(&self) -> u64 {
        let n = self.open_stores.load(Ordering::Relaxed).max(1) as u64;
        (self.budget.write_buffer_bytes() / n).max(MIN_MEMTABLE)
    }
}

/// How every store's keyspace is created.
///
/// The journal is persisted by the commit path only ([`FjallDatabase::persist`]), as for the
/// database's write batches: fjall's default for a keyspace flushes its journal buffer to the
/// OS on every single write, one `write` system call per `put` (a tenth of a windowed
/// count's time on fjall). The changelog, not the journal, is what makes a write durable
/// between commits. fjall keeps a keyspace's options from its creation, so a store created
/// before this setting keeps flushing per write until it is wiped and restored.
fn keyspace_options() -> fjall::KeyspaceCreateOptions {
    fjall::KeyspaceCreateOptions::default().manual_journal_persist(true)
}

/// A task's store in the shared fjall database.
///
/// Keys are stored behind a one-byte prefix: fjall rejects empty keys, which Kafka allows
/// (an empty string key serializes to nothing), and a common prefix keeps the order.
pub struct FjallStore {
    name: String,
    ks: fjall::Keyspace,
    db: Arc<FjallDatabase>,
    /// Bytes written since this store's memtable was last rotated.
    unflushed: u64,
    open: bool,
    key_buf: std::cell::RefCell<Vec<u8>>,
}

const KEY_PREFIX: u8 = 0;

impl FjallStore {
    /// Runs `f` with `key` behind the prefix, in a reused buffer.
    fn with_key<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = self.key_buf.borrow_mut();
        buf.clear();
        buf.push(KEY_PREFIX);
        buf.extend_from_slice(key);
        f(&buf)
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }

    /// Removes the keys of `entries` (read as keys only) that `expired` holds, given without
    /// the prefix, in one write batch: what both expiries share.
    fn remove_keys(
        &mut self,
        entries: impl Iterator<Item = fjall::Guard>,
        expired: &dyn Fn(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut writes = self.db.db.batch().durability(None);
        let (mut n, mut bytes) = (0usize, 0usize);
        for guard in entries {
            let key = guard.key().map_err(|e| engine_err(&self.name, e))?;
            if expired(key.get(1..).unwrap_or_default()) {
                bytes += key.len();
                writes.remove(&self.ks, key);
                n += 1;
            }
        }
        if n > 0 {
            writes.commit().map_err(|e| engine_err(&self.name, e))?;
            self.account(bytes + n * 32);
        }
        Ok(())
    }

    /// Rotates the memtable once this store's share of the write budget is used, so the
    /// unflushed data of all stores stays within the budget.
    fn account(&mut self, bytes: usize) {
        self.db.writes.fetch_add(1, Ordering::Release);
        self.unflushed += bytes as u64 + 32;
        if self.unflushed >= self.db.memtable_limit() {
            if let Err(e) = self.ks.rotate_memtable() {
                tracing::warn!(store = %self.name, "rotating memtable failed: {e}");
            }
            self.unflushed = 0;
        }
    }
}

impl KeyValueBytesStore for FjallStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        let v = self
            .with_key(key, |k| self.ks.get(k))
            .map_err(|e| engine_err(&self.name, e))?;
        Ok(v.map(|s| s.to_vec()))
    }

    fn get_with(&self, key: &[u8], f: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        self.check_open()?;
        let v = self
            .with_key(key, |k| self.ks.get(k))
            .map_err(|e| engine_err(&self.name, e))?;
        f(v.as_deref());
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        self.with_key(key, |k| self.ks.insert(k, value))
            .map_err(|e| engine_err(&self.name, e))?;
        self.account(key.len() + value.len());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        let old = self
            .with_key(key, |k| -> Result<_, fjall::Error> {
                let old = self.ks.get(k)?;
                if old.is_some() {
                    self.ks.remove(k)?;
                }
                Ok(old)
            })
            .map_err(|e| engine_err(&self.name, e))?;
        if old.is_some() {
            self.account(key.len());
        }
        Ok(old.map(|s| s.to_vec()))
    }

    /// One fjall write batch: one journal write for the whole batch, where single writes
    /// take one each (the journal write was most of a restored record's cost). A delete is
    /// a tombstone without reading the old value first, which restoration does not need.
    fn restore_batch(&mut self, batch: &RestoreBatch) -> Result<(), StoreError> {
        self.check_open()?;
        if batch.is_empty() {
            return Ok(());
        }
        // No fsync: like any store write, it becomes durable at the next commit's flush,
        // and until the checkpoint moves a crash restores it again from the changelog.
        let mut writes = self.db.db.batch().durability(None);
        for (key, value) in batch.iter() {
            self.with_key(key, |k| match value {
                Some(v) => writes.insert(&self.ks, k, v),
                None => writes.remove(&self.ks, k),
            });
        }
        writes.commit().map_err(|e| engine_err(&self.name, e))?;
        self.account(batch.bytes() + batch.len() * 32);
        Ok(())
    }

    /// fjall has no range tombstone: the range's keys are read (keys only, no values) and
    /// removed in one write batch, without the read of the old value a delete makes.
    fn expire_range(&mut self, from: Option<&[u8]>, to: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        let prefixed = |k: &[u8]| {
            let mut v = Vec::with_capacity(k.len() + 1);
            v.push(KEY_PREFIX);
            v.extend_from_slice(k);
            v
        };
        let lower = from.map_or(vec![KEY_PREFIX], prefixed);
        let upper = prefixed(to);
        if lower >= upper {
            return Ok(());
        }
        let keys = self.ks.range::<Vec<u8>, _>(lower..upper);
        self.remove_keys(keys, &|_| true)
    }

    /// Keys only (no values read), removed in one write batch.
    fn expire_where(&mut self, expired: &dyn Fn(&[u8]) -> bool) -> Result<(), StoreError> {
        self.check_open()?;
        let keys = self.ks.iter();
        self.remove_keys(keys, expired)
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> KeyValueIter<'_> {
        if let Err(e) = self.check_open() {
            return Box::new(std::iter::once(Err(e)));
        }
        let prefixed = |b: Bound<&[u8]>| -> Bound<Vec<u8>> {
            let p = |k: &[u8]| {
                let mut v = Vec::with_capacity(k.len() + 1);
                v.push(KEY_PREFIX);
                v.extend_from_slice(k);
                v
            };
            match b {
                Bound::Included(k) => Bound::Included(p(k)),
                Bound::Excluded(k) => Bound::Excluded(p(k)),
                Bound::Unbounded => Bound::Unbounded,
            }
        };
        let (lo, hi) = (prefixed(from), prefixed(to));
        // An inverted range yields nothing, as in Kafka Streams, instead of reaching the
        // engine.
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) =
            (&lo, &hi)
        {
            let both_inclusive =
                matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_));
            if a > b || (a == b && !both_inclusive) {
                return Box::new(std::iter::empty());
            }
        }
        let name = self.name.clone();
        Box::new(self.ks.range::<Vec<u8>, _>((lo, hi)).map(move |guard| {
            let (k, v) = guard.into_inner().map_err(|e| engine_err(&name, e))?;
            Ok((k.get(1..).unwrap_or_default().to_vec(), v.to_vec()))
        }))
    }

    fn approximate_num_entries(&self) -> u64 {
        self.ks.approximate_len() as u64
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.check_open()?;
        self.db.persist()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        if self.open {
            self.open = false;
            self.db.open_stores.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn persistent(&self) -> bool {
        true
    }
}

impl Drop for FjallStore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
