//! `describe()`: the topology as text, in the shape of Kafka Streams' `TopologyDescription`.

use super::graph::NodeKind;
use super::Topology;
use std::fmt;

/// One node as described.
/// Serialized (for `/topology`) with a `type` field: `source`, `processor` or `sink`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum NodeDescription {
    /// A source node and its topics.
    Source {
        /// Node name.
        name: String,
        /// Topics (internal ones without the application-id prefix, as Kafka prints them).
        topics: Vec<String>,
        /// Successor names.
        successors: Vec<String>,
    },
    /// A processor and its stores.
    Processor {
        /// Node name.
        name: String,
        /// Connected stores.
        stores: Vec<String>,
        /// Successor names.
        successors: Vec<String>,
        /// Predecessor names.
        predecessors: Vec<String>,
    },
    /// A sink and its topic.
    Sink {
        /// Node name.
        name: String,
        /// Topic, or `None` when chosen per record.
        topic: Option<String>,
        /// Predecessor names.
        predecessors: Vec<String>,
    },
}

/// One subtopology as described.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubtopologyDescription {
    /// Subtopology id.
    pub id: u32,
    /// Its nodes: sources first, then the rest in definition order.
    pub nodes: Vec<NodeDescription>,
}

/// A global store: its topic, read by every instance outside any task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GlobalStoreDescription {
    /// Numbered after the subtopologies, as Kafka Streams numbers them.
    pub id: u32,
    /// The source node and the processor that writes the store.
    pub source: String,
    /// The processor node.
    pub processor: String,
    /// The global topic.
    pub topic: String,
    /// The store.
    pub store: String,
}

/// The whole topology. `Display` prints it as Kafka Streams does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TopologyDescription {
    /// Subtopologies in id order.
    pub subtopologies: Vec<SubtopologyDescription>,
    /// Global stores.
    pub global_stores: Vec<GlobalStoreDescription>,
}

pub(super) fn describe(t: &Topology) -> TopologyDescription {
    let names =
        |ids: &[usize]| -> Vec<String> { ids.iter().map(|&i| t.nodes[i].name.clone()).collect() };
    let subtopologies = t
        .subtopologies
        .iter()
        .map(|sub| {
            let mut order: Vec<usize> = sub.nodes.clone();
            order.sort_by_key(|&id| (!matches!(t.nodes[id].kind, NodeKind::Source { .. }), id));
            let nodes = order
                .into_iter()
                .map(|id| {
                    let node = &t.nodes[id];
                    match &node.kind {
                        NodeKind::Source { topics } => NodeDescription::Source {
                            name: node.name.clone(),
                            topics: topics.iter().map(|t| t.name.clone()).collect(),
                            successors: names(&t.children[id]),
                        },
                        NodeKind::Processor => NodeDescription::Processor {
                            name: node.name.clone(),
                            stores: node.stores.clone(),
                            successors: names(&t.children[id]),
                            predecessors: names(&node.parents),
                        },
                        NodeKind::Sink { topic } => NodeDescription::Sink {
                            name: node.name.clone(),
                            topic: topic.as_ref().map(|t| t.name.clone()),
                            predecessors: names(&node.parents),
                        },
                    }
                })
                .collect();
            SubtopologyDescription { id: sub.id, nodes }
        })
        .collect();
    let global_stores = t
        .globals
        .iter()
        .enumerate()
        .map(|(i, g)| GlobalStoreDescription {
            id: (t.subtopologies.len() + i) as u32,
            source: g.names.0.clone(),
            processor: g.names.1.clone(),
            topic: g.topic.clone(),
            store: g.store.name.clone(),
        })
        .collect();
    TopologyDescription {
        subtopologies,
        global_stores,
    }
}

fn arrows(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Topologies:")?;
        for sub in &self.subtopologies {
            writeln!(f, "   Sub-topology: {}", sub.id)?;
            for node in &sub.nodes {
                match node {
                    NodeDescription::Source {
                        name,
                        topics,
                        successors,
                    } => {
                        writeln!(f, "    Source: {name} (topics: [{}])", topics.join(", "))?;
                        writeln!(f, "      --> {}", arrows(successors))?;
                    }
                    NodeDescription::Processor {
                        name,
                        stores,
                        successors,
                        predecessors,
                    } => {
                        writeln!(f, "    Processor: {name} (stores: [{}])", stores.join(", "))?;
                        writeln!(f, "      --> {}", arrows(successors))?;
                        writeln!(f, "      <-- {}", arrows(predecessors))?;
                    }
                    NodeDescription::Sink {
                        name,
                        topic,
                        predecessors,
                    } => {
                        match topic {
                            Some(t) => writeln!(f, "    Sink: {name} (topic: {t})")?,
                            None => writeln!(f, "    Sink: {name} (extractor)")?,
                        }
                        writeln!(f, "      <-- {}", arrows(predecessors))?;
                    }
                }
            }
            writeln!(f)?;
        }
        for g in &self.global_stores {
            writeln!(
                f,
                "   Sub-topology: {} for global store (will not generate tasks)",
                g.id
            )?;
            writeln!(f, "    Source: {} (topics: [{}])", g.source, g.topic)?;
            writeln!(f, "      --> {}", g.processor)?;
            writeln!(f, "    Processor: {} (stores: [{}])", g.processor, g.store)?;
            writeln!(f, "      --> none")?;
            writeln!(f, "      <-- {}", g.source)?;
            writeln!(f)?;
        }
        Ok(())
    }
}
