//! The application's view of itself: every instance that serves HTTP publishes its
//! [`LocalState`](crate::runtime::kafka::introspect::LocalState) every
//! [`PUBLISH_EVERY`] to the compacted topic `<application.id>-status` (key: its instance
//! id), and reads everyone's from it. That is the talk's metrics aggregation, built in:
//! any instance shows every other one, and knows where to send a query for a key it does
//! not own.
//!
//! A clean close publishes a tombstone; an instance that dies stops publishing, and its
//! entry is marked stale after [`STALE_AFTER`].

use super::super::clients;
use super::super::inspect::Inspector;
use super::super::StreamsConfig;
use super::background::{stopped, Background};
use super::logs::{log_topic, LogTail, TAIL};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often an instance publishes its status.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(2);
/// An instance whose last status is this old is stale: shown as such, never routed to.
pub const STALE_AFTER: Duration = Duration::from_secs(10);
/// An instance whose last status is this old is gone (it crashed without a tombstone):
/// no longer listed.
pub const GONE_AFTER: Duration = Duration::from_secs(600);

/// The status topic of application `application_id`: compacted, one partition, created
/// by `KafkaStreams::start` when the instance serves HTTP.
pub fn status_topic(application_id: &str) -> String {
    format!("{application_id}-status")
}

/// One instance's published status: the value of its record in the status topic, and an
/// entry of `/cluster`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// The instance's id (kept in its state directory).
    pub instance_id: String,
    /// Where its HTTP endpoints answer (`application_server`, or the bound address).
    pub http_address: Option<String>,
    /// When it published this, in ms since the epoch.
    pub updated_ms: i64,
    /// Not heard of for [`STALE_AFTER`] (set by the reader).
    #[serde(default)]
    pub stale: bool,
    /// Its `/state`.
    pub state: serde_json::Value,
}

impl InstanceStatus {
    /// The task ids this instance runs and has restored, from its published state.
    pub(crate) fn ready_tasks(&self) -> impl Iterator<Item = &str> {
        self.state["threads"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["active_tasks"].as_array().into_iter().flatten())
            .filter(|t| t["restoring"] == false)
            .filter_map(|t| t["task_id"].as_str())
    }
}

/// Every instance's latest status, as read from the status topic.
#[derive(Default)]
pub(crate) struct Directory {
    entries: Mutex<BTreeMap<String, InstanceStatus>>,
}

impl Directory {
    /// All instances but the gone, stale ones marked, in id order. Age is judged by when
    /// an instance published, not when this one read it: a restarted reader reads the
    /// whole compacted topic, leftovers of crashed instances included.
    pub(crate) fn instances(&self) -> Vec<InstanceStatus> {
        let now = now_ms();
        let age = |s: &InstanceStatus| {
            Duration::from_millis(now.saturating_sub(s.updated_ms).max(0) as u64)
        };
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .values()
            .filter(|s| age(s) <= GONE_AFTER)
            .map(|s| {
                let mut s = s.clone();
                s.stale = age(&s) > STALE_AFTER;
                s
            })
            .collect()
    }

    /// Applies one record of a status topic.
    fn apply_record(&self, m: &rdkafka::message::BorrowedMessage<'_>) {
        match m.key().map(std::str::from_utf8) {
            Some(Ok(key)) => self.apply(key, m.payload()),
            _ => tracing::warn!(
                "{}, partition {}, offset {}: a record without a text key",
                m.topic(),
                m.partition(),
                m.offset()
            ),
        }
    }

    fn apply(&self, key: &str, value: Option<&[u8]>) {
        // Parsed before locking: readers of the directory do not wait on it.
        let parsed = value.map(serde_json::from_slice::<InstanceStatus>);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match parsed {
            None => {
                entries.remove(key);
            }
            Some(Ok(status)) => {
                entries.insert(key.to_string(), status);
            }
            Some(Err(e)) => tracing::warn!("status of instance {key}: not a status: {e}"),
        }
    }
}

