//! The untyped processing graph: nodes, subtopologies, internal topics, stores.
//!
//! [`StreamsBuilder::build`](crate::StreamsBuilder::build) produces a [`Topology`]. It is
//! immutable, `Send + Sync`, and shared by every task: a task instantiates one subtopology
//! for one partition.

mod compile;
mod describe;
pub(crate) mod global;
pub(crate) mod graph;
pub(crate) mod instantiate;

pub use describe::{
    GlobalStoreDescription, NodeDescription, SubtopologyDescription, TopologyDescription,
};
pub use global::GlobalStores;

use crate::error::Result;
use crate::runtime::collector::RecordCollector;
use crate::runtime::{Task, TaskConfig, TaskId};
use crate::state::StoreDef;
use graph::{GraphNode, NodeId, RepartitionDef, TopicName};
use std::collections::BTreeMap;

/// A group of nodes connected by edges or shared stores. Repartition topics cut a topology
/// into subtopologies; each runs as its own tasks, one per partition.
#[derive(Debug, Clone)]
pub(crate) struct Subtopology {
    pub(crate) id: u32,
    pub(crate) nodes: Vec<NodeId>,
    /// Source topics and the source node reading each.
    pub(crate) sources: Vec<(TopicName, NodeId)>,
    /// Indexes into `Topology::stores`.
    pub(crate) stores: Vec<usize>,
}

/// An internal topic the application needs created before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// Full name, with the application-id prefix.
    pub name: String,
    /// Partition count; for repartition topics without a fixed count, derived from the
    /// upstream source topics.
    pub partitions: u32,
    /// `true` for changelogs (compacted), `false` for repartition topics.
    pub compacted: bool,
    /// `retention.ms`, with `cleanup.policy=compact,delete`, for a compacted topic whose
    /// records should also go by time. Changelogs have none: even those of window stores
    /// are compacted only, since their stores log a tombstone for every expired window
    /// (Kafka Streams deletes them by event time instead, which empties the changelog of
    /// an application on old history).
    pub retention_ms: Option<i64>,
}

/// A store of a subtopology, as a runtime needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// Store name.
    pub name: String,
    /// Whether its engine keeps data on disk.
    pub persistent: bool,
    /// Whether it writes a changelog.
    pub logged: bool,
}

