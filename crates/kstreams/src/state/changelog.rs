//! Change logging: every write to a logged store is also sent to its changelog topic.

use super::{KeyValueBytesStore, KeyValueIter};
use crate::error::StoreError;
use std::ops::Bound;

/// One logged write: key and new value, `None` for a deletion (a tombstone on the topic).
pub type LoggedChange = (Vec<u8>, Option<Vec<u8>>);

/// Wraps an engine and records its writes. The task sends the records to
/// `<application.id>-<store>-changelog`, in the task's partition, after each step, so the
/// changelog is flushed with the producer before offsets are committed.
pub struct ChangeLoggingStore {
    inner: Box<dyn KeyValueBytesStore>,
    pending: Vec<LoggedChange>,
}

impl ChangeLoggingStore {
    /// Logs writes to `inner`.
    pub fn new(inner: Box<dyn KeyValueBytesStore>) -> Self {
        ChangeLoggingStore {
            inner,
            pending: Vec::new(),
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
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.pending.push((key.to_vec(), Some(value.to_vec())));
        Ok(())
    }
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.delete(key)?;
        self.pending.push((key.to_vec(), None));
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
    fn take_logged(&mut self, out: &mut Vec<LoggedChange>) {
        if out.is_empty() {
            std::mem::swap(out, &mut self.pending);
        } else {
            out.append(&mut self.pending);
        }
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
        s.take_logged(&mut out);
        assert_eq!(
            out,
            vec![(b"a".to_vec(), Some(b"1".to_vec())), (b"b".to_vec(), None)]
        );
        assert_eq!(s.get(b"c").unwrap(), Some(b"3".to_vec()));
        out.clear();
        s.take_logged(&mut out);
        assert!(out.is_empty());
    }
}
