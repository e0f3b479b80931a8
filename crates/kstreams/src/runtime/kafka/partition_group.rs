//! The order in which a task reading several partitions (a join, a merge, a cogroup)
//! processes them: within a partition by offset, across partitions by lowest timestamp,
//! as Kafka Streams' `PartitionGroup` does.
//!
//! Records of such tasks are buffered per partition. The task processes its oldest head
//! record only once every one of its partitions has something buffered or is caught up:
//! an empty partition that still has records on the broker (its cached end offset is past
//! the fetch position) is waited for, as Kafka Streams does with `max.task.idle.ms` = 0, so
//! a table's older updates are applied before the stream records that follow them. With
//! `max.task.idle` above 0 a task also waits that long for an empty partition that is
//! caught up (for data still being produced). Tasks reading one partition are not buffered
//! at all. The order uses the records' own timestamps, before any custom timestamp
//! extractor.

use rdkafka::message::Message;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// A partition of a multi-partition task: (topic index, partition).
type Part = (usize, i32);

/// A partition by name: (topic, partition).
pub(crate) type NamedPart = (String, i32);

/// How long a task waits for a partition that lags by a single offset before it goes on
/// without it: that offset may be a transaction's commit marker, which moves the end offset
/// past the last record and is never delivered. A partition further behind has records
/// still to come and is waited for as long as it takes, as in Kafka Streams (KIP-695):
/// going on without it would, for a stream-table join, join against a table that is
/// missing rows (seen on Tansu, where a table partition's fetches stalled for a minute).
const MAX_LAG_WAIT: Duration = Duration::from_secs(60);

/// Buffers of records `M`, as fetched from the consumer.
pub(crate) struct PartitionGroups<M> {
    /// Topic name -> index, for topics of subtopologies with several source topics.
    topics: crate::runtime::kafka::FastMap<String, usize>,
    /// Topic index -> name.
    names: Vec<String>,
    /// Topic index -> the topic indices of its subtopology.
    siblings: Vec<Vec<usize>>,
    queues: HashMap<Part, VecDeque<M>>,
    /// Since when a task (identified by its first topic and partition) has been held back.
    waiting: HashMap<Part, Instant>,
    /// Tasks whose long wait for a lagging partition has been logged (once per wait).
    warned: HashSet<Part>,
    max_idle: Duration,
    /// Buffered records of one partition at which its fetching pauses (Kafka Streams'
    /// `buffered.records.per.partition`); 0 never pauses. It resumes below half.
    pause_at: usize,
    /// Partitions whose fetching is paused because their buffer is full.
    paused: HashSet<Part>,
}

impl<M: Message> PartitionGroups<M> {
    /// `subtopologies`: the source topics of each subtopology.
    pub(crate) fn new(subtopologies: &[Vec<String>], max_idle: Duration, pause_at: usize) -> Self {
        let mut topics = crate::runtime::kafka::FastMap::default();
        let mut names = Vec::new();
        let mut siblings = Vec::new();
        for group in subtopologies.iter().filter(|g| g.len() > 1) {
            let ids: Vec<usize> = (siblings.len()..siblings.len() + group.len()).collect();
            for t in group {
                topics.insert(t.clone(), siblings.len());
                names.push(t.clone());
                siblings.push(ids.clone());
            }
        }
        PartitionGroups {
            topics,
            names,
            siblings,
            queues: HashMap::new(),
            waiting: HashMap::new(),
            warned: HashSet::new(),
            max_idle,
            pause_at,
            paused: HashSet::new(),
        }
    }

    /// Buffers a record of a multi-partition task; hands back any other record, to be
    /// processed at once.
    pub(crate) fn offer(&mut self, m: M) -> Option<M> {
        let Some(&t) = self.topics.get(m.topic()) else {
            return Some(m);
        };
        self.queues
            .entry((t, m.partition()))
            .or_default()
            .push_back(m);
        None
    }

    /// Drops everything buffered (the assignment changed; positions were reset). Returns
    /// the partitions it had paused, to be resumed.
    pub(crate) fn clear(&mut self) -> Vec<NamedPart> {
        self.queues.clear();
        self.waiting.clear();
        self.warned.clear();
        let paused = std::mem::take(&mut self.paused);
        self.named(paused)
    }

