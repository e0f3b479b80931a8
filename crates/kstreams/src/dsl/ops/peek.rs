//! `peek` (look, then forward) and `foreach` (look, end of the line).

use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) struct Peek<F> {
    pub(crate) action: Arc<F>,
    pub(crate) forward: bool,
}

impl<K, V, F> Processor<K, V, K, V> for Peek<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(Option<&K>, &V) + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        (self.action)(r.key.as_ref(), &r.value);
        if self.forward {
            ctx.forward(r)
        } else {
            Ok(())
        }
    }
}
