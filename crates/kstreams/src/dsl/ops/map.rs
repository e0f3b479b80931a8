//! `map`, `map_values`, `map_values_with_key` and `select_key`: one record in, one out.

use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use std::sync::Arc;

/// New key and value from the old ones.
pub(crate) struct Map<F>(pub(crate) Arc<F>);

impl<K, V, K2, V2, F> Processor<K, V, K2, V2> for Map<F>
where
    K2: Clone + 'static,
    V2: Clone + 'static,
    F: Fn(Option<K>, V) -> (K2, V2) + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K2, V2>, r: Record<K, V>) -> Result<()> {
        let (k, v) = (self.0)(r.key, r.value);
        ctx.forward(Record {
            key: Some(k),
            value: v,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// New value from the old one and, optionally, the key.
pub(crate) struct MapValues<F>(pub(crate) Arc<F>);

impl<K, V, V2, F> Processor<K, V, K, V2> for MapValues<F>
where
    K: Clone + 'static,
    V2: Clone + 'static,
    F: Fn(Option<&K>, V) -> V2 + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V2>, r: Record<K, V>) -> Result<()> {
        let v = (self.0)(r.key.as_ref(), r.value);
        ctx.forward(Record {
            key: r.key,
            value: v,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// New key from key and value; the value is unchanged.
pub(crate) struct SelectKey<F>(pub(crate) Arc<F>);

impl<K, V, K2, F> Processor<K, V, K2, V> for SelectKey<F>
where
    K2: Clone + 'static,
    V: Clone + 'static,
    F: Fn(Option<&K>, &V) -> K2 + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K2, V>, r: Record<K, V>) -> Result<()> {
        let k = (self.0)(r.key.as_ref(), &r.value);
        ctx.forward(r.with_key(Some(k)))
    }
}
