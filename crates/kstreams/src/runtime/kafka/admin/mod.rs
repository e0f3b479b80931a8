//! Topic administration for applications and tools: create, delete and inspect topics,
//! with the same client settings (security, timeouts) as every other client of kstreams.
//!
//! [`Admin`] is a blocking facade over librdkafka's admin client. Creation is idempotent:
//! a topic that already exists with the requested partition count is success, one that
//! exists with another count is [`AdminError::PartitionMismatch`], naming the topic, and no
//! topic of the call is created then. Every call returns once the cluster's metadata shows
//! the result, so a producer or a `KafkaStreams` started right after finds the topics.
//!
//! ```no_run
//! use kstreams::runtime::kafka::{Admin, NewTopic, StreamsConfig};
//!
//! // The application's own settings (here SASL over TLS) reach the admin client too.
//! let config = StreamsConfig::new("orders", "broker-1:9093")
//!     .client_config("security.protocol", "SASL_SSL")
//!     .client_config("sasl.mechanism", "SCRAM-SHA-512")
//!     .client_config("sasl.username", "orders")
//!     .client_config("sasl.password", "secret");
//! let admin = Admin::from_config(&config)?;
//! admin.create_topics(&[
//!     NewTopic::new("orders", 12).replication_factor(3),
//!     NewTopic::new("customers", 12).config("cleanup.policy", "compact"),
//! ])?;
//! assert_eq!(admin.partition_count("orders")?, Some(12));
//! # Ok::<(), kstreams::runtime::kafka::AdminError>(())
//! ```
//!
//! With the `embedded` feature (on by default), [`EmbeddedCluster`] starts librdkafka's
//! in-process mock broker, and its [`EmbeddedCluster::admin`] creates topics through the
//! mock's own API, since the mock has no CreateTopics.

#[cfg(feature = "embedded")]
mod embedded;

#[cfg(feature = "embedded")]
pub use embedded::EmbeddedCluster;

use super::clients;
use super::topics::{self, ClientErrors, MetadataClient, MetadataFailure};
use super::StreamsConfig;
use crate::error::ClientError;
use rdkafka::admin::{AdminClient, AdminOptions, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

/// How long calls wait for the cluster by default (as `StreamsConfig::startup_timeout`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Kafka's longest topic name.
const MAX_TOPIC_NAME: usize = 249;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// librdkafka refused the client configuration (an unknown or invalid setting).
    #[error("creating the admin client: {0}")]
    Client(#[source] ClientError),
    /// A topic specification Kafka would refuse, checked before anything is sent.
    #[error("invalid topic {topic:?}: {reason}")]
    InvalidTopic {
        /// The topic as given.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The topic exists with another partition count than requested.
    #[error("topic {topic} exists with {existing} partitions, not the {requested} requested")]
    PartitionMismatch {
        /// The topic.
        topic: String,
        /// Its partitions on the cluster.
        existing: u32,
        /// The partitions asked for.
        requested: u32,
    },
    /// The cluster refused to create the topic.
    #[error("creating topic {topic}: {source}")]
    CreateFailed {
        /// The topic.
        topic: String,
        /// The broker's answer.
        #[source]
        source: ClientError,
    },
    /// The cluster could not describe the topic's configs (no such topic, say).
    #[error("describing the configs of topic {topic}: {source}")]
    DescribeFailed {
        /// The topic.
        topic: String,
        /// The broker's answer.
        #[source]
        source: ClientError,
    },
    /// The cluster refused to delete the topic.
    #[error("deleting topic {topic}: {source}")]
    DeleteFailed {
        /// The topic.
        topic: String,
        /// The broker's answer.
        #[source]
        source: ClientError,
    },
    /// A request as a whole failed: the cluster did not answer in time, a transport or
    /// authentication failure (librdkafka's reason is in `operation`).
    #[error("{operation}: {source}")]
    Request {
        /// What was asked.
        operation: String,
        /// librdkafka's error.
        #[source]
        source: ClientError,
    },
    /// The cluster accepted the request, but its metadata did not show the result in time.
    #[error("{operation} {topics:?}: not seen in the cluster's metadata after {timeout:?}")]
    Timeout {
        /// `creating` or `deleting`.
        operation: &'static str,
        /// The topics still waited for.
        topics: Vec<String>,
        /// How long was waited.
        timeout: Duration,
    },
    /// The embedded broker has no such request (librdkafka's mock implements neither
    /// CreateTopics nor DeleteTopics; creation goes through its own API).
    #[error("the embedded broker cannot {0}")]
    Unsupported(&'static str),
}

impl From<MetadataFailure> for AdminError {
    fn from(f: MetadataFailure) -> Self {
        AdminError::Request {
            operation: f.context,
            source: f.source.into(),
        }
    }
}

/// Result of admin operations.
pub type AdminResult<T> = std::result::Result<T, AdminError>;

/// A topic to create.
///
/// ```
/// use kstreams::runtime::kafka::NewTopic;
///
/// let t = NewTopic::new("customers", 8).config("cleanup.policy", "compact");
/// assert_eq!((t.partitions, t.replication_factor), (8, -1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// Its partitions.
    pub partitions: u32,
    /// Its replication factor; -1 (the default) takes the broker's
    /// `default.replication.factor`.
    pub replication_factor: i32,
    /// Topic configs (`cleanup.policy`, `retention.ms`, ...). The embedded broker has no
    /// topic configs and ignores them.
    pub config: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `partitions` partitions, the broker's replication factor, no configs.
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: -1,
            config: BTreeMap::new(),
        }
    }

    /// Sets the replication factor.
    pub fn replication_factor(mut self, replicas: i32) -> Self {
        self.replication_factor = replicas;
        self
    }

    /// Sets a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    fn check(&self) -> AdminResult<()> {
        let invalid = |reason: &str| AdminError::InvalidTopic {
            topic: self.name.clone(),
            reason: reason.to_string(),
        };
        check_name(&self.name)?;
        if self.partitions == 0 || self.partitions > i32::MAX as u32 {
            return Err(invalid("partitions must be between 1 and 2^31-1"));
        }
        if self.replication_factor == 0
            || self.replication_factor < -1
            || self.replication_factor > i32::from(i16::MAX)
        {
            return Err(invalid(
                "replication factor must be -1 (the broker's default) or 1 to 32767",
            ));
        }
        Ok(())
    }
}

