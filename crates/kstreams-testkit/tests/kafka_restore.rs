//! Restoration on Apache Kafka: changelogs that end in a transaction marker, global topics
//! with aborted transactions and partitions that retention emptied, a restore that takes
//! longer than the stall timeout, and a changelog that Kafka has really compacted. The mock
//! broker writes no markers, filters no aborted records, applies no retention and compacts
//! nothing.
//!
//! Ignored under `cargo test --workspace` (they need Java and Maven for the broker);
//! `.ci/run` runs them with `--ignored`.

use kstreams::runtime::kafka::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::broker::TestBroker;
use kstreams_testkit::kafka::KafkaCluster;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn init_logs() {
    kstreams_testkit::broker::log_to_test_output("info");
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_running(streams: &KafkaStreams) {
    wait_for("RUNNING", Duration::from_secs(120), || {
        assert_ne!(streams.state(), State::Error, "the client failed");
        streams.state() == State::Running
    });
}

/// Counts records per key of `input` into store `counts`, writing every update.
fn counting_app(
    bootstrap: &str,
    app: &str,
    input: &str,
    output: &str,
    state_dir: &std::path::Path,
    guarantee: ProcessingGuarantee,
) -> KafkaStreams {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("counts"))
        .to_stream()
        .to(output, Produced::with(StringSerde, Nullable(I64Serde)));
    let config = StreamsConfig::new(app, bootstrap)
        .processing_guarantee(guarantee)
        .commit_interval(Duration::from_millis(100))
        .state_dir(state_dir);
    KafkaStreams::new(builder.build().unwrap(), config)
}

fn state_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(TestBroker::unique(name));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    c.fetch_watermarks(topic, partition, Duration::from_secs(10))
        .unwrap()
}

/// Every record of `topic`-`partition`, read_uncommitted, folded into its latest value per
/// key (a tombstone removes the key). Also returns how many records were read.
fn fold_partition(bootstrap: &str, topic: &str, partition: i32) -> (HashMap<String, i64>, usize) {
    let (_, high) = watermarks(bootstrap, topic, partition);
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", TestBroker::unique("folder"))
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut state = HashMap::new();
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                read += 1;
                let key = String::from_utf8_lossy(m.key().unwrap()).into_owned();
                match m.payload() {
                    // Kafka Streams' layout: the count alone.
                    Some(v) => {
                        let count = v
                            .try_into()
                            .unwrap_or_else(|_| panic!("{topic}: a count of {} bytes", v.len()));
                        state.insert(key, i64::from_be_bytes(count));
                    }
                    None => {
                        state.remove(&key);
                    }
                }
                if m.offset() + 1 >= high {
                    break;
                }
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {
                // Past a trailing transaction marker the position moves without a record.
                let at = c.position().unwrap();
                if let Some(Offset::Offset(o)) =
                    at.find_partition(topic, partition).map(|e| e.offset())
                {
                    if o >= high {
                        break;
                    }
                }
                assert!(Instant::now() < deadline, "reading {topic} timed out");
            }
        }
    }
    (state, read)
}

