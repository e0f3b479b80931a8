//! `records generate`: the generator's output on a broker: customers, records (at a capped
//! rate or as fast as possible), then the ground truth.

use crate::generate::{Generator, GeneratorConfig};
use crate::topics::{self, TopicError};
use kstreams::runtime::kafka::Admin;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time now, ms since the epoch: the creation time a generated record carries
/// (`sent_ms`), and what latencies are measured against.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends one record, waiting for room in the producer's queue.
pub fn send(producer: &BaseProducer, topic: &str, key: Option<&str>, value: Option<&[u8]>) {
    let mut rec: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic);
    if let Some(k) = key {
        rec = rec.key(k);
    }
    if let Some(v) = value {
        rec = rec.payload(v);
    }
    loop {
        match producer.send(rec) {
            Ok(()) => return,
            Err((_, back)) => {
                producer.poll(Duration::from_millis(5));
                rec = back;
            }
        }
    }
}

/// A producer as the generator uses it: Java-compatible partitioning, batching.
pub fn producer(bootstrap: &str) -> Result<BaseProducer, rdkafka::error::KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("compression.type", crate::topics::COMPRESSION)
        .set("queue.buffering.max.messages", "500000")
        .create()
}

/// Generates everything to the broker at `bootstrap`; `rate` caps records per second
/// (0: no cap). `before_records` runs once the customer profiles are written and before the
/// first record (a benchmark waits there for ingest to have loaded them). Returns a
/// one-line report.
pub fn run(
    bootstrap: &str,
    partitions: u32,
    cfg: GeneratorConfig,
    rate: u64,
    before_records: &dyn Fn() -> Result<(), String>,
) -> Result<String, Box<dyn std::error::Error>> {
    let admin = Admin::new(bootstrap).map_err(TopicError::connect)?;
    match topics::create_all(&admin, partitions) {
        Ok(()) => {}
        // Records and customers must be co-partitioned: no going on with other counts.
        Err(e @ TopicError::PartitionMismatch { .. }) => return Err(e.into()),
        // A broker without CreateTopics (an embedded one, owned by another process) has
        // them created by its owner.
        Err(e) => tracing::warn!("{e}; assuming the topics exist"),
    }
    let producer = producer(bootstrap)?;
    let mut generator = Generator::new(cfg);
    for c in generator.customers() {
        send(
            &producer,
            topics::CUSTOMERS,
            Some(&c.id),
            serde_json::to_vec(c).ok().as_deref(),
        );
    }
    producer.flush(Duration::from_secs(120))?;
    before_records()?;
    let started = Instant::now();
    while let Some(g) = generator.next(now_ms()) {
        send(
            &producer,
            topics::RECORDS,
            g.key.as_deref(),
            g.value.as_deref(),
        );
        let sent = generator.emitted();
        if rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if sent % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    for t in generator.truth() {
        send(
            &producer,
            topics::TRUTH,
            Some(&t.customer_id),
            serde_json::to_vec(t).ok().as_deref(),
        );
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(format!(
        "generated {} customers, {} records ({} invalid, {} anomalies) in {:.1} s",
        generator.customers().len(),
        generator.emitted(),
        generator.invalid_total(),
        generator.anomalies().count(),
        started.elapsed().as_secs_f64()
    ))
}
