//! Forwards unchanged: `merge` targets and the branches of `split`.

use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct PassThrough;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for PassThrough {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        ctx.forward(r)
    }
}
