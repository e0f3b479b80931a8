//! Change logging: the writes to a logged store reach its changelog topic, each key's
//! folded into its latest until the commit.

use super::{ChangeSink, KeyValueBytesStore, KeyValueIter, RestoreBatch};
use crate::error::{StoreError, StreamsError};
use hashbrown::HashTable;
use std::cell::RefCell;
use std::hash::BuildHasher;
use std::ops::Bound;

/// Wraps an engine and records its writes. The task sends them to
/// `<application.id>-<store>-changelog`, in the task's partition, when it commits, before
/// the producer is flushed and the offsets are committed (or the transaction is).
///
/// Until then a key's writes fold into its latest, as Kafka Streams' record cache folds
/// them before its changelog: a compacted changelog keeps only a key's last record anyway,
/// and a restore replays the last. In an in-memory store, a key created since the last
/// commit (a read found it absent just before its first write) and deleted again sends
/// nothing at all: a window created and expired within one commit interval, the common case
/// when a window store replays history, never reaches the changelog.
pub struct ChangeLoggingStore {
    inner: Box<dyn KeyValueBytesStore>,
    log: PendingLog,
    /// Whether deletions of keys created since the last send may be dropped: only when the
    /// engine holds exactly what the changelog says, as an in-memory engine, restored in
    /// full whenever its task starts, does. A persistent engine may hold writes past its
    /// checkpoint that never reached the changelog (a stream thread that fails closes its
    /// tasks, and so makes their stores durable, but commits nothing): reprocessed, a
    /// deletion would find its key already gone, and the changelog would keep the value.
    drops_created: bool,
    /// The key the last read found absent, and whether that still holds (no write since).
    /// A write to it next is the read-modify-write of an aggregation creating the key: the
    /// engine, and so the changelog, had nothing under it.
    absent: RefCell<(Vec<u8>, bool)>,
}

/// The writes logged and not yet sent, a key's writes folded into its latest, in the
/// order their keys were first written. Keys and values sit back to back in one buffer, so
/// a write allocates nothing once the buffers have grown.
#[derive(Default)]
struct PendingLog {
    /// Keys and values. A key written again appends its new value; the old one stays
    /// until the log is sent.
    bytes: Vec<u8>,
    /// One per key, in the order of their first write.
    entries: Vec<Pending>,
    /// The entries by key.
    index: HashTable<usize>,
    hasher: foldhash::fast::RandomState,
    /// Entries written in the current step, whose timestamp
    /// [`ChangeLoggingStore::stamp_logged`] sets when the step ends.
    unstamped: Vec<usize>,
}

/// Where bytes of a key or value sit in [`PendingLog::bytes`].
#[derive(Clone, Copy)]
struct Span {
    at: usize,
    len: usize,
}

impl Span {
    /// The bytes of this span in `bytes`.
    fn of(self, bytes: &[u8]) -> &[u8] {
        &bytes[self.at..self.at + self.len]
    }
}

/// A key's latest write since the last send.
#[derive(Clone, Copy)]
struct Pending {
    key: Span,
    /// The value, or `None` for a deletion.
    value: Option<Span>,
    /// The timestamp of the step that made the latest write.
    timestamp: i64,
    /// The key was absent before the first of these writes: if they end in a deletion,
    /// the changelog has nothing to forget.
    created: bool,
}

/// Bytes a store holds of pending writes before it sends them early, without waiting for
/// the commit: a bound on the memory. A window store of the `records` platform replaying
/// history writes about 1 MiB in the 90 s of event time its windows live, so that most are
/// created and expired between two sends.
pub(crate) const PENDING_LOG_LIMIT: usize = 4 << 20;

/// Bytes (and as many again for entries) a store keeps room for once its writes are sent,
/// whatever it used: the room for the writes of one record or so.
const RETAINED_LOG_BYTES: usize = 64 << 10;

/// The most room a store keeps between sends: a commit interval's writes of a busy store
/// (about 1 MiB per task in `records`' 25M run), so that they do not grow their buffers
/// again every interval, but not a burst's (a full record cache flushed at a commit: up to
/// its budget, 30 MiB over ingest's eight customer stores, heaptrack).
const MAX_RETAINED_LOG_BYTES: usize = 1 << 20;

