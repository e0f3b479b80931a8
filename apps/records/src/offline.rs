//! A detector run offline: generated records, enriched as ingest does, through one
//! detector's topology in the test driver. `records offline` writes what went in and what
//! came out as JSON lines, the reference a detector written elsewhere (in Python, say) is
//! checked against; the scores test runs every detector this way.

use crate::detectors::{self, Detector};
use crate::generate::{Generator, GeneratorConfig};
use crate::model::{Alert, CustomerRecord, Enriched, Truth};
use crate::topics;
use kstreams::serde::{JsonSerde, StringSerde};
use kstreams_testkit::{TestDriver, TestDriverError};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// What an offline run could not do.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The detector's topology did not build.
    #[error("detector {detector}: {source}")]
    Topology {
        /// The detector.
        detector: String,
        /// Why.
        source: Box<kstreams::StreamsError>,
    },
    /// The test driver refused the topology.
    #[error("detector {detector}: {source}")]
    Driver {
        /// The detector.
        detector: String,
        /// Why.
        source: Box<TestDriverError>,
    },
    /// A record failed in the detector.
    #[error("detector {detector}, record of {customer} at {ts}: {source}")]
    Record {
        /// The detector.
        detector: String,
        /// The record's customer.
        customer: String,
        /// Its event time.
        ts: i64,
        /// Why.
        source: Box<kstreams::StreamsError>,
    },
    /// An alert could not be read back.
    #[error("detector {detector}: alert {reason}")]
    Alert {
        /// The detector.
        detector: String,
        /// Why.
        reason: String,
    },
    /// Writing the files failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Generated records as the detectors see them, and the truth about them.
pub struct Sample {
    /// The valid records, each with its customer's profile, in generation order.
    pub enriched: Vec<Enriched>,
    /// What was injected.
    pub truth: Vec<Truth>,
}

/// Generates with `cfg` and enriches as ingest does: invalid records left out, each valid
/// one joined with its customer's profile.
pub fn sample(cfg: GeneratorConfig) -> Sample {
    let mut g = Generator::new(cfg);
    let mut records = Vec::new();
    while let Some(r) = g.next(0) {
        records.push(r);
    }
    let profiles: HashMap<&str, _> = g.customers().iter().map(|c| (c.id.as_str(), c)).collect();
    let enriched = records
        .iter()
        .filter_map(|r| serde_json::from_slice::<CustomerRecord>(r.value.as_deref()?).ok())
        .filter(|r| r.amount >= 0.0)
        .filter_map(|record| {
            let customer = (*profiles.get(record.customer_id.as_str())?).clone();
            Some(Enriched { record, customer })
        })
        .collect();
    Sample {
        enriched,
        truth: g.truth().to_vec(),
    }
}

/// Runs `d` over `enriched` (keyed by customer, in event time) on `partitions` partitions
/// and returns its alerts.
pub fn run(
    d: &dyn Detector,
    enriched: &[Enriched],
    partitions: u32,
) -> Result<Vec<Alert>, OfflineError> {
    let detector = d.name().to_string();
    let topology =
        detectors::topology(d, Arc::default()).map_err(|source| OfflineError::Topology {
            detector: detector.clone(),
            source: Box::new(source),
        })?;
    let driver = TestDriver::builder(topology)
        .default_partitions(partitions)
        .build()
        .map_err(|source| OfflineError::Driver {
            detector: detector.clone(),
            source: Box::new(source),
        })?;
    let input = driver.input_topic(topics::ENRICHED, StringSerde, JsonSerde::new());
    let output = driver.output_topic(topics::ALERTS, StringSerde, JsonSerde::<Alert>::new());
    for e in enriched {
        let (customer, ts) = (e.record.customer_id.clone(), e.record.ts);
        input
            .pipe_input_at(customer.clone(), e.clone(), ts)
            .map_err(|source| OfflineError::Record {
                detector: detector.clone(),
                customer,
                ts,
                source: Box::new(source),
            })?;
    }
    let mut alerts = Vec::new();
    while let Some(r) = output.read_record() {
        alerts.push(
            r.map_err(|reason| OfflineError::Alert {
                detector: detector.clone(),
                reason,
            })?
            .value,
        );
    }
    Ok(alerts)
}

/// Writes one JSON document per line.
pub fn write_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<(), OfflineError> {
    let io = |source| OfflineError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for item in items {
        serde_json::to_writer(&mut out, item).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)
}
