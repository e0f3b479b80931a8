//! KStream-KStream joins over a time window. Each record is kept in its side's store and
//! joined with every record of the other side whose timestamp lies within the window.
//!
//! Left and outer joins follow Kafka Streams since 3.1: a record that found no partner is
//! not emitted with a null partner at once (that result would be spurious if a partner
//! arrived later), but parked in a store shared by both sides and emitted only once no
//! partner can arrive any more. A partner arriving in time removes it from there.
//!
//! Timing, with `b`/`a` the window before/after and `g` the grace: a record is dropped as
//! late once stream time passes its own window end plus grace (`ts + a + g` on the left,
//! `ts + b + g` on the right). A lone record is emitted once stream time passes
//! `ts + b + a + g`: its latest possible partner is on time until then. That is later than
//! Kafka's `ts + a + g`, which can emit `(A, null)` and then still accept a partner of A
//! within the partner's own grace; here that cannot happen.

use super::expiry;
use crate::dsl::windows::JoinWindows;
use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

/// The joiner as one side calls it, `(this, other)`, already flipped for the right side.
/// `None` from it means "nothing to emit" (an inner join asked about a lone record).
pub(crate) type SideJoiner<This, Other, VR> =
    Arc<dyn Fn(Option<&This>, Option<&Other>) -> Option<VR> + Send + Sync>;

/// Which side a record parked in the shared store came from.
const LEFT: u8 = 0;
const RIGHT: u8 = 1;

/// Shared-store key: timestamp (8 bytes), side (1), sequence (4), then the record key, so
/// the store is ordered by time and the sweep reads from the front.
fn parked_key(ts: i64, side: u8, seq: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(13 + key.len());
    k.extend_from_slice(&ts.to_be_bytes());
    k.push(side);
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The sequence number at the end of a record key (see [`expiry::record_key`]).
fn record_seq(k: &[u8]) -> Option<u32> {
    let at = k.len().checked_sub(4)?;
    Some(u32::from_be_bytes(k.get(at..)?.try_into().ok()?))
}

/// One side of the join.
pub(crate) struct StreamJoinSide<K, This, Other, VR> {
    pub(crate) this_store: String,
    pub(crate) other_store: String,
    /// The shared store of records still waiting for a partner (left and outer joins).
    pub(crate) parked_store: Option<String>,
    pub(crate) this: Option<TimestampedKeyValueStore<Vec<u8>, This>>,
    pub(crate) other: Option<TimestampedKeyValueStore<Vec<u8>, Other>>,
    pub(crate) parked: Option<TimestampedKeyValueStore<Vec<u8>, Vec<u8>>>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) this_serde: SharedSerde<This>,
    pub(crate) other_serde: SharedSerde<Other>,
    pub(crate) windows: JoinWindows,
    pub(crate) is_left: bool,
    /// Whether this side's lone records are emitted (left side of a left join, both sides
    /// of an outer join); whether the other side's are follows from `parked_store`.
    pub(crate) emits_lone: bool,
    pub(crate) joiner: SideJoiner<This, Other, VR>,
    pub(crate) seq: u32,
    pub(crate) key_buf: Vec<u8>,
    pub(crate) expiry: expiry::Schedule,
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
        if let Some(name) = &self.parked_store {
            self.parked = Some(ctx.timestamped_key_value_store(name)?);
        }
        // Sequence numbers tell apart records with equal key and time; starting from the
        // clock keeps a restarted task from reusing the numbers of restored records.
        self.seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, This>) -> Result<()> {
        let Some(key) = r.key.as_ref() else {
            ctx.record_dropped("null key at a stream-stream join");
            return Ok(());
        };
        let stream_time = ctx.stream_time();
        let this_side = if self.is_left { LEFT } else { RIGHT };
        // Past its window and grace no partner can come for this record any more: as in
        // Kafka Streams (whose join window store drops a record older than its retention),
        // it still joins with the partners the other side has kept, but it is not kept.
        let expired = r.timestamp.saturating_add(self.final_after()) < stream_time;
        self.key_buf.clear();
        self.key_serde
            .serialize(key, &mut self.key_buf)
            .map_err(|e| ctx.error(format!("join key: {e}")))?;
        let (Some(this), Some(other)) = (self.this.as_mut(), self.other.as_ref()) else {
            return Err(ctx.error("join stores not initialized"));
        };
        self.seq = self.seq.wrapping_add(1);
        if !expired {
            this.put(
                &expiry::record_key(&self.key_buf, r.timestamp, self.seq),
                &r.value,
                r.timestamp,
            )?;
        }
        // The other side's records within the window, seen from this side.
        let (lo, hi) = self.reach(r.timestamp);
        let matches = other.range(
            &expiry::record_key(&self.key_buf, lo.max(0), 0),
            &expiry::record_key(&self.key_buf, hi, u32::MAX),
        )?;
        let other_side = if self.is_left { RIGHT } else { LEFT };
        for (k, o) in &matches {
            if let (Some(parked), Some(seq)) = (self.parked.as_mut(), record_seq(k)) {
                // The partner has one now: it will not be emitted alone.
                parked.delete(&parked_key(o.timestamp, other_side, seq, &self.key_buf))?;
            }
            if let Some(out) = (self.joiner)(Some(&r.value), Some(&o.value)) {
                ctx.forward(Record {
                    key: r.key.clone(),
                    value: out,
                    timestamp: r.timestamp.max(o.timestamp),
                    headers: r.headers.clone(),
                })?;
            }
        }
        if matches.is_empty() && self.emits_lone {
            if expired {
                // Out of order, and no partner can come any more: emit it now.
                if let Some(out) = (self.joiner)(Some(&r.value), None) {
                    ctx.forward(Record {
                        key: r.key.clone(),
                        value: out,
                        timestamp: r.timestamp,
                        headers: r.headers.clone(),
                    })?;
                }
            } else if let Some(parked) = self.parked.as_mut() {
                let mut bytes = Vec::new();
                self.this_serde
                    .serialize(&r.value, &mut bytes)
                    .map_err(|e| ctx.error(format!("join value: {e}")))?;
                parked.put(
                    &parked_key(r.timestamp, this_side, self.seq, &self.key_buf),
                    &bytes,
                    r.timestamp,
                )?;
            }
        }
        self.emit_lone_records(ctx)?;
        self.expire(ctx)
    }
}

