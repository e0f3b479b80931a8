//! Reading one store across the tasks of an instance.

use super::{ReadOnlyKeyValueStore, StoreHandle};
use crate::error::StoreError;

/// One store read across the local copies of all its tasks, for the test driver and
/// interactive queries: each key lives in exactly one task's copy.
pub struct CompositeReadOnlyStore<K, V> {
    parts: Vec<ReadOnlyKeyValueStore<K, V>>,
}

impl<K: 'static, V: 'static> CompositeReadOnlyStore<K, V> {
    /// A view over these copies of one store; `None` when their types are not `(K, V)`.
    pub fn new(handles: Vec<StoreHandle>) -> Option<Self> {
        let parts = handles
            .iter()
            .map(|h| h.read_only::<K, V>())
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Some(CompositeReadOnlyStore { parts })
    }

    /// The value of `key`, from whichever partition holds it.
    pub fn get(&self, key: &K) -> Result<Option<V>, StoreError> {
        for p in &self.parts {
            if let Some(v) = p.get(key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// All entries, partition by partition, each partition in key order.
    pub fn all(&self) -> Result<Vec<(K, V)>, StoreError> {
        let mut out = Vec::new();
        for p in &self.parts {
            out.extend(p.all()?);
        }
        Ok(out)
    }

    /// Which partition's copy holds `key` (copies are in partition order).
    pub fn partition_of(&self, key: &K) -> Result<Option<usize>, StoreError> {
        for (i, p) in self.parts.iter().enumerate() {
            if p.get(key)?.is_some() {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Entries per partition copy: how the keys are spread over tasks (approximate for
    /// persistent engines).
    pub fn entries_per_partition(&self) -> Vec<u64> {
        self.parts
            .iter()
            .map(|p| p.approximate_num_entries())
            .collect()
    }
}
