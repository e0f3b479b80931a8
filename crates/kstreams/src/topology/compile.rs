//! From the DSL's graph to a validated topology with subtopologies.

use super::graph::{Graph, NodeKind, TopicName};
use super::{Subtopology, Topology};
use crate::error::{Result, StreamsError, TopologyError};
use std::collections::{BTreeMap, HashMap, HashSet};

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // The smaller id becomes the root so that subtopology order follows definition order.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi] = lo;
    }
}

impl Topology {
    pub(crate) fn compile(graph: Graph) -> Result<Topology, TopologyError> {
        if let Some(e) = graph.errors.into_iter().next() {
            return Err(e);
        }
        let n = graph.nodes.len();
        if !graph
            .nodes
            .iter()
            .any(|node| matches!(node.kind, NodeKind::Source { .. }))
        {
            return Err(TopologyError::Empty);
        }
        let mut names = HashSet::new();
        for node in &graph.nodes {
            if !names.insert(node.name.as_str()) {
                return Err(TopologyError::DuplicateName(node.name.clone()));
            }
        }
        let mut store_names = HashSet::new();
        for s in &graph.stores {
            if !store_names.insert(s.name.as_str()) {
                return Err(TopologyError::DuplicateStore(s.name.clone()));
            }
        }
        let mut topics = HashSet::new();
        for node in &graph.nodes {
            if let NodeKind::Source { topics: ts } = &node.kind {
                for t in ts {
                    if !topics.insert(t.clone()) {
                        return Err(TopologyError::DuplicateSourceTopic(t.name.clone()));
                    }
                }
            }
            for s in &node.stores {
                if !store_names.contains(s.as_str()) {
                    return Err(TopologyError::UnknownStore {
                        processor: node.name.clone(),
                        store: s.clone(),
                    });
                }
            }
        }

        let mut children = vec![Vec::new(); n];
        let mut parent: Vec<usize> = (0..n).collect();
        for (id, node) in graph.nodes.iter().enumerate() {
            for &p in &node.parents {
                children[p].push(id);
                union(&mut parent, p, id);
            }
        }
        // Nodes that share a store must run in the same task.
        let mut store_owner: HashMap<&str, usize> = HashMap::new();
        for (id, node) in graph.nodes.iter().enumerate() {
            for s in &node.stores {
                match store_owner.get(s.as_str()) {
                    Some(&other) => union(&mut parent, other, id),
                    None => {
                        store_owner.insert(s, id);
                    }
                }
            }
        }

        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for id in 0..n {
            let root = find(&mut parent, id);
            groups.entry(root).or_default().push(id);
        }
        let mut subtopologies = Vec::new();
        for (i, (_, nodes)) in groups.into_iter().enumerate() {
            let mut sources = Vec::new();
            let mut stores = Vec::new();
            for &id in &nodes {
                if let NodeKind::Source { topics } = &graph.nodes[id].kind {
                    sources.extend(topics.iter().map(|t| (t.clone(), id)));
                }
                for s in &graph.nodes[id].stores {
                    if let Some(idx) = graph.stores.iter().position(|d| &d.name == s) {
                        if !stores.contains(&idx) {
                            stores.push(idx);
                        }
                    }
                }
            }
            if sources.is_empty() {
                return Err(TopologyError::Invalid(format!(
                    "processor {} is not reachable from any source",
                    graph.nodes[nodes[0]].name
                )));
            }
            subtopologies.push(Subtopology {
                id: i as u32,
                nodes,
                sources,
                stores,
            });
        }

        // Each group names nodes (join inputs); their co-partitioned topics are the topics
        // of the source nodes upstream of them.
        let copartition = graph
            .copartition
            .iter()
            .map(|group| {
                let mut ts = Vec::new();
                let mut stack: Vec<usize> = group.clone();
                let mut seen = HashSet::new();
                while let Some(id) = stack.pop() {
                    if !seen.insert(id) {
                        continue;
                    }
                    match &graph.nodes[id].kind {
                        NodeKind::Source { topics } => ts.extend(topics.iter().cloned()),
                        _ => stack.extend(graph.nodes[id].parents.iter().copied()),
                    }
                }
                ts.sort();
                ts.dedup();
                ts
            })
            .collect();

        Ok(Topology {
            nodes: graph.nodes,
            children,
            stores: graph.stores,
            subtopologies,
            repartitions: graph.repartitions,
            copartition,
            globals: graph.globals,
        })
    }
}

/// Partition counts per subtopology. External topics come from `partitions_of`; a
/// repartition topic without a fixed count takes the count of the subtopology that writes
/// it, as Kafka Streams does.
pub(crate) fn partition_counts(
    topo: &Topology,
    application_id: &str,
    partitions_of: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<u32>> {
    let mut memo: HashMap<u32, u32> = HashMap::new();
    let mut visiting = HashSet::new();
    (0..topo.subtopologies.len() as u32)
        .map(|s| {
            sub_count(
                topo,
                s,
                application_id,
                partitions_of,
                &mut memo,
                &mut visiting,
            )
        })
        .collect()
}

fn sub_count(
    topo: &Topology,
    sub: u32,
    app: &str,
    partitions_of: &dyn Fn(&str) -> Option<u32>,
    memo: &mut HashMap<u32, u32>,
    visiting: &mut HashSet<u32>,
) -> Result<u32> {
    if let Some(&n) = memo.get(&sub) {
        return Ok(n);
    }
    if !visiting.insert(sub) {
        return Err(invalid(format!(
            "subtopology {sub} feeds itself through a repartition topic"
        )));
    }
    let mut max = 0;
    for (topic, _) in &topo.subtopologies[sub as usize].sources {
        let n = topic_count(topo, topic, app, partitions_of, memo, visiting)?;
        max = max.max(n);
    }
    visiting.remove(&sub);
    memo.insert(sub, max);
    Ok(max)
}

fn topic_count(
    topo: &Topology,
    topic: &TopicName,
    app: &str,
    partitions_of: &dyn Fn(&str) -> Option<u32>,
    memo: &mut HashMap<u32, u32>,
    visiting: &mut HashSet<u32>,
) -> Result<u32> {
    if !topic.internal {
        return partitions_of(&topic.name)
            .ok_or_else(|| invalid(format!("source topic {:?} does not exist", topic.name)));
    }
    let def = topo.repartitions.iter().find(|r| &r.topic == topic);
    if let Some(n) = def.and_then(|r| r.partitions) {
        return Ok(n);
    }
    if let Some(like) = def.and_then(|r| r.like.as_ref()) {
        return topic_count(topo, like, app, partitions_of, memo, visiting);
    }
    // The writers of this topic: sinks naming it, in whichever subtopology.
    let mut max = 0;
    for sub in &topo.subtopologies {
        let writes = sub.nodes.iter().any(
            |&id| matches!(&topo.nodes[id].kind, NodeKind::Sink { topic: Some(t) } if t == topic),
        );
        if writes {
            max = max.max(sub_count(topo, sub.id, app, partitions_of, memo, visiting)?);
        }
    }
    if max == 0 {
        return Err(invalid(format!(
            "no partition count for internal topic {}",
            topic.resolve(app)
        )));
    }
    Ok(max)
}

fn invalid(msg: String) -> StreamsError {
    StreamsError::Topology(TopologyError::Invalid(msg))
}