/// A changelog written under exactly-once ends in a commit marker, one offset past its
/// last record. A new instance without local state restores it in full and must get past
/// the marker: before the fix restoration waited for a record at the marker's offset until
/// the stall timeout, and the thread failed.
#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn a_changelog_written_under_exactly_once_restores_past_its_commit_marker() {
    init_logs();
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("eos-restore");
    let (input, output) = (TestBroker::unique("er-in"), TestBroker::unique("er-out"));
    broker.create_topic(&input, 2).unwrap();
    broker.create_topic(&output, 2).unwrap();
    let keys = 40;
    broker.produce(
        &input,
        (0..4_000).map(|i| (format!("k{}", i % keys), i.to_string())),
    );
    let eos = ProcessingGuarantee::ExactlyOnceV2;
    let first = counting_app(
        kafka.bootstrap(),
        &app,
        &input,
        &output,
        &state_dir("er-1"),
        eos,
    );
    first.start().unwrap();
    wait_for("4,000 records processed", Duration::from_secs(120), || {
        first.processed() >= 4_000
    });
    first.close();
    let changelog = format!("{app}-counts-changelog");
    for p in 0..2 {
        let (_, high) = watermarks(kafka.bootstrap(), &changelog, p);
        let (_, read) = fold_partition(kafka.bootstrap(), &changelog, p);
        assert!(
            (high as usize) > read,
            "partition {p}: {read} records under a high watermark of {high}: the markers \
             are there"
        );
    }

    // A second instance with an empty state directory restores both partitions in full.
    let second = counting_app(
        kafka.bootstrap(),
        &app,
        &input,
        &output,
        &state_dir("er-2"),
        eos,
    );
    let started = Instant::now();
    second.start().unwrap();
    wait_running(&second);
    let took = started.elapsed();
    let store = second.store::<String, i64>("counts").expect("counts store");
    for k in 0..keys {
        assert_eq!(
            store.get(&format!("k{k}")).unwrap(),
            Some(4_000 / keys as i64),
            "k{k} restored"
        );
    }
    let (restored, _) = second.restoration();
    println!("restored {restored} changelog records; RUNNING after {took:?}");
    assert!(restored >= keys as u64);
    second.close();
}

