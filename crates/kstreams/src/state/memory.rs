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

    /// Two splits of the ordered map: no per-key lookups.
    fn expire_range(&mut self, from: Option<&[u8]>, to: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        // [.., to) and [to, ..); of the first, keep what lies before `from` (usually
        // nothing: expiry starts where the last one stopped).
        let mut kept = std::mem::take(&mut self.map);
        let mut after = kept.split_off(to);
        match from {
            Some(from) => {
                drop(kept.split_off(from));
                kept.append(&mut after);
                self.map = kept;
            }
            None => self.map = after,
        }
        Ok(())
    }

    fn expire_where(&mut self, expired: &dyn Fn(&[u8]) -> bool) -> Result<(), StoreError> {
        self.check_open()?;
        self.map.retain(|k, _| !expired(k));
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self.map.get(key).cloned())
    }

    fn get_with(&self, key: &[u8], f: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        self.check_open()?;
        f(self.map.get(key).map(Vec::as_slice));
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Put(Vec<u8>, Vec<u8>),
        Delete(Vec<u8>),
        Get(Vec<u8>),
        Range(Vec<u8>, Vec<u8>, bool, bool),
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (key(), prop::collection::vec(any::<u8>(), 0..3)).prop_map(|(k, v)| Op::Put(k, v)),
            key().prop_map(Op::Delete),
            key().prop_map(Op::Get),
            (key(), key(), any::<bool>(), any::<bool>())
                .prop_map(|(a, b, x, y)| Op::Range(a, b, x, y)),
        ]
    }

    proptest! {
        /// The engine against a BTreeMap model, including inverted and exclusive ranges.
        #[test]
        fn behaves_like_an_ordered_map(ops in prop::collection::vec(op(), 1..200)) {
            let mut store = InMemoryKeyValueStore::new("model");
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        store.put(&k, &v).unwrap();
                        model.insert(k, v);
                    }
                    Op::Delete(k) => prop_assert_eq!(store.delete(&k).unwrap(), model.remove(&k)),
                    Op::Get(k) => prop_assert_eq!(store.get(&k).unwrap(), model.get(&k).cloned()),
                    Op::Range(a, b, a_incl, b_incl) => {
                        let lo = if a_incl { Bound::Included(a.as_slice()) } else { Bound::Excluded(a.as_slice()) };
                        let hi = if b_incl { Bound::Included(b.as_slice()) } else { Bound::Excluded(b.as_slice()) };
                        let got: Vec<_> = store.range(lo, hi).map(|kv| kv.unwrap()).collect();
                        let want: Vec<_> = model
                            .iter()
                            .filter(|(k, _)| {
                                let k = k.as_slice();
                                (if a_incl { k >= a.as_slice() } else { k > a.as_slice() })
                                    && (if b_incl { k <= b.as_slice() } else { k < b.as_slice() })
                            })
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(store.approximate_num_entries(), model.len() as u64);
            }
        }
    }

    #[test]
    fn closed_store_refuses_operations() {
        let mut s = InMemoryKeyValueStore::new("c");
        s.close().unwrap();
        assert!(matches!(s.get(b"a"), Err(StoreError::Closed(_))));
        assert!(s
            .range(Bound::Unbounded, Bound::Unbounded)
            .next()
            .unwrap()
            .is_err());
    }
}
