//! `KGroupedStream::{count, reduce, aggregate}`: fold each record into its key's aggregate.

use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

/// Folds with `fold(key, value, current)`, where `current` is `None` for a new key: count
/// and aggregate start from their initializer, reduce from the first value.
pub(crate) struct StreamAggregate<K, VA, F> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<K, VA>>,
    pub(crate) fold: Arc<F>,
}

impl<K, V, VA, F> Processor<K, V, K, Change<VA>> for StreamAggregate<K, VA, F>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let (Some(store), Some(key)) = (self.store.as_mut(), r.key) else {
            ctx.record_dropped("null key at an aggregation");
            return Ok(());
        };
        let old = store.get(&key)?;
        let (old_value, old_ts) = match old {
            Some(v) => (Some(v.value), v.timestamp),
            None => (None, i64::MIN),
        };
        let new = (self.fold)(&key, r.value, old_value.clone());
        let timestamp = r.timestamp.max(old_ts);
        store.put(&key, &new, timestamp)?;
        ctx.forward(Record {
            key: Some(key),
            value: Change {
                new: Some(new),
                old: old_value,
            },
            timestamp,
            headers: r.headers,
        })
    }
}
