//! A stream thread takes records from librdkafka a batch at a time and serves rebalances
//! only between batches. Here a rebalance arrives while an instance is deep in a slow
//! batch: a second instance joins. No record may be lost, and none may be processed by
//! both owners. Runs on the in-process mock by default (which cannot show the second: see
//! the test), or on `KSTREAMS_BOOTSTRAP`, as `.ci/run` does on Apache Kafka.

use kstreams::runtime::kafka::{KafkaStreams, State, StreamsConfig};
use kstreams::serde::StringSerde;
use kstreams::topology::Topology;
use kstreams::{Consumed, StreamsBuilder};
use kstreams_testkit::broker::TestBroker;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Enough that the slow instance cannot finish them all in the batches it processes before
/// it serves the rebalance (on Kafka it once finished 2,000), so the second gets some.
const RECORDS: usize = 6000;
const PARTITIONS: i32 = 4;

/// What each instance processed: (instance, value, when).
type Seen = Arc<Mutex<Vec<(&'static str, String, Instant)>>>;

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn topology(input: &str, name: &'static str, seen: Seen, per_record: Duration) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(StringSerde, StringSerde))
        .foreach(move |_, v: &String| {
            std::thread::sleep(per_record);
            seen.lock().unwrap().push((name, v.clone(), Instant::now()));
        });
    builder.build().unwrap()
}

fn config(app: &str, broker: &TestBroker) -> StreamsConfig {
    StreamsConfig::new(app, broker.bootstrap())
        .commit_interval(Duration::from_millis(100))
        // The mock's group coordinator now and then loses a JoinGroup answer when two
        // members join at once; the member then rejoins after its session times out.
        .consumer_config("session.timeout.ms", "10000")
}

#[test]
fn a_rebalance_during_a_batch_loses_nothing_and_gives_no_record_two_owners() {
    kstreams_testkit::broker::log_to_test_output("warn");
    let broker = TestBroker::from_env();
    let app = TestBroker::unique("batch-rebalance");
    let input = TestBroker::unique("batch-in");
    broker.create_topic(&input, PARTITIONS).unwrap();
    broker.produce(
        &input,
        (0..RECORDS).map(|i| (format!("k{i}"), format!("v{i}"))),
    );

    let seen: Seen = Arc::default();
    // Instance one is slow: a batch of up to 1,000 records takes up to 3 s, so the second
    // instance joins while one is being processed.
    let one = KafkaStreams::new(
        topology(&input, "one", seen.clone(), Duration::from_millis(3)),
        config(&app, &broker),
    );
    let revoked_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let revoked = revoked_at.clone();
    one.set_state_listener(move |old, new| {
        if old == State::Running && new == State::Rebalancing {
            revoked.lock().unwrap().get_or_insert_with(Instant::now);
        }
    });
    one.start().unwrap();
    wait_for(
        "instance one to start processing",
        Duration::from_secs(60),
        || !seen.lock().unwrap().is_empty(),
    );

    let two = KafkaStreams::new(
        topology(&input, "two", seen.clone(), Duration::ZERO),
        config(&app, &broker),
    );
    let joined = Instant::now();
    two.start().unwrap();
    wait_for("every record processed", Duration::from_secs(120), || {
        let seen = seen.lock().unwrap();
        seen.len() >= RECORDS && {
            let distinct: std::collections::HashSet<&String> =
                seen.iter().map(|(_, v, _)| v).collect();
            distinct.len() == RECORDS
        }
    });
    wait_for("the partitions to split", Duration::from_secs(60), || {
        !one.assigned_tasks().is_empty() && !two.assigned_tasks().is_empty()
    });
    // Anything processed twice would have been by now: instance two reads from the
    // committed offsets as soon as it is assigned.
    std::thread::sleep(Duration::from_secs(1));
    one.close();
    two.close();

    let seen = seen.lock().unwrap();
    let mut owners: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, v, _) in seen.iter() {
        owners.entry(v.as_str()).or_default().push(name);
    }
    let lost: Vec<String> = (0..RECORDS)
        .map(|i| format!("v{i}"))
        .filter(|v| !owners.contains_key(v.as_str()))
        .collect();
    let twice: Vec<(&&str, &Vec<&str>)> = owners.iter().filter(|(_, o)| o.len() > 1).collect();
    let by = |name: &str| seen.iter().filter(|(n, _, _)| *n == name).count();
    println!(
        "instance one processed {}, instance two {}; lost {}, processed twice {}",
        by("one"),
        by("two"),
        lost.len(),
        twice.len()
    );
    assert!(
        lost.is_empty(),
        "lost records, the first ten: {:?}",
        &lost[..lost.len().min(10)]
    );
    if broker.mock().is_some() {
        // librdkafka's mock refuses an offset commit while its group is joining
        // (`rd_kafka_mock_cgrp_classic_check_state`), where Kafka accepts one from a member
        // of the current generation: on the mock the revocation's commit fails, and the
        // batch is processed again, at least once.
        println!(
            "KNOWN BROKER GAP: the mock refuses commits during a rebalance; {} records were \
             processed again (Apache Kafka, in .ci/run, must show none)",
            twice.len()
        );
    } else {
        assert!(
            twice.is_empty(),
            "records processed twice, the first ten: {:?}",
            &twice[..twice.len().min(10)]
        );
    }
    assert!(by("two") > 0, "instance two took over partitions");
    // The rebalance arrived while instance one was inside a batch: it went on processing
    // after instance two had joined, and only then gave its partitions up.
    let revoked = revoked_at
        .lock()
        .unwrap()
        .expect("instance one had partitions revoked");
    let in_flight = seen
        .iter()
        .filter(|(n, _, at)| *n == "one" && *at > joined && *at < revoked)
        .count();
    println!(
        "instance one processed {in_flight} records between the join and its revocation ({:?})",
        revoked - joined
    );
    assert!(
        in_flight > 0,
        "instance one processed records after the join and before its revocation"
    );
}
