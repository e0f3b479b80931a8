//! Changelog records on their way into a store during restoration, in one flat buffer.

/// Store writes that restoration applies at once: keys and values (`None`: delete), oldest
/// first, in the store's own layout (the changelog layout already turned back into it).
///
/// One buffer holds every key and value, so filling a batch allocates only when it grows.
/// An engine that can write many records at once overrides
/// [`KeyValueBytesStore::restore_batch`](super::KeyValueBytesStore::restore_batch).
///
/// ```
/// use kstreams::state::RestoreBatch;
///
/// let mut batch = RestoreBatch::default();
/// batch.push(&[b"user-", b"1"], Some(&[b"42"]));
/// batch.push(&[b"user-2"], None);
/// let records: Vec<_> = batch.iter().collect();
/// assert_eq!(records, vec![(&b"user-1"[..], Some(&b"42"[..])), (&b"user-2"[..], None)]);
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Default, Clone)]
pub struct RestoreBatch {
    bytes: Vec<u8>,
    /// Key length, and value length or `None` for a delete.
    entries: Vec<(usize, Option<usize>)>,
}

impl RestoreBatch {
    /// Appends a write: the key as the concatenation of `key`'s parts, the value likewise,
    /// or `None` to delete.
    pub fn push(&mut self, key: &[&[u8]], value: Option<&[&[u8]]>) {
        let start = self.bytes.len();
        key.iter().for_each(|p| self.bytes.extend_from_slice(p));
        let key_len = self.bytes.len() - start;
        let value_len = value.map(|parts| {
            let at = self.bytes.len();
            parts.iter().for_each(|p| self.bytes.extend_from_slice(p));
            self.bytes.len() - at
        });
        self.entries.push((key_len, value_len));
    }

    /// The writes, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        let mut at = 0;
        self.entries.iter().map(move |&(k, v)| {
            let key = &self.bytes[at..at + k];
            at += k;
            let value = v.map(|v| {
                let value = &self.bytes[at..at + v];
                at += v;
                value
            });
            (key, value)
        })
    }

    /// Writes in the batch.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch holds no write.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of keys and values held.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }
}
