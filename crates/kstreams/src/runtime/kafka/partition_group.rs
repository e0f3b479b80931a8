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
    /// Tasks whose wait for a partition one offset behind has been logged (once per wait).
    warned: HashSet<Part>,
    /// Since when a task has been held back without processing a record, and whether that
    /// has been logged. Unlike `waiting`, which runs as long as any of the task's partitions
    /// stays empty (a table that is not updated, for ever), processing resets it: it tells
    /// an operator how long the task has really been stalled.
    stalled: HashMap<Part, (Instant, bool)>,
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
            stalled: HashMap::new(),
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
        self.stalled.clear();
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
        self.ready_at(lagging, Instant::now())
    }

    /// [`ready`](Self::ready) at the instant `now`.
    fn ready_at(&mut self, lagging: &dyn Fn(&str, i32) -> i64, now: Instant) -> Vec<M> {
        let mut out = Vec::new();
        let tasks: HashSet<Part> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(&(t, p), _)| (self.siblings[t][0], p))
            .collect();
        for (first, p) in tasks {
            let parts: Vec<Part> = self.siblings[first].iter().map(|&t| (t, p)).collect();
            let mut progressed = false;
            loop {
                let empty: Vec<&Part> = parts
                    .iter()
                    .filter(|part| self.queues.get(part).is_none_or(VecDeque::is_empty))
                    .collect();
                if !empty.is_empty() {
                    let since = *self.waiting.entry((first, p)).or_insert(now);
                    let waited = now.duration_since(since);
                    let (lag, behind_part) = empty
                        .iter()
                        .map(|&&(t, p)| (lagging(&self.names[t], p), t))
                        .max_by_key(|&(lag, _)| lag)
                        .unwrap_or((0, first));
                    let behind = lag > 0;
                    if waited < self.max_idle || lag > 1 || (behind && waited < MAX_LAG_WAIT) {
                        if !progressed {
                            let stall = self.stalled.entry((first, p)).or_insert((now, false));
                            let held = now.duration_since(stall.0);
                            if lag > 1 && held >= MAX_LAG_WAIT && !stall.1 {
                                stall.1 = true;
                                let task: Vec<String> = parts
                                    .iter()
                                    .map(|&(t, p)| format!("{}-{p}", self.names[t]))
                                    .collect();
                                tracing::warn!(
                                    "the task of {} has processed nothing for {:.0} s: waiting \
                                     for partition {}-{p}, {lag} records behind, before \
                                     processing its other partitions",
                                    task.join(", "),
                                    held.as_secs_f64(),
                                    self.names[behind_part]
                                );
                            }
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
                    progressed = true;
                }
            }
            if progressed {
                self.stalled.remove(&(first, p));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_testkit::logs::CapturedLogs;
    use rdkafka::message::{OwnedMessage, Timestamp};

    fn record(topic: &str, offset: i64, timestamp: i64) -> OwnedMessage {
        let ts = Timestamp::CreateTime(timestamp);
        OwnedMessage::new(None, None, topic.to_string(), ts, 0, offset, None)
    }

    /// A stream-table join's partition group: `customers` (the table) and `records`.
    fn join() -> PartitionGroups<OwnedMessage> {
        let topics = vec!["customers".to_string(), "records".to_string()];
        PartitionGroups::new(&[topics], Duration::ZERO, 0)
    }

    /// What `f` logged at WARN, and what it returned.
    fn warnings<T>(f: impl FnOnce() -> T) -> (String, T) {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        let out = tracing::subscriber::with_default(subscriber, f);
        (logs.text(), out)
    }

    #[test]
    fn an_idle_caught_up_table_lets_the_stream_through_in_timestamp_order() {
        let mut groups = join();
        assert!(groups.offer(record("records", 0, 20)).is_none());
        assert!(groups.offer(record("customers", 0, 10)).is_none());
        assert!(groups.offer(record("records", 1, 30)).is_none());
        let offsets: Vec<(String, i64)> = groups
            .ready(&|_, _| 0)
            .iter()
            .map(|m| (m.topic().to_string(), m.offset()))
            .collect();
        let expected = [("customers", 0), ("records", 0), ("records", 1)];
        let expected: Vec<(String, i64)> =
            expected.iter().map(|&(t, o)| (t.to_string(), o)).collect();
        assert_eq!(offsets, expected);
        assert_eq!(groups.len(), 0);
    }

    /// The warning about a task held back names the partition it waits for and counts
    /// the time since the task last processed a record, not since the table went idle.
    #[test]
    fn a_stalled_task_is_reported_with_the_partition_it_waits_for() {
        let mut groups = join();
        let t0 = Instant::now();
        // The table is caught up (it never changes again); the stream flows for ten minutes.
        let mut offset = 0;
        for minute in 0..10u64 {
            assert!(groups.offer(record("records", offset, 100)).is_none());
            offset += 1;
            let now = t0 + Duration::from_secs(60 * minute);
            let (logged, out) = warnings(|| groups.ready_at(&|_, _| 0, now));
            assert_eq!(out.len(), 1, "minute {minute}");
            assert!(logged.is_empty(), "{logged}");
        }
        // Then the table has 5 records on the broker not fetched yet, and the stream waits.
        assert!(groups.offer(record("records", offset, 200)).is_none());
        let lag = |topic: &str, _: i32| if topic == "customers" { 5 } else { 0 };
        let at = |secs: u64| t0 + Duration::from_secs(600 + secs);
        let (logged, out) = warnings(|| groups.ready_at(&lag, at(0)));
        assert!(out.is_empty() && logged.is_empty(), "{logged}");
        let (logged, out) = warnings(|| groups.ready_at(&lag, at(30)));
        assert!(out.is_empty() && logged.is_empty(), "{logged}");
        let (logged, out) = warnings(|| groups.ready_at(&lag, at(61)));
        assert!(out.is_empty());
        assert!(
            logged.contains(
                "the task of customers-0, records-0 has processed nothing for 61 s: waiting \
                 for partition customers-0, 5 records behind"
            ),
            "{logged}"
        );
        // Once per stall.
        let (logged, _) = warnings(|| groups.ready_at(&lag, at(90)));
        assert!(logged.is_empty(), "{logged}");
        // The table's records arrive; the task goes on, and a later stall is reported again.
        assert!(groups.offer(record("customers", 0, 150)).is_none());
        let (_, out) = warnings(|| groups.ready_at(&|_, _| 0, at(91)));
        assert_eq!(out.len(), 2);
        assert!(groups.offer(record("records", offset + 1, 300)).is_none());
        let (logged, _) = warnings(|| groups.ready_at(&lag, at(100)));
        assert!(logged.is_empty(), "{logged}");
        let (logged, _) = warnings(|| groups.ready_at(&lag, at(161)));
        assert!(logged.contains("processed nothing for 61 s"), "{logged}");
    }
}
