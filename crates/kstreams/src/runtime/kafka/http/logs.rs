//! Centralized logs: a `tracing` layer that ships an instance's events (info and above)
//! to the application's topic `<application.id>-logs`, where every instance's web page
//! reads them back (`/logs`). The talk's team used ELK for this; here it comes with the
//! library.
//!
//! Shipping never blocks the code that logs: events go into a bounded queue that a thread
//! of its own drains into a producer; when the queue (or the producer's) is full, the
//! event is dropped and counted ([`dropped_log_events`], and
//! `kstreams_log_events_dropped_total` in `/metrics`).
//!
//! ```no_run
//! use kstreams::runtime::kafka::http::logs::KafkaLogLayer;
//! use kstreams::runtime::kafka::StreamsConfig;
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let config = StreamsConfig::new("fraud-detector", "broker:9092").http_listener("0.0.0.0:8080");
//! let (layer, shipper) = KafkaLogLayer::new(&config)?;
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(layer)
//!     .init();
//! // ... build and run the application with `config` ...
//! shipper.close(); // ships what is queued
//! # Ok::<(), kstreams::StreamsError>(())
//! ```

use super::super::clients;
use super::super::StreamsConfig;
use super::background::{stopped, Background};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Events a layer queues before it drops new ones.
pub const QUEUE: usize = 10_000;
/// Events `/logs` keeps, across instances.
pub const TAIL: usize = 1_000;
/// The name of the shipping thread; its own events (and librdkafka's) are never shipped.
const SHIPPER: &str = "kstreams-log-shipper";

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Events this process's layers dropped because a queue was full.
pub fn dropped_log_events() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The log topic of application `application_id`, created by `KafkaStreams::start` when
/// the instance serves HTTP.
pub fn log_topic(application_id: &str) -> String {
    format!("{application_id}-logs")
}

/// One shipped event: the value of a record in the log topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    /// When it happened, in ms since the epoch.
    pub timestamp_ms: i64,
    /// `ERROR`, `WARN` or `INFO`.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// The application id.
    pub application_id: String,
    /// The instance id (kept in the state directory).
    pub instance_id: String,
    /// The thread that logged it (`<app>-StreamThread-0`), when named.
    pub thread: Option<String>,
    /// The task it was about, when the event has a `task` field.
    pub task: Option<String>,
    /// The event's other fields, as text.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// The `tracing` layer: see the [module](self) documentation.
pub struct KafkaLogLayer {
    queue: SyncSender<LogEvent>,
    application_id: String,
    instance_id: String,
}

impl KafkaLogLayer {
    /// A layer shipping to the log topic of `config`'s application, on its cluster with its
    /// client settings, as the instance whose state directory `config` names. The
    /// [`LogShipper`] ships until closed or dropped.
    pub fn new(config: &StreamsConfig) -> crate::error::Result<(KafkaLogLayer, LogShipper)> {
        let instance_id = super::instance_id(config)?;
        let producer: BaseProducer = clients::side_producer_config(config, "log-shipper")
            .create()
            .map_err(|source| crate::error::StreamsError::Kafka {
                context: "creating the log producer".into(),
                source: source.into(),
            })?;
        let (layer, rx) = Self::queued(&config.application_id, &instance_id, QUEUE);
        let shipper = LogShipper::start(rx, producer, log_topic(&config.application_id))?;
        Ok((layer, shipper))
    }

    /// A layer whose events wait in a queue of `capacity`, and that queue's receiving end.
    fn queued(app: &str, instance: &str, capacity: usize) -> (KafkaLogLayer, Receiver<LogEvent>) {
        let (queue, rx) = sync_channel(capacity);
        let layer = KafkaLogLayer {
            queue,
            application_id: app.to_string(),
            instance_id: instance.to_string(),
        };
        (layer, rx)
    }
}

