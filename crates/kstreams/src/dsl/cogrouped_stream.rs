//! `CogroupedKStream`: several grouped streams aggregated into one table.

use super::getter::GetterSupplier;
use super::ops::passthrough;
use super::ops::stream_aggregate::StreamAggregate;
use super::{folds, materialize, KGroupedStream, KTable, Materialized};
use crate::processor::Change;
use crate::serde::SharedSerde;
use crate::topology::graph::{Graph, NodeId, NodeKind};
use crate::topology::instantiate;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// The shared initializer of a cogrouped aggregate.
type Init<VA> = Arc<dyn Fn() -> VA + Send + Sync>;

/// Adds one input's aggregation node for the store; returns the node.
type Input<VA> = Box<dyn FnOnce(&str, Init<VA>) -> NodeId>;

/// Grouped streams of different value types folded into one aggregate per key, each with
/// its own aggregator (Kafka's `cogroup`). One store, one output table, no intermediate
/// tables or joins. The inputs must be co-partitioned (re-keyed inputs are repartitioned
/// first, as for any aggregation).
///
/// ```
/// use kstreams::serde::{I64Serde, StringSerde};
/// use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
///
/// let builder = StreamsBuilder::new();
/// let clicks = builder
///     .stream("clicks", Consumed::with(StringSerde, StringSerde))
///     .group_by_key(Grouped::default());
/// let purchases = builder
///     .stream("purchases", Consumed::with(StringSerde, I64Serde))
///     .group_by_key(Grouped::default());
/// // Per customer: (clicks, cents spent).
/// clicks
///     .cogroup(|_, _click: String, (c, s): (i64, i64)| (c + 1, s))
///     .cogroup(&purchases, |_, cents: i64, (c, s): (i64, i64)| (c, s + cents))
///     .aggregate(
///         || (0, 0),
///         Materialized::named("activity")
///             .with_value_serde(kstreams::serde::JsonSerde::<(i64, i64)>::new()),
///     );
/// let topology = builder.build().unwrap();
/// assert_eq!(topology.subtopology_count(), 1);
/// ```
pub struct CogroupedKStream<K, VA> {
    graph: Rc<RefCell<Graph>>,
    key_serde: Option<SharedSerde<K>>,
    inputs: Vec<Input<VA>>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    /// Starts a cogrouped aggregation with this stream and its aggregator.
    pub fn cogroup<VA, F>(&self, aggregator: F) -> CogroupedKStream<K, VA>
    where
        VA: Clone + 'static,
        F: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    {
        CogroupedKStream {
            graph: self.graph(),
            key_serde: self.key_serde(),
            inputs: Vec::new(),
        }
        .cogroup(self, aggregator)
    }
}

impl<K: Clone + 'static, VA: Clone + 'static> CogroupedKStream<K, VA> {
    /// Adds another grouped stream and its aggregator.
    pub fn cogroup<V, F>(mut self, grouped: &KGroupedStream<K, V>, aggregator: F) -> Self
    where
        V: Clone + 'static,
        F: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    {
        let grouped = grouped.clone();
        let aggregator = Arc::new(aggregator);
        self.inputs
            .push(Box::new(move |store: &str, init: Init<VA>| {
                let (_, parent, _) =
                    grouped.aggregation_input("COGROUPKSTREAM-AGGREGATE-", Some(store));
                let graph = grouped.graph();
                let mut g = graph.borrow_mut();
                let name = g.next_name("COGROUPKSTREAM-AGGREGATE-");
                let a = aggregator.clone();
                let fold = Arc::new(folds::aggregate(
                    move || init(),
                    move |k: &K, v: V, agg: VA| a(k, v, agg),
                ));
                let store_name = store.to_string();
                g.add(
                    name,
                    NodeKind::Processor,
                    vec![parent],
                    vec![store.to_string()],
                    instantiate::processor(move || StreamAggregate {
                        store_name: store_name.clone(),
                        store: None,
                        fold: fold.clone(),
                    }),
                )
            }));
        self
    }

    /// Folds every input into one aggregate per key, starting from `initializer()`. The
    /// aggregate's serde comes from `materialized`.
    pub fn aggregate<I>(self, initializer: I, materialized: Materialized<K, VA>) -> KTable<K, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
    {
        let graph = self.graph.clone();
        let store = materialized.name.clone().unwrap_or_else(|| {
            graph
                .borrow_mut()
                .next_name("COGROUPKSTREAM-AGGREGATE-STATE-STORE-")
        });
        let init: Init<VA> = Arc::new(initializer);
        let nodes: Vec<NodeId> = self
            .inputs
            .into_iter()
            .map(|input| input(&store, init.clone()))
            .collect();
        let mut g = graph.borrow_mut();
        let serdes = materialize::serdes(
            &mut g,
            "cogrouped aggregation",
            &materialized,
            self.key_serde,
            None,
        );
        let Some((ks, vs)) = serdes else {
            drop(g);
            return KTable::detached(graph, nodes[0], store);
        };
        materialize::add_store(&mut g, &store, &materialized, ks.clone(), vs.clone());
        let name = g.next_name("COGROUPKSTREAM-MERGE-");
        let merge = g.add(
            name,
            NodeKind::Processor,
            nodes.clone(),
            vec![],
            instantiate::processor::<K, Change<VA>, K, Change<VA>, _, _>(|| {
                passthrough::PassThrough
            }),
        );
        if nodes.len() > 1 {
            g.copartition.push(nodes);
        }
        drop(g);
        KTable {
            graph,
            node: merge,
            key_serde: Some(ks),
            value_serde: Some(vs),
            getter: GetterSupplier::store(store.clone()),
            store: Some(store),
        }
    }
}
