//! The talk's scaling run, with separate OS processes: records go in, instance 1 starts
//! and takes every partition, instance 2 starts and the partitions split, instance 2 is
//! SIGKILLed and instance 1 takes them all back. Every input record must reach the output;
//! the records processed twice are reported ("delta = records processed twice").

mod common;

use common::{terminate, wait_for, Instance, OutputReader};
use kstreams_testkit::broker::{broker_has_gap, TestBroker};
use std::sync::atomic::Ordering;
use std::time::Duration;

const PARTITIONS: i32 = 4;
const BATCH: usize = 1000;

fn batch(from: usize) -> impl Iterator<Item = (String, String)> {
    (from..from + BATCH).map(|i| (format!("k{i}"), format!("v{i}")))
}

#[test]
fn scale_up_then_kill_an_instance_loses_nothing() {
    let broker = TestBroker::from_env();
    let takeover_gap = broker_has_gap("takeover");
    let app = TestBroker::unique("auth-converter");
    let (input, output) = (
        TestBroker::unique("auth-json"),
        TestBroker::unique("auth-out"),
    );
    broker.create_topic(&input, PARTITIONS).unwrap();
    broker.create_topic(&output, PARTITIONS).unwrap();
    let reader = OutputReader::start(broker.bootstrap(), &output, PARTITIONS);
    let minute = Duration::from_secs(60);

    broker.produce(&input, batch(0));
    let mut one = Instance::start("app-1", &broker, &app, &input, &output, "passthrough");
    wait_for(
        "instance 1 to take all 4 partitions",
        minute,
        &[&one],
        || one.partitions() == 4,
    );
    wait_for("batch 1 processed", minute, &[&one], || {
        reader.has_all(BATCH)
    });

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
    println!("after scale-up: app-1 has {a:?}, app-2 has {b:?}");
    broker.produce(&input, batch(BATCH));
    wait_for("batch 2 processed by both", minute, &[&one, &two], || {
        reader.has_all(2 * BATCH)
    });
    let by_instance = |name: &str| {
        reader
            .strings()
            .iter()
            .filter(|v| v.ends_with(&format!("|{name}")))
            .count()
    };
    assert!(by_instance("app-2") > 0, "instance 2 processed its share");

    // Kill instance 2 in the middle of a batch: SIGKILL, no commit, no leave-group.
    broker.produce(&input, batch(2 * BATCH));
    std::thread::sleep(Duration::from_millis(100));
    two.child.kill().expect("SIGKILL instance 2");
    two.child.wait().expect("reap instance 2");
    if takeover_gap {
        println!(
            "KNOWN BROKER GAP (takeover): this broker keeps giving the dead member its partitions \
             after the rebalance (seen with Tansu 0.6), so instance 1 cannot take them over; the \
             takeover half of this test runs on the in-process mock broker"
        );
        terminate(&mut one);
        return;
    }
    wait_for(
        "instance 1 to take all 4 partitions back",
        minute,
        &[&one, &two],
        || one.partitions() == 4,
    );
    broker.produce(&input, batch(3 * BATCH));
    let total = 4 * BATCH;
    wait_for(
        "every record in the output",
        Duration::from_secs(120),
        &[&one, &two],
        || reader.has_all(total),
    );

    let seen = reader.seen();
    let lost: Vec<usize> = (0..total)
        .filter(|i| !seen.contains_key(&format!("v{i}")))
        .collect();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "records in: {total}, distinct out: {}, lost: {}",
        seen.len(),
        lost.len()
    );
    println!("delta = records processed twice: {duplicates}");
    assert!(lost.is_empty(), "lost records: {lost:?}");
    terminate(&mut one);
    reader.stop.store(true, Ordering::Relaxed);
}
