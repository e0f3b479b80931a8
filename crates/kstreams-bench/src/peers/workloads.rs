//! The four workloads: their input, what kstreams and the raw loop run for them (Quix
//! runs `quix/worker.py`, Kafka Streams `PeerWorker` in `conformance/kafka-streams`), and
//! the check that a system's output is exactly right.

use super::BenchError;
use crate::Purchase;
use kstreams::dsl::{TimeWindows, Window};
use kstreams::serde::{JsonSerde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, Topology};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Window size of W3.
pub const WINDOW_MS: i64 = 60_000;
/// Grace of W3's windows; the input is in order per partition, so nothing is late.
pub const GRACE_MS: i64 = 5_000;

/// A workload of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Workload {
    /// Stateless filter plus map_values.
    W1,
    /// Count by key over 100k keys into a changelogged persistent store.
    W2,
    /// Tumbling one-minute windowed count by key.
    W3,
    /// W1's pipeline at a fixed input rate, for end-to-end latency.
    W4,
}

impl Workload {
    /// `w1`..`w4`.
    pub fn id(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
        }
    }

    /// One line for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Workload::W1 => "filter + map_values",
            Workload::W2 => "count by key, persistent changelogged store",
            Workload::W3 => "tumbling 1-min windowed count",
            Workload::W4 => "filter + map_values at a fixed rate",
        }
    }
}

/// A system under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum System {
    /// A hand-written rdkafka consume-transform-produce loop: the substrate's limit.
    Raw,
    /// This library.
    Kstreams,
    /// This library with its operations surface on: the HTTP endpoints, the status
    /// snapshot on the status topic every few seconds, log shipping (info and above) and a
    /// scrape of `/metrics` and `/state` every second, as a dashboard and Prometheus make.
    #[value(name = "kstreams-http")]
    KstreamsHttp,
    /// This library's Python package: the Quix worker's functions in Python, the rest in
    /// the Rust runtime.
    #[value(name = "kstreams-py")]
    KstreamsPy,
    /// Kafka Streams, in Java: the library kstreams is modelled on.
    KafkaStreams,
    /// Quix Streams, in Python.
    Quix,
}

impl System {
    /// Name in reports.
    pub fn label(self) -> &'static str {
        match self {
            System::Raw => "raw rdkafka loop",
            System::Kstreams => "kstreams",
            System::KstreamsHttp => "kstreams + HTTP",
            System::KstreamsPy => "kstreams (Python)",
            System::KafkaStreams => "Kafka Streams",
            System::Quix => "Quix Streams",
        }
    }
}

/// A windowed count as every system writes it: Quix's shape for window results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowCount {
    /// Window start, ms, inclusive.
    pub start: i64,
    /// Window end, ms, exclusive.
    pub end: i64,
    /// Records of the key in the window.
    pub value: i64,
}

/// Key, JSON value and timestamp of input record `id`. The timestamp is the record's
/// event time, so W3's windows are the same for every system.
pub fn input_record(id: u64) -> Result<(String, Vec<u8>, i64), BenchError> {
    let p = Purchase::sample(id);
    let value = serde_json::to_vec(&p).map_err(|e| BenchError::Input(e.to_string()))?;
    Ok((p.customer, value, p.ts))
}

/// Sends one record, polling while the producer's queue is full.
pub fn send(producer: &BaseProducer, topic: &str, key: &[u8], value: &[u8], ts: i64) {
    let mut rec = BaseRecord::to(topic).key(key).payload(value).timestamp(ts);
    while let Err((_, back)) = producer.send(rec) {
        producer.poll(Duration::from_millis(5));
        rec = back;
    }
    producer.poll(Duration::ZERO);
}

/// The kstreams topology of a workload.
pub fn kstreams_topology(w: Workload, input: &str, output: &str) -> Result<Topology, BenchError> {
    let builder = StreamsBuilder::new();
    let purchases = builder.stream(
        input,
        Consumed::with(StringSerde, JsonSerde::<Purchase>::new()),
    );
    match w {
        Workload::W1 | Workload::W4 => {
            purchases
                .filter(|_, p| p.keep())
                .map_values(Purchase::normalized)
                .to(
                    output,
                    Produced::with(StringSerde, JsonSerde::<Purchase>::new()),
                );
        }
        Workload::W2 => {
            purchases
                .group_by_key(Grouped::default())
                .count(Materialized::named("purchases-per-customer"))
                .to_stream()
                .to(
                    output,
                    Produced::with(StringSerde, Nullable(JsonSerde::<i64>::new())),
                );
        }
        Workload::W3 => {
            purchases
                .group_by_key(Grouped::default())
                .windowed_by(TimeWindows::of_size_and_grace(
                    Duration::from_millis(WINDOW_MS as u64),
                    Duration::from_millis(GRACE_MS as u64),
                ))
                .count(Materialized::named("purchases-per-minute"))
                .to_stream()
                // Quix's window result shape, so both write the same bytes.
                .map(|k, count| {
                    // Grouping dropped null keys; an empty window here would fail the check.
                    let (key, window) = k.map_or_else(
                        || (String::new(), Window { start: 0, end: 0 }),
                        |k| (k.key, k.window),
                    );
                    let value = count.unwrap_or(0);
                    (
                        key,
                        WindowCount {
                            start: window.start,
                            end: window.end,
                            value,
                        },
                    )
                })
                .to(
                    output,
                    Produced::with(StringSerde, JsonSerde::<WindowCount>::new()),
                );
        }
    }
    builder
        .build()
        .map_err(|e| BenchError::Topology(e.to_string()))
}

