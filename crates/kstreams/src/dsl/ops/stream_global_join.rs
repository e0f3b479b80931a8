//! KStream-GlobalKTable join: look the record up in the instance's full copy of the table,
//! by a key computed from the record (no co-partitioning, no repartition).

use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

/// Maps a stream record to the global table's key.
pub(crate) type KeySelector<K, V, GK> = Arc<dyn Fn(&K, &V) -> GK + Send + Sync>;
/// Joins a stream value with the table value (`None`: no row, for left joins); `None`
/// out means nothing is emitted.
pub(crate) type GlobalJoiner<V, GV, VR> = Arc<dyn Fn(&V, Option<&GV>) -> Option<VR> + Send + Sync>;

pub(crate) struct StreamGlobalJoin<K, V, GK, GV, VR> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<GK, GV>>,
    pub(crate) key_selector: KeySelector<K, V, GK>,
    pub(crate) joiner: GlobalJoiner<V, GV, VR>,
}

impl<K, V, GK, GV, VR> Processor<K, V, K, VR> for StreamGlobalJoin<K, V, GK, GV, VR>
where
    K: Clone + 'static,
    V: 'static,
    GK: 'static,
    GV: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.store = Some(ctx.global_store(&self.store_name)?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>) -> Result<()> {
        let Some(store) = self.store.as_ref() else {
            return Err(ctx.error("global store not initialized"));
        };
        // Kafka drops records whose key (as the selector sees it) is null; keys here are
        // never null once present, so only keyless records are dropped.
        let Some(key) = r.key.as_ref() else {
            ctx.record_dropped("null key at a stream-global table join");
            return Ok(());
        };
        let global_key = (self.key_selector)(key, &r.value);
        let row = store.get(&global_key)?;
        if let Some(out) = (self.joiner)(&r.value, row.as_ref().map(|v| &v.value)) {
            ctx.forward(Record {
                key: r.key,
                value: out,
                timestamp: r.timestamp,
                headers: r.headers,
            })?;
        }
        Ok(())
    }
}