/// Reads the status topics of several applications, for a view across them (a
/// dashboard of a platform made of many applications).
///
/// ```no_run
/// use kstreams::runtime::kafka::http::status::StatusWatcher;
///
/// let watcher = StatusWatcher::start("broker:9092", &Default::default(), &["ingest", "notify"])?;
/// std::thread::sleep(std::time::Duration::from_secs(3));
/// for instance in watcher.instances("ingest") {
///     println!("{} at {:?}", instance.instance_id, instance.http_address);
/// }
/// # Ok::<(), kstreams::StreamsError>(())
/// ```
pub struct StatusWatcher {
    directories: Arc<BTreeMap<String, Arc<Directory>>>,
    /// Stopped when the watcher is dropped.
    _thread: Background,
}

impl StatusWatcher {
    /// Starts reading the status topics of `applications` on the cluster at
    /// `bootstrap_servers`, with `client_config` (security settings) on every client.
    pub fn start(
        bootstrap_servers: &str,
        client_config: &BTreeMap<String, String>,
        applications: &[&str],
    ) -> crate::error::Result<StatusWatcher> {
        let consumer: BaseConsumer = clients::standalone_consumer_config(
            bootstrap_servers,
            client_config,
            "kstreams-status-watcher",
        )
        .create()
        .map_err(|source| crate::error::StreamsError::Kafka {
            context: "creating the status watcher".into(),
            source: source.into(),
        })?;
        let mut tpl = TopicPartitionList::new();
        let mut directories = BTreeMap::new();
        for app in applications {
            let topic = status_topic(app);
            tpl.add_partition_offset(&topic, 0, Offset::Beginning)
                .and_then(|()| consumer.incremental_assign(&tpl))
                .map_err(|source| crate::error::StreamsError::Kafka {
                    context: format!("assigning {topic}"),
                    source: source.into(),
                })?;
            tpl = TopicPartitionList::new();
            directories.insert(topic, Arc::new(Directory::default()));
        }
        let directories = Arc::new(directories);
        let dirs = directories.clone();
        let thread = Background::spawn("kstreams-status-watcher".into(), move |stop| {
            while !stopped(&stop) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    if let Some(d) = dirs.get(m.topic()) {
                        d.apply_record(&m);
                    }
                }
            }
        })
        .map_err(|e| {
            crate::error::StreamsError::Config(format!("spawning the status watcher: {e}"))
        })?;
        Ok(StatusWatcher {
            directories,
            _thread: thread,
        })
    }

    /// The instances of `application_id` as last published, stale ones marked.
    pub fn instances(&self, application_id: &str) -> Vec<InstanceStatus> {
        self.directories
            .get(&status_topic(application_id))
            .map(|d| d.instances())
            .unwrap_or_default()
    }
}

/// Starts the thread that publishes this instance's status as `instance_id`, reachable at
/// `http_address`, and reads everyone's into `directory` (and the latest logs into
/// `logs`). Stopping it publishes the departure.
pub(crate) fn start(
    config: &StreamsConfig,
    inspector: Inspector,
    instance_id: String,
    http_address: Option<String>,
    directory: Arc<Directory>,
    logs: Arc<LogTail>,
) -> crate::error::Result<Background> {
    let kafka = |context: &'static str| {
        move |source: rdkafka::error::KafkaError| crate::error::StreamsError::Kafka {
            context: context.into(),
            source: source.into(),
        }
    };
    let topic = status_topic(&config.application_id);
    let producer: BaseProducer = clients::side_producer_config(config, "status-producer")
        .create()
        .map_err(kafka("creating the status producer"))?;
    let consumer: BaseConsumer = clients::status_consumer_config(config)
        .create()
        .map_err(kafka("creating the status consumer"))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .map_err(kafka("assigning the status topic"))?;
    // The latest events of the log topic, for `/logs`.
    let log_topic = log_topic(&config.application_id);
    tpl.add_partition_offset(&log_topic, 0, Offset::OffsetTail(TAIL as i64))
        .map_err(kafka("assigning the log topic"))?;
    consumer
        .assign(&tpl)
        .map_err(kafka("assigning the status topic"))?;
    let name = format!("{}-status", config.application_id);
    Background::spawn(name, move |stop| {
        let publish = |value: Option<Vec<u8>>| {
            let mut record = BaseRecord::<str, Vec<u8>>::to(&topic).key(&instance_id);
            if let Some(v) = &value {
                record = record.payload(v);
            }
            if let Err((e, _)) = producer.send(record) {
                tracing::warn!("publishing the instance status: {e}");
            }
        };
        let mut last = None::<Instant>;
        while !stopped(&stop) {
            if last.is_none_or(|t| t.elapsed() >= PUBLISH_EVERY) {
                let status = InstanceStatus {
                    instance_id: instance_id.clone(),
                    http_address: http_address.clone(),
                    updated_ms: now_ms(),
                    stale: false,
                    state: serde_json::to_value(inspector.local_state()).unwrap_or_default(),
                };
                match serde_json::to_vec(&status) {
                    Ok(v) => publish(Some(compact(status, v))),
                    Err(e) => tracing::warn!("serializing the instance status: {e}"),
                }
                last = Some(Instant::now());
            }
            producer.poll(Duration::ZERO);
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.topic() == log_topic => {
                    if let Some(v) = m.payload() {
                        logs.push(v);
                    }
                }
                Some(Ok(m)) => directory.apply_record(&m),
                Some(Err(e)) => tracing::debug!("status consumer: {e}"),
                None => {}
            }
        }
        // Gone: others stop routing here at once rather than after STALE_AFTER.
        publish(None);
        if let Err(e) = producer.flush(Duration::from_secs(5)) {
            tracing::warn!("publishing the instance's departure: {e}");
        }
    })
    .map_err(|e| crate::error::StreamsError::Config(format!("spawning the status thread: {e}")))
}

