//! `TimeWindowedKStream`: a grouped stream aggregated per key and time window.

use super::getter::GetterSupplier;
use super::ops::window_aggregate::WindowAggregate;
use super::suppress::EmitStrategy;
use super::windows::{SlidingWindows, StartFirstSerde, TimeWindows, Windowed, WindowedSerde};
use super::{folds, materialize, KGroupedStream, KTable, Materialized};
use crate::serde::{I64Serde, SharedSerde};
use crate::topology::graph::{Graph, Instantiate, NodeKind};
use crate::topology::instantiate;
use std::sync::Arc;

/// Kafka Streams' default retention of window stores: one day.
const DEFAULT_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// A grouped stream windowed by time. Aggregations give a table keyed by
/// [`Windowed<K>`]; each update of a window is emitted as it happens, and records arriving
/// after a window's end plus grace are dropped and counted.
///
/// ```
/// use kstreams::dsl::TimeWindows;
/// use kstreams::serde::StringSerde;
/// use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
/// use std::time::Duration;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("clicks", Consumed::with(StringSerde, StringSerde))
///     .group_by_key(Grouped::default())
///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(5)))
///     .count(Materialized::named("clicks-per-minute"));
/// builder.build().unwrap();
/// ```
///
/// Sliding windows ([`KGroupedStream::windowed_by_sliding`]) give the same type, as in
/// Kafka Streams.
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: Kind,
    emit: EmitStrategy,
}

/// Fixed (tumbling, hopping) or sliding windows.
#[derive(Clone, Copy)]
enum Kind {
    Fixed(TimeWindows),
    Sliding(SlidingWindows),
}

impl<K, V> Clone for TimeWindowedKStream<K, V> {
    fn clone(&self) -> Self {
        TimeWindowedKStream {
            grouped: self.grouped.clone(),
            windows: self.windows,
            emit: self.emit,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> TimeWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: TimeWindows) -> Self {
        TimeWindowedKStream {
            grouped,
            windows: Kind::Fixed(windows),
            emit: EmitStrategy::OnWindowUpdate,
        }
    }

    pub(crate) fn sliding(grouped: KGroupedStream<K, V>, windows: SlidingWindows) -> Self {
        TimeWindowedKStream {
            grouped,
            windows: Kind::Sliding(windows),
            emit: EmitStrategy::OnWindowUpdate,
        }
    }

    /// Chooses when results are emitted: on every update (the default) or once per
    /// window when it closes (Kafka's `emitStrategy(EmitStrategy.onWindowClose())`).
    #[must_use]
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts records per key and window.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        self.fold(
            "KSTREAM-AGGREGATE-",
            materialized,
            Some(Arc::new(I64Serde)),
            folds::count(),
        )
    }

    /// Combines values per key and window with `reducer(aggregate, value)`.
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let vs = self.grouped.value_serde();
        self.fold("KSTREAM-REDUCE-", materialized, vs, folds::reduce(reducer))
    }

    /// Folds values per key and window with `aggregator(key, value, aggregate)`, starting
    /// from `initializer()`.
    pub fn aggregate<VA, I, F>(
        &self,
        initializer: I,
        aggregator: F,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        F: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    {
        self.fold(
            "KSTREAM-AGGREGATE-",
            materialized,
            None,
            folds::aggregate(initializer, aggregator),
        )
    }

    fn fold<VA, F>(
        &self,
        prefix: &str,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        fold: F,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Clone + 'static,
        F: Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
    {
        let w = match self.windows {
            Kind::Fixed(w) => w,
            Kind::Sliding(w) => {
                return super::sliding::fold(
                    &self.grouped,
                    w,
                    self.emit,
                    WindowedFold {
                        prefix,
                        materialized,
                        default_value_serde,
                    },
                    fold,
                )
            }
        };
        let fold = Arc::new(fold);
        let retention_ms = materialized
            .retention_ms
            .unwrap_or(DEFAULT_RETENTION_MS)
            .max(w.size_ms.saturating_add(w.grace_ms));
        windowed_aggregation(
            &self.grouped,
            WindowedAggregation {
                prefix,
                materialized,
                default_value_serde,
                store_keys: Arc::new(move |ks| {
                    Arc::new(StartFirstSerde {
                        inner: ks,
                        size_ms: w.size_ms,
                    })
                }),
                table_keys: Arc::new(move |ks| Arc::new(WindowedSerde::shared(ks, w.size_ms))),
                close_after_ms: w.grace_ms,
                emit: self.emit,
                emits_final_itself: true,
                changelog: crate::state::ChangelogFormat::Window,
            },
            move |store_name, _| {
                let fold = fold.clone();
                let emit_final = self.emit == EmitStrategy::OnWindowClose;
                let node = instantiate::processor(move || WindowAggregate {
                    store_name: store_name.clone(),
                    store: None,
                    windows: w,
                    retention_ms,
                    expiry: Default::default(),
                    observed: Default::default(),
                    fold: fold.clone(),
                    emit_final: emit_final.then(Default::default),
                });
                (Vec::new(), node)
            },
        )
    }
}

/// What the caller of a windowed fold chose: node prefix, store, aggregate serde.
pub(crate) struct WindowedFold<'a, K, VA> {
    pub(crate) prefix: &'a str,
    pub(crate) materialized: Materialized<K, VA>,
    pub(crate) default_value_serde: Option<SharedSerde<VA>>,
}

