//! `split`: each record goes to the first branch whose predicate holds.

use crate::error::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use std::sync::Arc;

pub(crate) type Predicate<K, V> = Arc<dyn Fn(Option<&K>, &V) -> bool + Send + Sync>;

pub(crate) struct Branch<K, V> {
    /// Predicates in branch order; child `i` is branch `i`.
    pub(crate) predicates: Arc<Vec<Predicate<K, V>>>,
    /// Whether a last child takes what no predicate matched.
    pub(crate) default: bool,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for Branch<K, V> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        let hit = self
            .predicates
            .iter()
            .position(|p| p(r.key.as_ref(), &r.value));
        match (hit, self.default) {
            (Some(i), _) => ctx.forward_to_index(i, r),
            (None, true) => ctx.forward_to_index(self.predicates.len(), r),
            // Kafka Streams drops records no branch takes when there is no default branch.
            (None, false) => Ok(()),
        }
    }
}
