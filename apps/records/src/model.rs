//! The platform's data: customer profiles, records as they arrive and once enriched,
//! alerts, notifications, dead letters, and the generator's ground truth.

use serde::{Deserialize, Serialize};

/// A customer profile, as the `customers` topic holds it (keyed by `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer id, e.g. `c000042`.
    pub id: String,
    /// ISO country code of home.
    pub home_country: String,
    /// Device ids this customer uses.
    pub devices: Vec<String>,
    /// Typical amount of one record.
    pub typical_spend: f64,
    /// Expected records per day.
    pub activity: f64,
    /// Event time of the last activity before the stream starts, ms.
    pub last_active: i64,
}

/// A record as producers send it to `customer-records` (keyed by customer id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// Unique record id.
    pub record_id: String,
    /// The customer.
    pub customer_id: String,
    /// Event time, ms since the epoch.
    pub ts: i64,
    /// Amount; never negative in a valid record.
    pub amount: f64,
    /// Currency code.
    pub currency: String,
    /// Where it happened.
    pub country: String,
    /// Which device.
    pub device: String,
    /// Wall-clock time the producer sent it, ms (for end-to-end latency).
    pub sent_ms: i64,
}

/// A validated record with its customer's profile (`records-enriched`, keyed by customer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enriched {
    /// The record, normalized (upper-case codes, amount rounded to cents).
    pub record: CustomerRecord,
    /// The customer's profile at the time.
    pub customer: Customer,
}

/// A detector's finding (`alerts`, keyed by customer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Which detector.
    pub detector: String,
    /// The customer.
    pub customer_id: String,
    /// The record that triggered it.
    pub record_id: String,
    /// Event time of that record.
    pub ts: i64,
    /// Why, for people.
    pub reason: String,
    /// When the triggering record was sent, wall clock ms.
    pub sent_ms: i64,
    /// For a detector that counts in windows, the start of the window that raised it:
    /// one record can complete several overlapping windows, each raising its own alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<i64>,
}

/// What the customer is told (`notifications`, keyed by customer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Idempotency key: the same alert episode always gets the same id.
    pub notification_id: String,
    /// The customer.
    pub customer_id: String,
    /// Which detector.
    pub detector: String,
    /// The text.
    pub message: String,
    /// The record that triggered it.
    pub record_id: String,
    /// When the triggering record was sent, wall clock ms.
    pub sent_ms: i64,
}

/// A record that failed validation (`records-dlq`), with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Why it was rejected, naming the field.
    pub reason: String,
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: u32,
    /// Source offset.
    pub offset: i64,
    /// The key as sent, lossily decoded.
    pub key: Option<String>,
    /// The value as sent, lossily decoded.
    pub value: Option<String>,
}

/// One labelled episode, for scoring (`records-truth`): an injected anomaly, or a benign
/// look-alike (ordinary behaviour that shares features with an anomaly, which no detector
/// should alert on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The detector that should find it; `benign` for a look-alike.
    pub detector: String,
    /// The customer.
    pub customer_id: String,
    /// The records that make it up.
    pub record_ids: Vec<String>,
    /// Event time of its first and last record.
    pub from_ts: i64,
    /// See `from_ts`.
    pub to_ts: i64,
    /// For a benign look-alike, its kind (`travel`, `large-purchase`, ...); `None` for an
    /// anomaly (and absent from anomalies in JSON, as before look-alikes existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookalike: Option<String>,
}

impl Truth {
    /// Whether this is a benign look-alike rather than an anomaly.
    pub fn is_lookalike(&self) -> bool {
        self.lookalike.is_some()
    }
}
