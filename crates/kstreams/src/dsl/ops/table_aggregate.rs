//! `KGroupedTable::{count, reduce, aggregate}`: subtract the old value, add the new one.
//!
//! This is what makes the talk's metrics aggregation correct: when an instance re-reports a
//! counter, its previous report is subtracted before the new one is added.

use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

pub(crate) struct TableAggregate<K, VA, Add, Sub> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<K, VA>>,
    /// `add(key, value, current)`; `current` is `None` for a new key.
    pub(crate) add: Arc<Add>,
    /// `sub(key, value, current)`.
    pub(crate) sub: Arc<Sub>,
}

impl<K, V, VA, Add, Sub> Processor<K, Change<V>, K, Change<VA>> for TableAggregate<K, VA, Add, Sub>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    Add: Fn(&K, V, Option<VA>) -> VA + 'static,
    Sub: Fn(&K, V, VA) -> VA + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let (Some(store), Some(key)) = (self.store.as_mut(), r.key) else {
            ctx.record_dropped("null key at a table aggregation");
            return Ok(());
        };
        let old = store.get(&key)?;
        let (old_value, old_ts) = match old {
            Some(v) => (Some(v.value), v.timestamp),
            None => (None, i64::MIN),
        };
        let mut agg = old_value.clone();
        if let Some(removed) = r.value.old {
            if let Some(current) = agg.take() {
                agg = Some((self.sub)(&key, removed, current));
            }
        }
        if let Some(added) = r.value.new {
            agg = Some((self.add)(&key, added, agg));
        }
        let timestamp = r.timestamp.max(old_ts);
        match &agg {
            Some(a) => store.put(&key, a, timestamp)?,
            None if old_value.is_none() => return Ok(()),
            None => {
                store.delete(&key)?;
            }
        }
        ctx.forward(Record {
            key: Some(key),
            value: Change {
                new: agg,
                old: old_value,
            },
            timestamp,
            headers: r.headers,
        })
    }
}
