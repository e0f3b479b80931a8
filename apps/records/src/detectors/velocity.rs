//! Many records in a short time: at least `threshold` records of one customer in a
//! hopping window (event time). One alert per window, when its count reaches the
//! threshold; `notify` folds the overlapping windows of one burst into one notification.

use super::Detector;
use crate::generate::kinds;
use crate::model::{Alert, Enriched};
use kstreams::dsl::TimeWindows;
use kstreams::serde::{JsonSerde, StringSerde};
use kstreams::{Grouped, KStream, Materialized, StreamsBuilder};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// See the module docs.
pub struct Velocity {
    threshold: u64,
    windows: TimeWindows,
}

impl Default for Velocity {
    fn default() -> Self {
        Velocity {
            threshold: 12,
            windows: TimeWindows::of_size_and_grace(
                Duration::from_secs(60),
                Duration::from_secs(30),
            )
            // Every burst of up to 40 s lies wholly inside one window of a 20 s grid, and
            // each record updates 3 windows instead of 6 at a 10 s advance.
            .advance_by(Duration::from_secs(20)),
        }
    }
}

/// What of a record the windows keep: each record is folded into three windows, and the
/// fold takes its value by copy, so the record is cut down to this first rather than the
/// whole enriched record (with its customer profile) being copied three times.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Seen {
    record_id: String,
    ts: i64,
    sent_ms: i64,
}

/// The window's count and its latest record (only what an alert needs: the window store
/// is written on every record, once per overlapping window).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Burst {
    count: u64,
    record_id: String,
    ts: i64,
    sent_ms: i64,
}

impl Detector for Velocity {
    fn name(&self) -> &'static str {
        kinds::VELOCITY
    }

    fn build(
        &self,
        _: &StreamsBuilder,
        records: KStream<String, Enriched>,
    ) -> KStream<String, Alert> {
        let threshold = self.threshold;
        records
            .map_values(|e: Enriched| Seen {
                record_id: e.record.record_id,
                ts: e.record.ts,
                sent_ms: e.record.sent_ms,
            })
            .group_by_key(Grouped::with(StringSerde, JsonSerde::<Seen>::new()))
            .windowed_by(self.windows)
            .aggregate(
                Burst::default,
                |_, s: Seen, b: Burst| Burst {
                    count: b.count + 1,
                    record_id: s.record_id,
                    ts: s.ts,
                    sent_ms: s.sent_ms,
                },
                // A window is never looked at again once closed (its size plus grace), so
                // the store keeps it no longer (rebuilt from its changelog on restart). The
                // shorter a window lives, the more of them are created and expired between
                // two commits, which change logging then never sends: in a replay of
                // history that is most of them.
                // A customer's window is updated a few times in its minute, rarely twice
                // within one commit, so a record cache would dedupe almost nothing and cost
                // a copy and a write-back per update (measured in the README).
                Materialized::named("velocity-counts")
                    .with_value_serde(JsonSerde::<Burst>::new())
                    .with_retention(Duration::from_secs(90))
                    .with_caching_disabled()
                    .in_memory(),
            )
            .to_stream()
            .flat_map(move |w, b: Option<Burst>| {
                let w = w?;
                b.filter(|b| b.count == threshold).map(|b| {
                    let a = Alert {
                        detector: kinds::VELOCITY.to_string(),
                        customer_id: w.key.clone(),
                        record_id: b.record_id,
                        ts: b.ts,
                        reason: format!("{threshold} records within a minute"),
                        sent_ms: b.sent_ms,
                        window_start: Some(w.window.start),
                    };
                    (w.key, a)
                })
            })
    }
}
