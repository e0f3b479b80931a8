//! Detectors: each one is its own kstreams application (application id
//! `records-detector-<name>`), reading `records-enriched` and writing `alerts`, so that
//! each can be started, stopped and redeployed without touching the others.
//!
//! Adding one means a file implementing [`Detector`] and a line in [`all`].

mod amount_spike;
mod card_testing;
mod dormant;
mod new_country_device;
mod velocity;

use crate::model::{Alert, Enriched};
use crate::topics;
use kstreams::processor::{ProcessorContext, Record};
use kstreams::serde::{JsonSerde, Serde, StringSerde};
use kstreams::state::Stores;
use kstreams::{Consumed, KStream, Produced, StreamsBuilder, Topology};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One detector: turns the enriched records (keyed by customer, in event time) into
/// alerts. Its state, if any, lives in stores it adds to `builder`.
pub trait Detector: Send + Sync {
    /// The detector's name: alerts carry it, and its application id ends with it.
    fn name(&self) -> &'static str;

    /// Adds the detection to `builder`.
    fn build(
        &self,
        builder: &StreamsBuilder,
        records: KStream<String, Enriched>,
    ) -> KStream<String, Alert>;
}

/// Every detector, by name.
pub fn all() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(amount_spike::AmountSpike::default()),
        Box::new(velocity::Velocity::default()),
        Box::new(new_country_device::NewCountryDevice),
        Box::new(dormant::Dormant::default()),
        Box::new(card_testing::CardTesting::default()),
    ]
}

/// The detector called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Detector>> {
    all().into_iter().find(|d| d.name() == name)
}

/// The application id of a detector.
pub fn application_id(d: &dyn Detector) -> String {
    format!("records-detector-{}", d.name())
}

/// The detector's whole application: `records-enriched` in, `alerts` out, counting alerts.
pub fn topology(d: &dyn Detector, alerts: Arc<AtomicU64>) -> kstreams::Result<Topology> {
    topology_to(d, topics::ALERTS, alerts)
}

/// [`topology`] with its alerts going to `output` instead of `alerts` (a replay of the
/// history whose alerts must not reach customers).
pub fn topology_to(
    d: &dyn Detector,
    output: &str,
    alerts: Arc<AtomicU64>,
) -> kstreams::Result<Topology> {
    let builder = StreamsBuilder::new();
    let records = builder.stream(
        topics::ENRICHED,
        Consumed::with(StringSerde, JsonSerde::<Enriched>::new()),
    );
    d.build(&builder, records)
        .peek(move |_, _| {
            alerts.fetch_add(1, Ordering::Relaxed);
        })
        .to(
            output,
            Produced::with(StringSerde, JsonSerde::<Alert>::new()),
        );
    Ok(builder.build()?)
}

/// Adds a persistent, changelogged store of per-customer state.
pub(crate) fn customer_store<V: 'static>(
    builder: &StreamsBuilder,
    name: &str,
    values: impl Serde<V>,
) {
    builder.add_state_store(Stores::key_value_store_builder(
        Stores::persistent_key_value_store(name),
        StringSerde,
        values,
    ));
}

/// Forwards `alert` for record `r`, with its key, time and headers.
pub(crate) fn raise<V>(
    ctx: &mut ProcessorContext<'_, String, Alert>,
    r: &Record<String, V>,
    alert: Alert,
) -> kstreams::Result<()> {
    ctx.forward(Record {
        key: r.key.clone(),
        value: alert,
        timestamp: r.timestamp,
        headers: r.headers.clone(),
    })
}

/// An alert for `e`'s record.
pub(crate) fn alert(detector: &str, e: &Enriched, reason: String) -> Alert {
    Alert {
        detector: detector.to_string(),
        customer_id: e.record.customer_id.clone(),
        record_id: e.record.record_id.clone(),
        ts: e.record.ts,
        reason,
        sent_ms: e.record.sent_ms,
        window_start: None,
    }
}
