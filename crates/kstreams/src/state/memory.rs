//! The in-memory engine: an ordered map, as Kafka Streams' `InMemoryKeyValueStore`.

use super::{KeyValueBytesStore, KeyValueIter};
use crate::error::StoreError;
use std::collections::BTreeMap;
use std::ops::Bound;

/// An in-memory, ordered key-value store. Nothing survives the process; with changelogging
/// it is restored from Kafka.
#[derive(Debug, Default)]
pub struct InMemoryKeyValueStore {
    name: String,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    open: bool,
}

impl InMemoryKeyValueStore {
    /// An empty, open store.
    pub fn new(name: impl Into<String>) -> Self {
        InMemoryKeyValueStore {
            name: name.into(),
            map: BTreeMap::new(),
            open: true,
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }
}

impl KeyValueBytesStore for InMemoryKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        // Updates reuse the existing key allocation; only new keys allocate one.
        match self.map.get_mut(key) {
            Some(slot) => {
                slot.clear();
                slot.extend_from_slice(value);
            }
            None => {
                self.map.insert(key.to_vec(), value.to_vec());
            }
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self.map.remove(key))
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> KeyValueIter<'_> {
        if let Err(e) = self.check_open() {
            return Box::new(std::iter::once(Err(e)));
        }
        // BTreeMap panics on an inverted range; Kafka returns nothing for it.
        let inverted = match (from, to) {
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a > b
                    || (a == b
                        && (matches!(from, Bound::Excluded(_)) || matches!(to, Bound::Excluded(_))))
            }
            _ => false,
        };
        if inverted {
            return Box::new(std::iter::empty());
        }
        Box::new(
            self.map
                .range::<[u8], _>((from, to))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        )
    }

    fn approximate_num_entries(&self) -> u64 {
        self.map.len() as u64
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.open = false;
        Ok(())
    }
}
