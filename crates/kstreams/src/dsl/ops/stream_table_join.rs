//! KStream-KTable join and left join: each stream record looks up the table's current
//! value for its key. Table updates do not trigger output.

use crate::dsl::getter::{GetterSupplier, ValueGetter};
use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) struct StreamTableJoin<K, VT, F> {
    pub(crate) supplier: GetterSupplier<K, VT>,
    pub(crate) getter: Option<Box<dyn ValueGetter<K, VT>>>,
    /// `joiner(stream value, table value)`; `None` from it means no output (inner join
    /// without a match).
    pub(crate) joiner: Arc<F>,
}

impl<K, V, VT, VR, F> Processor<K, V, K, VR> for StreamTableJoin<K, VT, F>
where
    K: Clone + 'static,
    VT: 'static,
    VR: Clone + 'static,
    F: Fn(&V, Option<&VT>) -> Option<VR> + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.getter = Some((self.supplier.make)(&ctx.task.stores)?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>) -> Result<()> {
        let (Some(getter), Some(key)) = (self.getter.as_ref(), r.key.as_ref()) else {
            ctx.record_dropped("null key at a stream-table join");
            return Ok(());
        };
        let found = getter.get(key)?;
        match (self.joiner)(&r.value, found.as_ref().map(|v| &v.value)) {
            Some(out) => ctx.forward(r.with_value(out)),
            None => Ok(()),
        }
    }
}
