//! Session-windowed aggregation: a record joins every session of its key that lies within
//! the inactivity gap, merging them into one; merged-away sessions are deleted downstream
//! with a tombstone.

use super::expiry;
use crate::dsl::windows::{SessionWindows, Window, Windowed};
use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

pub(crate) struct SessionAggregate<K, VA, F, M> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Windowed<K>, VA>>,
    pub(crate) windows: SessionWindows,
    /// Sessions that ended before stream time minus this are deleted.
    pub(crate) retention_ms: i64,
    pub(crate) expiry: expiry::Schedule,
    pub(crate) observed: expiry::Observed,
    /// `fold(key, value, merged sessions' aggregate)`.
    pub(crate) fold: Arc<F>,
    /// `merger(key, aggregate, aggregate)`: combines two sessions that a record bridges.
    pub(crate) merger: Arc<M>,
}

impl<K, V, VA, F, M> Processor<K, V, Windowed<K>, Change<VA>> for SessionAggregate<K, VA, F, M>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
    M: Fn(&K, VA, VA) -> VA + 'static,
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
            ctx.record_dropped("null key at a session aggregation");
            return Ok(());
        };
        let Some(store) = self.store.as_mut() else {
            return Err(ctx.error("session store not initialized"));
        };
        let (t, gap) = (r.timestamp, self.windows.gap_ms);
        let stream_time = self.observed.advance(ctx, t);
        let bound = |end: i64, start: i64| Windowed {
            key: key.clone(),
            window: Window { start, end },
        };
        // The key's sessions ending at or after t - gap, in end order; those starting no
        // later than t + gap are within reach of this record.
        let found: Vec<_> = store
            .range(
                &bound(t.saturating_sub(gap).max(0), 0),
                &bound(i64::MAX, i64::MAX),
            )?
            .into_iter()
            .filter(|(w, _)| w.window.start <= t.saturating_add(gap))
            .collect();
        let merged = found
            .iter()
            .fold(Window { start: t, end: t }, |m, (w, _)| Window {
                start: m.start.min(w.window.start),
                end: m.end.max(w.window.end),
            });
        // Kafka's rule: a session whose (merged) end is older than stream time minus
        // grace and inactivity gap is closed, and the record is dropped and counted.
        // Stricter than Kafka, a record is also late when it would extend a session that is
        // already closed (final): otherwise a late record could bridge a final session to
        // an open one, and that session would be final twice.
        let close = stream_time
            .saturating_sub(self.windows.grace_ms)
            .saturating_sub(gap);
        let extends_final = found.iter().any(|(w, _)| w.window.end < close);
        if merged.end < close || extends_final {
            ctx.record_dropped("record for a closed session (late beyond the grace period)");
            return Ok(());
        }
        let mut aggregate: Option<VA> = None;
        let mut same_window_old = None;
        for (w, v) in found {
            aggregate = Some(match aggregate {
                None => v.value.clone(),
                Some(a) => (self.merger)(&key, a, v.value.clone()),
            });
            if w.window == merged {
                same_window_old = Some(v.value);
                continue;
            }
            store.delete(&w)?;
            let end = w.window.end;
            ctx.forward(Record {
                key: Some(w),
                value: Change {
                    new: None,
                    old: Some(v.value),
                },
                timestamp: end,
                headers: r.headers.clone(),
            })?;
        }
        let new = (self.fold)(&key, r.value, aggregate);
        let wkey = bound(merged.end, merged.start);
        store.put(&wkey, &new, merged.end)?;
        ctx.forward(Record {
            key: Some(wkey),
            value: Change {
                new: Some(new),
                old: same_window_old,
            },
            timestamp: merged.end,
            headers: r.headers,
        })?;
        self.expire(ctx, stream_time)
    }
}

impl<K, VA, F, M> SessionAggregate<K, VA, F, M> {
    /// Deletes sessions that ended more than the retention before stream time.
    fn expire<A, B>(
        &mut self,
        ctx: &mut ProcessorContext<'_, A, B>,
        stream_time: i64,
    ) -> Result<()> {
        let cutoff = stream_time.saturating_sub(self.retention_ms);
        if self.expiry.due(cutoff, self.retention_ms).is_some() {
            let handle = ctx.task.stores.get(&self.store_name)?;
            // The session end sits where a record key keeps its time.
            expiry::expire_scanning(handle, expiry::time_after_key, cutoff)?;
        }
        Ok(())
    }
}
