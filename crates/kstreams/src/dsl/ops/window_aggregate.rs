//! Windowed aggregation: fold each record into every window that contains it, drop
//! records for windows already closed, emit every update or each window's final result
//! once it closes, expire windows past retention.

use super::expiry;
use crate::dsl::windows::{TimeWindows, Window, Windowed};
use crate::error::Result;
use crate::processor::{Change, Headers, Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use std::ops::Bound;
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
    /// `Some` under `EmitStrategy::OnWindowClose`: the close time emitted up to.
    pub(crate) emit_final: Option<EmittedUpTo>,
}

/// How far an emit-final aggregation has emitted: every window whose end is at or before
/// this close time (stream time minus grace) has been forwarded. `None` until the first
/// record of this owner reads it from the task's processor metadata.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EmittedUpTo(Option<i64>);

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
        for start in w.starts_of(r.timestamp) {
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
            if self.emit_final.is_none() {
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
        }
        // Emit before expiring: retention is at least size plus grace, so every window the
        // expiry deletes has closed, and is forwarded first.
        self.emit_closed(ctx, stream_time, &r.headers)?;
        self.expire(ctx, stream_time)
    }
}

impl<K, VA, F> WindowAggregate<K, VA, F>
where
    K: Clone + 'static,
    VA: Clone + 'static,
{
    /// Emit-final: forwards, once, every window that closed since the last emission, read
    /// back from the store in start order (the store's keys begin with the window start),
    /// as Kafka Streams' `KStreamWindowAggregate` does under `onWindowClose`. It scans only
    /// when a window boundary was crossed, and records how far it got in the task's
    /// processor metadata, which the commit stores with the offsets: a new owner resumes
    /// there, so no window is emitted twice or skipped across a restart.
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        stream_time: i64,
        headers: &Headers,
    ) -> Result<()> {
        let Some(emitted) = self.emit_final.as_mut() else {
            return Ok(());
        };
        let w = self.windows;
        let close = stream_time.saturating_sub(w.grace_ms);
        let last = match emitted.0 {
            Some(last) => last,
            None => {
                // A task that committed without this progress (written by an older
                // kstreams) emitted, through its buffer, the windows its committed stream
                // time had closed. Recorded at once, so that the next commit carries it.
                let last = ctx
                    .processor_metadata(&self.store_name)
                    .unwrap_or_else(|| ctx.resumed_stream_time().saturating_sub(w.grace_ms));
                ctx.set_processor_metadata(&self.store_name, last);
                emitted.0 = Some(last);
                last
            }
        };
        if close <= last {
            return Ok(());
        }
        // Windows (aligned on the advance, non-negative starts) whose end lies in
        // (last, close]: starts in (last - size, close - size].
        let upper = close.saturating_sub(w.size_ms);
        let lower = last.saturating_sub(w.size_ms).saturating_add(1).max(0);
        let next_start = lower
            .saturating_add(w.advance_ms - 1)
            .div_euclid(w.advance_ms)
            .saturating_mul(w.advance_ms);
        if upper < 0 || next_start > upper {
            // No window boundary crossed since the last emission: nothing closed.
            return Ok(());
        }
        let Some(store) = self.store.as_ref() else {
            return Err(ctx.error("window store not initialized"));
        };
        let (from, to) = (lower.to_be_bytes(), upper.saturating_add(1).to_be_bytes());
        let to = if upper == i64::MAX {
            Bound::Unbounded
        } else {
            Bound::Excluded(to.as_slice())
        };
        // Collected first: downstream processors may read this store while we forward.
        let closed = store.range_bytes(Bound::Included(from.as_slice()), to)?;
        emitted.0 = Some(close);
        ctx.set_processor_metadata(&self.store_name, close);
        for (wkey, v) in closed {
            ctx.forward(Record {
                key: Some(wkey),
                value: Change {
                    new: Some(v.value),
                    old: None,
                },
                timestamp: v.timestamp,
                headers: headers.clone(),
            })?;
        }
        Ok(())
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
