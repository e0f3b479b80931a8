//! `KTable::map_values`: map both sides of every change.

use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) struct TableMapValues<F>(pub(crate) Arc<F>);

impl<K, V, V2, F> Processor<K, Change<V>, K, Change<V2>> for TableMapValues<F>
where
    K: Clone + 'static,
    V2: Clone + 'static,
    F: Fn(&K, &V) -> V2 + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V2>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let Some(key) = &r.key else {
            return Ok(());
        };
        let new = r.value.new.as_ref().map(|v| (self.0)(key, v));
        let old = r.value.old.as_ref().map(|v| (self.0)(key, v));
        ctx.forward(Record {
            key: r.key,
            value: Change { new, old },
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}