    fn named(&self, parts: impl IntoIterator<Item = Part>) -> Vec<NamedPart> {
        parts
            .into_iter()
            .map(|(t, p)| (self.names[t].clone(), p))
            .collect()
    }

    /// The partitions to pause (their buffer reached `pause_at`) and to resume (paused, and
    /// their buffer fell below half of it), as (topic, partition). Pausing bounds the
    /// memory of a task that waits for one partition while the others keep coming, and
    /// leaves the consumer's fetches to the partition it waits for.
    pub(crate) fn flow_control(&mut self) -> (Vec<NamedPart>, Vec<NamedPart>) {
        if self.pause_at == 0 {
            return (Vec::new(), Vec::new());
        }
        let mut pause = Vec::new();
        for (part, q) in &self.queues {
            if q.len() >= self.pause_at && self.paused.insert(*part) {
                pause.push(*part);
            }
        }
        let (queues, resume_below) = (&self.queues, self.pause_at / 2);
        let resume: Vec<Part> = self
            .paused
            .iter()
            .filter(|part| queues.get(part).map_or(0, VecDeque::len) < resume_below)
            .copied()
            .collect();
        for part in &resume {
            self.paused.remove(part);
        }
        (self.named(pause), self.named(resume))
    }

    /// Records buffered.
    pub(crate) fn len(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Removes and returns, in processing order, every record that may be processed now.
    /// `lagging(topic, partition)` tells how many offsets an empty partition still has on
    /// the broker that have not been fetched.
    pub(crate) fn ready(&mut self, lagging: &dyn Fn(&str, i32) -> i64) -> Vec<M> {
        let mut out = Vec::new();
        let tasks: HashSet<Part> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(&(t, p), _)| (self.siblings[t][0], p))
            .collect();
        let now = Instant::now();
        for (first, p) in tasks {
            let parts: Vec<Part> = self.siblings[first].iter().map(|&t| (t, p)).collect();
            loop {
                let empty: Vec<&Part> = parts
                    .iter()
                    .filter(|part| self.queues.get(part).is_none_or(VecDeque::is_empty))
                    .collect();
                if !empty.is_empty() {
                    let since = *self.waiting.entry((first, p)).or_insert(now);
                    let waited = now.duration_since(since);
                    let lag = empty
                        .iter()
                        .map(|&&(t, p)| lagging(&self.names[t], p))
                        .max()
                        .unwrap_or(0);
                    let behind = lag > 0;
                    if waited < self.max_idle || lag > 1 || (behind && waited < MAX_LAG_WAIT) {
                        if lag > 1 && waited >= MAX_LAG_WAIT && self.warned.insert((first, p)) {
                            tracing::warn!(
                                "still waiting after {:.0} s for partition {}-{p}, {lag} records \
                                 behind, before processing its task's other partitions",
                                waited.as_secs_f64(),
                                self.names[first]
                            );
                        }
                        break;
                    }
                    if behind && self.warned.insert((first, p)) {
                        let names: Vec<String> = empty
                            .iter()
                            .map(|&&(t, p)| format!("{}-{p}", self.names[t]))
                            .collect();
                        tracing::warn!(
                            "waited {:.0} s for partition(s) {} one offset behind (a commit \
                             marker?); processing the task's other partitions without them",
                            waited.as_secs_f64(),
                            names.join(", ")
                        );
                    }
                } else if self.waiting.remove(&(first, p)).is_some() {
                    self.warned.remove(&(first, p));
                }
                let head = parts
                    .iter()
                    .filter_map(|part| {
                        let m = self.queues.get(part)?.front()?;
                        Some((m.timestamp().to_millis().unwrap_or(-1), *part))
                    })
                    .min_by_key(|(ts, _)| *ts);
                let Some((_, part)) = head else {
                    self.waiting.remove(&(first, p));
                    break;
                };
                if let Some(m) = self.queues.get_mut(&part).and_then(VecDeque::pop_front) {
                    out.push(m);
                }
            }
        }
        out
    }
}