/// librdkafka settings of the raw loop.
pub struct RawLoop<'a> {
    /// Broker.
    pub bootstrap: &'a str,
    /// Consumer group.
    pub group: &'a str,
    /// Input topic.
    pub input: &'a str,
    /// Output topic.
    pub output: &'a str,
    /// How often consumed offsets are committed, after a producer flush.
    pub commit: Duration,
    /// Extra consumer settings.
    pub consumer_config: &'a [(String, String)],
}

impl RawLoop<'_> {
    /// Consumes, filters, maps and produces W1 until `stop(records consumed)` says so;
    /// returns the records written. Offsets are committed only after a producer flush,
    /// so the loop is at-least-once like the libraries it is compared with.
    pub fn run(&self, stop: impl Fn(usize) -> bool) -> Result<usize, BenchError> {
        let broker = |what: &str, e: rdkafka::error::KafkaError| {
            BenchError::Broker(format!("raw loop {what}: {e}"))
        };
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", self.bootstrap)
            .set("group.id", self.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        for (k, v) in self.consumer_config {
            cc.set(k, v);
        }
        let consumer: BaseConsumer = cc.create().map_err(|e| broker("consumer", e))?;
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap)
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .create()
            .map_err(|e| broker("producer", e))?;
        consumer
            .subscribe(&[self.input])
            .map_err(|e| broker("subscribe", e))?;
        let (mut consumed, mut out) = (0, 0);
        let mut last_commit = Instant::now();
        let mut buf = Vec::with_capacity(256);
        while !stop(consumed) {
            let m = match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!("raw loop: {e}");
                    continue;
                }
                None => continue,
            };
            consumed += 1;
            let parsed = m
                .payload()
                .map(serde_json::from_slice::<Purchase>)
                .transpose();
            let p = match parsed {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(
                        "raw loop: {}[{}]@{}: {e}",
                        m.topic(),
                        m.partition(),
                        m.offset()
                    );
                    continue;
                }
            };
            if p.keep() {
                buf.clear();
                serde_json::to_writer(&mut buf, &p.normalized())
                    .map_err(|e| BenchError::Input(e.to_string()))?;
                let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(self.output).payload(&buf);
                if let Some(k) = m.key() {
                    rec = rec.key(k);
                }
                if let Timestamp::CreateTime(t) = m.timestamp() {
                    rec = rec.timestamp(t);
                }
                while let Err((_, back)) = producer.send(rec) {
                    producer.poll(Duration::from_millis(10));
                    rec = back;
                }
                out += 1;
            }
            producer.poll(Duration::ZERO);
            if last_commit.elapsed() >= self.commit {
                producer
                    .flush(Duration::from_secs(60))
                    .map_err(|e| broker("flush", e))?;
                consumer
                    .commit_consumer_state(CommitMode::Sync)
                    .map_err(|e| broker("commit", e))?;
                last_commit = Instant::now();
            }
        }
        producer
            .flush(Duration::from_secs(60))
            .map_err(|e| broker("flush", e))?;
        // Nothing consumed since the last commit leaves no offsets to commit.
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!("raw loop final commit: {e}");
        }
        Ok(out)
    }
}

/// One output record as read back: key and value bytes, in partition order.
pub type Output = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The number of outputs a correct run of `w` writes for input ids `0..n`.
pub fn expected_outputs(w: Workload, n: u64) -> usize {
    match w {
        Workload::W1 | Workload::W4 => (0..n).filter(|&i| Purchase::sample(i).keep()).count(),
        // One update per input record.
        Workload::W2 | Workload::W3 => n as usize,
    }
}

