//! `flat_map` and `flat_map_values`: one record in, zero or more out.

use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) struct FlatMap<F>(pub(crate) Arc<F>);

impl<K, V, K2, V2, I, F> Processor<K, V, K2, V2> for FlatMap<F>
where
    K2: Clone + 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = (K2, V2)>,
    F: Fn(Option<K>, V) -> I + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K2, V2>, r: Record<K, V>) -> Result<()> {
        for (k, v) in (self.0)(r.key, r.value) {
            ctx.forward(Record {
                key: Some(k),
                value: v,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

pub(crate) struct FlatMapValues<F>(pub(crate) Arc<F>);

impl<K, V, V2, I, F> Processor<K, V, K, V2> for FlatMapValues<F>
where
    K: Clone + 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = V2>,
    F: Fn(Option<&K>, V) -> I + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V2>, r: Record<K, V>) -> Result<()> {
        for v in (self.0)(r.key.as_ref(), r.value) {
            ctx.forward(Record {
                key: r.key.clone(),
                value: v,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}
