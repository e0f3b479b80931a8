//! Turning one subtopology into the live nodes of one task.

use super::graph::{Instantiate, NodeId};
use super::Topology;
use crate::error::{Result, StreamsError, TopologyError};
use crate::processor::node::{Child, Lifecycle, Node, NodeInfo, NodeRef, ProcessorNode};
use crate::processor::source::RawSource;
use crate::processor::{Processor, SharedDeserializationHandler};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// An instantiated node: sources take raw bytes, every other node typed records (its
/// `NodeRef<K, V>` boxed as `Any` only until its parent picks it up at build time).
pub(crate) enum Instance {
    Source(Box<dyn RawSource>),
    Node(Box<dyn Any>),
}

/// Builds nodes children-first, each exactly once, so a node with two parents (merge,
/// joins) is shared by both.
pub(crate) struct Instantiator<'t> {
    pub(crate) topology: &'t Topology,
    pub(crate) application_id: &'t str,
    pub(crate) handler: SharedDeserializationHandler,
    built: HashMap<NodeId, Box<dyn Any>>,
    pub(crate) lifecycles: Vec<Rc<RefCell<dyn Lifecycle>>>,
    /// Every node reached through an edge, with the count its edges share, in build order.
    pub(crate) processed: Vec<(Arc<str>, Rc<Cell<u64>>)>,
    counted: HashMap<NodeId, Rc<Cell<u64>>>,
}

impl<'t> Instantiator<'t> {
    pub(crate) fn new(
        topology: &'t Topology,
        application_id: &'t str,
        handler: SharedDeserializationHandler,
    ) -> Self {
        Instantiator {
            topology,
            application_id,
            handler,
            built: HashMap::new(),
            lifecycles: Vec::new(),
            processed: Vec::new(),
            counted: HashMap::new(),
        }
    }

    pub(crate) fn build(&mut self, id: NodeId) -> Result<Instance> {
        let f: Instantiate = self.topology.nodes[id].instantiate.clone();
        f(self, id)
    }

    fn typed<K: 'static, V: 'static>(&mut self, id: NodeId) -> Result<NodeRef<K, V>> {
        if !self.built.contains_key(&id) {
            match self.build(id)? {
                Instance::Node(any) => {
                    self.built.insert(id, any);
                }
                Instance::Source(_) => {
                    return Err(mismatch(
                        &self.topology.nodes[id].name,
                        "a source cannot be a child",
                    ))
                }
            }
        }
        let any = &self.built[&id];
        any.downcast_ref::<NodeRef<K, V>>().cloned().ok_or_else(|| {
            mismatch(
                &self.topology.nodes[id].name,
                std::any::type_name::<(K, V)>(),
            )
        })
    }

    /// The children of `id`, built, as typed edges.
    pub(crate) fn children<K: 'static, V: 'static>(
        &mut self,
        id: NodeId,
    ) -> Result<Vec<Child<K, V>>> {
        let kids = self.topology.children[id].clone();
        kids.into_iter()
            .map(|c| {
                let name: Arc<str> = self.topology.nodes[c].name.as_str().into();
                let processed = match self.counted.get(&c) {
                    Some(count) => count.clone(),
                    None => {
                        let count = Rc::new(Cell::new(0));
                        self.counted.insert(c, count.clone());
                        self.processed.push((name.clone(), count.clone()));
                        count
                    }
                };
                Ok(Child {
                    name,
                    node: self.typed::<K, V>(c)?,
                    processed,
                })
            })
            .collect()
    }

    /// Registers a node with a lifecycle (init, punctuate, close) and returns its typed edge.
    pub(crate) fn register<K: 'static, V: 'static, N>(
        &mut self,
        id: NodeId,
        make: impl FnOnce(NodeInfo) -> N,
    ) -> NodeRef<K, V>
    where
        N: Node<K, V> + Lifecycle + 'static,
    {
        let spec = &self.topology.nodes[id];
        let info = NodeInfo {
            name: spec.name.as_str().into(),
            index: self.lifecycles.len(),
            stores: spec.stores.clone().into(),
        };
        let node = Rc::new(RefCell::new(make(info)));
        self.lifecycles.push(node.clone());
        node
    }
}

