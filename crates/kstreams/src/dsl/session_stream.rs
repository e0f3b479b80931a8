//! `SessionWindowedKStream`: a grouped stream aggregated per key and session.

use super::ops::session_aggregate::SessionAggregate;
use super::suppress::EmitStrategy;
use super::windowed_stream::{windowed_aggregation, WindowedAggregation};
use super::windows::{SessionStoreSerde, SessionWindowedSerde, SessionWindows, Windowed};
use super::{folds, KGroupedStream, KTable, Materialized};
use crate::serde::{I64Serde, SharedSerde};
use crate::topology::instantiate;
use std::sync::Arc;

/// Kafka Streams' default retention of session stores: one day.
const DEFAULT_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// A grouped stream windowed by sessions of activity. Aggregations give a table keyed by
/// [`Windowed<K>`] whose window is the session's first and last record time. When a record
/// merges sessions, the merged-away ones are deleted downstream (a `Change` with no new
/// value) and the merged session is emitted.
///
/// ```
/// use kstreams::dsl::SessionWindows;
/// use kstreams::serde::StringSerde;
/// use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
/// use std::time::Duration;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("page-views", Consumed::with(StringSerde, StringSerde))
///     .group_by_key(Grouped::default())
///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(300)))
///     .count(Materialized::named("views-per-visit"));
/// builder.build().unwrap();
/// ```
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K: Clone + 'static, V: Clone + 'static> SessionWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: SessionWindows) -> Self {
        SessionWindowedKStream {
            grouped,
            windows,
            emit: EmitStrategy::OnWindowUpdate,
        }
    }

    /// Chooses when results are emitted; with `OnWindowClose`, once per session when no
    /// record can extend it any more (stream time past its end plus gap plus grace).
    #[must_use]
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts records per key and session.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        self.fold(
            "KSTREAM-AGGREGATE-",
            materialized,
            Some(Arc::new(I64Serde)),
            folds::count(),
            |_: &K, a: i64, b: i64| a + b,
        )
    }

    /// Combines values per key and session with `reducer(aggregate, value)`; merging
    /// sessions combines their aggregates with the same reducer.
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let reducer = Arc::new(reducer);
        let r = reducer.clone();
        let vs = self.grouped.value_serde();
        self.fold(
            "KSTREAM-REDUCE-",
            materialized,
            vs,
            folds::reduce(move |a, b| reducer(a, b)),
            move |_: &K, a: V, b: V| r(a, b),
        )
    }

    /// Folds values per key and session with `aggregator(key, value, aggregate)` from
    /// `initializer()`; `merger(key, a, b)` combines the aggregates of sessions a record
    /// bridges.
    pub fn aggregate<VA, I, F, M>(
        &self,
        initializer: I,
        aggregator: F,
        merger: M,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        F: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
    {
        self.fold(
            "KSTREAM-AGGREGATE-",
            materialized,
            None,
            folds::aggregate(initializer, aggregator),
            merger,
        )
    }

    fn fold<VA, F, M>(
        &self,
        prefix: &str,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        fold: F,
        merger: M,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Clone + 'static,
        F: Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
        M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
    {
        let w = self.windows;
        let (fold, merger) = (Arc::new(fold), Arc::new(merger));
        let retention_ms = materialized
            .retention_ms
            .unwrap_or(DEFAULT_RETENTION_MS)
            .max(w.gap_ms.saturating_add(w.grace_ms));
        windowed_aggregation(
            &self.grouped,
            WindowedAggregation {
                prefix,
                materialized,
                default_value_serde,
                store_keys: Arc::new(|ks| Arc::new(SessionStoreSerde { inner: ks })),
                table_keys: Arc::new(|ks| Arc::new(SessionWindowedSerde::shared(ks))),
                // A record at up to end + gap can still extend a session, and is accepted
                // while that end is within grace of stream time: only past both is it final.
                close_after_ms: w.close_after_ms(),
                emit: self.emit,
                emits_final_itself: false,
                changelog: crate::state::ChangelogFormat::Session,
            },
            move |store_name, _| {
                let node = instantiate::processor(move || SessionAggregate {
                    store_name: store_name.clone(),
                    store: None,
                    windows: w,
                    retention_ms,
                    expiry: Default::default(),
                    observed: Default::default(),
                    fold: fold.clone(),
                    merger: merger.clone(),
                });
                (Vec::new(), node)
            },
        )
    }
}
