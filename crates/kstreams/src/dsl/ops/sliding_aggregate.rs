//! Sliding-window aggregation. A record at `t` belongs to the windows `[s, s + d]` that
//! contain it; the windows that exist are the one ending at each record
//! (`[t - d, t]`, or `[0, d]` for records earlier than `d`, as in Kafka) and the one
//! starting just after each record (`[t + 1, t + 1 + d]`) when it holds any record.
//!
//! Each record recomputes the open windows it touches from the key's records in reach,
//! kept in a second, changelogged store. That needs the value serde, which Kafka's
//! incremental algorithm does not, and costs a scan of the records within `2d` per
//! record; in exchange every emitted aggregate is a from-scratch fold of its window.

use super::expiry;
use crate::dsl::windows::{SlidingWindows, Window, Windowed};
use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::TimestampedKeyValueStore;
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) struct SlidingAggregate<K, V, VA, F> {
    pub(crate) store_name: String,
    pub(crate) records_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Windowed<K>, VA>>,
    pub(crate) records: Option<TimestampedKeyValueStore<Vec<u8>, V>>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) windows: SlidingWindows,
    pub(crate) retention_ms: i64,
    pub(crate) fold: Arc<F>,
    pub(crate) seq: u32,
    pub(crate) key_buf: Vec<u8>,
    pub(crate) window_expiry: expiry::Schedule,
    pub(crate) record_expiry: expiry::Schedule,
    pub(crate) observed: expiry::Observed,
}

impl<K, V, VA, F> Processor<K, V, Windowed<K>, Change<VA>> for SlidingAggregate<K, V, VA, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        self.records = Some(ctx.timestamped_key_value_store(&self.records_name)?);
        // Tells apart records with equal key and time, also across restarts.
        self.seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let Some(key) = r.key.clone() else {
            ctx.record_dropped("null key at a sliding-window aggregation");
            return Ok(());
        };
        let (t, d) = (r.timestamp, self.windows.difference_ms);
        let stream_time = self.observed.advance(ctx, t);
        let close = stream_time.saturating_sub(self.windows.grace_ms);
        // Window ends are inclusive: a window is open while its end is at or after stream
        // time minus grace. The last window holding t ends at t + d.
        if t.saturating_add(d) < close {
            ctx.record_dropped("record for closed sliding windows (late beyond the grace period)");
            return Ok(());
        }
        self.key_buf.clear();
        self.key_serde
            .serialize(&key, &mut self.key_buf)
            .map_err(|e| ctx.error(format!("sliding-window key: {e}")))?;
        let (Some(store), Some(records)) = (self.store.as_mut(), self.records.as_mut()) else {
            return Err(ctx.error("sliding-window stores not initialized"));
        };
        self.seq = self.seq.wrapping_add(1);
        records.put(&expiry::record_key(&self.key_buf, t, self.seq), &r.value, t)?;
        // Every record any touched window can hold: windows start at t - d at the
        // earliest and end at t + 1 + d at the latest. All of it saturates, so a timestamp
        // near i64::MAX reaches to i64::MAX rather than wrapping.
        let (earliest, latest) = (
            t.saturating_sub(d).saturating_sub(1),
            t.saturating_add(d.saturating_mul(2)).saturating_add(1),
        );
        let reach: Vec<(i64, V)> = records
            .range(
                &expiry::record_key(&self.key_buf, earliest.max(0), 0),
                &expiry::record_key(&self.key_buf, latest, u32::MAX),
            )?
            .into_iter()
            .map(|(_, v)| (v.timestamp, v.value))
            .collect();
        let mut starts = BTreeSet::new();
        for (ts, _) in &reach {
            if (t..=t.saturating_add(d)).contains(ts) {
                // The window ending at this record holds t.
                starts.insert(ts.saturating_sub(d).max(0));
            }
            if (earliest..t).contains(ts) {
                // The window starting just after this record holds t.
                starts.insert(ts + 1);
            }
        }
        // This record's own window after it, if any record falls into it; its content
        // does not include t, so an existing one is unchanged. At i64::MAX there is no after.
        if let Some(after_start) = t.checked_add(1) {
            let after = Windowed {
                key: key.clone(),
                window: Window {
                    start: after_start,
                    end: after_start.saturating_add(d),
                },
            };
            if reach
                .iter()
                .any(|(ts, _)| *ts > t && *ts <= after.window.end)
                && store.get(&after)?.is_none()
            {
                starts.insert(after_start);
            }
        }
        for start in starts {
            let window = Window {
                start,
                end: start.saturating_add(d),
            };
            if window.end < close {
                continue;
            }
            let mut aggregate = None;
            let mut timestamp = i64::MIN;
            for (ts, v) in reach
                .iter()
                .filter(|(ts, _)| (window.start..=window.end).contains(ts))
            {
                aggregate = Some((self.fold)(&key, v.clone(), aggregate));
                timestamp = timestamp.max(*ts);
            }
            let Some(new) = aggregate else { continue };
            let wkey = Windowed {
                key: key.clone(),
                window,
            };
            let old = store.get(&wkey)?.map(|v| v.value);
            store.put(&wkey, &new, timestamp)?;
            ctx.forward(Record {
                key: Some(wkey),
                value: Change {
                    new: Some(new),
                    old,
                },
                timestamp,
                headers: r.headers.clone(),
            })?;
        }
        self.expire(ctx, stream_time)
    }
}

/// How long the input records are kept: a record older than stream time minus grace minus
/// twice the window's difference can no longer fall in a window that is still open.
fn records_retention_ms(w: &SlidingWindows) -> i64 {
    w.difference_ms
        .saturating_mul(2)
        .saturating_add(w.grace_ms)
        .saturating_add(1)
}

impl<K, V, VA, F> SlidingAggregate<K, V, VA, F> {
    /// Windows past retention go by start (front of the store); records go once no open
    /// window can hold them (older than stream time minus grace minus d).
    fn expire<A, B>(
        &mut self,
        ctx: &mut ProcessorContext<'_, A, B>,
        stream_time: i64,
    ) -> Result<()> {
        let w = self.windows;
        let cutoff = stream_time.saturating_sub(self.retention_ms);
        if let Some(from) = self.window_expiry.due(cutoff, w.difference_ms.max(1)) {
            expiry::delete_front(ctx.task.stores.get(&self.store_name)?, from, cutoff)?;
        }
        let step = records_retention_ms(&w);
        let record_cutoff = stream_time.saturating_sub(step);
        if self.record_expiry.due(record_cutoff, step).is_some() {
            let handle = ctx.task.stores.get(&self.records_name)?;
            expiry::expire_scanning(handle, expiry::time_after_key, record_cutoff)?;
        }
        Ok(())
    }
}
