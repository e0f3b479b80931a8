//! `StreamsBuilder`: where topologies start.

use super::{Consumed, Materialized};
use super::{KStream, KTable};
use crate::error::TopologyError;
use crate::serde::Nullable;
use crate::state::StoreBuilder;
use crate::topology::graph::{Graph, NodeKind, TopicName};
use crate::topology::{instantiate, Topology};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Builds a [`Topology`] with the DSL.
///
/// The talk's first example: keep the values that contain an "a", upper-case them.
///
/// ```
/// use kstreams::{Consumed, Produced, StreamsBuilder};
/// use kstreams::serde::StringSerde;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("text-input", Consumed::with(StringSerde, StringSerde))
///     .filter(|_key, value| value.contains('a'))
///     .map_values(|value| value.to_uppercase())
///     .to("text-output", Produced::with(StringSerde, StringSerde));
/// let topology = builder.build().unwrap();
/// assert_eq!(topology.subtopology_count(), 1);
/// ```
pub struct StreamsBuilder {
    pub(crate) graph: Rc<RefCell<Graph>>,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        StreamsBuilder {
            graph: Rc::new(RefCell::new(Graph::default())),
        }
    }

    /// A record stream from `topic`.
    pub fn stream<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        self.stream_from(vec![topic.into()], consumed)
    }

    /// One record stream from several topics (same types).
    pub fn stream_from<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topics: Vec<String>,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let node = {
            let mut g = self.graph.borrow_mut();
            let name = consumed
                .name
                .clone()
                .unwrap_or_else(|| g.next_name("KSTREAM-SOURCE-"));
            g.add(
                name,
                NodeKind::Source {
                    topics: topics.into_iter().map(TopicName::external).collect(),
                },
                vec![],
                vec![],
                instantiate::source(
                    consumed.key_serde.clone(),
                    consumed.value_serde.clone(),
                    consumed.handler,
                    instantiate::SourceTime {
                        extractor: consumed.extractor.clone(),
                        on_invalid: consumed.on_invalid,
                    },
                ),
            )
        };
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde: Some(consumed.key_serde),
            value_serde: Some(consumed.value_serde),
            repartition_required: false,
        }
    }

    /// A changelog stream from `topic`, read as a table: a record updates its key, and a
    /// null value (tombstone) deletes it. Records with a null key are dropped and counted.
    /// The table is always materialized, under `materialized`'s name or
    /// `<topic>-STATE-STORE-<n>`.
    pub fn table<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let topic = topic.into();
        let (source, store) = {
            let mut g = self.graph.borrow_mut();
            let name = consumed
                .name
                .clone()
                .unwrap_or_else(|| g.next_name("KSTREAM-SOURCE-"));
            let store = materialized
                .name
                .clone()
                .unwrap_or_else(|| g.next_name(&format!("{topic}-STATE-STORE-")));
            // Tombstones must reach the table as tombstones, whatever the value serde
            // thinks of null, so the source reads values as nullable.
            let source = g.add(
                name,
                NodeKind::Source {
                    topics: vec![TopicName::external(topic.clone())],
                },
                vec![],
                vec![],
                instantiate::source::<K, Option<V>>(
                    consumed.key_serde.clone(),
                    Arc::new(Nullable(consumed.value_serde.clone())),
                    consumed.handler,
                    instantiate::SourceTime {
                        extractor: consumed.extractor.clone().map(|x| {
                            // Tombstones carry no value to read a time from: they keep the
                            // record's own timestamp.
                            Arc::new(
                                move |k: Option<&K>, v: &Option<V>, ts: i64, pt: i64| match v {
                                    Some(v) => x.extract(k, v, ts, pt),
                                    None => ts,
                                },
                            )
                                as Arc<dyn crate::processor::TimestampExtractor<K, Option<V>>>
                        }),
                        on_invalid: consumed.on_invalid,
                    },
                ),
            );
            (source, store)
        };
        let materialized = Materialized {
            name: Some(store),
            key_serde: materialized.key_serde.or(Some(consumed.key_serde)),
            value_serde: materialized.value_serde.or(Some(consumed.value_serde)),
            ..materialized
        };
        super::ops::table_source::add::<K, Option<V>, V>(
            &self.graph,
            source,
            "KTABLE-SOURCE-",
            materialized,
            |v| v,
        )
    }

    /// Adds a store for processors of the Processor API; connect it by naming it in
    /// [`KStream::process`].
    pub fn add_state_store<K: 'static, V: 'static>(&self, store: StoreBuilder<K, V>) -> &Self {
        let mut g = self.graph.borrow_mut();
        if g.has_store(store.name()) {
            g.error(TopologyError::DuplicateStore(store.name().to_string()));
        } else {
            g.add_store(store.into_def());
        }
        self
    }

    /// Validates the graph and cuts it into subtopologies.
    pub fn build(self) -> Result<Topology, TopologyError> {
        let graph = std::mem::take(&mut *self.graph.borrow_mut());
        Topology::compile(graph)
    }
}
