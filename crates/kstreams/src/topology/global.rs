//! Global stores: a full copy of a topic on every instance, read into place before any
//! task processes, then kept up to date. They back [`GlobalKTable`](crate::dsl::GlobalKTable)s.
//!
//! The topic itself is the store's changelog, so a global store has no changelog topic,
//! no record cache, and is rebuilt from the topic's beginning when an instance starts.

use crate::error::{Field, Origin, Result, StreamsError};
use crate::processor::{ErrorContext, HandlerResponse, SharedDeserializationHandler};
use crate::runtime::InputRecord;
use crate::state::{StoreDef, StoreHandle, StoreInit, StoreRegistry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Applies one raw record of the global topic to the store: deserialize, then put or
/// delete (tombstone). `Ok(false)` means the record was skipped (null key, or bad bytes
/// under log-and-continue).
pub(crate) type GlobalApply = Arc<
    dyn Fn(&StoreHandle, &InputRecord<'_>, &SharedDeserializationHandler) -> Result<bool>
        + Send
        + Sync,
>;

/// One global table: its topic and store.
#[derive(Clone)]
pub(crate) struct GlobalDef {
    /// Names of the source and processor nodes, for `describe()`.
    pub(crate) names: (String, String),
    pub(crate) topic: String,
    pub(crate) store: StoreDef,
    pub(crate) apply: GlobalApply,
}

/// The instance's global stores, shared by every task and thread.
pub struct GlobalStores {
    by_topic: BTreeMap<String, (StoreHandle, GlobalApply)>,
    handler: SharedDeserializationHandler,
}

impl std::fmt::Debug for GlobalStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalStores")
            .field("topics", &self.by_topic.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl GlobalStores {
    pub(crate) fn open(
        defs: &[GlobalDef],
        init: &StoreInit<'_>,
        handler: SharedDeserializationHandler,
    ) -> Result<Self> {
        let stores: Vec<&StoreDef> = defs.iter().map(|d| &d.store).collect();
        let registry = StoreRegistry::open(&stores, init)?;
        let mut by_topic = BTreeMap::new();
        for d in defs {
            let handle = registry.get(&d.store.name)?.clone();
            by_topic.insert(d.topic.clone(), (handle, d.apply.clone()));
        }
        Ok(GlobalStores { by_topic, handler })
    }

    /// The global topics.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.by_topic.keys().map(String::as_str)
    }

    /// The store named `name`.
    pub fn store(&self, name: &str) -> Option<&StoreHandle> {
        self.by_topic
            .values()
            .map(|(h, _)| h)
            .find(|h| h.name() == name)
    }

    /// Applies one record of a global topic; returns whether it changed the store.
    pub fn apply(&self, record: &InputRecord<'_>) -> Result<bool> {
        let Some((handle, apply)) = self.by_topic.get(record.topic) else {
            return Err(StreamsError::UnknownTopic {
                task: "global stores".into(),
                topic: record.topic.to_string(),
            });
        };
        apply(handle, record, &self.handler)
    }

    /// Makes the stores durable (persistent engines).
    pub fn flush(&self) -> Result<()> {
        for (h, _) in self.by_topic.values() {
            h.lock().flush()?;
        }
        Ok(())
    }
}

/// The typed apply function for a global table of `K` and `V`.
pub(crate) fn apply_fn<K: 'static, V: 'static>(
    key_serde: crate::serde::SharedSerde<K>,
    value_serde: crate::serde::SharedSerde<V>,
) -> GlobalApply {
    Arc::new(move |handle, r, handler| {
        let origin = || Origin {
            topic: r.topic.to_string(),
            partition: r.partition,
            offset: r.offset,
        };
        let fail = |field, source| {
            let at = origin();
            let err = StreamsError::Deserialization {
                origin: at.clone(),
                field,
                source,
            };
            match handler.handle(&ErrorContext::of(&at, None), &err) {
                HandlerResponse::Continue => {
                    tracing::warn!(handler = handler.name(), "skipping global record: {err}");
                    Ok(false)
                }
                // The global thread has no producer to dead-letter with.
                HandlerResponse::DeadLetter => {
                    tracing::warn!(
                        handler = handler.name(),
                        "skipping global record (no dead-letter topic for global tables): {err}"
                    );
                    Ok(false)
                }
                HandlerResponse::Fail => Err(err),
            }
        };
        let Some(key_bytes) = r.key else {
            tracing::warn!("skipping global record with a null key at {}", origin());
            return Ok(false);
        };
        let key = match key_serde.deserialize(key_bytes) {
            Ok(k) => k,
            Err(e) => return fail(Field::Key, e),
        };
        let mut store = crate::state::TimestampedKeyValueStore::<K, V>::new(handle.access()?);
        match r.value {
            None => {
                store.delete(&key)?;
            }
            Some(bytes) => match value_serde.deserialize(bytes) {
                Ok(v) => store.put(&key, &v, r.timestamp)?,
                Err(e) => return fail(Field::Value, e),
            },
        }
        Ok(true)
    })
}