/// A restore that takes longer than `startup_timeout` in all succeeds as long as it makes
/// progress: the stall timeout counts from the last progress, not from the start.
#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn a_restore_longer_than_the_stall_timeout_completes_while_it_progresses() {
    init_logs();
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("long-restore");
    let (input, output) = (TestBroker::unique("lr-in"), TestBroker::unique("lr-out"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    // Not compacted, so every one of the records written below is there to restore.
    let changelog = format!("{app}-counts-changelog");
    broker.create_topic(&changelog, 1).unwrap();
    // The changelog of 400 counting updates of 1,000 keys, written directly.
    let (keys, per_key) = (1_000, 400);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("linger.ms", "20")
        .create()
        .unwrap();
    for round in 1..=per_key {
        for k in 0..keys {
            let key = format!("k{k}");
            // Kafka Streams' changelog layout: the count, its time as the record's.
            let value = (round as i64).to_be_bytes();
            let mut rec = BaseRecord::to(&changelog)
                .key(key.as_bytes())
                .payload(&value[..])
                .timestamp(1_000_000 + round as i64);
            while let Err((_, back)) = producer.send(rec) {
                producer.poll(Duration::from_millis(5));
                rec = back;
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();

    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("counts"))
        .to_stream()
        .to(&output, Produced::with(StringSerde, Nullable(I64Serde)));
    let mut config = StreamsConfig::new(&app, kafka.bootstrap()).state_dir(state_dir("lr"));
    // Far less than restoring 400,000 records takes, far more than a single poll.
    config.startup_timeout = Duration::from_secs(1);
    let streams = KafkaStreams::new(builder.build().unwrap(), config);
    let started = Instant::now();
    streams.start().unwrap();
    wait_running(&streams);
    let took = started.elapsed();
    let (restored, restoring) = streams.restoration();
    println!("restored {restored} records in {restoring:?}; RUNNING after {took:?}");
    assert_eq!(restored, (keys * per_key) as u64);
    assert!(
        restoring > Duration::from_secs(1),
        "the restore took {restoring:?}: it must outlast the 1 s stall timeout for this test \
         to show anything"
    );
    let store = streams.store::<String, i64>("counts").unwrap();
    for k in 0..keys {
        assert_eq!(store.get(&format!("k{k}")).unwrap(), Some(per_key as i64));
    }
    streams.close();
}

/// A global table whose topic holds committed and aborted transactions (so it ends in a
/// marker) and a partition that retention has emptied (start offset = end offset > 0)
/// loads what was committed, and the client starts.
#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn a_global_table_loads_past_markers_aborts_and_an_emptied_partition() {
    init_logs();
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("global-eos");
    let (reference, orders, output) = (
        TestBroker::unique("ref"),
        TestBroker::unique("orders"),
        TestBroker::unique("ge-out"),
    );
    broker
        .create_topic_with(&reference, 2, &[("retention.ms", "10000")])
        .unwrap();
    broker.create_topic(&orders, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();

    // Partition 1: records an hour old, which retention deletes at its next check.
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3_600_000;
    let plain: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .create()
        .unwrap();
    for i in 0..20 {
        let key = format!("expired-{i}");
        plain
            .send(
                BaseRecord::<[u8], [u8]>::to(&reference)
                    .partition(1)
                    .key(key.as_bytes())
                    .payload(b"gone")
                    .timestamp(old),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    plain.flush(Duration::from_secs(30)).unwrap();

    // Partition 0: committed, aborted, committed; it ends in a commit marker.
    let txn: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("transactional.id", TestBroker::unique("ref-writer"))
        .create()
        .unwrap();
    let t = Duration::from_secs(30);
    txn.init_transactions(t).unwrap();
    for (batch, commit) in [("a", true), ("b", false), ("c", true)] {
        txn.begin_transaction().unwrap();
        for i in 0..10 {
            let (key, value) = (format!("{batch}{i}"), format!("value-{batch}{i}"));
            txn.send(
                BaseRecord::to(&reference)
                    .partition(0)
                    .key(key.as_bytes())
                    .payload(value.as_bytes()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        }
        if commit {
            txn.commit_transaction(t).unwrap();
        } else {
            txn.flush(t).unwrap();
            txn.abort_transaction(t).unwrap();
        }
    }
    wait_for(
        "retention to empty partition 1",
        Duration::from_secs(90),
        || {
            let (low, high) = watermarks(kafka.bootstrap(), &reference, 1);
            high == 20 && low == high
        },
    );
    let (low0, high0) = watermarks(kafka.bootstrap(), &reference, 0);
    println!("partition 0: offsets {low0}..{high0} (30 records, 3 markers); partition 1 emptied");
    assert_eq!(high0, 33);

    let builder = StreamsBuilder::new();
    let table = builder.global_table(
        &reference,
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("reference-store"),
    );
    builder
        .stream(&orders, Consumed::with(StringSerde, StringSerde))
        .left_join_global(
            &table,
            |_, wanted: &String| wanted.clone(),
            |wanted, found| format!("{wanted}={}", found.map_or("?", |v| v.as_str())),
        )
        .to(&output, Produced::with(StringSerde, StringSerde));
    let mut config = StreamsConfig::new(&app, kafka.bootstrap()).state_dir(state_dir("ge"));
    config.startup_timeout = Duration::from_secs(10);
    let streams = KafkaStreams::new(builder.build().unwrap(), config);
    streams.start().expect("the global table loads");
    wait_running(&streams);
    let store = streams
        .store::<String, String>("reference-store")
        .expect("global store");
    let mut loaded: Vec<String> = store.all().unwrap().into_iter().map(|(k, _)| k).collect();
    loaded.sort();
    let mut want: Vec<String> = (0..10)
        .flat_map(|i| [format!("a{i}"), format!("c{i}")])
        .collect();
    want.sort();
    assert_eq!(
        loaded, want,
        "committed records only: no aborted, no expired"
    );
    broker.produce(
        &orders,
        [
            ("o1".to_string(), "c3".to_string()),
            ("o2".to_string(), "b3".to_string()),
        ],
    );
    let out = broker.consume(&output, 1, 2, Duration::from_secs(60));
    let values: Vec<String> = out
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(values, ["c3=value-c3", "b3=?"]);
    streams.close();
}

/// A changelog that Kafka has compacted restores the same state as the full log: the
/// broker's log cleaner removes superseded updates (the test waits until it has), and a new
/// instance without local state restores exactly the counts the input implies.
#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn a_compacted_changelog_restores_the_same_state_as_the_full_log() {
    init_logs();
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("compacted");
    let (input, output) = (TestBroker::unique("cp-in"), TestBroker::unique("cp-out"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    let changelog = format!("{app}-counts-changelog");
    // Segments roll every 200 ms of appends, and any dirt is worth cleaning.
    broker
        .create_topic_with(
            &changelog,
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.ms", "200"),
                ("min.cleanable.dirty.ratio", "0.01"),
                ("min.compaction.lag.ms", "0"),
            ],
        )
        .unwrap();
    let keys = 25;
    let first = counting_app(
        kafka.bootstrap(),
        &app,
        &input,
        &output,
        &state_dir("cp-1"),
        ProcessingGuarantee::AtLeastOnce,
    );
    first.start().unwrap();
    wait_running(&first);
    // Ten rounds, each a little apart, so the changelog spans many segments.
    let mut expected: HashMap<String, i64> = HashMap::new();
    for round in 0..10 {
        let batch: Vec<(String, String)> = (0..500)
            .map(|i| (format!("k{}", (i * 7 + round) % keys), i.to_string()))
            .collect();
        for (k, _) in &batch {
            *expected.entry(k.clone()).or_insert(0) += 1;
        }
        broker.produce(&input, batch);
        std::thread::sleep(Duration::from_millis(400));
    }
    wait_for("5,000 records processed", Duration::from_secs(120), || {
        first.processed() >= 5_000
    });
    first.close();
    let (full, _) = fold_partition(kafka.bootstrap(), &changelog, 0);
    assert_eq!(
        full, expected,
        "the full changelog folds to the input's counts"
    );
    let (_, high) = watermarks(kafka.bootstrap(), &changelog, 0);
    // The active segment is never cleaned: one more append after segment.ms rolls it.
    let mut compacted_read = high as usize;
    wait_for(
        "the log cleaner to compact the changelog",
        Duration::from_secs(120),
        || {
            let (state, read) = fold_partition(kafka.bootstrap(), &changelog, 0);
            assert_eq!(state, expected, "compaction keeps the latest value per key");
            compacted_read = read;
            read < high as usize / 2
        },
    );
    println!("changelog: {high} records written, {compacted_read} left after compaction");

    let second = counting_app(
        kafka.bootstrap(),
        &app,
        &input,
        &output,
        &state_dir("cp-2"),
        ProcessingGuarantee::AtLeastOnce,
    );
    second.start().unwrap();
    wait_running(&second);
    let store = second.store::<String, i64>("counts").unwrap();
    let restored: HashMap<String, i64> = store.all().unwrap().into_iter().collect();
    assert_eq!(
        restored, expected,
        "the compacted changelog restores the full log's state"
    );
    assert_eq!(second.restoration().0, compacted_read as u64);
    second.close();
}

/// Window stores log a tombstone for each window they expire, so their changelogs, like a
/// key-value store's, are created `compact` only (Kafka Streams makes them `compact,delete`
/// and expires without tombstones).
#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn window_and_key_value_changelogs_only_compact() {
    init_logs();
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("window-retention");
    let input = TestBroker::unique("wr-in");
    broker.create_topic(&input, 2).unwrap();
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream(&input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde));
    grouped.count(Materialized::named("totals"));
    grouped
        .windowed_by(kstreams::dsl::TimeWindows::of_size_and_grace(
            Duration::from_secs(60),
            Duration::from_secs(10),
        ))
        .count(Materialized::named("per-minute").with_retention(Duration::from_secs(3_600)));
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        StreamsConfig::new(&app, kafka.bootstrap()).state_dir(state_dir("wr")),
    );
    streams.start().unwrap();
    wait_running(&streams);
    let admin = kstreams::runtime::kafka::admin::Admin::new(kafka.bootstrap()).unwrap();
    let windows = admin
        .topic_config(&format!("{app}-per-minute-changelog"))
        .unwrap();
    // Expired windows are logged as tombstones: a deletion by retention.ms would go by
    // the records' event times and empty the changelog of an application on old history.
    assert_eq!(
        windows.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    let totals = admin
        .topic_config(&format!("{app}-totals-changelog"))
        .unwrap();
    assert_eq!(
        totals.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    streams.close();
}