impl PendingLog {
    fn append(bytes: &mut Vec<u8>, b: &[u8]) -> Span {
        let at = bytes.len();
        bytes.extend_from_slice(b);
        Span { at, len: b.len() }
    }

    /// Folds a write of `key` into the pending ones. `absent` says the key was absent just
    /// before, and counts only for a key with no pending write.
    fn push(&mut self, key: &[u8], value: Option<&[u8]>, absent: bool) {
        let hash = self.hasher.hash_one(key);
        let (bytes, entries) = (&self.bytes, &self.entries);
        let found = self.index.find(hash, |&i| entries[i].key.of(bytes) == key);
        let i = match found {
            Some(&i) => {
                let value = value.map(|v| Self::append(&mut self.bytes, v));
                self.entries[i].value = value;
                i
            }
            None => {
                let key = Self::append(&mut self.bytes, key);
                let value = value.map(|v| Self::append(&mut self.bytes, v));
                let i = self.entries.len();
                self.entries.push(Pending {
                    key,
                    value,
                    timestamp: 0,
                    created: absent,
                });
                let (bytes, entries, hasher) = (&self.bytes, &self.entries, &self.hasher);
                self.index
                    .insert_unique(hash, i, |&i| hasher.hash_one(entries[i].key.of(bytes)));
                i
            }
        };
        self.unstamped.push(i);
    }

    /// Bytes held.
    fn held(&self) -> usize {
        self.bytes.len()
            + self.entries.len()
                * (std::mem::size_of::<Pending>() + 2 * std::mem::size_of::<usize>())
    }

    /// Empties the log. It keeps the room it used this time for the next interval's writes,
    /// up to [`MAX_RETAINED_LOG_BYTES`], and gives back what a burst took beyond twice that.
    fn clear(&mut self) {
        let (bytes, entries) = (self.bytes.len(), self.entries.len());
        self.bytes.clear();
        self.entries.clear();
        self.index.clear();
        self.unstamped.clear();
        let keep_bytes = bytes.clamp(RETAINED_LOG_BYTES, MAX_RETAINED_LOG_BYTES);
        if self.bytes.capacity() > 2 * keep_bytes {
            self.bytes.shrink_to(keep_bytes);
        }
        let entry = std::mem::size_of::<Pending>();
        let keep = entries.clamp(RETAINED_LOG_BYTES / entry, MAX_RETAINED_LOG_BYTES / entry);
        if self.entries.capacity() > 2 * keep {
            self.entries.shrink_to(keep);
            self.unstamped.shrink_to(keep);
            self.index.shrink_to(keep, |_| 0);
        }
    }
}

impl ChangeLoggingStore {
    /// Logs writes to `inner`.
    pub fn new(inner: Box<dyn KeyValueBytesStore>) -> Self {
        ChangeLoggingStore {
            drops_created: !inner.persistent(),
            inner,
            log: PendingLog::default(),
            absent: RefCell::new((Vec::new(), false)),
        }
    }

    /// Whether the last read found `key` absent with no write since; forgets the read,
    /// since a write follows.
    fn was_absent(&mut self, key: &[u8]) -> bool {
        let (absent, valid) = self.absent.get_mut();
        std::mem::take(valid) && **absent == *key
    }

    /// Forgets the last read: a write that does not go through [`log`](Self::log) (a
    /// restore, an expiry) may have changed any key.
    fn forget_read(&mut self) {
        self.absent.get_mut().1 = false;
    }

    /// Remembers a read that found `key` absent. A read that finds a key changes nothing:
    /// the remembered key stays absent until a write.
    fn note_absent(&self, key: &[u8]) {
        if !self.drops_created {
            return;
        }
        let (absent, valid) = &mut *self.absent.borrow_mut();
        absent.clear();
        absent.extend_from_slice(key);
        *valid = true;
    }

