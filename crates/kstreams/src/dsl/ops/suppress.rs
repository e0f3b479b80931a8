//! `suppress(until_window_closes)` and emit-final: hold each window's latest result in a
//! changelogged buffer and forward it once, when stream time passes the window's end plus
//! grace.

use crate::dsl::windows::Windowed;
use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::TimestampedKeyValueStore;

/// Buffer key: window end (8 bytes big-endian) then the windowed key as the table's key
/// serde writes it, so the windows to close are always one range at the front.
pub(crate) struct SuppressFinal<K, V> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Vec<u8>, V>>,
    pub(crate) key_serde: SharedSerde<Windowed<K>>,
    pub(crate) grace_ms: i64,
    pub(crate) key_buf: Vec<u8>,
    /// Close time of the last eviction: nothing new is due until stream time moves on.
    pub(crate) evicted_up_to: i64,
}

impl<K, V> Processor<Windowed<K>, Change<V>> for SuppressFinal<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>,
        r: Record<Windowed<K>, Change<V>>,
    ) -> Result<()> {
        let Some(store) = self.store.as_mut() else {
            return Err(ctx.error("suppression buffer not initialized"));
        };
        if let Some(key) = r.key.as_ref() {
            self.key_buf.clear();
            self.key_buf
                .extend_from_slice(&key.window.end.to_be_bytes());
            self.key_serde
                .serialize(key, &mut self.key_buf)
                .map_err(|e| ctx.error(format!("suppression buffer key: {e}")))?;
            match r.value.new.as_ref() {
                Some(v) => store.put(&self.key_buf, v, r.timestamp)?,
                // A window that disappeared (a merged session) was never final: drop it,
                // as Kafka drops tombstones of windowed final results.
                None => {
                    store.delete(&self.key_buf)?;
                }
            }
        } else {
            ctx.record_dropped("null key at suppress");
        }
        self.evict(ctx)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> SuppressFinal<K, V> {
    /// Forwards and deletes every buffered window whose end plus grace is at or before
    /// stream time.
    fn evict(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>) -> Result<()> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let close = ctx.stream_time().saturating_sub(self.grace_ms);
        // Window ends are non-negative (timestamps are), so byte order is time order and
        // nothing is due before close reaches 0.
        if close < 0 || close <= self.evicted_up_to {
            return Ok(());
        }
        self.evicted_up_to = close;
        let upper = close.saturating_add(1).to_be_bytes().to_vec();
        let due = store.range(&Vec::new(), &upper)?;
        for (k, v) in due {
            let Some(end) = k.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                continue;
            };
            if i64::from_be_bytes(end) > close {
                break;
            }
            let key = self
                .key_serde
                .deserialize(&k[8..])
                .map_err(|e| ctx.error(format!("suppression buffer key: {e}")))?;
            store.delete(&k)?;
            ctx.forward(Record::new(
                Some(key),
                Change {
                    new: Some(v.value),
                    old: None,
                },
                v.timestamp,
            ))?;
        }
        Ok(())
    }
}
