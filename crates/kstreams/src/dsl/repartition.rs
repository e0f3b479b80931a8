//! Inserting a repartition topic: sink, internal topic, source.

use super::KStream;
use crate::error::{Field, Result, TopologyError};
use crate::processor::{Processor, ProcessorContext, Record, StreamPartitioner};
use crate::serde::SharedSerde;
use crate::topology::graph::{Graph, NodeId, NodeKind, RepartitionDef, TopicName};
use crate::topology::instantiate::{self, SinkTarget};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Drops null keys before a grouping's repartition topic: they could not be aggregated.
struct DropNullKeys;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for DropNullKeys {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        if r.key.is_some() {
            ctx.forward(r)
        } else {
            ctx.record_dropped("null key before a repartition for aggregation");
            Ok(())
        }
    }
}

/// Adds `parent -> [filter] -> sink -> <base>-repartition -> source` and returns the
/// source. `base` is the user's name or a generated one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_at<K: Clone + 'static, V: Clone + 'static>(
    graph: &Rc<RefCell<Graph>>,
    parent: NodeId,
    name: Option<&str>,
    prefix: &str,
    key_serde: Option<SharedSerde<K>>,
    value_serde: Option<SharedSerde<V>>,
    partitions: Option<u32>,
    partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
    drop_null_keys: bool,
) -> NodeId {
    let mut g = graph.borrow_mut();
    let base = name.map_or_else(|| g.next_name(prefix), str::to_string);
    let (Some(ks), Some(vs)) = (key_serde, value_serde) else {
        g.error(TopologyError::MissingSerde {
            operation: format!("repartition {base}"),
            field: Field::Key,
        });
        return parent;
    };
    let topic = TopicName::internal(format!("{base}-repartition"));
    let mut upstream = parent;
    if drop_null_keys {
        let filter = g.next_name("KSTREAM-FILTER-");
        upstream = g.add(
            filter,
            NodeKind::Processor,
            vec![upstream],
            vec![],
            instantiate::processor::<K, V, K, V, _, _>(|| DropNullKeys),
        );
    }
    let id = through(
        &mut g,
        "KSTREAM-",
        topic.clone(),
        vec![upstream],
        (ks, vs),
        partitioner,
    );
    g.repartitions.push(RepartitionDef {
        topic,
        partitions,
        like: None,
    });
    id
}

/// Adds `parents -> sink -> topic -> source` for an internal topic and returns the source.
/// `prefix` starts the generated node names (`KSTREAM-`, `KTABLE-`).
pub(crate) fn through<K: Clone + 'static, V: Clone + 'static>(
    g: &mut Graph,
    prefix: &str,
    topic: TopicName,
    parents: Vec<NodeId>,
    (ks, vs): (SharedSerde<K>, SharedSerde<V>),
    partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
) -> NodeId {
    let sink = g.next_name(&format!("{prefix}SINK-"));
    g.add(
        sink,
        NodeKind::Sink {
            topic: Some(topic.clone()),
        },
        parents,
        vec![],
        instantiate::sink(
            SinkTarget::Fixed(topic.clone()),
            ks.clone(),
            vs.clone(),
            partitioner,
        ),
    );
    let source = g.next_name(&format!("{prefix}SOURCE-"));
    g.add(
        source,
        NodeKind::Source {
            topics: vec![topic],
        },
        vec![],
        vec![],
        instantiate::source(ks, vs, None, instantiate::SourceTime::default()),
    )
}

/// [`insert_at`] under a stream.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert<K: Clone + 'static, V: Clone + 'static>(
    stream: &KStream<K, V>,
    name: Option<&str>,
    prefix: &str,
    key_serde: Option<SharedSerde<K>>,
    value_serde: Option<SharedSerde<V>>,
    partitions: Option<u32>,
    partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
    drop_null_keys: bool,
) -> NodeId {
    insert_at(
        &stream.graph,
        stream.node,
        name,
        prefix,
        key_serde,
        value_serde,
        partitions,
        partitioner,
        drop_null_keys,
    )
}
