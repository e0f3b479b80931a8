//! Many records in a short time: at least `threshold` records of one customer in a
//! hopping window (event time). One alert per window, when its count reaches the
//! threshold; `notify` folds the overlapping windows of one burst into one notification.

use super::{alert, Detector};
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
            .advance_by(Duration::from_secs(10)),
        }
    }
}

/// The window's count and its latest record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Burst {
    count: u64,
    last: Option<Enriched>,
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
            .group_by_key(Grouped::with(StringSerde, JsonSerde::<Enriched>::new()))
            .windowed_by(self.windows)
            .aggregate(
                Burst::default,
                |_, e: Enriched, b: Burst| Burst {
                    count: b.count + 1,
                    last: Some(e),
                },
                Materialized::named("velocity-counts").with_value_serde(JsonSerde::<Burst>::new()),
            )
            .to_stream()
            .flat_map(move |w, b: Option<Burst>| {
                let key = w.map(|w| w.key);
                b.filter(|b| b.count == threshold)
                    .and_then(|b| b.last)
                    .map(|e| {
                        let a = alert(
                            kinds::VELOCITY,
                            &e,
                            format!("{threshold} records within a minute"),
                        );
                        (key.unwrap_or_else(|| e.record.customer_id.clone()), a)
                    })
            })
    }
}
