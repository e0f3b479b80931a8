//! Exactly-once on Apache Kafka, with real processes, real SIGKILLs and the broker's own
//! transaction markers: what librdkafka's mock broker cannot show (it neither writes markers
//! nor filters aborted records).
//!
//! Ignored under `cargo test --workspace` (they need Java and Maven for the broker);
//! `.ci/run` runs them with `--ignored` against the Kafka it starts, or they start their own
//! through `tools/kafka/run`.

mod common;

use common::{
    assert_exactly_once, count_updates, produce_at_rate, wait_for, Instance, OutputReader,
};
use kstreams_testkit::broker::TestBroker;
use kstreams_testkit::kafka::KafkaCluster;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 4;

fn expected_counts(n: usize, keys: usize) -> HashMap<String, i64> {
    let mut m = HashMap::new();
    for i in 0..n {
        *m.entry(format!("k{}", i % keys)).or_insert(0) += 1;
    }
    m
}

/// The run: a counting app under `exactly_once_v2`, two instances in one group,
/// 1M records arriving at a steady rate, one instance SIGKILLed at random moments (at least
/// five times) and restarted each time with its state directory. A `read_committed` reader
/// must see every key's counts exactly 1..n; a `read_uncommitted` reader must have seen
/// records of aborted transactions, so the aborts really happened.
#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn exactly_once_counts_survive_repeated_sigkills() {
    let records: usize = std::env::var("KSTREAMS_EOS_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let keys = 1_000;
    let rate = 15_000;
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("eos-counter");
    let (input, output) = (TestBroker::unique("eos-in"), TestBroker::unique("eos-out"));
    broker.create_topic(&input, PARTITIONS).unwrap();
    broker.create_topic(&output, PARTITIONS).unwrap();
    let committed = OutputReader::start(broker.bootstrap(), &output, PARTITIONS);
    let uncommitted = OutputReader::start_with_isolation(
        broker.bootstrap(),
        &output,
        PARTITIONS,
        "read_uncommitted",
    );
    let start = |name: &str| {
        Instance::start_with(name, &broker, &app, &input, &output, "count", &["--eos"])
    };
    let steady = start("steady");
    let mut victim = start("victim");
    let mut dead = Vec::new();
    let minute = Duration::from_secs(60);
    wait_for(
        "both instances to get partitions",
        minute,
        &[&steady, &victim],
        || steady.partitions() > 0 && victim.partitions() > 0,
    );
    let started = Instant::now();
    let producer = produce_at_rate(
        broker.bootstrap(),
        &input,
        records,
        rate,
        move |i| format!("k{}", i % keys),
        |i| i.to_string(),
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x05ee_de05);
    let mut kills = 0;
    // Kill while the input flows (about records / rate seconds), at least five times.
    while kills < 5 || !producer.is_finished() {
        let pause = Duration::from_millis(rng.gen_range(2_000..7_000));
        std::thread::sleep(pause);
        if kills >= 5 && producer.is_finished() {
            break;
        }
        victim.kill();
        kills += 1;
        println!(
            "kill {kills} at {:.1} s ({} committed updates so far)",
            started.elapsed().as_secs_f64(),
            committed.records.lock().unwrap().len()
        );
        // Restart at once, or after a moment, at random: the same name and state
        // directory, so the same transactional id fences the dead process's epoch.
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..1_500)));
        dead.push(std::mem::replace(&mut victim, start("victim")));
    }
    producer.join().expect("input producer");
    let expected = expected_counts(records, keys);
    let mut all: Vec<&Instance> = vec![&steady, &victim];
    all.extend(dead.iter());
    wait_for(
        "every key counted to its total (read_committed)",
        Duration::from_secs(600),
        &all,
        || {
            let latest = committed.latest_counts();
            latest.len() == keys && expected.iter().all(|(k, n)| latest.get(k) >= Some(n))
        },
    );
    // Anything still in flight (a duplicate would be) has time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    let updates = count_updates(&committed);
    let checked = assert_exactly_once(&updates, &expected);
    let seen_uncommitted = uncommitted.records.lock().unwrap().len();
    let aborted = seen_uncommitted.saturating_sub(checked);
    println!(
        "exactly-once under SIGKILL: {kills} kills, {records} records, {checked} committed \
         count updates, every key exactly 1..n (duplicates 0, gaps 0); {aborted} records of \
         aborted transactions seen read_uncommitted; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(kills >= 5);
    assert_eq!(checked, records, "one committed update per input record");
    assert!(
        aborted > 0,
        "a read_uncommitted reader saw no aborted records ({seen_uncommitted} read): the kills \
         aborted nothing, so this run proved nothing about aborts"
    );
}

