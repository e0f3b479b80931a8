//! `KTable::filter`: a row that fails the predicate is absent from the result.

use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) struct TableFilter<F> {
    pub(crate) predicate: Arc<F>,
    pub(crate) negate: bool,
}

impl<K, V, F> Processor<K, Change<V>, K, Change<V>> for TableFilter<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) -> bool + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let Some(key) = &r.key else {
            return Ok(());
        };
        let keep = |v: &V| (self.predicate)(key, v) != self.negate;
        let new = r.value.new.filter(|v| keep(v));
        let old = r.value.old.filter(|v| keep(v));
        // Absent before and after: nothing changed downstream (Kafka does the same when old
        // values are on).
        if new.is_none() && old.is_none() {
            return Ok(());
        }
        ctx.forward(Record {
            key: r.key,
            value: Change { new, old },
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}