/// Checks that `outputs` are exactly what `w` makes of input ids `0..n`: every kept
/// record once and transformed (W1, W4), or every key's final count right (W2, W3).
pub fn verify(w: Workload, n: u64, outputs: &[Output]) -> Result<(), String> {
    let expected = expected_outputs(w, n);
    if outputs.len() != expected {
        return Err(format!(
            "{} outputs where {expected} were expected",
            outputs.len()
        ));
    }
    let text = |b: &Option<Vec<u8>>, what: &str, i: usize| -> Result<String, String> {
        let b = b
            .as_deref()
            .ok_or_else(|| format!("output #{i}: no {what}"))?;
        String::from_utf8(b.to_vec()).map_err(|e| format!("output #{i}: {what}: {e}"))
    };
    match w {
        Workload::W1 | Workload::W4 => {
            let mut seen = vec![false; n as usize];
            for (i, (_, v)) in outputs.iter().enumerate() {
                let p: Purchase = serde_json::from_str(&text(v, "value", i)?)
                    .map_err(|e| format!("output #{i}: value: {e}"))?;
                let want = Purchase::sample(p.id);
                let slot = seen
                    .get_mut(p.id as usize)
                    .ok_or_else(|| format!("output #{i}: id {} was never input", p.id))?;
                if std::mem::replace(slot, true) {
                    return Err(format!("output #{i}: id {} written twice", p.id));
                }
                if !want.keep() || p != want.normalized() {
                    return Err(format!("output #{i}: id {} is not the mapped input", p.id));
                }
            }
        }
        Workload::W2 => {
            let mut want: HashMap<String, i64> = HashMap::new();
            for id in 0..n {
                *want.entry(Purchase::sample(id).customer).or_default() += 1;
            }
            let mut got: HashMap<String, i64> = HashMap::new();
            for (i, (k, v)) in outputs.iter().enumerate() {
                let count: i64 = serde_json::from_str(&text(v, "value", i)?)
                    .map_err(|e| format!("output #{i}: value: {e}"))?;
                got.insert(text(k, "key", i)?, count);
            }
            compare_counts(&want, &got)?;
        }
        Workload::W3 => {
            let mut want: HashMap<(String, i64), i64> = HashMap::new();
            for id in 0..n {
                let p = Purchase::sample(id);
                *want
                    .entry((p.customer, p.ts - p.ts.rem_euclid(WINDOW_MS)))
                    .or_default() += 1;
            }
            let mut got: HashMap<(String, i64), i64> = HashMap::new();
            for (i, (k, v)) in outputs.iter().enumerate() {
                let c: WindowCount = serde_json::from_str(&text(v, "value", i)?)
                    .map_err(|e| format!("output #{i}: value: {e}"))?;
                if c.end - c.start != WINDOW_MS {
                    return Err(format!("output #{i}: window [{}, {})", c.start, c.end));
                }
                got.insert((text(k, "key", i)?, c.start), c.value);
            }
            compare_counts(&want, &got)?;
        }
    }
    Ok(())
}

fn compare_counts<K: std::hash::Hash + Eq + std::fmt::Debug>(
    want: &HashMap<K, i64>,
    got: &HashMap<K, i64>,
) -> Result<(), String> {
    if want.len() != got.len() {
        return Err(format!(
            "final counts for {} keys where {} were expected",
            got.len(),
            want.len()
        ));
    }
    for (k, w) in want {
        match got.get(k) {
            Some(g) if g == w => {}
            g => return Err(format!("key {k:?}: final count {g:?}, expected {w}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams::serde::BytesSerde;
    use kstreams_testkit::TestDriver;

    /// Runs the kstreams topology of `w` over ids `0..n` in the test driver and returns
    /// its output as the observer would read it.
    fn driver_outputs(w: Workload, n: u64) -> Vec<Output> {
        let topology = kstreams_topology(w, "in", "out").expect("topology");
        let driver = TestDriver::new(topology).expect("driver");
        for id in 0..n {
            let (k, v, ts) = input_record(id).expect("input");
            driver
                .pipe_raw("in", Some(k.as_bytes()), Some(&v), ts)
                .expect("pipe");
        }
        driver
            .output_topic("out", BytesSerde, Nullable(BytesSerde))
            .read_key_values()
    }

    #[test]
    fn each_kstreams_workload_passes_its_own_check() {
        for w in [Workload::W1, Workload::W2, Workload::W3] {
            let out = driver_outputs(w, 3_000);
            verify(w, 3_000, &out).unwrap_or_else(|e| panic!("{w:?}: {e}"));
        }
    }

    #[test]
    fn the_check_rejects_a_lost_a_repeated_and_a_wrong_record() {
        for w in [Workload::W1, Workload::W2, Workload::W3] {
            let out = driver_outputs(w, 2_000);
            let mut lost = out.clone();
            lost.pop();
            assert!(verify(w, 2_000, &lost).is_err(), "{w:?}: lost");
            let mut repeated = out.clone();
            repeated.pop();
            repeated.push(out[0].clone());
            assert!(verify(w, 2_000, &repeated).is_err(), "{w:?}: repeated");
            // A count one off, or a record that was not mapped.
            let mut wrong = out.clone();
            let last = wrong.len() - 1;
            wrong[last].1 = match w {
                Workload::W1 => serde_json::to_vec(&Purchase::sample(1_999)).ok(),
                Workload::W2 => Some(b"999".to_vec()),
                _ => serde_json::to_vec(&WindowCount {
                    start: 0,
                    end: WINDOW_MS,
                    value: 1,
                })
                .ok(),
            };
            assert!(verify(w, 2_000, &wrong).is_err(), "{w:?}: wrong");
        }
    }
}
