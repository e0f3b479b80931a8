//! A real Kafka-protocol broker for tests: librdkafka's in-process mock cluster by default,
//! or the external broker named by `KSTREAMS_BOOTSTRAP`.
//!
//! Broker tests always run: without `KSTREAMS_BOOTSTRAP` they run on the mock, which speaks
//! the Kafka protocol over real sockets, so other processes can join it too.
//!
//! Where the mock differs from Kafka in ways a test can see: besides its known limits
//! (no CreateTopics, compaction or transaction markers, a bounded log), its
//! group coordinator refuses offset commits (REBALANCE_IN_PROGRESS) from the moment a member
//! joins until the rebalance completes, where Kafka accepts the current generation's. A
//! commit on revocation then fails, and records processed since the last commit are
//! processed again by their next owner: at-least-once, but a test that counts exactly must
//! send its records once the group is stable.

use kstreams::Topology;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
}

/// The broker a test runs against.
pub struct TestBroker {
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
    bootstrap: String,
}

impl TestBroker {
    /// `KSTREAMS_BOOTSTRAP` if set, else a new in-process mock cluster with one broker.
    ///
    /// # Panics
    /// If the mock cluster cannot be created: the test cannot run at all.
    pub fn from_env() -> TestBroker {
        match std::env::var("KSTREAMS_BOOTSTRAP") {
            Ok(b) if !b.is_empty() => TestBroker {
                mock: None,
                bootstrap: b,
            },
            _ => {
                let mock = MockCluster::new(1).expect("librdkafka mock cluster");
                let bootstrap = mock.bootstrap_servers();
                TestBroker {
                    mock: Some(mock),
                    bootstrap,
                }
            }
        }
    }

    /// The broker at `bootstrap`, or a new in-process mock cluster when `None` (the
    /// embedded broker of demos).
    ///
    /// # Panics
    /// If the mock cluster cannot be created.
    pub fn connect(bootstrap: Option<&str>) -> TestBroker {
        match bootstrap {
            Some(b) => TestBroker {
                mock: None,
                bootstrap: b.to_string(),
            },
            None => {
                let mock = MockCluster::new(1).expect("librdkafka mock cluster");
                let bootstrap = mock.bootstrap_servers();
                TestBroker {
                    mock: Some(mock),
                    bootstrap,
                }
            }
        }
    }

    /// Bootstrap servers.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The mock cluster, for fault injection; `None` on an external broker.
    pub fn mock(&self) -> Option<&MockCluster<'static, DefaultProducerContext>> {
        self.mock.as_ref()
    }

    /// A name no other test run has used, so tests can share an external broker.
    ///
    /// `<name>-<pid>-<nanos>-<n>`: the clock alone is not enough, because tests running in
    /// parallel threads of one process can read the same nanosecond; `n` counts this
    /// process's calls.
    pub fn unique(name: &str) -> String {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!(
            "{name}-{}-{}-{}",
            std::process::id(),
            nanos % 1_000_000_000,
            CALLS.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Creates a topic, through the mock's API or the admin API.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), String> {
        self.create_topic_with(name, partitions, &[])
    }

    /// Creates a topic with topic configs (`cleanup.policy=compact`, say); the mock, which
    /// has no topic configs, ignores them.
    pub fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<(), String> {
        if let Some(mock) = &self.mock {
            return mock
                .create_topic(name, partitions, 1)
                .map_err(|e| e.to_string());
        }
        // -1: the broker's default.replication.factor (3 on a three-broker test cluster).
        self.create_on_broker(
            NewTopic::new(name, partitions, TopicReplication::Fixed(-1)),
            configs,
        )
    }

    /// Creates a topic whose partition `p` lives on the brokers `replicas[p]`, the first of
    /// them its preferred leader (external brokers only: the mock has no CreateTopics).
    pub fn create_topic_on(&self, name: &str, replicas: &[&[i32]]) -> Result<(), String> {
        if self.mock.is_some() {
            return Err("replica assignment needs an external broker".into());
        }
        self.create_on_broker(
            NewTopic::new(
                name,
                replicas.len() as i32,
                TopicReplication::Variable(replicas),
            ),
            &[],
        )
    }

    fn create_on_broker(
        &self,
        topic: NewTopic<'_>,
        configs: &[(&str, &str)],
    ) -> Result<(), String> {
        let (name, partitions) = (topic.name, topic.num_partitions);
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .map_err(|e| e.to_string())?;
        let mut topic = topic;
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let res =
            futures_block_on(admin.create_topics([&topic], &opts)).map_err(|e| e.to_string())?;
        for r in res {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((n, e)) => return Err(format!("creating {n}: {e}")),
            }
        }
        // Wait for the topic to show in metadata.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let md = admin
                .inner()
                .fetch_metadata(None, Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            if md
                .topics()
                .iter()
                .any(|t| t.name() == name && t.partitions().len() == partitions as usize)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("topic {name} not visible after creation"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The mock has no CreateTopics: create the topology's internal topics through its API,
    /// as an operator would before start-up. On an external broker the runtime creates them.
    pub fn prepare_internal_topics(
        &self,
        topology: &Topology,
        application_id: &str,
        partitions: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<(), String> {
        if self.mock.is_none() {
            return Ok(());
        }
        let topics = topology
            .internal_topics(application_id, partitions)
            .map_err(|e| e.to_string())?;
        for t in topics {
            self.create_topic(&t.name, t.partitions as i32)?;
        }
        Ok(())
    }

    /// A producer for test input (acks=all, murmur2 like Java). On a broker with the
    /// `midbatch` gap it writes one record per batch, so that no consumer ever has to resume
    /// inside a batch.
    pub fn producer(&self) -> BaseProducer {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5");
        if broker_has_gap("midbatch") {
            c.set("batch.num.messages", "1").set("linger.ms", "0");
        }
        c.create().expect("test producer")
    }

    /// A producer that batches whatever the broker's gaps (for conformance checks).
    pub fn batching_producer(bootstrap: &str) -> BaseProducer {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("acks", "all")
            .set("linger.ms", "50")
            .create()
            .expect("test producer")
    }

    /// Produces keyed string records and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, records: impl IntoIterator<Item = (String, String)>) {
        Self::produce_with(&self.producer(), topic, records)
    }

    /// Produces with the given producer and waits until all are acknowledged.
    pub fn produce_with(
        producer: &BaseProducer,
        topic: &str,
        records: impl IntoIterator<Item = (String, String)>,
    ) {
        Self::produce_timed(
            producer,
            topic,
            records.into_iter().map(|(k, v)| (k, v, None)),
        );
    }

    /// Writes records with explicit timestamps (ms), waiting for acknowledgement.
    pub fn produce_at(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = (String, String, i64)>,
    ) {
        let producer = self.producer();
        Self::produce_timed(
            &producer,
            topic,
            records.into_iter().map(|(k, v, t)| (k, v, Some(t))),
        );
    }

    fn produce_timed(
        producer: &BaseProducer,
        topic: &str,
        records: impl IntoIterator<Item = (String, String, Option<i64>)>,
    ) {
        for (k, v, ts) in records {
            let mut rec = BaseRecord::to(topic)
                .key(k.as_bytes())
                .payload(v.as_bytes());
            if let Some(ts) = ts {
                rec = rec.timestamp(ts);
            }
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        producer.poll(Duration::from_millis(50));
                        rec = back;
                    }
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(60))
            .expect("test input acknowledged");
    }

    /// Reads `topic` from the beginning until `expected` records arrived or `timeout`
    /// passed. Returns what it read.
    pub fn consume(
        &self,
        topic: &str,
        partitions: i32,
        expected: usize,
        timeout: Duration,
    ) -> Vec<ConsumedRecord> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", Self::unique("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("test consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push(ConsumedRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                });
            }
        }
        out
    }
}

