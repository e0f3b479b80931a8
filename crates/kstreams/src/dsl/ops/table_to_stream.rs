//! `KTable::to_stream`: the changelog as a stream; a deletion becomes a `None` value.

use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};

pub(crate) struct ToStream;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Option<V>> for ToStream {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Option<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        ctx.forward(Record {
            key: r.key,
            value: r.value.new,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}