/// Kafka's rules for topic names, checked here so that the embedded broker, which takes
/// any name, refuses what a real cluster would.
fn check_name(name: &str) -> AdminResult<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name == "." || name == ".." {
        "`.` and `..` are not topic names"
    } else if name.len() > MAX_TOPIC_NAME {
        "longer than 249 characters"
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        "only ASCII letters, digits, `.`, `_` and `-` are allowed"
    } else {
        return Ok(());
    };
    Err(AdminError::InvalidTopic {
        topic: name.to_string(),
        reason: reason.to_string(),
    })
}

/// A blocking admin client: creates, deletes and describes topics. See the
/// [module documentation](self) for an example.
///
/// Built from a [`StreamsConfig`] ([`Admin::from_config`]) or from bootstrap servers and
/// librdkafka settings ([`Admin::with_client_config`]); either way the configuration is
/// made where every other client of kstreams gets its own, so security settings apply.
/// `Send` and `Sync`: one admin can serve several threads.
pub struct Admin {
    admin: AdminClient<DefaultClientContext>,
    metadata: MetadataClient,
    bootstrap: String,
    timeout: Duration,
    #[cfg(feature = "embedded")]
    embedded: Option<embedded::Handle>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the client settings: they may hold credentials.
        f.debug_struct("Admin")
            .field("bootstrap", &self.bootstrap)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// An admin client for the cluster at `bootstrap_servers`, with librdkafka's default
    /// settings (plaintext).
    pub fn new(bootstrap_servers: &str) -> AdminResult<Admin> {
        Self::with_client_config(bootstrap_servers, BTreeMap::<String, String>::new())
    }

