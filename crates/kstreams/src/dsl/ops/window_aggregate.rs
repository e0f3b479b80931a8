//! Windowed aggregation: fold each record into every window that contains it, drop
//! records for windows already closed, expire windows past retention.

use super::expiry;
use crate::dsl::windows::{TimeWindows, Window, Windowed};
use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

pub(crate) struct WindowAggregate<K, VA, F> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Windowed<K>, VA>>,
    pub(crate) windows: TimeWindows,
    /// Windows whose start is older than stream time minus this are deleted.
    pub(crate) retention_ms: i64,
    pub(crate) expiry: expiry::Schedule,
    pub(crate) observed: expiry::Observed,
    pub(crate) fold: Arc<F>,
}

impl<K, V, VA, F> Processor<K, V, Windowed<K>, Change<VA>> for WindowAggregate<K, VA, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let Some(key) = r.key else {
            ctx.record_dropped("null key at a windowed aggregation");
            return Ok(());
        };
        let stream_time = self.observed.advance(ctx, r.timestamp);
        let w = self.windows;
        for start in w.window_starts(r.timestamp) {
            let window = Window {
                start,
                end: w.window_end(start),
            };
            // A window closes when stream time reaches its end plus the grace period;
            // later records for it are dropped and counted, as in Kafka Streams.
            // Subtracting from stream time rather than adding to the end saturates on the
            // safe side: a window whose end was capped at i64::MAX never closes.
            if stream_time.saturating_sub(w.grace_ms) >= window.end {
                ctx.record_dropped("record for a closed window (late beyond the grace period)");
                continue;
            }
            let Some(store) = self.store.as_mut() else {
                return Err(ctx.error("window store not initialized"));
            };
            let wkey = Windowed {
                key: key.clone(),
                window,
            };
            let old = store.get(&wkey)?;
            let (old_value, old_ts) = match old {
                Some(v) => (Some(v.value), v.timestamp),
                None => (None, i64::MIN),
            };
            let new = (self.fold)(&key, r.value.clone(), old_value.clone());
            let timestamp = r.timestamp.max(old_ts);
            store.put(&wkey, &new, timestamp)?;
            ctx.forward(Record {
                key: Some(wkey),
                value: Change {
                    new: Some(new),
                    old: old_value,
                },
                timestamp,
                headers: r.headers.clone(),
            })?;
        }
        self.expire(ctx, stream_time)
    }
}

impl<K, VA, F> WindowAggregate<K, VA, F> {
    /// Deletes windows that started before `stream_time - retention`, once per advance.
    fn expire<C, D>(
        &mut self,
        ctx: &mut ProcessorContext<'_, C, D>,
        stream_time: i64,
    ) -> Result<()> {
        let cutoff = stream_time.saturating_sub(self.retention_ms);
        if let Some(from) = self.expiry.due(cutoff, self.windows.advance_ms) {
            expiry::delete_front(ctx.task.stores.get(&self.store_name)?, from, cutoff)?;
        }
        Ok(())
    }
}
