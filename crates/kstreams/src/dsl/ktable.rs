//! `KTable`: a changelog stream read as a table.

use super::getter::{self, GetterSupplier};
use super::grouped_table::KGroupedTable;
use super::ops::table_table_join::{JoinKind, Joiner, LeftSide, RightSide};
use super::ops::{passthrough, table_filter, table_map_values, table_select, table_to_stream};
use super::{Grouped, KStream};
use crate::processor::{Change, Processor};
use crate::serde::{Nullable, SharedSerde};
use crate::topology::graph::{Graph, NodeId, NodeKind};
use crate::topology::instantiate;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// A table: each record updates the row of its key, and a tombstone deletes it. With
/// `(alice, 1), (charlie, 1), (alice, 3)` the table holds `alice = 3`, where a
/// [`KStream`] would have seen three events.
///
/// Nodes of a table forward [`Change`]s (new and old value), so downstream aggregations can
/// subtract what an update replaced.
///
/// Here a table of each user's region, read from a topic, is re-grouped by region and
/// counted. When alice moves, her old region loses her: an update, not a new event. The
/// `TestDriver` of `kstreams-testkit` runs the topology without a broker:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams_testkit::TestDriver;
///
/// let builder = StreamsBuilder::new();
/// let regions: KTable<String, String> = builder.table(
///     "user-regions",
///     Consumed::with(StringSerde, StringSerde),
///     Materialized::named("user-regions"),
/// );
/// let users_per_region: KTable<String, i64> = regions
///     .group_by(
///         |user, region| (region.clone(), user.clone()),
///         Grouped::with(StringSerde, StringSerde),
///     )
///     .count(Materialized::named("users-per-region"));
/// assert_eq!(users_per_region.queryable_store_name(), Some("users-per-region"));
///
/// let driver = TestDriver::new(builder.build()?)?;
/// let input = driver.input_topic("user-regions", StringSerde, StringSerde);
/// input.pipe_input("alice".to_string(), "europe".to_string())?;
/// input.pipe_input("bob".to_string(), "asia".to_string())?;
/// input.pipe_input("alice".to_string(), "asia".to_string())?;
///
/// let store = driver
///     .key_value_store::<String, i64>("users-per-region")
///     .expect("the count is materialized");
/// assert_eq!(store.get(&"asia".to_string())?, Some(2));
/// assert_eq!(store.get(&"europe".to_string())?, Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KTable<K, V> {
    pub(crate) graph: Rc<RefCell<Graph>>,
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) getter: GetterSupplier<K, V>,
    pub(crate) store: Option<String>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            getter: self.getter.clone(),
            store: self.store.clone(),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// A placeholder after an error was recorded; `build()` will report the error.
    pub(crate) fn detached(graph: Rc<RefCell<Graph>>, node: NodeId, store: String) -> Self {
        KTable {
            graph,
            node,
            key_serde: None,
            value_serde: None,
            getter: GetterSupplier::store(store.clone()),
            store: Some(store),
        }
    }

    /// The name of the store holding this table, when it is materialized.
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    fn add<K2: 'static, V2: 'static, P, F>(&self, prefix: &str, supplier: F) -> NodeId
    where
        P: Processor<K, Change<V>, K2, Change<V2>>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut g = self.graph.borrow_mut();
        let name = g.next_name(prefix);
        g.add(
            name,
            NodeKind::Processor,
            vec![self.node],
            vec![],
            instantiate::processor(supplier),
        )
    }

    fn filter_impl<F>(&self, predicate: F, negate: bool) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let p = predicate.clone();
        let node = self.add("KTABLE-FILTER-", move || table_filter::TableFilter {
            predicate: p.clone(),
            negate,
        });
        KTable {
            graph: self.graph.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            getter: self.getter.map(Arc::new(move |k: &K, v: V| {
                (predicate(k, &v) != negate).then_some(v)
            })),
            store: None,
        }
    }

    /// Keeps the rows that satisfy `predicate`; an update that stops satisfying it deletes
    /// the row downstream.
    pub fn filter<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_impl(predicate, false)
    }

    /// Drops the rows that satisfy `predicate`.
    pub fn filter_not<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_impl(predicate, true)
    }

    /// Maps every row's value.
    pub fn map_values<V2, F>(&self, f: F) -> KTable<K, V2>
    where
        V2: Clone + 'static,
        F: Fn(&V) -> V2 + Send + Sync + 'static,
    {
        self.map_values_with_key(move |_, v| f(v))
    }

    /// Maps every row's value, given the key.
    pub fn map_values_with_key<V2, F>(&self, f: F) -> KTable<K, V2>
    where
        V2: Clone + 'static,
        F: Fn(&K, &V) -> V2 + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let g = f.clone();
        let node = self.add("KTABLE-MAPVALUES-", move || {
            table_map_values::TableMapValues(g.clone())
        });
        KTable {
            graph: self.graph.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde: None,
            getter: self.getter.map(Arc::new(move |k: &K, v: V| Some(f(k, &v)))),
            store: None,
        }
    }

    /// The table's changelog as a stream: one record per update, with `None` for a
    /// deletion (Kafka's null value).
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let node = {
            let mut g = self.graph.borrow_mut();
            let name = g.next_name("KTABLE-TOSTREAM-");
            g.add(
                name,
                NodeKind::Processor,
                vec![self.node],
                vec![],
                instantiate::processor::<K, Change<V>, K, Option<V>, _, _>(|| {
                    table_to_stream::ToStream
                }),
            )
        };
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde: self
                .value_serde
                .clone()
                .map(|vs| Arc::new(Nullable(vs)) as SharedSerde<Option<V>>),
            repartition_required: false,
        }
    }

    /// Re-keys every row with `selector(key, value) -> (new key, new value)`, for an
    /// aggregation. Always repartitions.
    pub fn group_by<K2, V2, F>(
        &self,
        selector: F,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2>
    where
        K2: Clone + PartialEq + 'static,
        V2: Clone + 'static,
        F: Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
    {
        let selector = Arc::new(selector);
        let node = self.add("KTABLE-SELECT-", move || {
            table_select::TableSelect(selector.clone())
        });
        KGroupedTable {
            graph: self.graph.clone(),
            node,
            key_serde: grouped.key_serde,
            value_serde: grouped.value_serde,
            name: grouped.name,
        }
    }

    fn join_impl<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        kind: JoinKind,
        joiner: Joiner<V, VO, VR>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        let (this_prefix, other_prefix) = match kind {
            JoinKind::Inner => ("KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-"),
            JoinKind::Left => ("KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-"),
            JoinKind::Outer => ("KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-"),
        };
        let mut g = self.graph.borrow_mut();
        let (right_getter, left_getter, j1, j2) = (
            other.getter.clone(),
            self.getter.clone(),
            joiner.clone(),
            joiner.clone(),
        );
        let this_name = g.next_name(this_prefix);
        let this_node = g.add(
            this_name,
            NodeKind::Processor,
            vec![self.node],
            other.getter.stores.clone(),
            instantiate::processor(move || LeftSide {
                kind,
                right: right_getter.clone(),
                getter: None,
                joiner: j1.clone(),
            }),
        );
        let other_name = g.next_name(other_prefix);
        let other_node = g.add(
            other_name,
            NodeKind::Processor,
            vec![other.node],
            self.getter.stores.clone(),
            instantiate::processor(move || RightSide {
                kind,
                left: left_getter.clone(),
                getter: None,
                joiner: j2.clone(),
            }),
        );
        let merge_name = g.next_name("KTABLE-MERGE-");
        let merge = g.add(
            merge_name,
            NodeKind::Processor,
            vec![this_node, other_node],
            vec![],
            instantiate::processor::<K, Change<VR>, K, Change<VR>, _, _>(|| {
                passthrough::PassThrough
            }),
        );
        g.copartition.push(vec![self.node, other.node]);
        drop(g);
        KTable {
            graph: self.graph.clone(),
            node: merge,
            key_serde: self.key_serde.clone().or(other.key_serde.clone()),
            value_serde: None,
            getter: getter::joined(&self.getter, &other.getter, joiner),
            store: None,
        }
    }

    /// Inner join: a row exists where both tables have the key.
    pub fn join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.join_impl(
            other,
            JoinKind::Inner,
            Arc::new(move |l: Option<&V>, r: Option<&VO>| match (l, r) {
                (Some(l), Some(r)) => Some(joiner(l, r)),
                _ => None,
            }),
        )
    }

    /// Left join: a row exists where this table has the key.
    pub fn left_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.join_impl(
            other,
            JoinKind::Left,
            Arc::new(move |l: Option<&V>, r: Option<&VO>| l.map(|l| joiner(l, r))),
        )
    }

    /// Outer join: a row exists where either table has the key.
    pub fn outer_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.join_impl(
            other,
            JoinKind::Outer,
            Arc::new(move |l: Option<&V>, r: Option<&VO>| {
                (l.is_some() || r.is_some()).then(|| joiner(l, r))
            }),
        )
    }
}
