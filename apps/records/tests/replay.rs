//! A new detector on the history (`records replay`): started on existing enriched records,
//! it reads from the earliest offset, catches up while more records keep arriving, and
//! follows them. Its alerts are exactly those of one pass over every record on the test
//! driver: none missing at the hand-over from history to live (no gap), none raised twice.
//! On a fresh embedded cluster per detector.

use kstreams::serde::{JsonSerde, StringSerde};
use kstreams_testkit::TestDriver;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use records::generate::{kinds, Generator, GeneratorConfig};
use records::model::{Alert, CustomerRecord, Enriched};
use records::roles::RoleSettings;
use records::topics::{self, Cluster};
use records::{detectors, replay};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 4;

/// Generated records, enriched as ingest does, in the order they were generated.
fn enriched(records: u64) -> Vec<Enriched> {
    let mut g = Generator::new(GeneratorConfig {
        records,
        customers: 2_000,
        invalid: 0.0,
        // 50 records a customer a day: the 12,000 records span days of event time, with
        // room for card tests (minutes long) to fit before the end.
        per_day: 100_000.0,
        // More anomalies than by default, so that the hand-over has alerts around it.
        anomaly: 0.004,
        ..Default::default()
    });
    let mut out = Vec::new();
    while let Some(r) = g.next(0) {
        out.push(r);
    }
    let profiles: HashMap<String, _> = g
        .customers()
        .iter()
        .map(|c| (c.id.clone(), c.clone()))
        .collect();
    out.iter()
        .filter_map(|r| serde_json::from_slice::<CustomerRecord>(r.value.as_deref()?).ok())
        .filter_map(|record| {
            let customer = profiles.get(&record.customer_id)?.clone();
            Some(Enriched { record, customer })
        })
        .collect()
}

/// Writes `records` to `records-enriched` with their event time as timestamp, as ingest
/// does.
fn write(producer: &BaseProducer, records: &[Enriched]) {
    for e in records {
        let value = serde_json::to_vec(e).unwrap();
        let mut rec = BaseRecord::to(topics::ENRICHED)
            .key(e.record.customer_id.as_str())
            .payload(value.as_slice())
            .timestamp(e.record.ts);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(5));
                    rec = back;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// The alerts of one pass over `records` on the test driver, as (record, reason).
fn reference(detector: &str, records: &[Enriched]) -> Vec<(String, String)> {
    let d = detectors::by_name(detector).unwrap();
    let topology = detectors::topology(d.as_ref(), Arc::default()).unwrap();
    let driver = TestDriver::builder(topology)
        .default_partitions(PARTITIONS)
        .build()
        .unwrap();
    let input = driver.input_topic(topics::ENRICHED, StringSerde, JsonSerde::new());
    let output = driver.output_topic(topics::ALERTS, StringSerde, JsonSerde::<Alert>::new());
    for e in records {
        input
            .pipe_input_at(e.record.customer_id.clone(), e.clone(), e.record.ts)
            .unwrap();
    }
    let mut alerts: Vec<_> = output
        .read_values()
        .into_iter()
        .map(|a| (a.record_id, a.reason))
        .collect();
    alerts.sort();
    alerts
}

/// Every alert of `detector` in the replay's output, as (record, reason): read until
/// nothing more comes for 3 s after `expected` arrived, so a duplicate shows too.
fn replayed(bootstrap: &str, detector: &str, expected: usize) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", topics::unique("replay-test-reader"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS as i32 {
        tpl.add_partition_offset(replay::OUTPUT, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut alerts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Instant::now();
    while Instant::now() < deadline
        && (alerts.len() < expected || last.elapsed() < Duration::from_secs(3))
    {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let a: Alert = serde_json::from_slice(m.payload().unwrap()).unwrap();
            if a.detector == detector {
                alerts.push((a.record_id, a.reason));
            }
            last = Instant::now();
        }
    }
    alerts.sort();
    alerts
}

/// Replays `detector` with `threads` stream threads on a fresh embedded cluster holding
/// `history`, while `live` arrives.
fn replay_with_live_records(
    detector: &str,
    threads: usize,
    history: &[Enriched],
    live: &[Enriched],
) {
    let cluster = Cluster::embedded().unwrap();
    let bootstrap = cluster.bootstrap().to_string();
    topics::create_all(cluster.admin(), PARTITIONS).unwrap();
    let producer = records::publish::producer(&bootstrap).unwrap();
    write(&producer, history);
    let state = std::env::temp_dir().join(topics::unique("replay-test"));
    let settings = RoleSettings {
        bootstrap: bootstrap.clone(),
        state_dir: state.clone(),
        commit: Duration::from_millis(200),
        create_internal_topics: true,
        partitions: PARTITIONS,
        instance: "replay".into(),
        http: None,
        threads,
    };
    let replay = replay::Replay::start(&settings, cluster.admin(), detector).unwrap();
    // The live records arrive while the replay catches up with the history.
    for chunk in live.chunks(200) {
        write(&producer, chunk);
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = replay
        .await_history(None, Duration::from_secs(120))
        .unwrap();
    assert!(report.history >= history.len() as u64, "{report:?}");
    assert!(report.rate() > 0.0, "{report:?}");
    let total = (history.len() + live.len()) as u64;
    replay.await_total(total, Duration::from_secs(120)).unwrap();
    let (after_history, _) = replay.stop();
    assert_eq!(after_history, total - report.history, "{report:?}");

    let mut all = history.to_vec();
    all.extend_from_slice(live);
    let expected = reference(detector, &all);
    assert!(expected.len() >= 5, "{detector}: {expected:?}");
    let alerts = replayed(&bootstrap, detector, expected.len());
    assert_eq!(
        alerts.len(),
        expected.len(),
        "{detector}: {} alerts replayed, {} in one pass",
        alerts.len(),
        expected.len()
    );
    assert_eq!(alerts, expected, "{detector}");
    let _ = std::fs::remove_dir_all(state);
}

#[test]
fn a_detector_started_on_history_catches_up_and_follows_with_no_gap_and_no_double_alert() {
    let records = enriched(12_000);
    let (history, live) = records.split_at(8_000);
    // Velocity with two stream threads (`--threads 2`): its tasks are spread over both,
    // and the hand-over must hold on each.
    for (detector, threads) in [
        (kinds::AMOUNT_SPIKE, 1),
        (kinds::VELOCITY, 2),
        (kinds::CARD_TESTING, 1),
    ] {
        replay_with_live_records(detector, threads, history, live);
    }
}
