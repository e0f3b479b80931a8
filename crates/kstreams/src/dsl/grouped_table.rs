//! `KGroupedTable`: a re-keyed table, aggregated with an adder and a subtractor.

use super::ops::table_aggregate::TableAggregate;
use super::{materialize, repartition, KTable, Materialized};
use crate::dsl::getter::GetterSupplier;
use crate::processor::Change;
use crate::serde::{ChangeSerde, I64Serde, SharedSerde};
use crate::topology::graph::{Graph, NodeId, NodeKind};
use crate::topology::instantiate;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// A table grouped by a new key. Every update of the source table subtracts the row's old
/// value from its old group and adds the new value to its new group, so the aggregate
/// always reflects the table's current rows.
///
/// The talk's metrics aggregation: instances report their counters keyed by instance id;
/// grouping by metric name and reducing with add and subtract gives the total, and an
/// instance re-reporting replaces its previous value instead of adding to it.
///
/// ```
/// use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
/// use kstreams::serde::{I64Serde, StringSerde};
///
/// let builder = StreamsBuilder::new();
/// builder
///     .table("metrics", Consumed::with(StringSerde, I64Serde), Materialized::named("raw-metrics"))
///     .group_by(|_instance, count| ("records".to_string(), *count), Grouped::with(StringSerde, I64Serde))
///     .reduce(|a, b| a + b, |a, b| a - b, Materialized::named("aggregates"));
/// assert_eq!(builder.build().unwrap().subtopology_count(), 2);
/// ```
pub struct KGroupedTable<K, V> {
    pub(crate) graph: Rc<RefCell<Graph>>,
    /// The re-keying node, whose output goes through the repartition topic.
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) name: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedTable<K, V> {
    /// Counts the rows per group.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.fold(
            "KTABLE-AGGREGATE-",
            materialized,
            Some(Arc::new(I64Serde)),
            |_: &K, _: V, agg: Option<i64>| agg.unwrap_or(0) + 1,
            |_: &K, _: V, agg: i64| agg - 1,
        )
    }

    /// Combines with `adder(aggregate, new)` and `subtractor(aggregate, old)`.
    pub fn reduce<A, S>(
        &self,
        adder: A,
        subtractor: S,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V>
    where
        A: Fn(V, V) -> V + Send + Sync + 'static,
        S: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.fold(
            "KTABLE-REDUCE-",
            materialized,
            self.value_serde.clone(),
            move |_: &K, v: V, agg: Option<V>| match agg {
                Some(a) => adder(a, v),
                None => v,
            },
            move |_: &K, v: V, agg: V| subtractor(agg, v),
        )
    }

    /// Folds with `adder(key, new, aggregate)` and `subtractor(key, old, aggregate)`,
    /// starting from `initializer()`.
    pub fn aggregate<VA, I, A, S>(
        &self,
        initializer: I,
        adder: A,
        subtractor: S,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        S: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    {
        self.fold(
            "KTABLE-AGGREGATE-",
            materialized,
            None,
            move |k: &K, v: V, agg: Option<VA>| adder(k, v, agg.unwrap_or_else(&initializer)),
            subtractor,
        )
    }

    fn fold<VA, Add, Sub>(
        &self,
        prefix: &str,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        add: Add,
        sub: Sub,
    ) -> KTable<K, VA>
    where
        VA: Clone + 'static,
        Add: Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
        Sub: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    {
        let graph = self.graph.clone();
        let store = materialized.name.clone().unwrap_or_else(|| {
            graph
                .borrow_mut()
                .next_name(&format!("{prefix}STATE-STORE-"))
        });
        let name = self.name.clone().unwrap_or_else(|| store.clone());
        let change_serde = self
            .value_serde
            .clone()
            .map(|vs| Arc::new(ChangeSerde::new(vs)) as SharedSerde<Change<V>>);
        let source = repartition::insert_at::<K, Change<V>>(
            &graph,
            self.node,
            Some(&name),
            prefix,
            self.key_serde.clone(),
            change_serde,
            None,
            None,
            false,
        );
        let mut g = graph.borrow_mut();
        let node_name = g.next_name(prefix);
        let Some((ks, vs)) = materialize::serdes(
            &mut g,
            &format!("table aggregation {node_name}"),
            &materialized,
            self.key_serde.clone(),
            default_value_serde,
        ) else {
            drop(g);
            return KTable::detached(graph, source, store);
        };
        materialize::add_store(&mut g, &store, &materialized, ks.clone(), vs.clone());
        let (add, sub) = (Arc::new(add), Arc::new(sub));
        let store_name = store.clone();
        let node = g.add(
            node_name,
            NodeKind::Processor,
            vec![source],
            vec![store.clone()],
            instantiate::processor(move || TableAggregate {
                store_name: store_name.clone(),
                store: None,
                add: add.clone(),
                sub: sub.clone(),
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
}
