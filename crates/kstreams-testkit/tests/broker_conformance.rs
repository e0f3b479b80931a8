//! What the broker must do for kstreams' guarantees to hold, checked directly.
//!
//! A broker that fails one of these has a gap; `KSTREAMS_BROKER_GAPS` names the gaps known
//! for the broker under test, and the checks then report the gap instead of failing.

use kstreams_testkit::broker::{broker_has_gap, TestBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

fn consumer(broker: &TestBroker, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer")
}

/// A one-partition topic holding three batches of 1000 records (three produce calls, each
/// flushed), on any broker.
fn three_batches(broker: &TestBroker, name: &str) -> String {
    let topic = TestBroker::unique(name);
    broker.create_topic(&topic, 1).unwrap();
    let producer = TestBroker::batching_producer(broker.bootstrap());
    for b in 0..3 {
        TestBroker::produce_with(
            &producer,
            &topic,
            (0..1000).map(|i| (format!("k{i}"), format!("b{b}-{i}"))),
        );
    }
    topic
}

/// A consumer that resumes from a committed offset inside a record batch must get the rest
/// of that batch. Seen with Tansu 0.6: it resumes at the next batch, skipping records,
/// which would make an instance taking over partitions lose input.
#[test]
fn resuming_inside_a_record_batch_reads_the_rest_of_it() {
    let broker = TestBroker::from_env();
    let topic = three_batches(&broker, "midbatch");
    let group = TestBroker::unique("g");
    let first = consumer(&broker, &group);
    first.subscribe(&[&topic]).unwrap();
    let (mut read, mut last) = (0, -1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while read < 1500 && Instant::now() < deadline {
        if let Some(Ok(m)) = first.poll(Duration::from_millis(100)) {
            read += 1;
            last = m.offset();
        }
    }
    assert_eq!(read, 1500);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(last + 1))
        .unwrap();
    first.commit(&tpl, CommitMode::Sync).unwrap();
    first.unsubscribe();
    drop(first);

    let second = consumer(&broker, &group);
    second.subscribe(&[&topic]).unwrap();
    let (mut got, mut start) = (0, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < 1500 && Instant::now() < deadline {
        if let Some(Ok(m)) = second.poll(Duration::from_millis(100)) {
            start.get_or_insert(m.offset());
            got += 1;
        }
    }
    let ok = start == Some(1500) && got == 1500;
    if broker_has_gap("midbatch") {
        println!(
            "KNOWN BROKER GAP (midbatch): resuming at offset 1500 inside a batch started at {start:?} and \
             read {got} of 1500; {}",
            if ok { "the gap is gone on this broker" } else { "test input is written one record per batch here" }
        );
        return;
    }
    assert!(
        ok,
        "resumed at {start:?} and read {got} records, expected offset 1500 and 1500 records"
    );
}

/// The end offset of a partition is one past its last record. Restoration reads a
/// changelog up to it.
#[test]
fn high_watermark_is_one_past_the_last_record() {
    let broker = TestBroker::from_env();
    let topic = three_batches(&broker, "watermark");
    let c = consumer(&broker, &TestBroker::unique("w"));
    let (low, high) = c
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .unwrap();
    let ok = (low, high) == (0, 3000);
    if broker_has_gap("watermark") {
        println!("KNOWN BROKER GAP (watermark): watermarks of 3000 records in 3 batches are ({low}, {high}); {}",
            if ok { "the gap is gone on this broker" } else { "restoration there reads to the last record it finds" });
        return;
    }
    assert!(ok, "watermarks ({low}, {high}), expected (0, 3000)");
}

/// Committed offsets keep their metadata: kstreams stores each task's stream time there
/// (as Kafka Streams does), so that a restarted task keeps closed windows closed.
#[test]
fn committed_offsets_keep_their_metadata() {
    let broker = TestBroker::from_env();
    let topic = TestBroker::unique("metadata");
    broker.create_topic(&topic, 1).unwrap();
    let group = TestBroker::unique("m");
    let c = consumer(&broker, &group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(0))
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(&topic, 0, Offset::Offset(7))
        .unwrap();
    if let Some(mut e) = commit.find_partition(&topic, 0) {
        e.set_metadata("AQAAAAAAAAPo");
    }
    c.commit(&commit, CommitMode::Sync).unwrap();
    let read = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    let e = read.find_partition(&topic, 0).expect("partition");
    let got = (e.offset(), e.metadata().to_string());
    let ok = got == (Offset::Offset(7), "AQAAAAAAAAPo".to_string());
    if broker_has_gap("metadata") {
        println!(
            "KNOWN BROKER GAP (metadata): committed (7, \"AQAAAAAAAAPo\"), read back {got:?}; {}",
            if ok {
                "the gap is gone on this broker"
            } else {
                "stream time is not resumed after a restart there"
            }
        );
        return;
    }
    assert!(ok, "read back {got:?}");
}
