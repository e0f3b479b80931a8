//! `KStream::split`: route each record to the first branch whose predicate holds.

use super::ops::branch::{Branch, Predicate};
use super::ops::passthrough::PassThrough;
use super::KStream;
use crate::topology::graph::NodeKind;
use crate::topology::instantiate;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Branches under construction, as Kafka's `BranchedKStream`.
///
/// Branch names are the split's prefix plus the branch's name, or its position (from 1)
/// when unnamed; the default branch is `"0"` unless named.
///
/// ```
/// use kstreams::{Consumed, StreamsBuilder};
/// use kstreams::serde::{I64Serde, StringSerde};
///
/// let builder = StreamsBuilder::new();
/// let branches = builder
///     .stream("numbers", Consumed::with(StringSerde, I64Serde))
///     .split_named("n-")
///     .branch_as("negative", |_, v| *v < 0)
///     .branch(|_, v| *v == 0)
///     .default_branch_as("positive");
/// let names: Vec<_> = branches.keys().cloned().collect();
/// assert_eq!(names, ["n-2", "n-negative", "n-positive"]);
/// ```
#[must_use]
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    prefix: String,
    branches: Vec<(String, Predicate<K, V>)>,
}

impl<K: Clone + 'static, V: Clone + 'static> BranchedKStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, prefix: Option<String>) -> Self {
        BranchedKStream {
            stream,
            prefix: prefix.unwrap_or_default(),
            branches: Vec::new(),
        }
    }

    /// Adds a branch named by its position.
    pub fn branch<F>(self, predicate: F) -> Self
    where
        F: Fn(Option<&K>, &V) -> bool + Send + Sync + 'static,
    {
        let name = (self.branches.len() + 1).to_string();
        self.branch_as(name, predicate)
    }

    /// Adds a named branch.
    pub fn branch_as<F>(mut self, name: impl Into<String>, predicate: F) -> Self
    where
        F: Fn(Option<&K>, &V) -> bool + Send + Sync + 'static,
    {
        self.branches.push((name.into(), Arc::new(predicate)));
        self
    }

    /// Finishes with a default branch, `"0"`, for records no predicate takes.
    pub fn default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish(Some("0".to_string()))
    }

    /// Finishes with a named default branch.
    pub fn default_branch_as(self, name: impl Into<String>) -> BTreeMap<String, KStream<K, V>> {
        self.finish(Some(name.into()))
    }

    /// Finishes without a default branch: records no predicate takes are dropped.
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish(None)
    }

    fn finish(self, default: Option<String>) -> BTreeMap<String, KStream<K, V>> {
        let predicates: Arc<Vec<Predicate<K, V>>> =
            Arc::new(self.branches.iter().map(|(_, p)| p.clone()).collect());
        let has_default = default.is_some();
        let split = {
            let p = predicates.clone();
            self.stream
                .add_processor("KSTREAM-BRANCH-", vec![], move || Branch {
                    predicates: p.clone(),
                    default: has_default,
                })
        };
        let names = self.branches.into_iter().map(|(n, _)| n).chain(default);
        let mut out = BTreeMap::new();
        for name in names {
            // Children are wired in creation order, which is branch order: the split node
            // forwards to branch i by index.
            let child = {
                let mut g = self.stream.graph.borrow_mut();
                let node_name = g.next_name("KSTREAM-BRANCHCHILD-");
                g.add(
                    node_name,
                    NodeKind::Processor,
                    vec![split],
                    vec![],
                    instantiate::processor::<K, V, K, V, _, _>(|| PassThrough),
                )
            };
            out.insert(
                format!("{}{name}", self.prefix),
                self.stream.derive(
                    child,
                    self.stream.key_serde.clone(),
                    self.stream.value_serde.clone(),
                    self.stream.repartition_required,
                ),
            );
        }
        out
    }
}
