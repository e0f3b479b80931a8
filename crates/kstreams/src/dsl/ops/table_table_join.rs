//! KTable-KTable join, left join and outer join.
//!
//! Two processors, one per side: a change on one side looks up the other side's current
//! value and emits the change of the join result. Which lookups emit follows Kafka Streams'
//! `KTableKTable{Inner,Left,Outer}Join` and the result tables in the Kafka documentation.

pub(crate) use crate::dsl::getter::Joiner;
use crate::dsl::getter::{GetterSupplier, ValueGetter};
use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::state::ValueAndTimestamp;

/// Which rows of the join exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
    Outer,
}

/// Processes changes of the left table.
pub(crate) struct LeftSide<K, L, R, VR> {
    pub(crate) kind: JoinKind,
    pub(crate) right: GetterSupplier<K, R>,
    pub(crate) getter: Option<Box<dyn ValueGetter<K, R>>>,
    pub(crate) joiner: Joiner<L, R, VR>,
}

/// Processes changes of the right table.
pub(crate) struct RightSide<K, L, R, VR> {
    pub(crate) kind: JoinKind,
    pub(crate) left: GetterSupplier<K, L>,
    pub(crate) getter: Option<Box<dyn ValueGetter<K, L>>>,
    pub(crate) joiner: Joiner<L, R, VR>,
}

/// Emits the result change for a change of one side, given the other side's row.
fn emit<K: Clone, VR: Clone, T, O>(
    ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    r: Record<K, Change<T>>,
    other: Option<ValueAndTimestamp<O>>,
    needs_other: bool,
    join: impl Fn(Option<&T>, Option<&O>) -> Option<VR>,
) -> Result<()> {
    if other.is_none() && needs_other {
        return Ok(());
    }
    let other_value = other.as_ref().map(|o| &o.value);
    let new = join(r.value.new.as_ref(), other_value);
    let old = join(r.value.old.as_ref(), other_value);
    if new.is_none() && old.is_none() {
        return Ok(());
    }
    // The result's timestamp is the larger of the two inputs', as in Kafka Streams.
    let timestamp = other
        .as_ref()
        .map_or(r.timestamp, |o| r.timestamp.max(o.timestamp));
    ctx.forward(Record {
        key: r.key,
        value: Change { new, old },
        timestamp,
        headers: r.headers,
    })
}

impl<K, L, R, VR> Processor<K, Change<L>, K, Change<VR>> for LeftSide<K, L, R, VR>
where
    K: Clone + 'static,
    L: 'static,
    R: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.getter = Some((self.right.make)(&ctx.task.stores)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Change<L>>,
    ) -> Result<()> {
        let (Some(getter), Some(key)) = (self.getter.as_ref(), r.key.as_ref()) else {
            return Ok(());
        };
        let right = getter.get(key)?;
        let joiner = &self.joiner;
        emit(ctx, r, right, self.kind == JoinKind::Inner, |l, r| {
            joiner(l, r)
        })
    }
}

impl<K, L, R, VR> Processor<K, Change<R>, K, Change<VR>> for RightSide<K, L, R, VR>
where
    K: Clone + 'static,
    L: 'static,
    R: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.getter = Some((self.left.make)(&ctx.task.stores)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Change<R>>,
    ) -> Result<()> {
        let (Some(getter), Some(key)) = (self.getter.as_ref(), r.key.as_ref()) else {
            return Ok(());
        };
        let left = getter.get(key)?;
        let joiner = &self.joiner;
        // A right change emits without a left row only in an outer join.
        emit(ctx, r, left, self.kind != JoinKind::Outer, |r, l| {
            joiner(l, r)
        })
    }
}