impl TestBroker {
    /// Reads every record of `topic` up to the partitions' end offsets as of the call
    /// (past transaction markers too), or fails after `timeout`.
    ///
    /// # Panics
    /// If the end is not reached in time: the test cannot judge a partial read.
    pub fn consume_to_end(
        &self,
        topic: &str,
        partitions: i32,
        timeout: Duration,
    ) -> Vec<ConsumedRecord> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", Self::unique("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("test consumer");
        let ends: Vec<i64> = (0..partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .expect("end offsets")
                    .1
            })
            .collect();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut next = vec![0i64; partitions as usize];
        while next.iter().zip(&ends).any(|(n, e)| n < e) {
            assert!(
                Instant::now() < deadline,
                "reading {topic} to its end offsets {ends:?} timed out at {next:?}"
            );
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    next[m.partition() as usize] = m.offset() + 1;
                    out.push(ConsumedRecord {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                    });
                }
                _ => {
                    if let Ok(pos) = consumer.position() {
                        for e in pos.elements() {
                            if let Offset::Offset(o) = e.offset() {
                                let p = e.partition() as usize;
                                next[p] = next[p].max(o);
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// Whether `KSTREAMS_BROKER_GAPS` (a comma-separated list) names this gap of the broker
/// under test: `takeover` (a SIGKILLed member keeps its partitions), `midbatch` (a consumer
/// resuming inside a record batch skips the rest of it).
pub fn broker_has_gap(gap: &str) -> bool {
    std::env::var("KSTREAMS_BROKER_GAPS").is_ok_and(|g| g.split(',').any(|x| x.trim() == gap))
}

/// Drives a future to completion on this thread (admin calls only).
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(50)),
        }
    }
}

/// Sends this process's tracing events to the test harness's captured output (shown for a
/// failing test), filtered by `RUST_LOG` or else by `default_filter` (`"warn"`,
/// `"kstreams=info"`). Only the first call in a process installs it.
pub fn log_to_test_output(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_test_writer()
        .try_init();
}

/// Parses a librdkafka setting given on a command line as `key=value` (a clap
/// `value_parser` for the testkit's and the benchmarks' binaries).
///
/// ```
/// use kstreams_testkit::broker::parse_client_setting;
///
/// assert_eq!(
///     parse_client_setting("fetch.queue.backoff.ms=1000"),
///     Ok(("fetch.queue.backoff.ms".to_string(), "1000".to_string()))
/// );
/// // A value may itself hold '='; a setting needs a name.
/// assert_eq!(
///     parse_client_setting("sasl.jaas.config=a=b"),
///     Ok(("sasl.jaas.config".to_string(), "a=b".to_string()))
/// );
/// assert!(parse_client_setting("linger.ms").is_err());
/// assert!(parse_client_setting("=5").is_err());
/// ```
pub fn parse_client_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}