/// Larger statuses lose their tasks' partitions, processors and stores, keeping what
/// routing and the overview need (task ids, restoring, counters): a record must stay well
/// under the broker's `message.max.bytes` (1 MB by default), or the instance would drop
/// out of everyone's directory.
const MAX_STATUS_BYTES: usize = 256 * 1024;

fn compact(mut status: InstanceStatus, bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() <= MAX_STATUS_BYTES {
        return bytes;
    }
    let tasks = status.state["threads"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .flat_map(|t| t["active_tasks"].as_array_mut().into_iter().flatten());
    for task in tasks {
        if let Some(task) = task.as_object_mut() {
            for detail in ["partitions", "processors", "stores"] {
                task.remove(detail);
            }
        }
    }
    let Ok(smaller) = serde_json::to_vec(&status) else {
        return bytes;
    };
    tracing::warn!(
        "the instance status is {} bytes: published without task details ({} bytes)",
        bytes.len(),
        smaller.len()
    );
    smaller
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(updated_ms: i64, tasks: usize) -> InstanceStatus {
        let task = |i: usize| {
            serde_json::json!({
                "task_id": format!("0_{i}"),
                "restoring": false,
                "partitions": [{"topic": "t".repeat(200), "partition": i}],
                "processors": [],
                "stores": [],
            })
        };
        InstanceStatus {
            instance_id: "i".into(),
            http_address: Some("127.0.0.1:1".into()),
            updated_ms,
            stale: false,
            state: serde_json::json!({"threads": [{"active_tasks": (0..tasks).map(task).collect::<Vec<_>>()}]}),
        }
    }

    #[test]
    fn age_comes_from_the_publisher_and_the_gone_are_not_listed() {
        let d = Directory::default();
        let now = now_ms();
        for (id, age) in [("fresh", 1_000), ("stale", 30_000), ("gone", 3_600_000)] {
            let s = status(now - age, 1);
            d.apply(id, Some(&serde_json::to_vec(&s).unwrap()));
        }
        let listed: Vec<(String, bool)> = d
            .instances()
            .into_iter()
            .map(|s| (s.instance_id, s.stale))
            .collect();
        // Keys name entries; the ids inside are all "i".
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(listed.iter().filter(|(_, stale)| *stale).count(), 1);
        d.apply("fresh", None);
        assert_eq!(d.instances().len(), 1, "a tombstone removes at once");
    }

    #[test]
    fn a_large_status_keeps_its_tasks_ready_but_not_their_details() {
        let big = status(now_ms(), 2_000);
        let bytes = serde_json::to_vec(&big).unwrap();
        assert!(bytes.len() > MAX_STATUS_BYTES);
        let small: InstanceStatus = serde_json::from_slice(&compact(big, bytes)).unwrap();
        assert!(serde_json::to_vec(&small).unwrap().len() <= MAX_STATUS_BYTES);
        assert_eq!(small.ready_tasks().count(), 2_000);
        let small_one = serde_json::to_vec(&status(now_ms(), 1)).unwrap();
        assert_eq!(compact(status(now_ms(), 1), small_one.clone()), small_one);
    }
}
