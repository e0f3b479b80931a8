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
    broker.create_topic_with(CUSTOMERS, partitions, &[("cleanup.policy", "compact")])?;
    broker.create_topic_with(METRICS, partitions, &[("cleanup.policy", "compact")])?;
    for t in [
        RECORDS,
        DLQ,
        ENRICHED,
        ALERTS,
        NOTIFICATIONS,
        METRICS_AGG,
        TRUTH,
    ] {
        broker.create_topic(t, partitions)?;
    }
    Ok(())
}
