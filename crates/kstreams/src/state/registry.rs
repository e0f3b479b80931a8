//! The stores of one task.

use super::builder::{StoreDef, StoreInit, StoreSerdes};
use super::typed::StoreAccess;
use super::{CachingStore, ChangeLoggingStore, KeyValueBytesStore, ReadOnlyKeyValueStore};
use crate::error::StoreError;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A task's copy of one store. Cloning shares the store. Processors get typed views from
/// it; the test driver and interactive queries read through [`StoreHandle::read_only`].
#[derive(Clone)]
pub struct StoreHandle {
    pub(crate) name: Arc<str>,
    pub(crate) engine: Arc<Mutex<Box<dyn KeyValueBytesStore>>>,
    pub(crate) serdes: Arc<dyn Any + Send + Sync>,
    pub(crate) timestamped: bool,
    /// How its writes look in the changelog.
    pub(crate) changelog_format: super::ChangelogFormat,
    /// `<application.id>-<store>-changelog` when the store is logged.
    pub(crate) changelog: Option<Arc<str>>,
    /// Operations through the typed views.
    pub(crate) ops: Arc<StoreOps>,
}

/// Operations on a store through its typed views (processors, interactive queries), as
/// Kafka Streams' metered store counts them: one relaxed increment each.
#[derive(Debug, Default)]
pub(crate) struct StoreOps {
    pub(crate) put: AtomicU64,
    pub(crate) get: AtomicU64,
    pub(crate) delete: AtomicU64,
    pub(crate) range: AtomicU64,
}

impl StoreOps {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many operations a store took since its task was created (Kafka Streams'
/// `put-total`, `get-total`, `delete-total`, `range-total` of stream-state-metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StoreOpCounts {
    /// Writes.
    pub put: u64,
    /// Point reads.
    pub get: u64,
    /// Deletes.
    pub delete: u64,
    /// Range and full scans.
    pub range: u64,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle")
            .field("name", &self.name)
            .field("timestamped", &self.timestamped)
            .finish()
    }
}

impl StoreHandle {
    /// The store name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The changelog topic, when the store is logged.
    pub fn changelog_topic(&self) -> Option<&str> {
        self.changelog.as_deref()
    }

    /// Locks the engine. A panic elsewhere never leaves the map half-written (engine
    /// methods do not call user code), so a poisoned lock is safe to take over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Box<dyn KeyValueBytesStore>> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn access<K: 'static, V: 'static>(&self) -> Result<StoreAccess<K, V>, StoreError> {
        let serdes = self
            .serdes
            .clone()
            .downcast::<StoreSerdes<K, V>>()
            .map_err(|_| StoreError::WrongType {
                name: self.name.to_string(),
                requested: format!(
                    "{}, {}",
                    std::any::type_name::<K>(),
                    std::any::type_name::<V>()
                ),
            })?;
        Ok(StoreAccess::new(self.clone(), serdes))
    }

    /// A typed, read-only view. Timestamped stores are read without their timestamps.
    pub fn read_only<K: 'static, V: 'static>(
        &self,
    ) -> Result<ReadOnlyKeyValueStore<K, V>, StoreError> {
        Ok(ReadOnlyKeyValueStore::new(self.access()?))
    }

    /// Number of entries, possibly approximate.
    pub fn approximate_num_entries(&self) -> u64 {
        self.lock().approximate_num_entries()
    }

    /// The operations this copy of the store took through its typed views.
    pub fn operations(&self) -> StoreOpCounts {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreOpCounts {
            put: read(&self.ops.put),
            get: read(&self.ops.get),
            delete: read(&self.ops.delete),
            range: read(&self.ops.range),
        }
    }
}

/// The stores of one task, by name.
#[derive(Default)]
pub(crate) struct StoreRegistry {
    stores: BTreeMap<String, StoreHandle>,
}

impl StoreRegistry {
    pub(crate) fn open(defs: &[&StoreDef], init: &StoreInit<'_>) -> Result<Self, StoreError> {
        let mut stores = BTreeMap::new();
        for def in defs {
            let mut engine = def.supplier.get(init)?;
            if def.logging {
                engine = Box::new(ChangeLoggingStore::new(engine));
            }
            if let (true, Some(budget)) = (def.caching, init.cache_budget) {
                engine = Box::new(CachingStore::new(engine, budget.clone()));
            }
            stores.insert(
                def.name.clone(),
                StoreHandle {
                    name: def.name.as_str().into(),
                    engine: Arc::new(Mutex::new(engine)),
                    serdes: def.serdes.clone(),
                    timestamped: def.timestamped,
                    changelog_format: def.changelog_format,
                    changelog: def.logging.then(|| {
                        crate::topology::changelog_topic(init.application_id, &def.name).into()
                    }),
                    ops: Arc::default(),
                },
            );
        }
        Ok(StoreRegistry { stores })
    }

    pub(crate) fn get(&self, name: &str) -> Result<&StoreHandle, StoreError> {
        self.stores
            .get(name)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &StoreHandle> {
        self.stores.values()
    }

    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        for s in self.stores.values() {
            s.lock().flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush_caches(&self) -> Result<(), StoreError> {
        for s in self.stores.values() {
            s.lock().flush_cache()?;
        }
        Ok(())
    }

    pub(crate) fn close(&self) -> Result<(), StoreError> {
        let mut first = None;
        for s in self.stores.values() {
            if let Err(e) = s.lock().close() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
