//! Reading a running instance from outside its threads: its state, its metrics, and its
//! stores by text key. [`Inspector`] holds only shared handles, so the HTTP server keeps
//! one while the user keeps the [`KafkaStreams`](super::KafkaStreams).

use super::introspect::{LocalState, ProcessMetrics, ThreadMetadata};
use super::shared::lock;
use super::{Shared, StreamsConfig, ThreadPhase};
use crate::error::StoreError;
use crate::runtime::partitioner::partition_for_key;
use crate::runtime::TaskId;
use crate::state::{StoreHandle, StoreSerdes};
use crate::topology::Topology;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Why an interactive query by text key ([`KafkaStreams::query_json`]) has no answer. A
/// query never answers from a copy of the store that does not own the key.
///
/// [`KafkaStreams::query_json`]: super::KafkaStreams::query_json
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The topology has no key-value store of that name.
    #[error("no store named {store:?} in this application")]
    UnknownStore {
        /// The store asked for.
        store: String,
    },
    /// The store exists but was not exposed with [`KafkaStreams::expose_store`], so its
    /// key and value types are unknown here.
    ///
    /// [`KafkaStreams::expose_store`]: super::KafkaStreams::expose_store
    #[error("store {store:?} is not exposed for queries: call KafkaStreams::expose_store")]
    NotExposed {
        /// The store asked for.
        store: String,
    },
    /// The text is not a key of the store's key type.
    #[error("store {store:?}: {key:?} is not a key: {reason}")]
    BadKey {
        /// The store.
        store: String,
        /// The text given.
        key: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Another instance owns the key's partition (its task): ask it, or use
    /// `KafkaStreams::query_key` (feature `http`), which does.
    #[error("store {store:?}: task {task} of the key is not hosted by this instance")]
    NotHosted {
        /// The store.
        store: String,
        /// The task of the key's partition.
        task: TaskId,
    },
    /// The key's task is here but cannot answer yet (restoring), or the instance has not
    /// started. Ask again.
    #[error("store {store:?}: the key is not queryable yet ({reason})")]
    Unavailable {
        /// The store.
        store: String,
        /// The task of the key's partition, when known.
        task: Option<TaskId>,
        /// `"restoring"`, `"not started"`, `"not loaded yet"`.
        reason: &'static str,
    },
    /// No instance serves the key's task now: it is moving in a rebalance, or its new
    /// owner has not published its status yet. Ask again.
    #[error("store {store:?}: no instance serves task {task} of the key now (rebalancing)")]
    Rebalancing {
        /// The store.
        store: String,
        /// The task of the key's partition.
        task: TaskId,
    },
    /// The instance that owns the key did not answer.
    #[error("store {store:?}: instance {instance} at {address} did not answer: {reason}")]
    Remote {
        /// The store.
        store: String,
        /// The owner's instance id.
        instance: String,
        /// Its HTTP address.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The value does not serialize to JSON.
    #[error("store {store:?}: the value does not serialize to JSON: {source}")]
    Json {
        /// The store.
        store: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads one store by text key, its types erased: what [`KafkaStreams::expose_store`]
/// registers.
///
/// [`KafkaStreams::expose_store`]: super::KafkaStreams::expose_store
pub(crate) trait TextQuery: Send + Sync {
    /// The key, parsed and written by the store's key serde.
    fn key_bytes(
        &self,
        store: &str,
        serdes: &Arc<dyn Any + Send + Sync>,
        key: &str,
    ) -> Result<Vec<u8>, QueryError>;
    /// The key's value in one copy of the store.
    fn get(&self, handle: &StoreHandle, key: &str)
        -> Result<Option<serde_json::Value>, QueryError>;
}

pub(crate) struct Typed<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> Typed<K, V> {
    pub(crate) fn new() -> Self {
        Typed(PhantomData)
    }
}

fn parse<K: FromStr>(store: &str, key: &str) -> Result<K, QueryError>
where
    K::Err: Display,
{
    key.parse().map_err(|e: K::Err| QueryError::BadKey {
        store: store.to_string(),
        key: key.to_string(),
        reason: e.to_string(),
    })
}

impl<K, V> TextQuery for Typed<K, V>
where
    K: FromStr + 'static,
    K::Err: Display,
    V: serde::Serialize + 'static,
{
    fn key_bytes(
        &self,
        store: &str,
        serdes: &Arc<dyn Any + Send + Sync>,
        key: &str,
    ) -> Result<Vec<u8>, QueryError> {
        let serdes = serdes
            .clone()
            .downcast::<StoreSerdes<K, V>>()
            .map_err(|_| StoreError::WrongType {
                name: store.to_string(),
                requested: format!(
                    "{}, {}",
                    std::any::type_name::<K>(),
                    std::any::type_name::<V>()
                ),
            })?;
        let k = parse::<K>(store, key)?;
        let mut bytes = Vec::new();
        serdes
            .key
            .serialize(&k, &mut bytes)
            .map_err(|source| StoreError::Serde {
                store: store.to_string(),
                field: crate::error::Field::Key,
                source,
            })?;
        Ok(bytes)
    }

    fn get(
        &self,
        handle: &StoreHandle,
        key: &str,
    ) -> Result<Option<serde_json::Value>, QueryError> {
        let k = parse::<K>(handle.name(), key)?;
        let value = handle.read_only::<K, V>()?.get(&k)?;
        value
            .map(|v| serde_json::to_value(v))
            .transpose()
            .map_err(|source| QueryError::Json {
                store: handle.name().to_string(),
                source,
            })
    }
}

/// A read-only view of a client, for endpoints that outlive no borrow of it.
#[derive(Clone)]
pub(crate) struct Inspector {
    pub(crate) topology: Arc<Topology>,
    pub(crate) config: Arc<StreamsConfig>,
    pub(crate) shared: Arc<Shared>,
}

impl Inspector {
    /// The client state.
    pub(crate) fn state(&self) -> super::State {
        *lock(&self.shared.state)
    }

    /// See [`KafkaStreams::local_state`](super::KafkaStreams::local_state).
    pub(crate) fn local_state(&self) -> LocalState {
        let shared = &self.shared;
        let phases: BTreeMap<usize, ThreadPhase> = lock(&shared.threads)
            .iter()
            .map(|(i, (p, _))| (*i, *p))
            .collect();
        let stores = lock(&shared.stores).clone();
        let mut threads: Vec<ThreadMetadata> = lock(&shared.thread_reports)
            .iter()
            .filter_map(|(i, t)| {
                let phase = phases.get(i).filter(|p| **p != ThreadPhase::Dead)?;
                let mut t = t.clone();
                t.thread_state = phase.name();
                Some(t)
            })
            .collect();
        // Store sizes are read here, from the stores of ready tasks, not by the threads.
        let stores: std::collections::HashMap<String, Vec<StoreHandle>> = stores
            .into_iter()
            .map(|(id, h)| (id.to_string(), h))
            .collect();
        for task in threads.iter_mut().flat_map(|t| t.active_tasks.iter_mut()) {
            let handles = stores.get(&task.task_id);
            for store in &mut task.stores {
                store.approximate_num_entries = handles
                    .and_then(|h| h.iter().find(|h| h.name() == store.name))
                    .map(StoreHandle::approximate_num_entries);
            }
        }
        LocalState {
            application_id: self.config.application_id.clone(),
            state: *lock(&shared.state),
            alive_stream_threads: phases.values().filter(|p| **p != ThreadPhase::Dead).count(),
            threads,
            failed_stream_threads: shared.failed_threads.load(Ordering::Relaxed),
            metrics: shared.client_metrics(),
            process: ProcessMetrics::now(),
        }
    }

    /// See [`KafkaStreams::query_json`](super::KafkaStreams::query_json).
    pub(crate) fn query_json(
        &self,
        store: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, QueryError> {
        let query = lock(&self.shared.queries).get(store).cloned();
        let Some((sub, serdes)) = self.topology.store_serdes(store) else {
            return Err(QueryError::UnknownStore {
                store: store.to_string(),
            });
        };
        let Some(query) = query else {
            return Err(QueryError::NotExposed {
                store: store.to_string(),
            });
        };
        let global = lock(&self.shared.globals)
            .as_ref()
            .and_then(|g| g.store(store).cloned());
        let Some(sub) = sub else {
            // A global store holds every key on every instance.
            return match global {
                Some(handle) => query.get(&handle, key),
                None => Err(QueryError::Unavailable {
                    store: store.to_string(),
                    task: None,
                    reason: "not loaded yet",
                }),
            };
        };
        let bytes = query.key_bytes(store, &serdes, key)?;
        let partitions = lock(&self.shared.partitions).clone();
        let count = self
            .topology
            .source_topics(sub, &self.config.application_id)
            .iter()
            .filter_map(|t| partitions.get(t).copied())
            .max()
            .unwrap_or(0);
        if count == 0 {
            return Err(QueryError::Unavailable {
                store: store.to_string(),
                task: None,
                reason: "not started",
            });
        }
        let partition = partition_for_key(&bytes, count);
        let task = TaskId::new(sub, partition);
        let handle = lock(&self.shared.stores)
            .get(&task)
            .and_then(|hs| hs.iter().find(|h| h.name() == store).cloned());
        if let Some(handle) = handle {
            return match query.get(&handle, key) {
                // The task closed between finding its store and reading it: it moved.
                Err(QueryError::Store(StoreError::Closed(_))) => Err(QueryError::Rebalancing {
                    store: store.to_string(),
                    task,
                }),
                answered => answered,
            };
        }
        let assigned = lock(&self.shared.threads)
            .values()
            .any(|(p, tasks)| *p != ThreadPhase::Dead && tasks.contains(&task));
        let store = store.to_string();
        Err(if assigned {
            QueryError::Unavailable {
                store,
                task: Some(task),
                reason: "restoring",
            }
        } else {
            QueryError::NotHosted { store, task }
        })
    }
}
