//! KStream-KStream inner join over a time window: each record is kept in its side's
//! window store and joined with every record of the other side whose timestamp lies
//! within the join window.

use crate::dsl::windows::JoinWindows;
use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

/// Store key: key length (4 bytes), key, timestamp (8 bytes), sequence number (4 bytes),
/// all big-endian, so one key's records sort by time and ranges never mix keys.
pub(crate) fn store_key(key: &[u8], ts: i64, seq: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 16);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&ts.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The joiner as one side calls it: `(this, other)`, already flipped for the right side.
pub(crate) type SideJoiner<This, Other, VR> = Arc<dyn Fn(&This, &Other) -> VR + Send + Sync>;

/// One side of the join. `THIS` is the side's value type; the joiner is always called as
/// `(left, right)`.
pub(crate) struct StreamJoinSide<K, This, Other, VR> {
    pub(crate) this_store: String,
    pub(crate) other_store: String,
    pub(crate) this: Option<TimestampedKeyValueStore<Vec<u8>, This>>,
    pub(crate) other: Option<TimestampedKeyValueStore<Vec<u8>, Other>>,
    pub(crate) key_serde: crate::serde::SharedSerde<K>,
    pub(crate) windows: JoinWindows,
    pub(crate) is_left: bool,
    pub(crate) joiner: SideJoiner<This, Other, VR>,
    pub(crate) seq: u32,
    pub(crate) key_buf: Vec<u8>,
    pub(crate) expired_before: i64,
}

impl<K, This, Other, VR> Processor<K, This, K, VR> for StreamJoinSide<K, This, Other, VR>
where
    K: Clone + 'static,
    This: Clone + 'static,
    Other: Clone + 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.this = Some(ctx.timestamped_key_value_store(&self.this_store)?);
        self.other = Some(ctx.timestamped_key_value_store(&self.other_store)?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, This>) -> Result<()> {
        let Some(key) = r.key.as_ref() else {
            ctx.record_dropped("null key at a stream-stream join");
            return Ok(());
        };
        let w = self.windows;
        // Records later than the window plus grace can no longer join (Kafka drops them too).
        if r.timestamp + w.before_ms.max(w.after_ms) + w.grace_ms < ctx.stream_time() {
            ctx.record_dropped("record too late for a stream-stream join window");
            return Ok(());
        }
        self.key_buf.clear();
        self.key_serde
            .serialize(key, &mut self.key_buf)
            .map_err(|e| ctx.error(format!("join key: {e}")))?;
        let (Some(this), Some(other)) = (self.this.as_mut(), self.other.as_ref()) else {
            return Err(ctx.error("join stores not initialized"));
        };
        self.seq = self.seq.wrapping_add(1);
        this.put(
            &store_key(&self.key_buf, r.timestamp, self.seq),
            &r.value,
            r.timestamp,
        )?;
        // The other side's records within the window, seen from this side.
        let (lo, hi) = if self.is_left {
            (r.timestamp - w.before_ms, r.timestamp + w.after_ms)
        } else {
            (r.timestamp - w.after_ms, r.timestamp + w.before_ms)
        };
        let matches = other.range(
            &store_key(&self.key_buf, lo.max(0), 0),
            &store_key(&self.key_buf, hi, u32::MAX),
        )?;
        for (_, o) in matches {
            // The right side's joiner was flipped at build time: it still yields
            // joiner(left, right).
            let out = (self.joiner)(&r.value, &o.value);
            ctx.forward(Record {
                key: r.key.clone(),
                value: out,
                timestamp: r.timestamp.max(o.timestamp),
                headers: r.headers.clone(),
            })?;
        }
        self.expire(ctx)
    }
}

impl<K: 'static, This: 'static, Other: 'static, VR: 'static> StreamJoinSide<K, This, Other, VR> {
    /// Makes one side per task: it writes `this_store`, reads `other_store`, and calls
    /// `joiner(this, other)` (flipped by the caller for the right side).
    pub(crate) fn supplier(
        this_store: String,
        other_store: String,
        key_serde: crate::serde::SharedSerde<K>,
        windows: JoinWindows,
        is_left: bool,
        joiner: SideJoiner<This, Other, VR>,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        move || StreamJoinSide {
            this_store: this_store.clone(),
            other_store: other_store.clone(),
            this: None,
            other: None,
            key_serde: key_serde.clone(),
            windows,
            is_left,
            joiner: joiner.clone(),
            seq: 0,
            key_buf: Vec::new(),
            expired_before: i64::MIN,
        }
    }
}

impl<K, This, Other, VR> StreamJoinSide<K, This, Other, VR> {
    /// Deletes this side's records older than any record that could still join them.
    /// Keys come first in the layout, so this scans the store; it runs once per retention
    /// period of stream time.
    fn expire<A, B>(&mut self, ctx: &mut ProcessorContext<'_, A, B>) -> Result<()> {
        let w = self.windows;
        let retention = w.before_ms + w.after_ms + w.grace_ms;
        let cutoff = ctx.stream_time().saturating_sub(retention);
        if cutoff < self.expired_before.saturating_add(retention.max(1)) {
            return Ok(());
        }
        let handle = ctx.task.stores.get(&self.this_store)?.clone();
        let mut engine = handle.lock();
        let old: Vec<Vec<u8>> = engine
            .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
            .filter_map(|kv| match kv {
                Ok((k, _)) => record_time(&k).filter(|ts| *ts < cutoff).map(|_| Ok(k)),
                Err(e) => Some(Err(e)),
            })
            .collect::<std::result::Result<_, _>>()?;
        for k in old {
            engine.delete(&k)?;
        }
        self.expired_before = cutoff;
        Ok(())
    }
}

/// The timestamp inside a store key.
fn record_time(k: &[u8]) -> Option<i64> {
    let len = u32::from_be_bytes(k.get(..4)?.try_into().ok()?) as usize;
    let ts = k.get(4 + len..12 + len)?;
    Some(i64::from_be_bytes(ts.try_into().ok()?))
}
