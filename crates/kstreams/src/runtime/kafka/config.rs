//! `StreamsConfig`: what a `KafkaStreams` instance needs to run.

use crate::processor::{
    DeserializationExceptionHandler, LogAndFail, ProcessingExceptionHandler,
    ProductionExceptionHandler, SharedDeserializationHandler, SharedProcessingHandler,
    SharedProductionHandler,
};
use crate::state::MemoryBudget;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_COMMIT: Duration = Duration::from_secs(30);
const EOS_DEFAULT_COMMIT: Duration = Duration::from_millis(100);

/// Delivery guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProcessingGuarantee {
    /// Offsets are committed only after every output and changelog write of the records
    /// before them is acknowledged. A crash may repeat work; it never loses it.
    #[default]
    AtLeastOnce,
    /// `exactly_once_v2` (KIP-447): one transactional producer per stream thread. The
    /// outputs, changelog writes and consumed offsets of a commit interval go in one
    /// transaction, so they count together or not at all; consumers read `read_committed`.
    /// Needs brokers that support transactions (Kafka 2.5 or later); see the README for
    /// what is verified here and what needs a real cluster.
    ExactlyOnceV2,
}

/// Where a new consumer group starts in a partition with no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AutoOffsetReset {
    /// From the beginning (Kafka Streams' default).
    #[default]
    Earliest,
    /// From the end.
    Latest,
}

/// Configuration of a [`KafkaStreams`](super::KafkaStreams) instance, after Kafka Streams'
/// `StreamsConfig`.
///
/// ```
/// use kstreams::runtime::kafka::StreamsConfig;
/// use std::time::Duration;
///
/// let config = StreamsConfig::new("auth-converter", "127.0.0.1:9092")
///     .num_stream_threads(2)
///     .commit_interval(Duration::from_millis(500))
///     .client_config("session.timeout.ms", "6000");
/// assert_eq!(config.application_id, "auth-converter");
/// ```
///
/// `Debug` never shows a secret: values of client settings that hold passwords, keys or
/// credentials (`sasl.password`, `ssl.key.password`, `ssl.key.pem`, ...) print as
/// `[redacted]`.
///
/// ```
/// use kstreams::runtime::kafka::StreamsConfig;
///
/// let config = StreamsConfig::new("app", "broker:9093")
///     .client_config("security.protocol", "SASL_SSL")
///     .client_config("sasl.password", "hunter2");
/// let shown = format!("{config:?}");
/// assert!(shown.contains("SASL_SSL") && !shown.contains("hunter2"));
/// ```
#[derive(Clone)]
#[must_use]
#[non_exhaustive]
pub struct StreamsConfig {
    /// `application.id`: the consumer group, and the prefix of internal topics.
    pub application_id: String,
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// `num.stream.threads`: each thread owns a consumer, a producer and its tasks.
    pub num_stream_threads: usize,
    /// `commit.interval.ms`.
    pub commit_interval: Duration,
    /// `state.dir`: persistent stores live under `<state.dir>/<application.id>/<task>/`.
    pub state_dir: PathBuf,
    /// `processing.guarantee`.
    pub processing_guarantee: ProcessingGuarantee,
    /// `auto.offset.reset`.
    pub auto_offset_reset: AutoOffsetReset,
    /// What tasks do with records that fail to deserialize.
    pub deserialization_handler: SharedDeserializationHandler,
    /// What tasks do when user code fails on a record (an error or a panic).
    pub processing_handler: SharedProcessingHandler,
    /// What tasks do when an output record cannot be serialized or produced.
    pub production_handler: SharedProductionHandler,
    /// `errors.dead.letter.queue.topic.name` (KIP-1034): where dead-letter handlers send
    /// failed records. It must exist before start.
    pub dead_letter_topic: Option<String>,
    /// librdkafka settings passed to both consumers and producers, e.g.
    /// `session.timeout.ms`; they override kstreams' own.
    pub client_config: BTreeMap<String, String>,
    /// librdkafka settings for consumers only, applied after `client_config`.
    pub consumer_config: BTreeMap<String, String>,
    /// librdkafka settings for producers only (Kafka Streams' `producer.` prefix), applied
    /// after `client_config` and before the runtime's own guarantees.
    pub producer_config: BTreeMap<String, String>,
    /// `replication.factor` of the internal topics created at start-up; -1 (the default,
    /// as in Kafka Streams 3.0 and later) takes the broker's `default.replication.factor`.
    pub replication_factor: i32,
    /// How long start-up waits for the broker's metadata and topic creation.
    pub startup_timeout: Duration,
    /// Memory of all state stores of this instance together.
    pub memory_budget: MemoryBudget,
    /// `max.task.idle.ms`: how long a task reading several partitions waits for one that
    /// has nothing buffered before it processes the others (see the runtime's
    /// partition-group docs). 0 (the default) never waits.
    pub max_task_idle: Duration,
    /// `buffered.records.per.partition`: records a task reading several partitions buffers
    /// per partition before that partition's fetching pauses (resuming below half), so a
    /// task waiting for one partition holds bounded memory. 0 never pauses: only for
    /// brokers that answer a fetch from inside a record batch wrongly (Tansu's memory
    /// engine, the `midbatch` gap), where a resumed partition would skip records.
    pub buffered_records_per_partition: usize,
    /// How long a replacement stream thread (`StreamThreadExceptionResponse::ReplaceThread`)
    /// waits before it starts, doubling with each replacement in ten minutes up to a minute.
    pub replacement_backoff: Duration,
    /// Replacements within ten minutes after which the client shuts down instead: a failure
    /// that comes back every time (a poison pill, a broker refusal) is not a passing fault.
    pub max_thread_replacements: usize,
    /// Where the instance serves HTTP (`host:port`, port 0 for any): health, readiness,
    /// Prometheus metrics, the topology, its state and interactive queries. `None` (the
    /// default) serves nothing. Needs the `http` feature.
    pub http_listener: Option<String>,
    /// `application.server`: the `host:port` other instances reach this one's HTTP
    /// endpoints at, for remote queries. `None`: the bound address (127.0.0.1 when bound to
    /// every interface, which only suits instances on one machine).
    pub application_server: Option<String>,
}