/// Makes the serde of windowed keys from the key serde.
pub(crate) type WindowedKeys<K> = Arc<dyn Fn(SharedSerde<K>) -> SharedSerde<Windowed<K>>>;

/// What differs between the windowed aggregations (time, session, sliding).
pub(crate) struct WindowedAggregation<'a, K, VA> {
    pub(crate) prefix: &'a str,
    pub(crate) materialized: Materialized<K, VA>,
    pub(crate) default_value_serde: Option<SharedSerde<VA>>,
    /// The store's key layout.
    pub(crate) store_keys: WindowedKeys<K>,
    /// The table's (and topics') key layout.
    pub(crate) table_keys: WindowedKeys<K>,
    /// A window is final once stream time is this far past its end.
    pub(crate) close_after_ms: i64,
    pub(crate) emit: EmitStrategy,
    /// Whether the node emits final results itself (time windows, from their store, as
    /// Kafka Streams does); otherwise `OnWindowClose` puts a final-result buffer after it.
    pub(crate) emits_final_itself: bool,
    /// The store's changelog layout: Kafka's window or session store layout.
    pub(crate) changelog: crate::state::ChangelogFormat,
}

/// Adds a windowed aggregation node (made by `node(store name, graph)`, which may add more
/// stores and returns their names) and its store under the
/// grouped stream, with a final-result buffer after it for `EmitStrategy::OnWindowClose`
/// unless the node emits final results itself.
pub(crate) fn windowed_aggregation<K, V, VA>(
    grouped: &KGroupedStream<K, V>,
    spec: WindowedAggregation<'_, K, VA>,
    node: impl FnOnce(String, &mut Graph) -> (Vec<String>, Instantiate),
) -> KTable<Windowed<K>, VA>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
{
    let materialized = spec.materialized;
    let (store, parent, key_serde) =
        grouped.aggregation_input(spec.prefix, materialized.name.as_deref());
    let graph = grouped.graph();
    let mut g = graph.borrow_mut();
    let name = g.next_name(spec.prefix);
    let Some((ks, vs)) = materialize::serdes(
        &mut g,
        &format!("windowed aggregation {name}"),
        &materialized,
        key_serde,
        spec.default_value_serde,
    ) else {
        drop(g);
        return KTable::detached(graph, parent, store);
    };
    materialize::add_store_logged_as(
        &mut g,
        &store,
        &materialized,
        (spec.store_keys)(ks.clone()),
        vs.clone(),
        spec.changelog,
    );
    let (more_stores, instantiate) = node(store.clone(), &mut g);
    let mut stores = vec![store.clone()];
    stores.extend(more_stores);
    let node = g.add(name, NodeKind::Processor, vec![parent], stores, instantiate);
    g.window_grace.insert(node, spec.close_after_ms);
    let table_keys = (spec.table_keys)(ks);
    let node = match spec.emit {
        EmitStrategy::OnWindowClose if !spec.emits_final_itself => super::suppress::add_final(
            &mut g,
            node,
            Some(table_keys.clone()),
            Some(vs.clone()),
            spec.close_after_ms,
            None,
        ),
        _ => node,
    };
    drop(g);
    KTable {
        graph,
        node,
        key_serde: Some(table_keys),
        value_serde: Some(vs),
        getter: GetterSupplier::store(store.clone()),
        store: Some(store),
    }
}
