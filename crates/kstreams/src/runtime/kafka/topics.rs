//! Start-up checks and internal topic creation, through the admin API.
//!
//! Nothing relies on automatic topic creation: source topics must exist, repartition and
//! changelog topics are created here with their partition counts (changelogs compacted,
//! window stores' deleted by time as well),
//! and co-partitioned topics are checked to have equal counts.

use super::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::topology::Topology;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn kafka(context: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> StreamsError + '_ {
    move |source| StreamsError::Kafka {
        context: context.to_string(),
        source: source.into(),
    }
}

/// Keeps the client-level errors librdkafka reports (authentication, TLS), which a failed
/// request itself only reports as a transport failure.
#[derive(Default)]
pub(crate) struct ClientErrors {
    fatal: Mutex<Option<String>>,
}

impl ClientContext for ClientErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        let fatal = error.rdkafka_error_code().is_some_and(|c| {
            matches!(
                c,
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SSL
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
                    | RDKafkaErrorCode::TopicAuthorizationFailed
            )
        });
        if fatal {
            *self.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
        } else {
            tracing::warn!("metadata client: {error}: {reason}");
        }
    }
}

impl ConsumerContext for ClientErrors {}

/// A client for metadata requests only (no group, no assignment): unlike the admin client,
/// polling it serves librdkafka's error events, so start-up can tell an authentication
/// failure from a broker that is slow to answer.
pub(crate) type MetadataClient = BaseConsumer<ClientErrors>;

/// A metadata request that failed: what was asked (with librdkafka's reason for a fatal
/// client error) and the request's own error. The runtime and the admin facade each turn
/// it into their error type.
#[derive(Debug)]
pub(crate) struct MetadataFailure {
    pub(crate) context: String,
    pub(crate) source: KafkaError,
}

impl From<MetadataFailure> for StreamsError {
    fn from(f: MetadataFailure) -> Self {
        StreamsError::Kafka {
            context: f.context,
            source: f.source.into(),
        }
    }
}

/// Partition counts of every topic on the cluster. Asks for all topics, never for named
/// ones, so that a broker with auto-creation does not create anything. An authentication
/// or TLS failure ends the wait at once, with librdkafka's reason.
pub(crate) fn cluster_topics(
    client: &MetadataClient,
    timeout: Duration,
) -> std::result::Result<HashMap<String, u32>, MetadataFailure> {
    let deadline = crate::time::deadline(timeout);
    let md = loop {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
        match client.fetch_metadata(None, slice) {
            Ok(md) => break md,
            Err(e) => {
                // Serves the error events, which record any fatal one in the context.
                let _ = client.poll(Duration::ZERO);
                let fatal = client
                    .context()
                    .fatal
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some(reason) = fatal {
                    return Err(MetadataFailure {
                        context: format!("fetching metadata: {reason}"),
                        source: e,
                    });
                }
                if Instant::now() >= deadline {
                    return Err(MetadataFailure {
                        context: "fetching metadata".into(),
                        source: e,
                    });
                }
            }
        }
    };
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len() as u32))
        .collect())
}

/// Checks sources, creates missing internal topics, checks co-partitioning. Returns the
/// partition count of every topic the topology touches.
pub(crate) fn prepare(
    topology: &Topology,
    config: &StreamsConfig,
    client: &ClientConfig,
) -> Result<HashMap<String, u32>> {
    let admin: AdminClient<DefaultClientContext> =
        client.create().map_err(kafka("creating admin client"))?;
    let metadata: MetadataClient = client
        .create_with_context(ClientErrors::default())
        .map_err(kafka("creating the metadata client"))?;
    let app = config.application_id.as_str();
    let deadline = crate::time::deadline(config.startup_timeout);
    let mut existing = cluster_topics(&metadata, config.startup_timeout)?;
    for t in topology
        .external_source_topics()
        .into_iter()
        .chain(topology.global_topics())
    {
        if !existing.contains_key(&t) {
            return Err(StreamsError::MissingSourceTopic(t));
        }
    }
    if let Some(t) = &config.dead_letter_topic {
        if !existing.contains_key(t) {
            return Err(StreamsError::Config(format!(
                "dead-letter topic {t:?} does not exist; create it before starting the application"
            )));
        }
    }
    let known = existing.clone();
    #[cfg_attr(not(feature = "http"), allow(unused_mut))]
    let mut internal = topology.internal_topics(app, &|t| known.get(t).copied())?;
    #[cfg(feature = "http")]
    if config.http_listener.is_some() {
        // Where instances that serve HTTP publish their status and ship their logs.
        internal.extend(super::http::operational_topics(app));
    }
    let mut to_create = Vec::new();
    for t in &internal {
        match existing.get(&t.name) {
            Some(&n) if n == t.partitions => {}
            Some(&n) => {
                return Err(StreamsError::InternalTopicMismatch {
                    topic: t.name.clone(),
                    actual: n,
                    expected: t.partitions,
                })
            }
            None => to_create.push(t),
        }
    }
    if !to_create.is_empty() {
        let retentions: Vec<Option<String>> = to_create
            .iter()
            .map(|t| t.retention_ms.map(|r| r.to_string()))
            .collect();
        let new: Vec<NewTopic<'_>> = to_create
            .iter()
            .zip(&retentions)
            .map(|(t, retention)| {
                let nt = NewTopic::new(
                    &t.name,
                    t.partitions as i32,
                    TopicReplication::Fixed(config.replication_factor),
                );
                match (t.compacted, retention) {
                    // Window stores expire old windows without tombstones: their changelog
                    // deletes by time as well, as Kafka Streams creates it.
                    (true, Some(ms)) => nt
                        .set("cleanup.policy", "compact,delete")
                        .set("retention.ms", ms),
                    (true, None) => nt.set("cleanup.policy", "compact"),
                    (false, _) => nt,
                }
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(config.startup_timeout));
        let results = futures_executor::block_on(admin.create_topics(&new, &opts))
            .map_err(kafka("creating internal topics"))?;
        for r in results {
            match r {
                Ok(name) => tracing::info!("created internal topic {name}"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(StreamsError::Kafka {
                        context: format!("creating internal topic {name}"),
                        source: rdkafka::error::KafkaError::AdminOp(code).into(),
                    })
                }
            }
        }
        // Wait until the cluster's metadata shows every new topic.
        loop {
            existing = cluster_topics(&metadata, config.startup_timeout)?;
            if to_create.iter().all(|t| existing.contains_key(&t.name)) {
                break;
            }
            if Instant::now() > deadline {
                return Err(StreamsError::InvalidState(format!(
                    "internal topics not visible after {:?}",
                    config.startup_timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    for group in topology.copartition_groups(app) {
        let counts: Vec<u32> = group
            .iter()
            .map(|t| existing.get(t).copied().unwrap_or(0))
            .collect();
        if counts.windows(2).any(|w| w[0] != w[1]) {
            return Err(StreamsError::NotCopartitioned {
                topics: group,
                counts,
            });
        }
    }
    Ok(existing)
}
