//! `KTable::group_by`: re-key every change for the repartition topic.
//!
//! The old value is sent to the old key's group (to be subtracted) and the new value to the
//! new key's group (to be added). When both keys are equal the two halves travel as one
//! record, so the aggregate updates once.

use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) struct TableSelect<F>(pub(crate) Arc<F>);

impl<K, V, K2, V2, F> Processor<K, Change<V>, K2, Change<V2>> for TableSelect<F>
where
    K2: Clone + PartialEq + 'static,
    V2: Clone + 'static,
    F: Fn(&K, &V) -> (K2, V2) + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K2, Change<V2>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let Some(key) = &r.key else {
            ctx.record_dropped("null key in a table");
            return Ok(());
        };
        let old = r.value.old.as_ref().map(|v| (self.0)(key, v));
        let new = r.value.new.as_ref().map(|v| (self.0)(key, v));
        let emit = |ctx: &mut ProcessorContext<'_, K2, Change<V2>>, k: K2, change: Change<V2>| {
            ctx.forward(Record {
                key: Some(k),
                value: change,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })
        };
        match (old, new) {
            (Some((ok, ov)), Some((nk, nv))) if ok == nk => {
                emit(ctx, nk, Change::new(Some(nv), Some(ov)))
            }
            (old, new) => {
                // Subtraction first, as Kafka Streams sends it.
                if let Some((ok, ov)) = old {
                    emit(ctx, ok, Change::new(None, Some(ov)))?;
                }
                if let Some((nk, nv)) = new {
                    emit(ctx, nk, Change::new(Some(nv), None))?;
                }
                Ok(())
            }
        }
    }
}
