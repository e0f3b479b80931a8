//! An embedded Kafka-protocol broker: librdkafka's in-process mock cluster.

use super::{Admin, AdminError, AdminResult, NewTopic};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};
use std::fmt;
use std::sync::Arc;

/// librdkafka's mock cluster (rdkafka's [`MockCluster`]) running in this process: real
/// Kafka-protocol brokers on local sockets, so any client (another process too) can use
/// it through [`bootstrap_servers`](Self::bootstrap_servers). For demos and tests that
/// need no install; not for data that matters.
///
/// Its limits (librdkafka's, not settable): no CreateTopics or DeleteTopics request (create
/// topics through [`admin`](Self::admin), which uses the mock's own API), no topic configs
/// and so no compaction, no transaction markers, and each partition keeps only its newest
/// ~5 MiB or 100,000 batches: a consumer further behind loses records, so keep readers
/// close behind the writers and reconcile counts. A client asking for a topic by name
/// creates it with 4 partitions; [`Admin`] never asks by name.
///
/// Its group coordinator ends a rebalance on a timer, not when every member has rejoined:
/// a member joining a running group holds the group for the session timeout less a second
/// (44 s at librdkafka's default). Instances that share a group here should set a short
/// `session.timeout.ms` through
/// [`StreamsConfig::consumer_config`](crate::runtime::kafka::StreamsConfig::consumer_config),
/// as `examples/http_word_count.rs` does.
///
/// The brokers stop when the cluster and every [`Admin`] made from it are dropped.
///
/// ```
/// use kstreams::runtime::kafka::{EmbeddedCluster, NewTopic};
///
/// let cluster = EmbeddedCluster::start()?;
/// let admin = cluster.admin()?;
/// admin.create_topics(&[NewTopic::new("text-input", 4)])?;
/// assert_eq!(admin.partition_count("text-input")?, Some(4));
/// // A KafkaStreams instance or any rdkafka client connects here:
/// assert!(!cluster.bootstrap_servers().is_empty());
/// # Ok::<(), kstreams::runtime::kafka::AdminError>(())
/// ```
#[derive(Clone)]
pub struct EmbeddedCluster {
    handle: Handle,
}

/// Shared ownership of the mock: the cluster and the admins made from it.
#[derive(Clone)]
pub(super) struct Handle(Arc<Inner>);

struct Inner {
    /// The client that owns the mock cluster (librdkafka's `test.mock.num.brokers`):
    /// librdkafka destroys the mock with it. Owned through a client rather than as a bare
    /// `MockCluster`, which holds a raw pointer and so is neither `Send` nor `Sync`; the
    /// mock itself is created by the same `rd_kafka_mock_cluster_new` call either way.
    owner: BaseProducer,
    bootstrap: String,
    brokers: u32,
}

impl fmt::Debug for EmbeddedCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedCluster")
            .field("bootstrap", &self.handle.0.bootstrap)
            .field("brokers", &self.handle.0.brokers)
            .finish()
    }
}

impl EmbeddedCluster {
    /// Starts a cluster of one broker.
    pub fn start() -> AdminResult<EmbeddedCluster> {
        Self::with_brokers(1)
    }

    /// Starts a cluster of `brokers` brokers (at least one).
    pub fn with_brokers(brokers: u32) -> AdminResult<EmbeddedCluster> {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.max(1).to_string())
            .set("client.id", "kstreams-embedded-cluster")
            .create()
            .map_err(|e| AdminError::Client(e.into()))?;
        let bootstrap = owner
            .client()
            .mock_cluster()
            .map(|m| m.bootstrap_servers())
            .ok_or_else(|| {
                AdminError::Client(KafkaError::MockCluster(RDKafkaErrorCode::Fail).into())
            })?;
        tracing::info!("embedded Kafka cluster on {bootstrap}");
        Ok(EmbeddedCluster {
            handle: Handle(Arc::new(Inner {
                owner,
                bootstrap,
                brokers: brokers.max(1),
            })),
        })
    }

    /// The brokers' addresses, for `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.handle.0.bootstrap
    }

    /// How many brokers the cluster has.
    pub fn brokers(&self) -> u32 {
        self.handle.0.brokers
    }

    /// An admin client for this cluster; it creates topics through the mock's API.
    pub fn admin(&self) -> AdminResult<Admin> {
        let mut admin = Admin::new(self.bootstrap_servers())?;
        admin.embedded = Some(self.handle.clone());
        Ok(admin)
    }

    /// librdkafka's mock API, for fault injection in tests (request errors, brokers down,
    /// round-trip times). `None` only if librdkafka no longer owned the mock, which does
    /// not happen while the cluster exists.
    pub fn mock(&self) -> Option<MockCluster<'_, DefaultProducerContext>> {
        self.handle.0.owner.client().mock_cluster()
    }
}

impl Handle {
    /// Creates topics through the mock's API (it has no CreateTopics). One that exists
    /// already, created since the caller looked, is left for the caller's metadata check.
    pub(super) fn create_topics(&self, topics: &[&NewTopic]) -> AdminResult<()> {
        let mock = self
            .0
            .owner
            .client()
            .mock_cluster()
            .ok_or(AdminError::Unsupported("reach its mock API"))?;
        for t in topics {
            if !t.config.is_empty() {
                tracing::debug!(
                    "embedded cluster: topic {} created without its configs {:?} (the mock has none)",
                    t.name,
                    t.config
                );
            }
            // -1 is the broker's default, which the mock takes as min(3, brokers); its
            // API wants the number itself.
            let replicas = if t.replication_factor > 0 {
                t.replication_factor
            } else {
                self.0.brokers.min(3) as i32
            };
            // Checked by the caller: at most i32::MAX.
            match mock.create_topic(&t.name, t.partitions as i32, replicas) {
                Ok(()) => tracing::info!("created topic {} on the embedded cluster", t.name),
                Err(KafkaError::MockCluster(RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err(e @ KafkaError::MockCluster(_)) => {
                    return Err(AdminError::CreateFailed {
                        topic: t.name.clone(),
                        source: e.into(),
                    })
                }
                Err(source) => {
                    return Err(AdminError::Request {
                        operation: format!("creating topic {} on the embedded cluster", t.name),
                        source: source.into(),
                    })
                }
            }
        }
        Ok(())
    }
}