fn mismatch(node: &str, detail: &str) -> StreamsError {
    StreamsError::Topology(TopologyError::Invalid(format!(
        "node {node} cannot be wired: {detail}"
    )))
}

/// The `Instantiate` of a node that runs a [`Processor`] made by `supplier`.
pub(crate) fn processor<KI, VI, KO, VO, P, F>(supplier: F) -> Instantiate
where
    KI: 'static,
    VI: 'static,
    KO: 'static,
    VO: 'static,
    P: Processor<KI, VI, KO, VO>,
    F: Fn() -> P + Send + Sync + 'static,
{
    Arc::new(move |inst: &mut Instantiator<'_>, id| {
        let children = inst.children::<KO, VO>(id)?;
        let node: NodeRef<KI, VI> = inst.register(id, |info| {
            ProcessorNode::<P, KI, VI, KO, VO>::new(info, supplier(), children)
        });
        Ok(Instance::Node(Box::new(node)))
    })
}

/// The `Instantiate` of a source node.
/// How a source reads time: extractor and invalid-timestamp policy.
pub(crate) struct SourceTime<K, V> {
    pub(crate) extractor: Option<Arc<dyn crate::processor::TimestampExtractor<K, V>>>,
    pub(crate) on_invalid: crate::processor::InvalidTimestamp,
}

impl<K, V> Default for SourceTime<K, V> {
    fn default() -> Self {
        SourceTime {
            extractor: None,
            on_invalid: crate::processor::InvalidTimestamp::default(),
        }
    }
}

pub(crate) fn source<K: Clone + 'static, V: Clone + 'static>(
    key_serde: crate::serde::SharedSerde<K>,
    value_serde: crate::serde::SharedSerde<V>,
    handler: Option<SharedDeserializationHandler>,
    time: SourceTime<K, V>,
) -> Instantiate {
    Arc::new(move |inst: &mut Instantiator<'_>, id| {
        let children = inst.children::<K, V>(id)?;
        Ok(Instance::Source(Box::new(
            crate::processor::source::SourceNode {
                key_serde: key_serde.clone(),
                value_serde: value_serde.clone(),
                handler: handler.clone().unwrap_or_else(|| inst.handler.clone()),
                extractor: time.extractor.clone(),
                on_invalid: time.on_invalid,
                partition_time: -1,
                children,
            },
        )))
    })
}

/// Where a sink writes: one topic, or one chosen per record.
pub(crate) enum SinkTarget<K, V> {
    Fixed(super::graph::TopicName),
    Dynamic(Arc<dyn crate::processor::TopicNameExtractor<K, V>>),
}

/// The `Instantiate` of a sink node.
pub(crate) fn sink<K: 'static, V: 'static>(
    target: SinkTarget<K, V>,
    key_serde: crate::serde::SharedSerde<K>,
    value_serde: crate::serde::SharedSerde<V>,
    partitioner: Option<Arc<dyn crate::processor::StreamPartitioner<K, V>>>,
) -> Instantiate {
    use crate::processor::sink::{SinkNode, SinkTopic};
    Arc::new(move |inst: &mut Instantiator<'_>, _id| {
        let topic = match &target {
            SinkTarget::Fixed(t) => SinkTopic::Fixed(t.resolve(inst.application_id).into()),
            SinkTarget::Dynamic(x) => SinkTopic::Dynamic(x.clone()),
        };
        let node: NodeRef<K, V> = Rc::new(RefCell::new(SinkNode {
            topic,
            key_serde: key_serde.clone(),
            value_serde: value_serde.clone(),
            partitioner: partitioner.clone(),
            key_buf: Vec::with_capacity(64),
            value_buf: Vec::with_capacity(256),
        }));
        Ok(Instance::Node(Box::new(node)))
    })
}