/// A compiled topology.
pub struct Topology {
    pub(crate) nodes: Vec<GraphNode>,
    pub(crate) children: Vec<Vec<NodeId>>,
    pub(crate) stores: Vec<StoreDef>,
    pub(crate) subtopologies: Vec<Subtopology>,
    pub(crate) repartitions: Vec<RepartitionDef>,
    /// Groups of topics whose partition counts must match.
    pub(crate) copartition: Vec<Vec<TopicName>>,
    /// Global tables: read in full on every instance, outside any task.
    pub(crate) globals: Vec<global::GlobalDef>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl Topology {
    /// The topology in the shape of Kafka Streams' `TopologyDescription`.
    pub fn describe(&self) -> TopologyDescription {
        describe::describe(self)
    }

    /// The stores of a subtopology.
    #[doc(hidden)]
    pub fn stores_of(&self, subtopology: u32) -> Vec<StoreInfo> {
        self.subtopologies
            .get(subtopology as usize)
            .map(|s| {
                s.stores
                    .iter()
                    .map(|&i| StoreInfo {
                        name: self.stores[i].name.clone(),
                        persistent: self.stores[i].supplier.persistent(),
                        logged: self.stores[i].logging,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Store `name`'s subtopology (`None` for a global store) and its serdes, type-erased.
    pub(crate) fn store_serdes(
        &self,
        name: &str,
    ) -> Option<(Option<u32>, std::sync::Arc<dyn std::any::Any + Send + Sync>)> {
        for sub in &self.subtopologies {
            if let Some(&i) = sub.stores.iter().find(|&&i| self.stores[i].name == name) {
                return Some((Some(sub.id), self.stores[i].serdes.clone()));
            }
        }
        self.globals
            .iter()
            .find(|g| g.store.name == name)
            .map(|g| (None, g.store.serdes.clone()))
    }

    /// Whether any store uses a persistent engine (and so needs a state directory).
    pub fn has_persistent_stores(&self) -> bool {
        self.stores
            .iter()
            .chain(self.globals.iter().map(|g| &g.store))
            .any(|s| s.supplier.persistent())
    }

    /// Number of subtopologies.
    pub fn subtopology_count(&self) -> u32 {
        self.subtopologies.len() as u32
    }

    /// The topics a subtopology reads, resolved for `application_id`.
    pub fn source_topics(&self, subtopology: u32, application_id: &str) -> Vec<String> {
        self.subtopologies
            .get(subtopology as usize)
            .map(|s| {
                s.sources
                    .iter()
                    .map(|(t, _)| t.resolve(application_id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The user (non-internal) topics the topology reads.
    pub fn external_source_topics(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .subtopologies
            .iter()
            .flat_map(|s| s.sources.iter())
            .filter(|(t, _)| !t.internal)
            .map(|(t, _)| t.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Groups of resolved topic names that must have the same partition count
    /// (co-partitioning for joins).
    pub fn copartition_groups(&self, application_id: &str) -> Vec<Vec<String>> {
        self.copartition
            .iter()
            .map(|g| g.iter().map(|t| t.resolve(application_id)).collect())
            .collect()
    }

    /// Partition count of every subtopology: the maximum over its source topics, where
    /// `partitions_of` knows the external topics and internal ones follow from upstream.
    #[doc(hidden)]
    pub fn partition_counts(
        &self,
        application_id: &str,
        partitions_of: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<Vec<u32>> {
        compile::partition_counts(self, application_id, partitions_of)
    }

    /// Repartition and changelog topics to create, with their partition counts.
    pub fn internal_topics(
        &self,
        application_id: &str,
        partitions_of: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<Vec<InternalTopic>> {
        let counts = self.partition_counts(application_id, partitions_of)?;
        let mut out = BTreeMap::new();
        for (sub, n) in self.subtopologies.iter().zip(&counts) {
            for (topic, _) in sub.sources.iter().filter(|(t, _)| t.internal) {
                out.insert(
                    topic.resolve(application_id),
                    InternalTopic {
                        name: topic.resolve(application_id),
                        partitions: *n,
                        compacted: false,
                        retention_ms: None,
                    },
                );
            }
            for &s in &sub.stores {
                let def = &self.stores[s];
                if def.logging {
                    let name = changelog_topic(application_id, &def.name);
                    out.insert(
                        name.clone(),
                        InternalTopic {
                            name,
                            partitions: *n,
                            compacted: true,
                            retention_ms: None,
                        },
                    );
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// The topics of global tables.
    pub fn global_topics(&self) -> Vec<String> {
        self.globals.iter().map(|g| g.topic.clone()).collect()
    }

    /// Opens this topology's global stores (empty when it has none), to be filled from the
    /// global topics before tasks are created and shared by all of them.
    #[doc(hidden)]
    pub fn open_global_stores(
        &self,
        init: &crate::state::StoreInit<'_>,
        handler: crate::processor::SharedDeserializationHandler,
    ) -> Result<GlobalStores> {
        GlobalStores::open(&self.globals, init, handler)
    }

    /// Creates the task for one partition of one subtopology, its processors initialized:
    /// ready to process. The same task code runs under the test driver and the Kafka
    /// runtime, which restores a task's stores before it initializes the processors.
    #[doc(hidden)]
    pub fn create_task(
        &self,
        id: TaskId,
        config: &TaskConfig,
        collector: Box<dyn RecordCollector>,
    ) -> Result<Task> {
        let mut task = Task::new(self, id, config, collector)?;
        task.initialize()?;
        Ok(task)
    }
}

/// `<application.id>-<store>-changelog`, as in Kafka Streams.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}