impl StreamsConfig {
    /// Defaults: one thread, commit every 30 s (Kafka Streams' at-least-once default),
    /// state under the system temp dir, earliest, fail on bad input.
    pub fn new(application_id: impl Into<String>, bootstrap_servers: impl Into<String>) -> Self {
        StreamsConfig {
            application_id: application_id.into(),
            bootstrap_servers: bootstrap_servers.into(),
            num_stream_threads: 1,
            commit_interval: DEFAULT_COMMIT,
            state_dir: default_state_dir(),
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
            auto_offset_reset: AutoOffsetReset::Earliest,
            deserialization_handler: Arc::new(LogAndFail),
            processing_handler: Arc::new(LogAndFail),
            production_handler: Arc::new(LogAndFail),
            dead_letter_topic: None,
            client_config: BTreeMap::new(),
            consumer_config: BTreeMap::new(),
            producer_config: BTreeMap::new(),
            replication_factor: -1,
            startup_timeout: Duration::from_secs(30),
            memory_budget: MemoryBudget::default(),
            max_task_idle: Duration::ZERO,
            buffered_records_per_partition: 1000,
            replacement_backoff: Duration::from_secs(1),
            max_thread_replacements: 10,
            http_listener: None,
            application_server: None,
        }
    }

    /// Sets how long a replacement thread first waits, and after how many replacements in
    /// ten minutes the client shuts down instead.
    pub fn thread_replacement(mut self, backoff: Duration, max_replacements: usize) -> Self {
        self.replacement_backoff = backoff;
        self.max_thread_replacements = max_replacements;
        self
    }
    /// Serves the instance's HTTP endpoints on `addr` (`"0.0.0.0:8080"`; port 0 picks a
    /// free one, see `KafkaStreams::http_local_addr`). Needs the `http` feature; the
    /// endpoints are listed in `runtime::kafka::http`.
    pub fn http_listener(mut self, addr: impl Into<String>) -> Self {
        self.http_listener = Some(addr.into());
        self
    }
    /// Sets `application.server`: where other instances reach this one's HTTP endpoints.
    pub fn application_server(mut self, host_port: impl Into<String>) -> Self {
        self.application_server = Some(host_port.into());
        self
    }
    /// Sets `num.stream.threads` (at least 1).
    pub fn num_stream_threads(mut self, n: usize) -> Self {
        self.num_stream_threads = n.max(1);
        self
    }
    /// Sets `buffered.records.per.partition` (0: never pause fetching).
    pub fn buffered_records_per_partition(mut self, n: usize) -> Self {
        self.buffered_records_per_partition = n;
        self
    }
    /// Sets `max.task.idle.ms`.
    pub fn max_task_idle(mut self, d: Duration) -> Self {
        self.max_task_idle = d;
        self
    }
    /// Sets `processing.guarantee`. Exactly-once also lowers `commit.interval.ms` to 100 ms
    /// if it is still at the at-least-once default of 30 s, as Kafka Streams does; set
    /// the interval afterwards to choose another.
    pub fn processing_guarantee(mut self, g: ProcessingGuarantee) -> Self {
        self.processing_guarantee = g;
        if g == ProcessingGuarantee::ExactlyOnceV2 && self.commit_interval == DEFAULT_COMMIT {
            self.commit_interval = EOS_DEFAULT_COMMIT;
        }
        self
    }
    /// Whether the guarantee is exactly-once.
    pub fn exactly_once(&self) -> bool {
        self.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
    }
    /// Sets `commit.interval.ms`.
    pub fn commit_interval(mut self, d: Duration) -> Self {
        self.commit_interval = d;
        self
    }
    /// Sets `state.dir`.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }
    /// Sets `auto.offset.reset`.
    pub fn auto_offset_reset(mut self, r: AutoOffsetReset) -> Self {
        self.auto_offset_reset = r;
        self
    }
    /// Sets the deserialization handler (default [`LogAndFail`]).
    pub fn deserialization_handler(mut self, h: impl DeserializationExceptionHandler) -> Self {
        self.deserialization_handler = Arc::new(h);
        self
    }
    /// Sets the processing handler (default [`LogAndFail`]).
    pub fn processing_handler(mut self, h: impl ProcessingExceptionHandler) -> Self {
        self.processing_handler = Arc::new(h);
        self
    }
    /// Sets the production handler (default [`LogAndFail`]).
    pub fn production_handler(mut self, h: impl ProductionExceptionHandler) -> Self {
        self.production_handler = Arc::new(h);
        self
    }
    /// Sets the dead-letter topic.
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }
    /// Passes a librdkafka setting to consumers and producers.
    pub fn client_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client_config.insert(key.into(), value.into());
        self
    }
    /// Passes a librdkafka setting to consumers only (`fetch.wait.max.ms`, say, which a
    /// producer would warn about).
    pub fn consumer_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.consumer_config.insert(key.into(), value.into());
        self
    }
    /// Passes a librdkafka setting to producers only (`compression.type` or `linger.ms`,
    /// say, which a consumer would warn about). Settings the runtime's guarantees rest
    /// on (`acks`, idempotence under exactly-once) are refused by
    /// [`validate`](Self::validate) here too.
    ///
    /// ```
    /// use kstreams::runtime::kafka::StreamsConfig;
    ///
    /// let config = StreamsConfig::new("app", "broker:9092")
    ///     .producer_config("compression.type", "lz4")
    ///     .producer_config("linger.ms", "10");
    /// assert!(config.validate().is_ok());
    /// let err = config.producer_config("acks", "1").validate().unwrap_err();
    /// assert!(err.to_string().contains("acks=1"), "{err}");
    /// ```
    pub fn producer_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.producer_config.insert(key.into(), value.into());
        self
    }
    /// Sets the memory budget of the state stores.
    pub fn memory_budget(mut self, budget: MemoryBudget) -> Self {
        self.memory_budget = budget;
        self
    }
    /// Checks that no client setting overrides what the runtime's guarantees rest on: the
    /// group, offset commits, the assignment strategy, `acks=all`, and under exactly-once
    /// `isolation.level=read_committed` and idempotence. `KafkaStreams::start` calls it.
    ///
    /// ```
    /// use kstreams::runtime::kafka::StreamsConfig;
    ///
    /// let config = StreamsConfig::new("app", "broker:9092")
    ///     .client_config("partition.assignment.strategy", "cooperative-sticky");
    /// let err = config.validate().unwrap_err().to_string();
    /// assert!(err.contains("partition.assignment.strategy"), "{err}");
    /// ```
    pub fn validate(&self) -> crate::error::Result<()> {
        let refuse = |key: &str, value: &str, why: &str| {
            Err(crate::error::StreamsError::Config(format!(
                "client setting {key}={value} cannot be used: {why}"
            )))
        };
        if self.http_listener.is_some() && !cfg!(feature = "http") {
            return Err(crate::error::StreamsError::Config(
                "http_listener is set but kstreams was built without its `http` feature".into(),
            ));
        }
        let all = self.client_config.iter().chain(&self.consumer_config);
        for (key, value) in all.chain(&self.producer_config) {
            let key_l = key.to_ascii_lowercase();
            if let Some((_, why)) = OWNED.iter().find(|(k, _)| *k == key_l) {
                return refuse(key, value, why);
            }
            let v = value.to_ascii_lowercase();
            match key_l.as_str() {
                "acks" | "request.required.acks" if !matches!(v.as_str(), "all" | "-1") => {
                    return refuse(
                        key,
                        value,
                        "a record is acknowledged only once every in-sync replica has it (acks=all)",
                    )
                }
                "isolation.level" if self.exactly_once() && v != "read_committed" => {
                    return refuse(
                        key,
                        value,
                        "exactly-once reads only committed transactions (read_committed)",
                    )
                }
                "enable.idempotence" if self.exactly_once() && v != "true" => {
                    return refuse(key, value, "transactions need an idempotent producer")
                }
                _ => {}
            }
        }
        if self.num_stream_threads == 0 {
            return Err(crate::error::StreamsError::Config(
                "num_stream_threads must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Sets the replication factor of internal topics created at start-up; -1 (or any
    /// value below 1) takes the broker's default.
    pub fn replication_factor(mut self, r: i32) -> Self {
        self.replication_factor = if r < 1 { -1 } else { r };
        self
    }
}

/// Client settings the runtime owns: overriding them would break its guarantees, so
/// [`StreamsConfig::validate`] refuses them, naming why.
const OWNED: [(&str, &str); 8] = [
    ("bootstrap.servers", "set it with StreamsConfig::new"),
    ("group.id", "the application id is the consumer group"),
    (
        "enable.auto.commit",
        "offsets are committed only after every output of the records before them is acknowledged",
    ),
    (
        "enable.auto.offset.store",
        "offsets are committed only after every output of the records before them is acknowledged",
    ),
    (
        "partition.assignment.strategy",
        "range over identical subscriptions keeps co-partitioned topics together; records dropped at a cooperative rebalance would never be read again",
    ),
    (
        "group.protocol",
        "stream threads rely on the classic group protocol's eager revocation",
    ),
    (
        "transactional.id",
        "exactly-once names each thread's producer after the application and process id",
    ),
    (
        "enable.partition.eof",
        "the runtime's consumers do not expect end-of-partition events",
    ),
];

/// `<temp dir>/kstreams-<uid>`: per user, so no other user's process shares (or plants) it;
/// created private (`0700`) at start-up.
fn default_state_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("kstreams-{uid}"))
}

/// Whether a librdkafka setting holds a secret: a password, a private key, or credentials.
pub(crate) fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.contains("jaas")
        || key == "ssl.key.pem"
        || key == "ssl_key"
        || key == "sasl.oauthbearer.config"
}