impl<K, This, Other, VR> StreamJoinSide<K, This, Other, VR>
where
    K: Clone + 'static,
    This: Clone + 'static,
    Other: Clone + 'static,
    VR: Clone + 'static,
{
    /// The other side's timestamps a record at `ts` joins with.
    fn reach(&self, ts: i64) -> (i64, i64) {
        let w = self.windows;
        let (earlier, later) = if self.is_left {
            (w.before_ms, w.after_ms)
        } else {
            (w.after_ms, w.before_ms)
        };
        (ts.saturating_sub(earlier), ts.saturating_add(later))
    }

    /// How long after its own time a record may still find a partner: the latest partner
    /// (at the far end of its window) is itself on time until its own window and grace
    /// pass. Only then is a lone record emitted, so a partner never follows a `None` result.
    fn final_after(&self) -> i64 {
        self.windows.retention_ms()
    }

    /// Emits, with a null partner, the parked records whose window and grace have passed.
    fn emit_lone_records(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        let horizon = ctx.stream_time().saturating_sub(self.final_after());
        let Some(parked) = self.parked.as_mut() else {
            return Ok(());
        };
        if horizon <= 0 {
            return Ok(());
        }
        // Keys start with the time: everything before the horizon is due.
        let due = parked.range(&Vec::new(), &horizon.to_be_bytes().to_vec())?;
        let this_side = if self.is_left { LEFT } else { RIGHT };
        for (k, v) in due {
            let (Some(ts), Some(&side)) = (
                k.get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(i64::from_be_bytes),
                k.get(8),
            ) else {
                continue;
            };
            let key = self
                .key_serde
                .deserialize(k.get(13..).unwrap_or_default())
                .map_err(|e| ctx.error(format!("parked join key: {e}")))?;
            let out = if side == this_side {
                let value = self
                    .this_serde
                    .deserialize(&v.value)
                    .map_err(|e| ctx.error(format!("parked join value: {e}")))?;
                (self.joiner)(Some(&value), None)
            } else {
                let value = self
                    .other_serde
                    .deserialize(&v.value)
                    .map_err(|e| ctx.error(format!("parked join value: {e}")))?;
                (self.joiner)(None, Some(&value))
            };
            parked.delete(&k)?;
            if let Some(out) = out {
                ctx.forward(Record::new(Some(key), out, ts))?;
            }
        }
        Ok(())
    }

    /// Deletes this side's records older than any record that could still join them.
    fn expire<A, B>(&mut self, ctx: &mut ProcessorContext<'_, A, B>) -> Result<()> {
        let retention = self.windows.retention_ms();
        let cutoff = ctx.stream_time().saturating_sub(retention);
        if self.expiry.due(cutoff, retention).is_some() {
            let handle = ctx.task.stores.get(&self.this_store)?;
            expiry::expire_scanning(handle, expiry::time_after_key, cutoff)?;
        }
        Ok(())
    }
}

/// What one side needs to know about the join as a whole.
pub(crate) struct SideSpec<K, This, Other, VR> {
    pub(crate) this_store: String,
    pub(crate) other_store: String,
    pub(crate) parked_store: Option<String>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) this_serde: SharedSerde<This>,
    pub(crate) other_serde: SharedSerde<Other>,
    pub(crate) windows: JoinWindows,
    pub(crate) is_left: bool,
    pub(crate) emits_lone: bool,
    pub(crate) joiner: SideJoiner<This, Other, VR>,
}

impl<K: 'static, This: 'static, Other: 'static, VR: 'static> StreamJoinSide<K, This, Other, VR> {
    /// Makes one side per task.
    pub(crate) fn supplier(
        spec: SideSpec<K, This, Other, VR>,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let spec = Arc::new(spec);
        move || StreamJoinSide {
            this_store: spec.this_store.clone(),
            other_store: spec.other_store.clone(),
            parked_store: spec.parked_store.clone(),
            this: None,
            other: None,
            parked: None,
            key_serde: spec.key_serde.clone(),
            this_serde: spec.this_serde.clone(),
            other_serde: spec.other_serde.clone(),
            windows: spec.windows,
            is_left: spec.is_left,
            emits_lone: spec.emits_lone,
            joiner: spec.joiner.clone(),
            seq: 0,
            key_buf: Vec::new(),
            expiry: expiry::Schedule::default(),
        }
    }
}