/// Two live processes with one transactional id: a copied state directory gives the second
/// instance the first one's process id, so its thread takes the same `transactional.id`.
/// When it initializes transactions the broker bumps the producer epoch and fences the
/// older process, whose next transactional call fails: it stops without committing, and
/// the newer one ends up with every partition. No error is injected; the output stays
/// exactly-once.
#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn the_broker_fences_an_older_process_sharing_a_transactional_id() {
    let kafka = KafkaCluster::shared_or_start();
    let broker = TestBroker::connect(Some(kafka.bootstrap()));
    let app = TestBroker::unique("zombie");
    let (input, output) = (TestBroker::unique("z-in"), TestBroker::unique("z-out"));
    let keys = 50;
    broker.create_topic(&input, 2).unwrap();
    broker.create_topic(&output, 2).unwrap();
    let committed = OutputReader::start(broker.bootstrap(), &output, 2);
    let minute = Duration::from_secs(60);
    let start = |name: &str| {
        Instance::start_with(name, &broker, &app, &input, &output, "count", &["--eos"])
    };
    let mut older = start("older");
    wait_for(
        "the older instance to get both partitions",
        minute,
        &[&older],
        || older.partitions() == 2,
    );
    let first = 10_000;
    produce_at_rate(
        broker.bootstrap(),
        &input,
        first,
        5_000,
        move |i| format!("k{}", i % keys),
        |i| i.to_string(),
    )
    .join()
    .unwrap();
    wait_for("the first records counted", minute, &[&older], || {
        committed.records.lock().unwrap().len() >= first
    });
    // The zombie's twin: the older instance's process id in a state directory of its own.
    let id_file = "kafka-streams-process-metadata";
    let from = Instance::state_dir_of(&app, "older")
        .join(&app)
        .join(id_file);
    let to_dir = Instance::state_dir_of(&app, "newer").join(&app);
    std::fs::create_dir_all(&to_dir).unwrap();
    std::fs::copy(&from, to_dir.join(id_file)).expect("copy the process id");
    // Input keeps flowing while the newer process starts, so the older one is mid-
    // transaction when its epoch is bumped.
    let total = 30_000;
    let more = produce_at_rate(
        broker.bootstrap(),
        &input,
        total - first,
        2_000,
        move |i| format!("k{}", (first + i) % keys),
        move |i| (first + i).to_string(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let newer = start("newer");
    wait_for(
        "the older process to be fenced and stop",
        minute,
        &[&older, &newer],
        || older.logged("stopped after processing"),
    );
    let status = older.child.wait().unwrap();
    assert!(
        !status.success(),
        "a fenced instance stops on an error\n{}",
        older.dump()
    );
    assert!(
        older.logged("fenced"),
        "the older process reports that it was fenced\n{}",
        older.dump()
    );
    wait_for(
        "the newer process's producer to be ready",
        minute,
        &[&older, &newer],
        || newer.logged("exactly-once: transactional.id"),
    );
    more.join().unwrap();
    wait_for(
        "the newer process to take both partitions and count everything",
        Duration::from_secs(120),
        &[&older, &newer],
        || {
            newer.partitions() == 2
                && committed.latest_counts().values().sum::<i64>() >= total as i64
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let checked = assert_exactly_once(&count_updates(&committed), &expected_counts(total, keys));
    let fenced_line = older
        .log
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("fenced"))
        .cloned()
        .unwrap_or_default();
    println!("fenced by the broker: {fenced_line}");
    assert!(
        !newer.logged("fenced"),
        "the newer process was never fenced\n{}",
        newer.dump()
    );
    println!("{checked} committed updates, every key exactly 1..n");
}
