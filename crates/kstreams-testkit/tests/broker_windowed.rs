//! Windowed state across a restart on the Kafka runtime: an instance counting per key and
//! 10-second window, emitting each window's final count once, is killed after a commit;
//! late records for a window that already closed arrive while it is down; the restarted
//! instance restores the window store and the suppression buffer from their changelogs,
//! resumes the stream time it committed (so the late records stay late), and keeps emitting
//! exactly one correct final count per window.

mod common;

use common::{terminate, wait_for, Instance, OutputReader};
use kstreams_testkit::broker::{broker_has_gap, TestBroker};
use std::collections::BTreeMap;
use std::time::Duration;

const PARTITIONS: i32 = 2;
const KEYS: usize = 6;
const PER_KEY: usize = 20;
const WINDOW_MS: i64 = 10_000;

/// `PER_KEY` records per key with event times inside window `w`.
fn round(w: i64) -> Vec<(String, String)> {
    (0..PER_KEY)
        .flat_map(|i| {
            (0..KEYS).map(move |k| {
                let ts = w * WINDOW_MS + (i as i64 * 97) % WINDOW_MS;
                (format!("key-{k}"), format!("{ts}|w{w}-{i}"))
            })
        })
        .collect()
}

/// Final counts read back: `key@start` -> every value emitted for it.
fn finals(reader: &OutputReader) -> BTreeMap<String, Vec<i64>> {
    let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v) in reader.records.lock().unwrap().iter() {
        if let (Some(k), Some(v)) = (k, v) {
            let v = <[u8; 8]>::try_from(v.as_slice()).expect("8-byte count");
            m.entry(String::from_utf8_lossy(k).into_owned())
                .or_default()
                .push(i64::from_be_bytes(v));
        }
    }
    m
}

fn windows_closed(reader: &OutputReader, up_to: i64) -> bool {
    let f = finals(reader);
    (0..=up_to).all(|w| (0..KEYS).all(|k| f.contains_key(&format!("key-{k}@{}", w * WINDOW_MS))))
}

#[test]
fn final_windows_survive_a_restart_and_late_records_stay_late() {
    let broker = TestBroker::from_env();
    let app = TestBroker::unique("windowed");
    let (input, output) = (TestBroker::unique("w-in"), TestBroker::unique("w-out"));
    broker.create_topic(&input, PARTITIONS).unwrap();
    broker.create_topic(&output, PARTITIONS).unwrap();
    if broker.mock().is_some() {
        for store in ["window-counts", "finals-store"] {
            broker
                .create_topic(&format!("{app}-{store}-changelog"), PARTITIONS)
                .unwrap();
        }
    }
    let reader = OutputReader::start(broker.bootstrap(), &output, PARTITIONS);
    let start = |name: &str| Instance::start(name, &broker, &app, &input, &output, "windowed");

    let mut first = start("node");
    broker.produce(&input, round(0));
    broker.produce(&input, round(1));
    wait_for("window 0 final", Duration::from_secs(60), &[&first], || {
        windows_closed(&reader, 0)
    });
    // Let a commit pass (every 200 ms), so that stream time and offsets are committed.
    std::thread::sleep(Duration::from_secs(2));
    if broker_has_gap("takeover") {
        println!("KNOWN BROKER GAP (takeover): stopping cleanly instead of SIGKILL");
        terminate(&mut first);
    } else {
        first.child.kill().expect("SIGKILL");
        first.child.wait().expect("reap");
    }

    // While it is down: late records for window 0, which has closed, then windows 2 and 3.
    if broker_has_gap("metadata") {
        println!(
            "KNOWN BROKER GAP (metadata): this broker drops the metadata of committed offsets, \
             where stream time is kept, so the late records are left out here; the full test \
             runs on the in-process mock"
        );
    } else {
        broker.produce(&input, round(0));
    }
    broker.produce(&input, round(2));
    broker.produce(&input, round(3));
    let mut again = start("node");
    wait_for(
        "windows 1 and 2 final",
        Duration::from_secs(120),
        &[&first, &again],
        || windows_closed(&reader, 2),
    );
    std::thread::sleep(Duration::from_secs(1));
    let f = finals(&reader);
    println!("final counts: {f:?}");
    for k in 0..KEYS {
        for w in 0..=2 {
            let key = format!("key-{k}@{}", w * WINDOW_MS);
            assert_eq!(
                f[&key],
                vec![PER_KEY as i64],
                "{key}: exactly one final result, counting each record of its window once"
            );
        }
        let open = format!("key-{k}@{}", 3 * WINDOW_MS);
        assert!(!f.contains_key(&open), "{open} is still open");
    }
    assert!(
        again.logged("restored store window-counts") || again.logged("is up to date at offset"),
        "{}",
        again.dump()
    );
    terminate(&mut again);
}
