//! `notify`: alerts to notifications. Deduplicates per customer and detector within a
//! window of event time (a burst that several overlapping windows flag is one episode),
//! rate-limits per customer, and formats the text. Suppressed alerts are counted, not lost.

use crate::model::{Alert, Notification};
use crate::topics;
use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::serde::{I64Serde, JsonSerde, StringSerde};
use kstreams::state::{KeyValueStore, Stores};
use kstreams::{Consumed, Produced, StreamsBuilder, Topology};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const LAST: &str = "notify-last";
const RATE: &str = "notify-rate";
const HOUR_MS: i64 = 3_600_000;

/// Notify's settings.
#[derive(Debug, Clone, Copy)]
pub struct NotifyConfig {
    /// Alerts of one customer and detector closer than this (event time) are one episode.
    pub dedup_ms: i64,
    /// Notifications per customer per hour of event time.
    pub max_per_hour: i64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            dedup_ms: 10 * 60 * 1000,
            max_per_hour: 5,
        }
    }
}

/// Notify's counters.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    /// Alerts read.
    pub alerts: Arc<AtomicU64>,
    /// Notifications written.
    pub notified: Arc<AtomicU64>,
    /// Alerts folded into an earlier notification of the same episode.
    pub deduplicated: Arc<AtomicU64>,
    /// Alerts held back by the per-customer rate limit.
    pub rate_limited: Arc<AtomicU64>,
}

struct Decide {
    last: Option<KeyValueStore<String, i64>>,
    rate: Option<KeyValueStore<String, i64>>,
    cfg: NotifyConfig,
    counters: Arc<NotifyCounters>,
}

fn message(a: &Alert) -> String {
    match a.detector.as_str() {
        "amount-spike" => format!("Unusually large payment on your account: {}", a.reason),
        "velocity" => format!("Many operations in a short time: {}", a.reason),
        "new-country-device" => format!("Activity from somewhere new: {}", a.reason),
        "dormant" => format!("Your dormant account is active again: {}", a.reason),
        other => format!("{other}: {}", a.reason),
    }
}

impl Processor<String, Alert, String, Notification> for Decide {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, Notification>,
    ) -> kstreams::Result<()> {
        self.last = Some(ctx.key_value_store(LAST)?);
        self.rate = Some(ctx.key_value_store(RATE)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, Notification>,
        r: Record<String, Alert>,
    ) -> kstreams::Result<()> {
        self.counters.alerts.fetch_add(1, Ordering::Relaxed);
        let (Some(last), Some(rate)) = (self.last.as_mut(), self.rate.as_mut()) else {
            return Ok(());
        };
        let a = &r.value;
        let episode = format!("{}|{}", a.customer_id, a.detector);
        if let Some(prev) = last.get(&episode)? {
            if (a.ts - prev).abs() < self.cfg.dedup_ms {
                self.counters.deduplicated.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        last.put(&episode, &a.ts)?;
        // Count per customer and hour: key "<customer>|<hour>".
        let bucket = format!("{}|{}", a.customer_id, a.ts.div_euclid(HOUR_MS));
        let sent = rate.get(&bucket)?.unwrap_or(0);
        if sent >= self.cfg.max_per_hour {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            tracing::info!(customer = %a.customer_id, detector = %a.detector, "rate limit: notification held back");
            return Ok(());
        }
        rate.put(&bucket, &(sent + 1))?;
        self.counters.notified.fetch_add(1, Ordering::Relaxed);
        let n = Notification {
            notification_id: format!("{}:{}", a.detector, a.record_id),
            customer_id: a.customer_id.clone(),
            detector: a.detector.clone(),
            message: message(a),
            record_id: a.record_id.clone(),
            sent_ms: a.sent_ms,
        };
        ctx.forward(Record {
            key: r.key.clone(),
            value: n,
            timestamp: r.timestamp,
            headers: r.headers.clone(),
        })
    }
}

/// The notify topology.
pub fn topology(cfg: NotifyConfig, counters: Arc<NotifyCounters>) -> kstreams::Result<Topology> {
    let builder = StreamsBuilder::new();
    for store in [LAST, RATE] {
        builder.add_state_store(Stores::key_value_store_builder(
            Stores::persistent_key_value_store(store),
            StringSerde,
            I64Serde,
        ));
    }
    builder
        .stream(
            topics::ALERTS,
            Consumed::with(StringSerde, JsonSerde::<Alert>::new()),
        )
        .process_values(
            move || Decide {
                last: None,
                rate: None,
                cfg,
                counters: counters.clone(),
            },
            &[LAST, RATE],
        )
        .to(
            topics::NOTIFICATIONS,
            Produced::with(StringSerde, JsonSerde::<Notification>::new()),
        );
    Ok(builder.build()?)
}
