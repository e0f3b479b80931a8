//! Change logging: every write to a logged store is also sent to its changelog topic.

use super::{ChangeSink, KeyValueBytesStore, KeyValueIter, RestoreBatch};
use crate::error::{StoreError, StreamsError};
use std::ops::Bound;

/// Wraps an engine and records its writes. The task sends the records to
/// `<application.id>-<store>-changelog`, in the task's partition, after each step, so the
/// changelog is flushed with the producer before offsets are committed.
pub struct ChangeLoggingStore {
    inner: Box<dyn KeyValueBytesStore>,
    log: PendingLog,
}

/// The writes logged and not yet sent.
#[derive(Default)]
struct PendingLog {
    /// Keys and values of the pending writes, back to back, so logging allocates nothing
    /// once the buffers have grown.
    bytes: Vec<u8>,
    /// Per pending write: key length, and value length or `None` for a deletion.
    entries: Vec<(usize, Option<usize>)>,
}

/// Bytes of pending writes a store keeps room for once they are sent, and as much again for
/// their entries. A write per record needs a few hundred; the flush of a full record cache
/// logs up to the cache's budget at once, and keeping that room for ever cost every logged
/// store the largest flush it ever made (30 MiB over ingest's eight customer stores,
/// heaptrack).
const RETAINED_LOG_BYTES: usize = 64 << 10;
/// The entries that take [`RETAINED_LOG_BYTES`].
const RETAINED_LOG_ENTRIES: usize =
    RETAINED_LOG_BYTES / std::mem::size_of::<(usize, Option<usize>)>();

impl PendingLog {
    /// Empties the log, giving back the room a burst of writes took.
    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
        self.bytes.shrink_to(RETAINED_LOG_BYTES);
        self.entries.shrink_to(RETAINED_LOG_ENTRIES);
    }

    fn push(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.bytes.extend_from_slice(key);
        if let Some(v) = value {
            self.bytes.extend_from_slice(v);
        }
        self.entries.push((key.len(), value.map(<[u8]>::len)));
    }
}

impl ChangeLoggingStore {
    /// Logs writes to `inner`.
    pub fn new(inner: Box<dyn KeyValueBytesStore>) -> Self {
        ChangeLoggingStore {
            inner,
            log: PendingLog::default(),
        }
    }
}

impl KeyValueBytesStore for ChangeLoggingStore {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn get_with(&self, key: &[u8], f: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        self.inner.get_with(key, f)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.log.push(key, Some(value));
        Ok(())
    }
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.delete(key)?;
        self.log.push(key, None);
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
        self.inner.restore(key, value)
    }
    fn restore_batch(&mut self, batch: &RestoreBatch) -> Result<(), StoreError> {
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
    fn expire_range(&mut self, from: Option<&[u8]>, to: &[u8]) -> Result<(), StoreError> {
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        for kv in self.inner.range(lower, Bound::Excluded(to)) {
            self.log.push(&kv?.0, None);
        }
        self.inner.expire_range(from, to)
    }
    /// A tombstone per expired key, as [`expire_range`](Self::expire_range).
    fn expire_where(&mut self, expired: &dyn Fn(&[u8]) -> bool) -> Result<(), StoreError> {
        for kv in self.inner.range(Bound::Unbounded, Bound::Unbounded) {
            let (key, _) = kv?;
            if expired(&key) {
                self.log.push(&key, None);
            }
        }
        self.inner.expire_where(expired)
    }
    fn drain_logged(&mut self, f: &mut ChangeSink<'_>) -> Result<(), StreamsError> {
        let mut at = 0;
        let result = self.log.entries.iter().try_for_each(|&(k, v)| {
            let key = &self.log.bytes[at..at + k];
            at += k;
            let value = v.map(|v| {
                let value = &self.log.bytes[at..at + v];
                at += v;
                value
            });
            f(key, value)
        });
        self.log.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InMemoryKeyValueStore;

    #[test]
    fn logs_writes_but_not_restores() {
        let mut s = ChangeLoggingStore::new(Box::new(InMemoryKeyValueStore::new("s")));
        s.put(b"a", b"1").unwrap();
        s.delete(b"b").unwrap();
        s.restore(b"c", Some(b"3")).unwrap();
        let mut out = Vec::new();
        let mut collect = |k: &[u8], v: Option<&[u8]>| {
            out.push((k.to_vec(), v.map(<[u8]>::to_vec)));
            Ok(())
        };
        s.drain_logged(&mut collect).unwrap();
        // Drained writes are forgotten: a second drain adds nothing.
        s.drain_logged(&mut collect).unwrap();
        assert_eq!(
            out,
            vec![(b"a".to_vec(), Some(b"1".to_vec())), (b"b".to_vec(), None)]
        );
        assert_eq!(s.get(b"c").unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn a_burst_of_writes_does_not_keep_its_room_once_sent() {
        let mut s = ChangeLoggingStore::new(Box::new(InMemoryKeyValueStore::new("s")));
        // A flushed record cache logs its whole share at once: 4 MiB here.
        let value = vec![7u8; 1024];
        for i in 0..4096u32 {
            s.put(&i.to_be_bytes(), &value).unwrap();
        }
        let mut sent = 0;
        s.drain_logged(&mut |_, v| {
            sent += v.map_or(0, <[u8]>::len);
            Ok(())
        })
        .unwrap();
        assert_eq!(sent, 4096 * 1024);
        assert!(
            s.log.bytes.capacity() <= RETAINED_LOG_BYTES,
            "{} bytes kept",
            s.log.bytes.capacity()
        );
        assert!(s.log.entries.capacity() <= RETAINED_LOG_ENTRIES);
        // Small writes after it still log and drain as before.
        s.put(b"a", b"1").unwrap();
        let mut out = Vec::new();
        s.drain_logged(&mut |k, v| {
            out.push((k.to_vec(), v.map(<[u8]>::to_vec)));
            Ok(())
        })
        .unwrap();
        assert_eq!(out, vec![(b"a".to_vec(), Some(b"1".to_vec()))]);
    }
}
