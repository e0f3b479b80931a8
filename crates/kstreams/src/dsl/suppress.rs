//! Final results of windowed aggregations: `suppress(until_window_closes)` and the
//! on-window-close emit strategy.

use super::ops::suppress::SuppressFinal;
use super::windows::Windowed;
use super::KTable;
use crate::error::{Field, TopologyError};
use crate::serde::{BytesSerde, SharedSerde};
use crate::state::Stores;
use crate::topology::graph::{Graph, NodeId, NodeKind};
use crate::topology::instantiate;

/// When a windowed aggregation emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EmitStrategy {
    /// Every update of a window, as it happens (the default).
    #[default]
    OnWindowUpdate,
    /// One final result per window, once stream time passes its end plus grace.
    OnWindowClose,
}

/// How `suppress` holds results back. Only the final-result mode of Kafka Streams'
/// `Suppressed` exists here; rate-limiting suppression (`untilTimeLimit`) does not.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Suppressed {
    pub(crate) name: Option<String>,
}

impl Suppressed {
    /// Holds every window's result until the window closes (its end plus the grace
    /// period of the windowed aggregation upstream), then emits it once. The buffer is
    /// unbounded and changelogged, so it survives restarts.
    pub fn until_window_closes() -> Self {
        Suppressed { name: None }
    }

    /// Names the processor (and its buffer store, `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<Windowed<K>, V> {
    /// Emits each window's result once, when the window closes, instead of on every update.
    ///
    /// ```
    /// use kstreams::dsl::{Suppressed, TimeWindows};
    /// use kstreams::serde::StringSerde;
    /// use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use std::time::Duration;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("clicks", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(5)))
    ///     .count(Materialized::named("clicks-per-minute"))
    ///     .suppress(Suppressed::until_window_closes());
    /// builder.build().unwrap();
    /// ```
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let mut g = self.graph.borrow_mut();
        let Some(grace) = g.grace_above(self.node) else {
            g.error(TopologyError::Invalid(
                "suppress(until_window_closes) needs a windowed aggregation upstream".into(),
            ));
            drop(g);
            return self.clone();
        };
        let node = add_final(
            &mut g,
            self.node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            grace,
            suppressed.name,
        );
        drop(g);
        KTable {
            node,
            ..self.clone()
        }
    }
}

/// Adds a final-result buffer under `parent`; returns the node forwarding final results.
pub(crate) fn add_final<K: Clone + 'static, V: Clone + 'static>(
    g: &mut Graph,
    parent: NodeId,
    key_serde: Option<SharedSerde<Windowed<K>>>,
    value_serde: Option<SharedSerde<V>>,
    grace_ms: i64,
    name: Option<String>,
) -> NodeId {
    let (Some(ks), Some(vs)) = (key_serde, value_serde) else {
        g.error(TopologyError::MissingSerde {
            operation: "suppress".into(),
            field: Field::Value,
        });
        return parent;
    };
    let (name, store) = match name {
        Some(n) => (n.clone(), format!("{n}-store")),
        None => (
            g.next_name("KTABLE-SUPPRESS-"),
            g.next_name("KTABLE-SUPPRESS-STATE-STORE-"),
        ),
    };
    // In memory, as Kafka's suppression buffer: it is small (open windows only) and
    // rebuilt from its changelog on restart.
    g.add_store(
        Stores::timestamped_key_value_store_builder(
            Stores::in_memory_key_value_store(&store),
            BytesSerde,
            vs,
        )
        .into_def(),
    );
    let store_name = store.clone();
    g.add(
        name,
        NodeKind::Processor,
        vec![parent],
        vec![store],
        instantiate::processor(move || SuppressFinal::<K, V> {
            store_name: store_name.clone(),
            store: None,
            key_serde: ks.clone(),
            grace_ms,
            key_buf: Vec::new(),
            evicted_up_to: i64::MIN,
        }),
    )
}