    /// An admin client for the cluster at `bootstrap_servers` with librdkafka settings
    /// (`security.protocol`, `sasl.*`, `ssl.*`, ...), as `StreamsConfig::client_config`
    /// takes them. `client.id` is `kstreams-admin` unless the settings name another.
    pub fn with_client_config<K, V>(
        bootstrap_servers: &str,
        client_config: impl IntoIterator<Item = (K, V)>,
    ) -> AdminResult<Admin>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let settings: BTreeMap<String, String> = client_config
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::build(
            &clients::standalone_admin_config(bootstrap_servers, &settings),
            bootstrap_servers,
            DEFAULT_TIMEOUT,
        )
    }

    /// The admin client of the application `config` describes: its bootstrap servers,
    /// its `client_config` (security and all), `client.id` `<application.id>-admin`, and
    /// its `startup_timeout` as the timeout.
    pub fn from_config(config: &StreamsConfig) -> AdminResult<Admin> {
        Self::build(
            &clients::admin_config(config),
            &config.bootstrap_servers,
            config.startup_timeout,
        )
    }

    fn build(config: &ClientConfig, bootstrap: &str, timeout: Duration) -> AdminResult<Admin> {
        Ok(Admin {
            admin: config.create().map_err(client_error)?,
            metadata: config
                .create_with_context(ClientErrors::default())
                .map_err(client_error)?,
            bootstrap: bootstrap.to_string(),
            timeout,
            #[cfg(feature = "embedded")]
            embedded: None,
        })
    }

    /// How long each call waits for the cluster: for its answer, and for its metadata to
    /// show the result. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bootstrap servers this client talks to.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Every topic of the cluster with its partition count. Asks for all topics, never for
    /// named ones, so that a broker with automatic topic creation creates nothing.
    pub fn topics(&self) -> AdminResult<BTreeMap<String, u32>> {
        Ok(self.topic_map()?.into_iter().collect())
    }

    fn topic_map(&self) -> AdminResult<HashMap<String, u32>> {
        Ok(topics::cluster_topics(&self.metadata, self.timeout)?)
    }

    /// Partitions of `topic`, or `None` if the cluster has no such topic (and creates none:
    /// see [`topics`](Self::topics)).
    pub fn partition_count(&self, topic: &str) -> AdminResult<Option<u32>> {
        Ok(self.topic_map()?.get(topic).copied())
    }

    /// Creates the topics that do not exist yet and waits until the cluster's metadata
    /// shows them.
    ///
    /// A topic that exists with the requested partition count is success, whatever its
    /// configs (they are not compared). One that exists with another count is
    /// [`AdminError::PartitionMismatch`]; every topic is checked before any is created,
    /// so then nothing is.
    pub fn create_topics(&self, new: &[NewTopic]) -> AdminResult<()> {
        let mut names = HashSet::new();
        for t in new {
            t.check()?;
            if !names.insert(t.name.as_str()) {
                return Err(AdminError::InvalidTopic {
                    topic: t.name.clone(),
                    reason: "named twice in one call".into(),
                });
            }
        }
        let existing = self.topic_map()?;
        let mut missing = Vec::new();
        for t in new {
            match existing.get(&t.name) {
                Some(&n) if n == t.partitions => {}
                Some(&n) => return Err(mismatch(t, n)),
                None => missing.push(t),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        #[cfg(feature = "embedded")]
        if let Some(cluster) = &self.embedded {
            cluster.create_topics(&missing)?;
            return self.await_created(&missing);
        }
        self.create_on_broker(&missing)?;
        self.await_created(&missing)
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.timeout))
            .request_timeout(Some(self.timeout))
    }

    fn create_on_broker(&self, missing: &[&NewTopic]) -> AdminResult<()> {
        let specs: Vec<rdkafka::admin::NewTopic<'_>> = missing
            .iter()
            .map(|t| {
                t.config.iter().fold(
                    rdkafka::admin::NewTopic::new(
                        &t.name,
                        // Checked: at most i32::MAX.
                        t.partitions as i32,
                        TopicReplication::Fixed(t.replication_factor),
                    ),
                    |nt, (k, v)| nt.set(k, v),
                )
            })
            .collect();
        let results = futures_executor::block_on(self.admin.create_topics(&specs, &self.options()))
            .map_err(|source| AdminError::Request {
                operation: format!("creating topics on {}", self.bootstrap),
                source: source.into(),
            })?;
        for r in results {
            match r {
                Ok(name) => tracing::info!("created topic {name}"),
                // Created meanwhile by someone else: its partition count is checked with
                // the metadata below.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(AdminError::CreateFailed {
                        topic,
                        source: KafkaError::AdminOp(code).into(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Waits until the metadata shows every topic of `created` with its partitions; one
    /// created meanwhile by someone else with another count is a mismatch.
    fn await_created(&self, created: &[&NewTopic]) -> AdminResult<()> {
        self.await_metadata("creating", |now| {
            let mut waiting = Vec::new();
            for t in created {
                match now.get(&t.name) {
                    Some(&n) if n == t.partitions => {}
                    Some(&n) => return Err(mismatch(t, n)),
                    None => waiting.push(t.name.clone()),
                }
            }
            Ok(waiting)
        })
    }

    /// Reads the cluster's topics until `waiting` finds none left to wait for (or fails),
    /// for at most the timeout; `operation` names what is waited for in the error.
    fn await_metadata(
        &self,
        operation: &'static str,
        waiting: impl Fn(&HashMap<String, u32>) -> AdminResult<Vec<String>>,
    ) -> AdminResult<()> {
        let deadline = crate::time::deadline(self.timeout);
        loop {
            let topics = waiting(&self.topic_map()?)?;
            if topics.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(AdminError::Timeout {
                    operation,
                    topics,
                    timeout: self.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The configs of `topic` as the cluster applies them (`cleanup.policy`,
    /// `retention.ms`, `compression.type`, ...), its defaults included: what a topic
    /// created by [`create_topics`](Self::create_topics) really got.
    ///
    /// The embedded broker has no topic configs: [`AdminError::Unsupported`].
    pub fn topic_config(&self, topic: &str) -> AdminResult<BTreeMap<String, String>> {
        check_name(topic)?;
        #[cfg(feature = "embedded")]
        if self.embedded.is_some() {
            return Err(AdminError::Unsupported("describe topic configs"));
        }
        let spec = [rdkafka::admin::ResourceSpecifier::Topic(topic)];
        let results =
            futures_executor::block_on(self.admin.describe_configs(&spec, &self.options()))
                .map_err(|source| AdminError::Request {
                    operation: format!("describing topic {topic} on {}", self.bootstrap),
                    source: source.into(),
                })?;
        let failed = |code| AdminError::DescribeFailed {
            topic: topic.to_string(),
            source: KafkaError::AdminOp(code).into(),
        };
        match results.into_iter().next() {
            // A topic always has configs (the broker's defaults at least); Kafka answers
            // a missing one with none rather than with an error code.
            Some(Ok(resource)) if !resource.entries.is_empty() => Ok(resource
                .entries
                .into_iter()
                .filter_map(|e| Some((e.name, e.value?)))
                .collect()),
            Some(Err(code)) => Err(failed(code)),
            Some(Ok(_)) | None => Err(failed(RDKafkaErrorCode::UnknownTopicOrPartition)),
        }
    }

    /// Deletes topics and waits until the cluster's metadata no longer shows them. A topic
    /// that does not exist is success, so deleting is idempotent like creating.
    ///
    /// The embedded broker cannot delete topics: [`AdminError::Unsupported`].
    pub fn delete_topics<S: AsRef<str>>(&self, topics: &[S]) -> AdminResult<()> {
        let names: Vec<&str> = topics.iter().map(AsRef::as_ref).collect();
        for n in &names {
            check_name(n)?;
        }
        #[cfg(feature = "embedded")]
        if self.embedded.is_some() {
            return Err(AdminError::Unsupported("delete topics"));
        }
        if names.is_empty() {
            return Ok(());
        }
        let results = futures_executor::block_on(self.admin.delete_topics(&names, &self.options()))
            .map_err(|source| AdminError::Request {
                operation: format!("deleting topics on {}", self.bootstrap),
                source: source.into(),
            })?;
        for r in results {
            match r {
                Ok(name) => tracing::info!("deleted topic {name}"),
                Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => {
                    return Err(AdminError::DeleteFailed {
                        topic,
                        source: KafkaError::AdminOp(code).into(),
                    })
                }
            }
        }
        self.await_metadata("deleting", |now| {
            Ok(names
                .iter()
                .filter(|n| now.contains_key(**n))
                .map(|n| n.to_string())
                .collect())
        })
    }
}

fn client_error(e: KafkaError) -> AdminError {
    AdminError::Client(e.into())
}

fn mismatch(t: &NewTopic, existing: u32) -> AdminError {
    AdminError::PartitionMismatch {
        topic: t.name.clone(),
        existing,
        requested: t.partitions,
    }
}

// The tests run on the embedded cluster unless KSTREAMS_BOOTSTRAP names a broker.
#[cfg(all(test, feature = "embedded"))]
mod tests;
