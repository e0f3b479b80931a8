//! Topic names, and creating them through the library's admin facade
//! ([`kstreams::runtime::kafka::Admin`]).

use kstreams::runtime::kafka::{Admin, AdminError, EmbeddedCluster, NewTopic};
use kstreams::Topology;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Customer profiles, compacted, keyed by customer id.
pub const CUSTOMERS: &str = "customers";
/// Raw records as producers send them, keyed by customer id.
pub const RECORDS: &str = "customer-records";
/// Rejected records with the reason and source coordinates.
pub const DLQ: &str = "records-dlq";
/// Validated, normalized records with the customer profile.
pub const ENRICHED: &str = "records-enriched";
/// Detector findings.
pub const ALERTS: &str = "alerts";
/// Notifications for customers.
pub const NOTIFICATIONS: &str = "notifications";
/// Counters of every instance, keyed by `<instance>|<metric>`.
pub const METRICS: &str = "metrics";
/// Counters summed over instances, keyed by metric.
pub const METRICS_AGG: &str = "metrics-agg";
/// The generator's ground truth.
pub const TRUTH: &str = "records-truth";

/// Every topic of the platform, in creation order.
pub const ALL: [&str; 9] = [
    CUSTOMERS,
    METRICS,
    RECORDS,
    DLQ,
    ENRICHED,
    ALERTS,
    NOTIFICATIONS,
    METRICS_AGG,
    TRUTH,
];

/// Why the platform's topics could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// No admin client for the cluster, or the embedded cluster did not start.
    #[error("connecting to the cluster: {0}")]
    Connect(#[source] Box<AdminError>),
    /// A topic exists with another partition count than the platform needs (every topic
    /// has the same count, so that records and customers are co-partitioned).
    #[error("topic {topic} exists with {existing} partitions, but records needs {requested}")]
    PartitionMismatch {
        /// The topic.
        topic: String,
        /// Its partitions on the cluster.
        existing: u32,
        /// The partitions asked for.
        requested: u32,
    },
    /// The cluster refused or did not finish the creation.
    #[error("creating topics {}: {source}", .topics.join(", "))]
    Create {
        /// The topics of the request.
        topics: Vec<String>,
        /// The admin client's error (it names the topic the cluster refused).
        #[source]
        source: Box<AdminError>,
    },
    /// The internal topics of an application could not be worked out.
    #[error("internal topics of {application_id}: {source}")]
    Internal {
        /// The application.
        application_id: String,
        /// Why.
        #[source]
        source: Box<kstreams::StreamsError>,
    },
}

impl TopicError {
    /// [`TopicError::Connect`] from the admin client's error.
    pub fn connect(e: AdminError) -> TopicError {
        TopicError::Connect(Box::new(e))
    }
}

/// Where the platform runs: a cluster reached through the library's [`Admin`], started in
/// this process ([`EmbeddedCluster`], librdkafka's mock broker) or given by address.
#[derive(Debug)]
pub struct Cluster {
    admin: Admin,
    embedded: Option<EmbeddedCluster>,
}

impl Cluster {
    /// Starts the embedded cluster (one broker) in this process. It runs until the
    /// `Cluster` is dropped.
    pub fn embedded() -> Result<Cluster, TopicError> {
        let cluster = EmbeddedCluster::start().map_err(TopicError::connect)?;
        Ok(Cluster {
            admin: cluster.admin().map_err(TopicError::connect)?,
            embedded: Some(cluster),
        })
    }

    /// The cluster at `bootstrap` (host:port[,host:port...]).
    pub fn connect(bootstrap: &str) -> Result<Cluster, TopicError> {
        Ok(Cluster {
            admin: Admin::new(bootstrap).map_err(TopicError::connect)?,
            embedded: None,
        })
    }

    /// [`connect`](Self::connect) to `bootstrap` if given, else [`embedded`](Self::embedded).
    pub fn start(bootstrap: Option<&str>) -> Result<Cluster, TopicError> {
        match bootstrap {
            Some(b) => Self::connect(b),
            None => Self::embedded(),
        }
    }

    /// Its bootstrap servers.
    pub fn bootstrap(&self) -> &str {
        self.admin.bootstrap_servers()
    }

    /// Its admin client.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Whether it is the embedded cluster, which has no CreateTopics: applications' internal
    /// topics are then created by hand ([`create_internal`]).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

/// How long the platform keeps records: the talk's 60 days of history, by time.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(60 * 24 * 3600);

/// The codec of every topic, and of every producer of the platform (the same codec on
/// both sides, so the broker stores the producers' batches as they come instead of
/// recompressing them). lz4: the cheapest in CPU of librdkafka's codecs at a ratio close
/// to zstd's on these JSON records (see the README's disk figures).
pub const COMPRESSION: &str = "lz4";

/// Creates every topic of the platform with `partitions` partitions each (the same count
/// everywhere, so that records and customers are co-partitioned), compressed with
/// [`COMPRESSION`]. `customers` and `metrics` are compacted; the others keep
/// [`RETENTION`] by time. Topics that exist with that count are left as they are; one
/// with another count is [`TopicError::PartitionMismatch`], and nothing is created then.
pub fn create_all(admin: &Admin, partitions: u32) -> Result<(), TopicError> {
    let new: Vec<NewTopic> = ALL
        .iter()
        .map(|&t| {
            let topic = NewTopic::new(t, partitions).config("compression.type", COMPRESSION);
            if t == CUSTOMERS || t == METRICS {
                topic.config("cleanup.policy", "compact")
            } else {
                topic
                    .config("cleanup.policy", "delete")
                    .config("retention.ms", RETENTION.as_millis().to_string())
            }
        })
        .collect();
    create(admin, &new)
}

/// Creates the repartition and changelog topics of `topology`, run as `application_id`,
/// with `partitions` partitions each (changelogs compacted). Needed on the embedded cluster
/// only: elsewhere the runtime creates them at start.
pub fn create_internal(
    admin: &Admin,
    topology: &Topology,
    application_id: &str,
    partitions: u32,
    serves_http: bool,
) -> Result<(), TopicError> {
    let mut internal = topology
        .internal_topics(application_id, &|_| Some(partitions))
        .map_err(|source| TopicError::Internal {
            application_id: application_id.to_string(),
            source: Box::new(source),
        })?;
    if serves_http {
        internal.extend(kstreams::runtime::kafka::http::operational_topics(
            application_id,
        ));
    }
    let new: Vec<NewTopic> = internal
        .into_iter()
        .map(|t| {
            let topic = NewTopic::new(t.name, t.partitions);
            if t.compacted {
                topic.config("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    create(admin, &new)
}

fn create(admin: &Admin, new: &[NewTopic]) -> Result<(), TopicError> {
    admin.create_topics(new).map_err(|e| match e {
        AdminError::PartitionMismatch {
            topic,
            existing,
            requested,
        } => TopicError::PartitionMismatch {
            topic,
            existing,
            requested,
        },
        source => TopicError::Create {
            topics: new.iter().map(|t| t.name.clone()).collect(),
            source: Box::new(source),
        },
    })
}

/// `prefix` made unique to this process and moment (`<prefix>-<pid>-<nanos>-<n>`, `n`
/// counting the calls of this process), for consumer groups, run ids and scratch
/// directories that must not meet another run's.
pub fn unique(prefix: &str) -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000,
        CALLS.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_keep_their_prefix() {
        let (a, b) = (unique("demo"), unique("demo"));
        assert!(
            a.starts_with(&format!("demo-{}-", std::process::id())),
            "{a}"
        );
        assert_ne!(a, b);
    }
}