    /// Logs a write; `absent` when the caller knows the key was absent before it.
    fn log(&mut self, key: &[u8], value: Option<&[u8]>, absent: bool) {
        let absent = self.drops_created && (self.was_absent(key) || absent);
        self.log.push(key, value, absent);
    }
}

impl KeyValueBytesStore for ChangeLoggingStore {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.inner.get(key)?;
        if value.is_none() {
            self.note_absent(key);
        }
        Ok(value)
    }
    fn get_with(&self, key: &[u8], f: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        let mut found = false;
        self.inner.get_with(key, &mut |v| {
            found = v.is_some();
            f(v)
        })?;
        if !found {
            self.note_absent(key);
        }
        Ok(())
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.log(key, Some(value), false);
        Ok(())
    }
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.delete(key)?;
        // Deleting what was not there: the changelog has nothing to forget either.
        self.log(key, None, old.is_none());
        Ok(old)
    }
    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> KeyValueIter<'_> {
        self.inner.range(from, to)
    }
    fn approximate_num_entries(&self) -> u64 {
        self.inner.approximate_num_entries()
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }
    fn close(&mut self) -> Result<(), StoreError> {
        self.inner.close()
    }
    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        // Restoring replays the changelog: writing it back would duplicate it.
        self.forget_read();
        self.inner.restore(key, value)
    }
    fn restore_batch(&mut self, batch: &RestoreBatch) -> Result<(), StoreError> {
        self.forget_read();
        self.inner.restore_batch(batch)
    }
    /// Logs a tombstone for every expired key, then drops the range in the engine at once.
    ///
    /// Kafka Streams logs nothing here and lets the changelog delete old windows by
    /// `retention.ms`, but the broker judges that retention by the records' timestamps,
    /// which are event times: an application on history older than its retention (a replay,
    /// or the `records` platform's generated day) had its changelog's segments deleted within
    /// minutes, and a restarted instance restored its windows from nothing. Tombstones make
    /// the compacted changelog forget exactly what the store forgot, whatever the event time.
    /// A window created since the last send and expired now sends nothing.
    fn expire_range(&mut self, from: Option<&[u8]>, to: &[u8]) -> Result<(), StoreError> {
        self.forget_read();
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        for kv in self.inner.range(lower, Bound::Excluded(to)) {
            self.log.push(&kv?.0, None, false);
        }
        self.inner.expire_range(from, to)
    }
    /// A tombstone per expired key, as [`expire_range`](Self::expire_range).
    fn expire_where(&mut self, expired: &dyn Fn(&[u8]) -> bool) -> Result<(), StoreError> {
        self.forget_read();
        for kv in self.inner.range(Bound::Unbounded, Bound::Unbounded) {
            let (key, _) = kv?;
            if expired(&key) {
                self.log.push(&key, None, false);
            }
        }
        self.inner.expire_where(expired)
    }
    fn stamp_logged(&mut self, timestamp: i64) -> bool {
        for &i in &self.log.unstamped {
            self.log.entries[i].timestamp = timestamp;
        }
        self.log.unstamped.clear();
        self.log.held() > PENDING_LOG_LIMIT
    }
    fn drain_logged(&mut self, f: &mut ChangeSink<'_>) -> Result<(), StreamsError> {
        let log = &self.log;
        let result = log
            .entries
            .iter()
            .filter(|p| !(p.created && p.value.is_none()))
            .try_for_each(|p| {
                let value = p.value.map(|v| v.of(&log.bytes));
                f(p.key.of(&log.bytes), value, p.timestamp)
            });
        self.log.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InMemoryKeyValueStore;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Sent = Vec<(Vec<u8>, Option<Vec<u8>>, i64)>;

    fn logged() -> ChangeLoggingStore {
        ChangeLoggingStore::new(Box::new(InMemoryKeyValueStore::new("s")))
    }

    /// Ends a step at `timestamp` and sends what is pending, as a commit does.
    fn send(s: &mut ChangeLoggingStore, timestamp: i64) -> Sent {
        s.stamp_logged(timestamp);
        let mut out = Vec::new();
        s.drain_logged(&mut |k, v, t| {
            out.push((k.to_vec(), v.map(<[u8]>::to_vec), t));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn logs_writes_but_not_restores() {
        let mut s = logged();
        s.restore(b"b", Some(b"2")).unwrap();
        s.put(b"a", b"1").unwrap();
        s.delete(b"b").unwrap();
        s.restore(b"c", Some(b"3")).unwrap();
        assert_eq!(
            send(&mut s, 5),
            vec![
                (b"a".to_vec(), Some(b"1".to_vec()), 5),
                (b"b".to_vec(), None, 5)
            ]
        );
        // Sent writes are forgotten: a second send adds nothing.
        assert_eq!(send(&mut s, 6), vec![]);
        assert_eq!(s.get(b"c").unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn a_keys_writes_fold_into_its_latest_with_its_steps_timestamp() {
        let mut s = logged();
        s.put(b"k", b"1").unwrap();
        s.put(b"j", b"1").unwrap();
        s.stamp_logged(10);
        s.put(b"k", b"22").unwrap();
        s.stamp_logged(20);
        // Keys keep the order of their first write; `k` carries its last step's time.
        assert_eq!(
            send(&mut s, 30),
            vec![
                (b"k".to_vec(), Some(b"22".to_vec()), 20),
                (b"j".to_vec(), Some(b"1".to_vec()), 10)
            ]
        );
    }

    #[test]
    fn a_key_created_and_deleted_between_sends_sends_nothing() {
        let mut s = logged();
        // Read-modify-write, as an aggregation creates a key: the read finds it absent.
        assert_eq!(s.get(b"new").unwrap(), None);
        s.put(b"new", b"1").unwrap();
        s.put(b"new", b"2").unwrap();
        s.delete(b"new").unwrap();
        // Deleting a key that was never there forgets nothing either.
        s.delete(b"never").unwrap();
        assert_eq!(send(&mut s, 1), vec![]);

        // A key the changelog holds is deleted with a tombstone.
        s.get_with(b"old", &mut |v| assert!(v.is_none())).unwrap();
        s.put(b"old", b"1").unwrap();
        assert_eq!(
            send(&mut s, 2),
            vec![(b"old".to_vec(), Some(b"1".to_vec()), 2)]
        );
        s.delete(b"old").unwrap();
        assert_eq!(send(&mut s, 3), vec![(b"old".to_vec(), None, 3)]);
    }

    #[test]
    fn a_write_not_right_after_a_read_that_found_the_key_absent_keeps_its_tombstone() {
        let mut s = logged();
        s.restore(b"k", Some(b"0")).unwrap();
        // The read of another key says nothing about `k`, nor does a read before a write
        // in between.
        assert_eq!(s.get(b"other").unwrap(), None);
        s.put(b"k", b"1").unwrap();
        s.delete(b"k").unwrap();
        assert_eq!(s.get(b"k").unwrap(), None);
        s.restore(b"k", Some(b"2")).unwrap();
        s.put(b"k", b"3").unwrap();
        s.delete(b"k").unwrap();
        assert_eq!(send(&mut s, 1), vec![(b"k".to_vec(), None, 1)]);
    }

    /// An in-memory engine that says it is persistent.
    struct Durable(InMemoryKeyValueStore);

    impl KeyValueBytesStore for Durable {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.0.get(key)
        }
        fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
            self.0.put(key, value)
        }
        fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.0.delete(key)
        }
        fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> KeyValueIter<'_> {
            self.0.range(from, to)
        }
        fn approximate_num_entries(&self) -> u64 {
            self.0.approximate_num_entries()
        }
        fn persistent(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_persistent_engine_logs_every_deletion() {
        // Its engine may hold writes the changelog never received (a failed thread made
        // them durable without committing): a key it lacks may still be in the changelog.
        let mut s = ChangeLoggingStore::new(Box::new(Durable(InMemoryKeyValueStore::new("d"))));
        s.delete(b"gone").unwrap();
        assert_eq!(s.get(b"new").unwrap(), None);
        s.put(b"new", b"1").unwrap();
        s.delete(b"new").unwrap();
        assert_eq!(
            send(&mut s, 1),
            vec![(b"gone".to_vec(), None, 1), (b"new".to_vec(), None, 1)]
        );
    }

    #[test]
    fn expiring_windows_created_since_the_last_send_sends_nothing_for_them() {
        let mut s = logged();
        for key in [b"1a", b"1b"] {
            assert_eq!(s.get(key).unwrap(), None);
            s.put(key, b"v").unwrap();
        }
        assert_eq!(send(&mut s, 1).len(), 2);
        for key in [b"2a", b"3a"] {
            assert_eq!(s.get(key).unwrap(), None);
            s.put(key, b"v").unwrap();
        }
        s.expire_range(None, b"3").unwrap();
        // Only what the changelog held is forgotten; `3a` is still live.
        assert_eq!(
            send(&mut s, 2),
            vec![
                (b"3a".to_vec(), Some(b"v".to_vec()), 2),
                (b"1a".to_vec(), None, 2),
                (b"1b".to_vec(), None, 2)
            ]
        );
        s.expire_where(&|k| k.starts_with(b"3")).unwrap();
        assert_eq!(send(&mut s, 3), vec![(b"3a".to_vec(), None, 3)]);
    }

    #[test]
    fn pending_writes_past_the_limit_ask_to_be_sent_early_and_a_burst_gives_its_room_back() {
        let mut s = logged();
        let value = vec![7u8; 1024];
        let mut i = 0u32;
        while !s.stamp_logged(1) {
            s.put(&i.to_be_bytes(), &value).unwrap();
            i += 1;
        }
        let written = i as usize * 1024;
        assert!(
            written > PENDING_LOG_LIMIT * 9 / 10,
            "asked after {i} writes"
        );
        assert!(written <= PENDING_LOG_LIMIT, "asked after {i} writes");
        assert_eq!(send(&mut s, 2).len(), i as usize);
        // The next interval writes one key: the burst's room is given back.
        s.put(b"a", b"1").unwrap();
        assert_eq!(
            send(&mut s, 3),
            vec![(b"a".to_vec(), Some(b"1".to_vec()), 3)]
        );
        assert!(s.log.bytes.capacity() <= 2 * RETAINED_LOG_BYTES);
        assert!(
            s.log.entries.capacity() * std::mem::size_of::<Pending>() <= 2 * RETAINED_LOG_BYTES
        );
        assert!(!s.stamp_logged(4));
    }

    /// One operation on a logged store.
    #[derive(Debug, Clone)]
    enum Op {
        Get(u8),
        Put(u8, u8),
        Delete(u8),
        Expire(u8),
        Send,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..8u8).prop_map(Op::Get),
            3 => (0..8u8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            2 => (0..8u8).prop_map(Op::Delete),
            1 => (0..8u8).prop_map(Op::Expire),
            1 => Just(Op::Send),
        ]
    }

    proptest! {
        /// Whatever the writes, reads and sends, replaying every record sent into an
        /// empty store rebuilds the store: folding and dropping never lose a write.
        #[test]
        fn the_changelog_rebuilds_the_store(ops in proptest::collection::vec(op(), 0..64)) {
            let mut s = logged();
            let mut changelog: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut apply = |sent: Sent| {
                for (k, v, _) in sent {
                    match v {
                        Some(v) => { changelog.insert(k, v); }
                        None => { changelog.remove(&k); }
                    }
                }
            };
            for op in ops {
                match op {
                    Op::Get(k) => { s.get(&[k]).unwrap(); }
                    Op::Put(k, v) => s.put(&[k], &[v]).unwrap(),
                    Op::Delete(k) => { s.delete(&[k]).unwrap(); }
                    Op::Expire(k) => s.expire_range(None, &[k]).unwrap(),
                    Op::Send => apply(send(&mut s, 0)),
                }
            }
            apply(send(&mut s, 0));
            let store: BTreeMap<Vec<u8>, Vec<u8>> = s
                .range(Bound::Unbounded, Bound::Unbounded)
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(changelog, store);
        }
    }
}
