//! Table lookups: how a join or a derived table reads "the current value of key k".
//!
//! Like Kafka Streams' `KTableValueGetterSupplier`: a materialized table reads its store; a
//! table derived without a store (filter, map_values, join) reads its parent's getter and
//! applies its own function. Lookups therefore never need a store per derived table.

use crate::error::StoreError;
use crate::state::{StoreRegistry, TimestampedKeyValueStore, ValueAndTimestamp};
use std::sync::Arc;

pub(crate) trait ValueGetter<K, V> {
    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StoreError>;
}

/// Maps a looked-up value; `None` means the row is absent from the derived table.
pub(crate) type MapFn<K, V, V2> = Arc<dyn Fn(&K, V) -> Option<V2> + Send + Sync>;

/// `joiner(left, right)`, `None` when the join kind has no row for that pair.
pub(crate) type Joiner<L, R, VR> = Arc<dyn Fn(Option<&L>, Option<&R>) -> Option<VR> + Send + Sync>;

type Make<K, V> =
    dyn Fn(&StoreRegistry) -> Result<Box<dyn ValueGetter<K, V>>, StoreError> + Send + Sync;

/// Makes a task's getter; `stores` are the stores it reads, which the reading node must be
/// connected to (and so share a subtopology with).
pub(crate) struct GetterSupplier<K, V> {
    pub(crate) stores: Vec<String>,
    pub(crate) make: Arc<Make<K, V>>,
}

impl<K, V> Clone for GetterSupplier<K, V> {
    fn clone(&self) -> Self {
        GetterSupplier {
            stores: self.stores.clone(),
            make: self.make.clone(),
        }
    }
}

struct StoreGetter<K, V>(TimestampedKeyValueStore<K, V>);

impl<K: 'static, V: 'static> ValueGetter<K, V> for StoreGetter<K, V> {
    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StoreError> {
        self.0.get(key)
    }
}

struct Mapped<K, V, V2> {
    parent: Box<dyn ValueGetter<K, V>>,
    f: MapFn<K, V, V2>,
}

impl<K, V, V2> ValueGetter<K, V2> for Mapped<K, V, V2> {
    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V2>>, StoreError> {
        Ok(self.parent.get(key)?.and_then(|vt| {
            (self.f)(key, vt.value).map(|value| ValueAndTimestamp {
                value,
                timestamp: vt.timestamp,
            })
        }))
    }
}

impl<K: 'static, V: 'static> GetterSupplier<K, V> {
    /// Reads a materialized table's store.
    pub(crate) fn store(name: String) -> Self {
        let store = name.clone();
        GetterSupplier {
            stores: vec![name],
            make: Arc::new(move |reg: &StoreRegistry| {
                let s = reg.get(&store)?.access::<K, V>()?;
                Ok(Box::new(StoreGetter(TimestampedKeyValueStore::new(s)))
                    as Box<dyn ValueGetter<K, V>>)
            }),
        }
    }

    /// Applies `f` to what the parent finds; `None` from `f` means absent.
    pub(crate) fn map<V2: 'static>(&self, f: MapFn<K, V, V2>) -> GetterSupplier<K, V2> {
        let parent = self.make.clone();
        GetterSupplier {
            stores: self.stores.clone(),
            make: Arc::new(move |reg: &StoreRegistry| {
                Ok(Box::new(Mapped {
                    parent: parent(reg)?,
                    f: f.clone(),
                }) as Box<dyn ValueGetter<K, V2>>)
            }),
        }
    }
}

struct Joined<K, L, R, VR> {
    left: Box<dyn ValueGetter<K, L>>,
    right: Box<dyn ValueGetter<K, R>>,
    joiner: Joiner<L, R, VR>,
}

impl<K, L, R, VR> ValueGetter<K, VR> for Joined<K, L, R, VR> {
    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<VR>>, StoreError> {
        let l = self.left.get(key)?;
        let r = self.right.get(key)?;
        let ts = l
            .as_ref()
            .map_or(i64::MIN, |v| v.timestamp)
            .max(r.as_ref().map_or(i64::MIN, |v| v.timestamp));
        Ok(
            (self.joiner)(l.as_ref().map(|v| &v.value), r.as_ref().map(|v| &v.value)).map(
                |value| ValueAndTimestamp {
                    value,
                    timestamp: ts,
                },
            ),
        )
    }
}

/// The getter of a table-table join result: looks up both sides and joins.
pub(crate) fn joined<K: 'static, L: 'static, R: 'static, VR: 'static>(
    left: &GetterSupplier<K, L>,
    right: &GetterSupplier<K, R>,
    joiner: Joiner<L, R, VR>,
) -> GetterSupplier<K, VR> {
    let (lm, rm) = (left.make.clone(), right.make.clone());
    let mut stores = left.stores.clone();
    stores.extend(right.stores.iter().cloned());
    GetterSupplier {
        stores,
        make: Arc::new(move |reg: &StoreRegistry| {
            Ok(Box::new(Joined {
                left: lm(reg)?,
                right: rm(reg)?,
                joiner: joiner.clone(),
            }) as Box<dyn ValueGetter<K, VR>>)
        }),
    }
}
