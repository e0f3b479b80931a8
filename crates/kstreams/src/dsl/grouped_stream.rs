//! `KGroupedStream`: a stream grouped by key, ready to aggregate.

use super::ops::stream_aggregate::StreamAggregate;
use super::{folds, materialize, repartition, Grouped, KStream, KTable, Materialized};
use crate::dsl::getter::GetterSupplier;
use crate::serde::{I64Serde, SharedSerde};
use crate::topology::graph::{NodeId, NodeKind};
use crate::topology::instantiate;
use std::sync::Arc;

/// A grouped stream. Aggregations turn it into a [`KTable`] of one row per key; records
/// with a null key are dropped and counted.
///
/// If the key changed upstream, the aggregation first goes through the repartition topic
/// `<application.id>-<name>-repartition`, where `name` is the `Grouped` name, else the store
/// name.
pub struct KGroupedStream<K, V> {
    stream: KStream<K, V>,
    grouped: Grouped<K, V>,
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            grouped: self.grouped.clone(),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        KGroupedStream { stream, grouped }
    }

    /// Aggregates per time window from here on.
    pub fn windowed_by(self, windows: super::TimeWindows) -> super::TimeWindowedKStream<K, V> {
        super::TimeWindowedKStream::new(self, windows)
    }

    /// Aggregates per session of activity from here on (Kafka's `windowedBy(SessionWindows)`).
    pub fn windowed_by_session(
        self,
        windows: super::SessionWindows,
    ) -> super::SessionWindowedKStream<K, V> {
        super::SessionWindowedKStream::new(self, windows)
    }

    /// Aggregates per sliding window from here on (Kafka's `windowedBy(SlidingWindows)`):
    /// windows `[start, start + difference]`, both ends inclusive. The grouped stream's
    /// value serde is required, since the records of the last `2 × difference + grace` are
    /// kept to recompute windows from.
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
    pub fn windowed_by_sliding(
        self,
        windows: super::SlidingWindows,
    ) -> super::TimeWindowedKStream<K, V> {
        super::TimeWindowedKStream::sliding(self, windows)
    }

    pub(crate) fn key_serde(&self) -> Option<SharedSerde<K>> {
        self.grouped
            .key_serde
            .clone()
            .or_else(|| self.stream.key_serde.clone())
    }

    pub(crate) fn node(&self) -> NodeId {
        self.stream.node
    }

    pub(crate) fn graph(&self) -> std::rc::Rc<std::cell::RefCell<crate::topology::graph::Graph>> {
        self.stream.graph.clone()
    }

    pub(crate) fn value_serde(&self) -> Option<SharedSerde<V>> {
        self.grouped
            .value_serde
            .clone()
            .or_else(|| self.stream.value_serde.clone())
    }

    /// Counts records per key.
    ///
    /// ```
    /// use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use kstreams::serde::StringSerde;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("lines", Consumed::with(StringSerde, StringSerde))
    ///     .flat_map_values(|line| line.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    ///     .group_by(|_, word| word.clone(), Grouped::with(StringSerde, StringSerde))
    ///     .count(Materialized::named("counts"));
    /// let topology = builder.build().unwrap();
    /// // the re-keying cut the topology at counts-repartition
    /// assert_eq!(topology.subtopology_count(), 2);
    /// ```
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.fold(
            "KSTREAM-AGGREGATE-",
            materialized,
            Some(Arc::new(I64Serde)),
            folds::count(),
        )
    }

    /// Combines values per key with `reducer(aggregate, value)`; the first value of a key is
    /// its initial aggregate.
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.fold(
            "KSTREAM-REDUCE-",
            materialized,
            self.value_serde(),
            folds::reduce(reducer),
        )
    }

    /// Folds values per key with `aggregator(key, value, aggregate)`, starting from
    /// `initializer()`. The aggregate's serde comes from `materialized`.
    pub fn aggregate<VA, I, F>(
        &self,
        initializer: I,
        aggregator: F,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA>
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
    ) -> KTable<K, VA>
    where
        VA: Clone + 'static,
        F: Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
    {
        let graph = self.stream.graph.clone();
        let (store, parent, key_serde) =
            self.aggregation_input(prefix, materialized.name.as_deref());
        let mut g = graph.borrow_mut();
        let name = g.next_name(prefix);
        let Some((ks, vs)) = materialize::serdes(
            &mut g,
            &format!("aggregation {name}"),
            &materialized,
            key_serde,
            default_value_serde,
        ) else {
            drop(g);
            return KTable::detached(graph, parent, store);
        };
        materialize::add_store(&mut g, &store, &materialized, ks.clone(), vs.clone());
        let fold = Arc::new(fold);
        let store_name = store.clone();
        let node = g.add(
            name,
            NodeKind::Processor,
            vec![parent],
            vec![store.clone()],
            instantiate::processor(move || StreamAggregate {
                store_name: store_name.clone(),
                store: None,
                fold: fold.clone(),
            }),
        );
        drop(g);
        KTable {
            graph,
            node,
            key_serde: Some(ks),
            value_serde: Some(vs),
            getter: GetterSupplier::store(store.clone()),
            store: Some(store),
        }
    }

    /// The store name of an aggregation, the node it hangs under (after a repartition
    /// when the key changed upstream) and the key serde, for every kind of aggregation.
    pub(crate) fn aggregation_input(
        &self,
        prefix: &str,
        store: Option<&str>,
    ) -> (String, NodeId, Option<SharedSerde<K>>) {
        let graph = self.stream.graph.clone();
        let store = store.map(str::to_string).unwrap_or_else(|| {
            graph
                .borrow_mut()
                .next_name(&format!("{prefix}STATE-STORE-"))
        });
        let key_serde = self
            .grouped
            .key_serde
            .clone()
            .or_else(|| self.stream.key_serde.clone());
        let parent = if self.stream.repartition_required {
            let value_serde = self
                .grouped
                .value_serde
                .clone()
                .or_else(|| self.stream.value_serde.clone());
            let name = self.grouped.name.clone().unwrap_or_else(|| store.clone());
            repartition::insert(
                &self.stream,
                Some(&name),
                prefix,
                key_serde.clone(),
                value_serde,
                None,
                None,
                true,
            )
        } else {
            self.stream.node
        };
        (store, parent, key_serde)
    }
}