/// Collects an event's message and fields.
#[derive(Default)]
struct Fields {
    message: String,
    task: Option<String>,
    other: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields {
    fn record(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "task" => self.task = Some(value),
            // Where a `log` record came from (tracing-log's bridge): noise on a dashboard.
            name if name.starts_with("log.") => {}
            name => {
                self.other.insert(name.to_string(), value);
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for KafkaLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // More verbose levels compare greater.
        if *meta.level() > Level::INFO || meta.target().starts_with("rdkafka") {
            return;
        }
        let thread = std::thread::current();
        if thread.name() == Some(SHIPPER) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let shipped = LogEvent {
            timestamp_ms: super::status::now_ms(),
            level: meta.level().to_string(),
            target: meta.target().to_string(),
            message: fields.message,
            application_id: self.application_id.clone(),
            instance_id: self.instance_id.clone(),
            thread: thread.name().map(str::to_string),
            task: fields.task,
            fields: fields.other,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(shipped)
        {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The thread that ships queued events: [`close`](Self::close) (or drop) ships what is
/// queued and stops it.
pub struct LogShipper {
    thread: Background,
}

impl LogShipper {
    fn start(
        rx: Receiver<LogEvent>,
        producer: BaseProducer,
        topic: String,
    ) -> crate::error::Result<LogShipper> {
        let thread = Background::spawn(SHIPPER.into(), move |stop| {
            let ship = |e: LogEvent| {
                let Ok(value) = serde_json::to_vec(&e) else {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let record = BaseRecord::<str, Vec<u8>>::to(&topic)
                    .key(&e.instance_id)
                    .payload(&value);
                if producer.send(record).is_err() {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            };
            while !stopped(&stop) {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(e) => ship(e),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                producer.poll(Duration::ZERO);
            }
            while let Ok(e) = rx.try_recv() {
                ship(e);
            }
            let _ = producer.flush(Duration::from_secs(5));
        })
        .map_err(|e| {
            crate::error::StreamsError::Config(format!("spawning the log shipper: {e}"))
        })?;
        Ok(LogShipper { thread })
    }

    /// Ships what is queued, then stops (as dropping it does).
    pub fn close(mut self) {
        self.thread.stop();
    }
}

/// The latest events of every instance, read back from the log topic for `/logs`.
#[derive(Default)]
pub(crate) struct LogTail {
    events: Mutex<VecDeque<LogEvent>>,
}

impl LogTail {
    pub(crate) fn push(&self, bytes: &[u8]) {
        match serde_json::from_slice::<LogEvent>(bytes) {
            Ok(e) => {
                let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
                if events.len() == TAIL {
                    events.pop_front();
                }
                events.push_back(e);
            }
            Err(e) => tracing::debug!("log topic: not a log event: {e}"),
        }
    }

    /// Oldest first.
    pub(crate) fn events(&self) -> Vec<LogEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_carry_their_origin_and_a_full_queue_drops_and_counts() {
        let (layer, rx) = KafkaLogLayer::queued("app", "instance-1", 3);
        let subscriber = tracing_subscriber::registry().with(layer);
        let before = dropped_log_events();
        std::thread::Builder::new()
            .name("app-StreamThread-0".into())
            .spawn(move || {
                tracing::subscriber::with_default(subscriber, || {
                    tracing::debug!("not shipped: below info");
                    tracing::info!(task = "0_1", offset = 42, "processing");
                    tracing::warn!("second");
                    tracing::error!("third");
                    // The queue holds three: these two are dropped, without waiting.
                    tracing::info!("fourth");
                    tracing::info!("fifth");
                })
            })
            .unwrap()
            .join()
            .unwrap();
        let events: Vec<LogEvent> = rx.try_iter().collect();
        let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["processing", "second", "third"]);
        assert!(dropped_log_events() - before >= 2);
        let first = &events[0];
        assert_eq!(first.level, "INFO");
        assert_eq!(first.application_id, "app");
        assert_eq!(first.instance_id, "instance-1");
        assert_eq!(first.thread.as_deref(), Some("app-StreamThread-0"));
        assert_eq!(first.task.as_deref(), Some("0_1"));
        assert_eq!(first.fields.get("offset").map(String::as_str), Some("42"));
        assert!(first.target.contains("logs"), "{}", first.target);
    }

    #[test]
    fn the_tail_keeps_the_latest() {
        let tail = LogTail::default();
        let event = |n: usize| LogEvent {
            timestamp_ms: n as i64,
            level: "INFO".into(),
            target: "t".into(),
            message: n.to_string(),
            application_id: "a".into(),
            instance_id: "i".into(),
            thread: None,
            task: None,
            fields: BTreeMap::new(),
        };
        for n in 0..TAIL + 5 {
            tail.push(&serde_json::to_vec(&event(n)).unwrap());
        }
        tail.push(b"not json");
        let events = tail.events();
        assert_eq!(events.len(), TAIL);
        assert_eq!(events[0], event(5));
    }
}
