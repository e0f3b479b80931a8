//! The untyped graph the DSL writes into.
//!
//! Each node keeps a typed factory behind `Instantiate`; the graph itself only knows names,
//! edges, topics and stores. That is all `describe()`, subtopology grouping and internal
//! topic naming need.

use super::instantiate::{Instance, Instantiator};
use crate::error::{Result, TopologyError};
use crate::state::StoreDef;
use std::sync::Arc;

pub(crate) type NodeId = usize;

/// Builds one node of one task. Captures the node's typed closures and serdes.
pub(crate) type Instantiate =
    Arc<dyn Fn(&mut Instantiator<'_>, NodeId) -> Result<Instance> + Send + Sync>;

/// A topic as the topology names it. Internal topics (repartition, changelog) get the
/// `<application.id>-` prefix when resolved, as in Kafka Streams.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TopicName {
    pub(crate) name: String,
    pub(crate) internal: bool,
}

impl TopicName {
    pub(crate) fn external(name: impl Into<String>) -> Self {
        TopicName {
            name: name.into(),
            internal: false,
        }
    }
    pub(crate) fn internal(name: impl Into<String>) -> Self {
        TopicName {
            name: name.into(),
            internal: true,
        }
    }
    pub(crate) fn resolve(&self, application_id: &str) -> String {
        if self.internal {
            format!("{application_id}-{}", self.name)
        } else {
            self.name.clone()
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Source {
        topics: Vec<TopicName>,
    },
    Processor,
    /// `None`: the topic is chosen per record by an extractor.
    Sink {
        topic: Option<TopicName>,
    },
}

#[derive(Clone)]
pub(crate) struct GraphNode {
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<NodeId>,
    pub(crate) stores: Vec<String>,
    pub(crate) instantiate: Instantiate,
}

/// A repartition topic the topology writes and reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepartitionDef {
    pub(crate) topic: TopicName,
    /// Fixed by `Repartitioned::with_partitions`; otherwise derived from upstream sources.
    pub(crate) partitions: Option<u32>,
    /// As many partitions as this topic (the foreign-key join's topics follow the table
    /// whose task reads them).
    pub(crate) like: Option<TopicName>,
}

#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<GraphNode>,
    pub(crate) stores: Vec<StoreDef>,
    pub(crate) repartitions: Vec<RepartitionDef>,
    /// Groups of source nodes whose topics must have equal partition counts (joins).
    pub(crate) copartition: Vec<Vec<NodeId>>,
    /// Problems found while the DSL was called; `build()` reports the first.
    pub(crate) errors: Vec<TopologyError>,
    /// Global tables.
    pub(crate) globals: Vec<super::global::GlobalDef>,
    /// Grace period of the windowed aggregations, by node, for `suppress` downstream.
    pub(crate) window_grace: std::collections::HashMap<NodeId, i64>,
    counter: usize,
}

impl Graph {
    /// Kafka Streams' generated names: `PREFIX` plus a ten-digit counter shared by nodes
    /// and stores.
    pub(crate) fn next_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}{:010}", self.counter);
        self.counter += 1;
        name
    }

    pub(crate) fn add(
        &mut self,
        name: String,
        kind: NodeKind,
        parents: Vec<NodeId>,
        stores: Vec<String>,
        instantiate: Instantiate,
    ) -> NodeId {
        self.nodes.push(GraphNode {
            name,
            kind,
            parents,
            stores,
            instantiate,
        });
        self.nodes.len() - 1
    }

    pub(crate) fn add_store(&mut self, def: StoreDef) {
        self.stores.push(def);
    }

    pub(crate) fn has_store(&self, name: &str) -> bool {
        self.stores.iter().any(|s| s.name == name)
    }

    /// The first source topic at or above `node`.
    pub(crate) fn source_topic_above(&self, node: NodeId) -> Option<TopicName> {
        let mut todo = vec![node];
        while let Some(n) = todo.pop() {
            let x = self.nodes.get(n)?;
            if let NodeKind::Source { topics } = &x.kind {
                return topics.first().cloned();
            }
            todo.extend(x.parents.iter().copied());
        }
        None
    }

    /// The grace period of the nearest windowed aggregation at or above `node`.
    pub(crate) fn grace_above(&self, node: NodeId) -> Option<i64> {
        let mut todo = vec![node];
        while let Some(n) = todo.pop() {
            if let Some(g) = self.window_grace.get(&n) {
                return Some(*g);
            }
            todo.extend(
                self.nodes
                    .get(n)
                    .map(|x| x.parents.clone())
                    .unwrap_or_default(),
            );
        }
        None
    }

    pub(crate) fn error(&mut self, e: TopologyError) {
        self.errors.push(e);
    }
}
