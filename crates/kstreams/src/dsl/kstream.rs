//! `KStream`: a record stream.

use super::branch::BranchedKStream;
use super::grouped_stream::KGroupedStream;
use super::ops::{filter, flat_map, map, passthrough, peek, stream_table_join, table_source};
use super::repartition;
use super::{Grouped, KTable, Materialized, Produced, Repartitioned};
use crate::error::{Field, TopologyError};
use crate::processor::{Processor, TopicNameExtractor};
use crate::serde::SharedSerde;
use crate::topology::graph::{Graph, NodeId, NodeKind, TopicName};
use crate::topology::instantiate::{self, SinkTarget};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// A stream of independent records, each an event: `(alice, 1)` then `(alice, 3)` means
/// two events, where a [`KTable`] would mean an update.
///
/// Operations take `&self`, so a stream can feed several downstream branches. Closures see
/// the key as `Option<&K>`: Kafka allows null keys, and aggregations and joins drop such
/// records. Key-changing operations (`map`, `flat_map`, `select_key`, `group_by`, `process`)
/// mark the stream for repartitioning: a later stateful operation first writes it through a
/// `<application.id>-<name>-repartition` topic, as Kafka Streams does.
///
/// A stream comes from [`StreamsBuilder::stream`](crate::StreamsBuilder::stream), and each
/// operation returns a new one. Here one stream of orders feeds two branches, and the
/// `TestDriver` of `kstreams-testkit` runs the topology without a broker:
///
/// ```
/// use kstreams::prelude::*;
/// use kstreams_testkit::TestDriver;
///
/// let builder = StreamsBuilder::new();
/// let orders: KStream<String, i64> =
///     builder.stream("orders", Consumed::with(StringSerde, I64Serde));
/// // Large orders go to review...
/// orders
///     .filter(|_customer, amount| *amount >= 1_000)
///     .to("orders-to-review", Produced::with(StringSerde, I64Serde));
/// // ...and every order gets a receipt line.
/// orders
///     .map_values(|amount| format!("charged {amount}"))
///     .to("receipts", Produced::with(StringSerde, StringSerde));
///
/// let driver = TestDriver::new(builder.build()?)?;
/// let input = driver.input_topic("orders", StringSerde, I64Serde);
/// input.pipe_input("alice".to_string(), 250)?;
/// input.pipe_input("bob".to_string(), 4_000)?;
///
/// let review = driver.output_topic("orders-to-review", StringSerde, I64Serde);
/// assert_eq!(review.read_key_values(), [(Some("bob".to_string()), 4_000)]);
/// let receipts = driver.output_topic("receipts", StringSerde, StringSerde);
/// assert_eq!(receipts.read_values(), ["charged 250", "charged 4000"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KStream<K, V> {
    pub(crate) graph: Rc<RefCell<Graph>>,
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    pub(crate) fn derive<K2, V2>(
        &self,
        node: NodeId,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde,
            value_serde,
            repartition_required,
        }
    }

    /// Adds a processor node under this stream.
    pub(crate) fn add_processor<K2: 'static, V2: 'static, P, F>(
        &self,
        prefix: &str,
        stores: Vec<String>,
        supplier: F,
    ) -> NodeId
    where
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut g = self.graph.borrow_mut();
        let name = g.next_name(prefix);
        g.add(
            name,
            NodeKind::Processor,
            vec![self.node],
            stores,
            instantiate::processor(supplier),
        )
    }

    fn same_types(&self, node: NodeId) -> KStream<K, V> {
        self.derive(
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Keeps the records that satisfy `predicate`.
    pub fn filter<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(Option<&K>, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let node = self.add_processor("KSTREAM-FILTER-", vec![], move || filter::Filter {
            predicate: predicate.clone(),
            negate: false,
        });
        self.same_types(node)
    }

    /// Drops the records that satisfy `predicate`.
    pub fn filter_not<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(Option<&K>, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let node = self.add_processor("KSTREAM-FILTER-", vec![], move || filter::Filter {
            predicate: predicate.clone(),
            negate: true,
        });
        self.same_types(node)
    }

    /// A new key and value for every record. Marks the stream for repartitioning.
    pub fn map<K2, V2, F>(&self, f: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        F: Fn(Option<K>, V) -> (K2, V2) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let node = self.add_processor("KSTREAM-MAP-", vec![], move || map::Map(f.clone()));
        self.derive(node, None, None, true)
    }

    /// A new value for every record; keys, and so partitioning, are unchanged.
    pub fn map_values<V2, F>(&self, f: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        F: Fn(V) -> V2 + Send + Sync + 'static,
    {
        self.map_values_with_key(move |_, v| f(v))
    }

    /// A new value from key and value.
    pub fn map_values_with_key<V2, F>(&self, f: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        F: Fn(Option<&K>, V) -> V2 + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let node = self.add_processor("KSTREAM-MAPVALUES-", vec![], move || {
            map::MapValues(f.clone())
        });
        self.derive(
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Zero or more records per record. Marks the stream for repartitioning.
    pub fn flat_map<K2, V2, I, F>(&self, f: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        I: IntoIterator<Item = (K2, V2)> + 'static,
        F: Fn(Option<K>, V) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let node = self.add_processor("KSTREAM-FLATMAP-", vec![], move || {
            flat_map::FlatMap(f.clone())
        });
        self.derive(node, None, None, true)
    }

    /// Zero or more values per record, each with the record's key.
    ///
    /// `flat_map_values(|v| v)` on a `KStream<K, Option<V>>` drops the null values.
    pub fn flat_map_values<V2, I, F>(&self, f: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        I: IntoIterator<Item = V2> + 'static,
        F: Fn(V) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(move |_: Option<&K>, v: V| f(v));
        let node = self.add_processor("KSTREAM-FLATMAPVALUES-", vec![], move || {
            flat_map::FlatMapValues(f.clone())
        });
        self.derive(
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// A new key from key and value. Marks the stream for repartitioning.
    pub fn select_key<K2, F>(&self, f: F) -> KStream<K2, V>
    where
        K2: Clone + 'static,
        F: Fn(Option<&K>, &V) -> K2 + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let node = self.add_processor("KSTREAM-KEY-SELECT-", vec![], move || {
            map::SelectKey(f.clone())
        });
        self.derive(node, None, self.value_serde.clone(), true)
    }

    /// Runs `action` on every record and forwards it unchanged.
    pub fn peek<F>(&self, action: F) -> KStream<K, V>
    where
        F: Fn(Option<&K>, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        let node = self.add_processor("KSTREAM-PEEK-", vec![], move || peek::Peek {
            action: action.clone(),
            forward: true,
        });
        self.same_types(node)
    }

    /// Runs `action` on every record; a terminal operation.
    pub fn foreach<F>(&self, action: F)
    where
        F: Fn(Option<&K>, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        self.add_processor::<K, V, _, _>("KSTREAM-FOREACH-", vec![], move || peek::Peek {
            action: action.clone(),
            forward: false,
        });
    }

    /// Both streams as one. Records keep their order within each input.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let node = {
            let mut g = self.graph.borrow_mut();
            let name = g.next_name("KSTREAM-MERGE-");
            g.add(
                name,
                NodeKind::Processor,
                vec![self.node, other.node],
                vec![],
                instantiate::processor::<K, V, K, V, _, _>(|| passthrough::PassThrough),
            )
        };
        self.derive(
            node,
            self.key_serde.clone().or(other.key_serde.clone()),
            self.value_serde.clone().or(other.value_serde.clone()),
            self.repartition_required || other.repartition_required,
        )
    }

    /// Splits the stream into branches by predicate (Kafka's `split()`).
    pub fn split(&self) -> BranchedKStream<K, V> {
        BranchedKStream::new(self.clone(), None)
    }

    /// Like [`split`](Self::split), with branch names prefixed by `prefix`.
    pub fn split_named(&self, prefix: impl Into<String>) -> BranchedKStream<K, V> {
        BranchedKStream::new(self.clone(), Some(prefix.into()))
    }

    fn sink(&self, target: SinkTarget<K, V>, produced: Produced<K, V>) {
        let ks = produced.key_serde.or_else(|| self.key_serde.clone());
        let vs = produced.value_serde.or_else(|| self.value_serde.clone());
        let mut g = self.graph.borrow_mut();
        let name = produced
            .name
            .unwrap_or_else(|| g.next_name("KSTREAM-SINK-"));
        let (Some(ks), Some(vs)) = (ks, vs) else {
            let field = if self.key_serde.is_none() {
                Field::Key
            } else {
                Field::Value
            };
            g.error(TopologyError::MissingSerde {
                operation: format!("sink {name}"),
                field,
            });
            return;
        };
        let topic = match &target {
            SinkTarget::Fixed(t) => Some(t.clone()),
            SinkTarget::Dynamic(_) => None,
        };
        g.add(
            name,
            NodeKind::Sink { topic },
            vec![self.node],
            vec![],
            instantiate::sink(target, ks, vs, produced.partitioner),
        );
    }

    /// Writes the stream to `topic`. Keys are partitioned with murmur2 unless `produced`
    /// has a partitioner.
    pub fn to(&self, topic: impl Into<String>, produced: Produced<K, V>) {
        self.sink(SinkTarget::Fixed(TopicName::external(topic)), produced)
    }

    /// Writes each record to the topic `extractor` names for it.
    pub fn to_dynamic(&self, extractor: impl TopicNameExtractor<K, V>, produced: Produced<K, V>) {
        self.sink(SinkTarget::Dynamic(Arc::new(extractor)), produced)
    }

    /// Writes the stream through a repartition topic and reads it back, partitioned by the
    /// current key (`<application.id>-<name>-repartition`).
    pub fn repartition(&self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let ks = repartitioned.key_serde.or_else(|| self.key_serde.clone());
        let vs = repartitioned
            .value_serde
            .or_else(|| self.value_serde.clone());
        let name = repartitioned.name;
        let node = repartition::insert(
            self,
            name.as_deref(),
            "KSTREAM-REPARTITION-",
            ks.clone(),
            vs.clone(),
            repartitioned.partitions,
            repartitioned.partitioner,
            false,
        );
        self.derive(node, ks, vs, false)
    }

    /// Runs a custom [`Processor`], made once per task by `supplier`, connected to the
    /// named stores (added with [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store)).
    /// Marks the stream for repartitioning, since the processor may change keys.
    pub fn process<K2, V2, P, F>(&self, supplier: F, stores: &[&str]) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let stores = stores.iter().map(|s| s.to_string()).collect();
        let node = self.add_processor("KSTREAM-PROCESSOR-", stores, supplier);
        self.derive(node, None, None, true)
    }

    /// Runs a custom [`Processor`] that keeps every record's key (Kafka's
    /// `processValues`): the stream keeps its key serde and is not marked for
    /// repartitioning. The processor must forward records with the key it received.
    pub fn process_values<V2, P, F>(&self, supplier: F, stores: &[&str]) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        P: Processor<K, V, K, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let stores = stores.iter().map(|s| s.to_string()).collect();
        let node = self.add_processor("KSTREAM-PROCESSVALUES-", stores, supplier);
        self.derive(
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// The stream as a table: each record upserts its key. Records with a null key are
    /// dropped and counted.
    pub fn to_table(&self, materialized: Materialized<K, V>) -> KTable<K, V> {
        let source = self.repartitioned_for_state(materialized.name.as_deref(), "KSTREAM-TOTABLE-");
        let materialized = Materialized {
            key_serde: materialized.key_serde.or_else(|| self.key_serde.clone()),
            value_serde: materialized
                .value_serde
                .or_else(|| self.value_serde.clone()),
            ..materialized
        };
        table_source::add::<K, V, V>(&self.graph, source, "KSTREAM-TOTABLE-", materialized, Some)
    }

    /// The node a stateful operation should hang under: this one, or a repartition source
    /// when the key changed upstream.
    pub(crate) fn repartitioned_for_state(&self, name: Option<&str>, prefix: &str) -> NodeId {
        if self.repartition_required {
            repartition::insert(
                self,
                name,
                prefix,
                self.key_serde.clone(),
                self.value_serde.clone(),
                None,
                None,
                true,
            )
        } else {
            self.node
        }
    }

    /// Groups by the current key, for an aggregation.
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped)
    }

    /// Groups by a new key chosen by `selector`; always repartitions.
    pub fn group_by<K2, F>(&self, selector: F, grouped: Grouped<K2, V>) -> KGroupedStream<K2, V>
    where
        K2: Clone + 'static,
        F: Fn(Option<&K>, &V) -> K2 + Send + Sync + 'static,
    {
        let mut rekeyed = self.select_key(selector);
        rekeyed.repartition_required = true;
        KGroupedStream::new(rekeyed, grouped)
    }

    fn join_node<VT, VR, F>(&self, table: &KTable<K, VT>, prefix: &str, joiner: F) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync + 'static,
    {
        let left = self.repartitioned_for_state(None, prefix);
        let supplier = table.getter.clone();
        let joiner = Arc::new(joiner);
        let stores = supplier.stores.clone();
        let node = {
            let mut g = self.graph.borrow_mut();
            let name = g.next_name(prefix);
            let node = g.add(
                name,
                NodeKind::Processor,
                vec![left],
                stores,
                instantiate::processor(move || stream_table_join::StreamTableJoin {
                    supplier: supplier.clone(),
                    getter: None,
                    joiner: joiner.clone(),
                }),
            );
            g.copartition.push(vec![left, table.node]);
            node
        };
        self.derive(
            node,
            self.key_serde.clone().or(table.key_serde.clone()),
            None,
            false,
        )
    }

    /// Inner join with a table: each stream record with a matching row emits
    /// `joiner(value, row)`. Table updates do not emit. Records with a null key are dropped.
    ///
    /// Kafka Streams also ignores stream records whose value is null. A kstreams stream has
    /// a null value only when its type says so (`Option<V>` through
    /// [`Nullable`](crate::serde::Nullable)); `flat_map_values(|v| v)` drops those first.
    pub fn join<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VT) -> VR + Send + Sync + 'static,
    {
        self.join_node(table, "KSTREAM-JOIN-", move |v, t| t.map(|t| joiner(v, t)))
    }

    /// Left join with a table: every stream record with a key emits
    /// `joiner(value, row or None)`.
    pub fn left_join<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    {
        self.join_node(table, "KSTREAM-LEFTJOIN-", move |v, t| Some(joiner(v, t)))
    }
}
