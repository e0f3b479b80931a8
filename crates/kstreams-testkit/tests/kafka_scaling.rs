//! The talk's scaling run at its size, on Apache Kafka: 1M records through separate
//! processes; instance 1 starts alone, instance 2 joins (scale up) and the partitions split,
//! then instance 2 is SIGKILLed and instance 1 takes every partition back. Nothing may be
//! lost; the records processed twice are counted and reported ("delta = records processed
//! twice"), as on the talk's slide.
//!
//! Ignored under `cargo test --workspace` (it needs Java and Maven for the broker);
//! `.ci/run` runs it with `--ignored`.

mod common;

use common::{produce_at_rate, terminate, wait_for, Instance, OutputReader};
use kstreams_testkit::broker::TestBroker;
use kstreams_testkit::kafka::KafkaCluster;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 4;

/// Distinct input ids in passthrough output (`v<i>|<instance>`), and the total read.
fn distinct(reader: &OutputReader) -> (HashSet<usize>, usize) {
    let records = reader.records.lock().unwrap();
    let ids = records
        .iter()
        .filter_map(|(_, v)| {
            let v = v.as_deref()?;
            let end = v.iter().position(|&b| b == b'|')?;
            std::str::from_utf8(&v[1..end]).ok()?.parse().ok()
        })
        .collect();
    (ids, records.len())
}

#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn scale_up_then_sigkill_one_instance_with_a_million_records() {
    let total = 1_000_000;
    let rate = 40_000;
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("auth-converter");
    let (input, output) = (
        TestBroker::unique("auth-json"),
        TestBroker::unique("auth-out"),
    );
    broker.create_topic(&input, PARTITIONS).unwrap();
    broker.create_topic(&output, PARTITIONS).unwrap();
    let reader = OutputReader::start(broker.bootstrap(), &output, PARTITIONS);
    let minute = Duration::from_secs(60);

    let mut one = Instance::start("app-1", &broker, &app, &input, &output, "passthrough");
    wait_for(
        "instance 1 to take all 4 partitions",
        minute,
        &[&one],
        || one.partitions() == 4,
    );
    let started = Instant::now();
    let producer = produce_at_rate(
        broker.bootstrap(),
        &input,
        total,
        rate,
        |i| format!("k{i}"),
        |i| format!("v{i}"),
    );
    std::thread::sleep(Duration::from_secs(5));
    let mut two = Instance::start("app-2", &broker, &app, &input, &output, "passthrough");
    wait_for("the partitions to split 2/2", minute, &[&one, &two], || {
        one.partitions() == 2 && two.partitions() == 2
    });
    let (a, b) = (
        one.assigned.lock().unwrap().clone().unwrap(),
        two.assigned.lock().unwrap().clone().unwrap(),
    );
    assert!(
        a.is_disjoint(&b),
        "each partition has one owner: {a:?} {b:?}"
    );
    println!(
        "scaled up at {:.1} s: app-1 has {a:?}, app-2 has {b:?}",
        started.elapsed().as_secs_f64()
    );
    // Let instance 2 process for a while, then kill it mid-stream: no commit, no leave.
    std::thread::sleep(Duration::from_secs(6));
    let by_two = reader
        .strings()
        .iter()
        .filter(|v| v.ends_with("|app-2"))
        .count();
    assert!(by_two > 0, "instance 2 processed its share");
    two.kill();
    println!(
        "killed app-2 at {:.1} s after it wrote {by_two} records",
        started.elapsed().as_secs_f64()
    );
    wait_for(
        "instance 1 to take all 4 partitions back",
        minute,
        &[&one, &two],
        || one.partitions() == 4,
    );
    producer.join().expect("input producer");
    wait_for(
        "every record in the output",
        Duration::from_secs(300),
        &[&one, &two],
        || reader.records.lock().unwrap().len() >= total && distinct(&reader).0.len() == total,
    );
    std::thread::sleep(Duration::from_secs(2));
    let (ids, read) = distinct(&reader);
    let lost = (0..total).filter(|i| !ids.contains(i)).count();
    println!(
        "records in: {total}, distinct out: {}, lost: {lost}; delta = records processed \
         twice: {}; {:.1} s",
        ids.len(),
        read - ids.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0);
    terminate(&mut one);
}
