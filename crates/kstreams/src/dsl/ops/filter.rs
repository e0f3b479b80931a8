//! `filter` and `filter_not`.

use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) struct Filter<F> {
    pub(crate) predicate: Arc<F>,
    /// `true` for `filter_not`.
    pub(crate) negate: bool,
}

impl<K, V, F> Processor<K, V, K, V> for Filter<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(Option<&K>, &V) -> bool + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        if (self.predicate)(r.key.as_ref(), &r.value) != self.negate {
            ctx.forward(r)
        } else {
            Ok(())
        }
    }
}