fn redacted(settings: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    settings
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret(k) {
                "[redacted]"
            } else {
                v.as_str()
            };
            (k.as_str(), shown)
        })
        .collect()
}

impl std::fmt::Debug for StreamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsConfig")
            .field("application_id", &self.application_id)
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("num_stream_threads", &self.num_stream_threads)
            .field("commit_interval", &self.commit_interval)
            .field("state_dir", &self.state_dir)
            .field("processing_guarantee", &self.processing_guarantee)
            .field("auto_offset_reset", &self.auto_offset_reset)
            .field(
                "deserialization_handler",
                &self.deserialization_handler.name(),
            )
            .field("processing_handler", &self.processing_handler.name())
            .field("production_handler", &self.production_handler.name())
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("client_config", &redacted(&self.client_config))
            .field("consumer_config", &redacted(&self.consumer_config))
            .field("producer_config", &redacted(&self.producer_config))
            .field("replication_factor", &self.replication_factor)
            .field("startup_timeout", &self.startup_timeout)
            .field("memory_budget", &self.memory_budget)
            .field("max_task_idle", &self.max_task_idle)
            .field(
                "buffered_records_per_partition",
                &self.buffered_records_per_partition,
            )
            .field("replacement_backoff", &self.replacement_backoff)
            .field("max_thread_replacements", &self.max_thread_replacements)
            .field("http_listener", &self.http_listener)
            .field("application_server", &self.application_server)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_the_guarantees_rest_on_are_refused() {
        let alos = || StreamsConfig::new("app", "b:9092");
        let eos = || alos().processing_guarantee(ProcessingGuarantee::ExactlyOnceV2);
        for (config, key) in [
            (
                alos().client_config("partition.assignment.strategy", "cooperative-sticky"),
                "partition.assignment.strategy",
            ),
            (
                alos().consumer_config("enable.auto.commit", "true"),
                "enable.auto.commit",
            ),
            (alos().client_config("acks", "1"), "acks"),
            (alos().client_config("group.id", "other"), "group.id"),
            (
                eos().consumer_config("isolation.level", "read_uncommitted"),
                "isolation.level",
            ),
            (
                eos().client_config("enable.idempotence", "false"),
                "enable.idempotence",
            ),
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        // Harmless ones pass: read_uncommitted under at-least-once, acks=all, tuning.
        alos()
            .consumer_config("isolation.level", "read_uncommitted")
            .client_config("acks", "all")
            .client_config("linger.ms", "20")
            .validate()
            .unwrap();
    }

    #[test]
    fn debug_redacts_every_secret_setting() {
        let config = StreamsConfig::new("app", "b:9093")
            .client_config("sasl.password", "pw-1")
            .client_config("ssl.key.password", "pw-2")
            .client_config("ssl.key.pem", "-----BEGIN PRIVATE KEY----- pw-3")
            .client_config("sasl.oauthbearer.client.secret", "pw-4")
            .client_config("sasl.oauthbearer.config", "principal=x secret=pw-5")
            .consumer_config("ssl.keystore.password", "pw-6")
            .client_config("sasl.username", "alice");
        let shown = format!("{config:?} {config:#?}");
        for n in 1..=6 {
            assert!(
                !shown.contains(&format!("pw-{n}")),
                "pw-{n} leaked: {shown}"
            );
        }
        assert!(shown.contains("alice"), "non-secret settings stay visible");
        assert_eq!(shown.matches("[redacted]").count(), 12);
    }
}
