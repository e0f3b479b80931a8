//! `SlidingWindowedKStream`: a grouped stream aggregated per key and sliding window.

use super::ops::sliding_aggregate::SlidingAggregate;
use super::suppress::EmitStrategy;
use super::windowed_stream::{windowed_aggregation, WindowedAggregation};
use super::windows::{SlidingWindows, StartFirstSerde, Windowed, WindowedSerde};
use super::{folds, KGroupedStream, KTable, Materialized};
use crate::error::{Field, TopologyError};
use crate::serde::{BytesSerde, I64Serde, SharedSerde};
use crate::state::Stores;
use crate::topology::instantiate;
use std::sync::Arc;

/// Kafka Streams' default retention of window stores: one day.
const DEFAULT_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// A grouped stream windowed by sliding windows ([`SlidingWindows`]). Aggregations give a
/// table keyed by [`Windowed<K>`] whose window is `[start, start + difference]`, both ends
/// inclusive. The grouped stream's value serde is required: the records of the last
/// `2 × difference + grace` are kept (in `<store>-records`) to recompute windows from.
///
/// ```
/// use kstreams::dsl::SlidingWindows;
/// use kstreams::serde::StringSerde;
/// use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
/// use std::time::Duration;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("logins", Consumed::with(StringSerde, StringSerde))
///     .group_by_key(Grouped::default())
///     .windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(Duration::from_secs(60)))
///     .count(Materialized::named("logins-within-a-minute"));
/// builder.build().unwrap();
/// ```
pub struct SlidingWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SlidingWindows,
    emit: EmitStrategy,
}

impl<K: Clone + 'static, V: Clone + 'static> SlidingWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: SlidingWindows) -> Self {
        SlidingWindowedKStream {
            grouped,
            windows,
            emit: EmitStrategy::OnWindowUpdate,
        }
    }

    /// Chooses when results are emitted: on every update, or once per window when stream
    /// time passes its end plus grace.
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

    /// Folds values per key and window with `aggregator(key, value, aggregate)` from
    /// `initializer()`.
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
        let w = self.windows;
        let d = w.difference_ms;
        let retention_ms = DEFAULT_RETENTION_MS.max(d + w.grace_ms);
        let graph = self.grouped.graph();
        let key_serde = self.grouped.key_serde();
        let (Some(input_serde), Some(ks)) = (self.grouped.value_serde(), key_serde) else {
            graph.borrow_mut().error(TopologyError::MissingSerde {
                operation: "sliding-window aggregation (it keeps the input records)".into(),
                field: if self.grouped.key_serde().is_none() {
                    Field::Key
                } else {
                    Field::Value
                },
            });
            return KTable::detached(graph, self.grouped.node(), String::new());
        };
        let logged = materialized.logging;
        let fold = Arc::new(fold);
        windowed_aggregation(
            &self.grouped,
            WindowedAggregation {
                prefix,
                materialized,
                default_value_serde,
                store_keys: Arc::new(move |ks| {
                    Arc::new(StartFirstSerde {
                        inner: ks,
                        size_ms: d,
                    })
                }),
                table_keys: Arc::new(move |ks| Arc::new(WindowedSerde::shared(ks, d))),
                // A window [s, s + d] (inclusive) is final once stream time minus grace has
                // passed its end.
                close_after_ms: w.grace_ms + 1,
                emit: self.emit,
            },
            move |store_name, g| {
                let records_name = format!("{store_name}-records");
                let mut records = Stores::timestamped_key_value_store_builder(
                    Stores::persistent_key_value_store(&records_name),
                    BytesSerde,
                    input_serde,
                );
                if !logged {
                    records = records.with_logging_disabled();
                }
                g.add_store(records.into_def());
                (
                    vec![records_name.clone()],
                    instantiate::processor(move || SlidingAggregate {
                        store_name: store_name.clone(),
                        records_name: records_name.clone(),
                        store: None,
                        records: None,
                        key_serde: ks.clone(),
                        windows: w,
                        retention_ms,
                        fold: fold.clone(),
                        seq: 0,
                        key_buf: Vec::new(),
                        window_expiry: Default::default(),
                        record_expiry: Default::default(),
                    }),
                )
            },
        )
    }
}
