//! Topic names, and creating them.

use kstreams_testkit::broker::TestBroker;

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

/// Creates every topic of the platform (the same partition count everywhere, so that
/// records and customers are co-partitioned); existing topics are left as they are.
pub fn create_all(broker: &TestBroker, partitions: i32) -> Result<(), String> {
    let existing = existing(broker.bootstrap());
    let compacted = [("cleanup.policy", "compact")];
    for t in [
        CUSTOMERS,
        METRICS,
        RECORDS,
        DLQ,
        ENRICHED,
        ALERTS,
        NOTIFICATIONS,
        METRICS_AGG,
        TRUTH,
    ] {
        if existing.iter().any(|e| e == t) {
            continue;
        }
        let configs: &[(&str, &str)] = if t == CUSTOMERS || t == METRICS {
            &compacted
        } else {
            &[]
        };
        broker.create_topic_with(t, partitions, configs)?;
    }
    Ok(())
}

/// Topics the cluster has (empty when it cannot be asked).
fn existing(bootstrap: &str) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: Option<BaseConsumer> = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok();
    consumer
        .and_then(|c| {
            c.fetch_metadata(None, std::time::Duration::from_secs(10))
                .ok()
        })
        .map(|md| md.topics().iter().map(|t| t.name().to_string()).collect())
        .unwrap_or_default()
}
