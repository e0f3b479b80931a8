//! Restoration on a broker (the in-process mock, or `KSTREAMS_BOOTSTRAP`): it runs from the
//! stream thread's loop, not inside the rebalance callback, so a restore that takes longer
//! than `max.poll.interval.ms` causes no rebalance; and a checkpoint beyond the changelog's
//! end is treated as stale, the store restored in full; and a commit rewrites a task's
//! checkpoint only when its changelog offsets moved; and what a processor writes to its
//! store in `close` reaches the changelog, so the next owner restores it before its
//! processors' `init`, which sees it.

use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::runtime::kafka::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::state::{KeyValueStore, Stores};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, Topology};
use kstreams_testkit::broker::TestBroker;
use rdkafka::producer::{BaseRecord, Producer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Setup {
    broker: TestBroker,
    app: String,
    input: String,
    output: String,
    changelog: String,
}

fn setup(name: &str, partitions: i32) -> Setup {
    kstreams_testkit::broker::log_to_test_output("warn");
    let broker = TestBroker::from_env();
    let app = TestBroker::unique(name);
    let (input, output) = (TestBroker::unique("rs-in"), TestBroker::unique("rs-out"));
    let changelog = format!("{app}-counts-changelog");
    for t in [&input, &output, &changelog] {
        broker.create_topic(t, partitions).unwrap();
    }
    Setup {
        broker,
        app,
        input,
        output,
        changelog,
    }
}

/// Counts per key into store `counts` (changelogged), writing every update.
fn counting(s: &Setup) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(&s.input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("counts"))
        .to_stream()
        .to(&s.output, Produced::with(StringSerde, Nullable(I64Serde)));
    builder.build().unwrap()
}

/// Writes the changelog of `rounds` counting updates of `keys` keys, as a count store logs
/// them (the count, its time as the record's), each key in its murmur2 partition.
fn write_changelog(s: &Setup, partitions: u32, keys: usize, rounds: i64) {
    let producer = s.broker.producer();
    for round in 1..=rounds {
        for k in 0..keys {
            let key = format!("k{k}");
            let value = round.to_be_bytes();
            let partition =
                kstreams::runtime::partitioner::partition_for_key(key.as_bytes(), partitions);
            let mut rec = BaseRecord::to(&s.changelog)
                .key(key.as_bytes())
                .payload(&value[..])
                .partition(partition as i32)
                .timestamp(1_000 + round);
            while let Err((_, back)) = producer.send(rec) {
                producer.poll(Duration::from_millis(5));
                rec = back;
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

fn state_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(TestBroker::unique(name));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_restore_longer_than_max_poll_interval_causes_no_rebalance() {
    // 16 partitions of 100,000 records each (the mock keeps about 5 MiB a partition):
    // restoration writes in batches and refetches as soon as it drained its prefetch, so
    // 800,000 records restored within the 6 s.
    let s = setup("long-restore", 16);
    let (keys, rounds) = (16_000, 100);
    write_changelog(&s, 16, keys, rounds);
    // Six seconds between polls (the least a broker's group.min.session.timeout.ms lets
    // the session, and so the poll interval, be) is all the thread may take: less than
    // restoring 1,600,000 records takes. Inside the rebalance callback, the consumer would
    // miss it, leave the group and rebalance.
    let config = StreamsConfig::new(&s.app, s.broker.bootstrap())
        .state_dir(state_dir("lr"))
        .consumer_config("session.timeout.ms", "6000")
        .consumer_config("max.poll.interval.ms", "6000");
    let streams = KafkaStreams::new(counting(&s), config);
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = states.clone();
    streams.set_state_listener(move |_, new| seen.lock().unwrap().push(new));
    streams.start().unwrap();
    wait_for("RUNNING", Duration::from_secs(120), || {
        assert_ne!(streams.state(), State::Error);
        streams.state() == State::Running
    });
    // A rebalance caused by a missed poll would come a moment later.
    std::thread::sleep(Duration::from_secs(3));
    let (restored, took) = streams.restoration();
    println!(
        "restored {restored} records in {took:?}; states {:?}",
        states.lock().unwrap()
    );
    assert_eq!(restored, (keys as u64) * rounds as u64);
    assert!(
        took > Duration::from_secs(6),
        "the restore took {took:?}: it must outlast max.poll.interval.ms for this test to show anything"
    );
    assert_eq!(
        *states.lock().unwrap(),
        vec![State::Rebalancing, State::Running],
        "one assignment, no rebalance during or after the restore"
    );
    let store = streams.store::<String, i64>("counts").unwrap();
    for k in 0..keys {
        assert_eq!(store.get(&format!("k{k}")).unwrap(), Some(rounds));
    }
    streams.close();
}

#[test]
fn a_checkpoint_beyond_the_changelog_end_restores_in_full() {
    let s = setup("stale-checkpoint", 1);
    write_changelog(&s, 1, 20, 5);
    // A checkpoint (Kafka Streams' file layout) far past the changelog's end, as an
    // instance keeps when its changelog topic was deleted and created again: trusted, it
    // would leave the store as it is (here empty).
    let dir = state_dir("sc");
    let task_dir = dir.join(&s.app).join("0_0");
    std::fs::create_dir_all(&task_dir).unwrap();
    std::fs::write(
        task_dir.join(".checkpoint"),
        format!("0\n1\n{} 0 1000000\n", s.changelog),
    )
    .unwrap();
    let streams = KafkaStreams::new(
        counting(&s),
        StreamsConfig::new(&s.app, s.broker.bootstrap()).state_dir(&dir),
    );
    streams.start().unwrap();
    wait_for("RUNNING", Duration::from_secs(60), || {
        assert_ne!(streams.state(), State::Error);
        streams.state() == State::Running
    });
    let store = streams.store::<String, i64>("counts").unwrap();
    for k in 0..20 {
        assert_eq!(
            store.get(&format!("k{k}")).unwrap(),
            Some(5),
            "k{k} restored from the changelog, not left as the stale checkpoint had it"
        );
    }
    assert_eq!(streams.restoration().0, 100);
    streams.close();
}

/// The changelog offset in a task's checkpoint file, and the file's inode (each write
/// replaces the file, so a new inode means a new write).
fn checkpointed(task_dir: &std::path::Path, changelog: &str) -> Option<(i64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let path = task_dir.join(".checkpoint");
    let inode = std::fs::metadata(&path).ok()?.ino();
    let text = std::fs::read_to_string(&path).ok()?;
    let offset = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{changelog} 0 "))?.parse().ok())?;
    Some((offset, inode))
}

#[test]
fn a_commit_rewrites_the_checkpoint_only_when_the_changelog_moved() {
    let s = setup("quiet-checkpoint", 1);
    let dir = state_dir("qc");
    let task_dir = dir.join(&s.app).join("0_0");
    let streams = KafkaStreams::new(
        counting(&s),
        StreamsConfig::new(&s.app, s.broker.bootstrap())
            .state_dir(&dir)
            .commit_interval(Duration::from_millis(100)),
    );
    streams.start().unwrap();
    let produce = |from: usize| {
        s.broker.produce(
            &s.input,
            (from..from + 10).map(|k| (format!("k{k}"), "v".to_string())),
        )
    };
    produce(0);
    wait_for(
        "the first ten updates checkpointed",
        Duration::from_secs(60),
        || {
            assert_ne!(streams.state(), State::Error);
            checkpointed(&task_dir, &s.changelog).is_some_and(|(o, _)| o >= 10)
        },
    );
    let first = checkpointed(&task_dir, &s.changelog).unwrap();
    // About twenty commits with nothing new: the file stays the one written.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        checkpointed(&task_dir, &s.changelog),
        Some(first),
        "commits that moved no changelog offset left the checkpoint alone"
    );
    produce(10);
    wait_for(
        "the next ten updates checkpointed",
        Duration::from_secs(60),
        || checkpointed(&task_dir, &s.changelog).is_some_and(|(o, _)| o >= first.0 + 10),
    );
    assert_ne!(checkpointed(&task_dir, &s.changelog).unwrap().1, first.1);
    streams.close();
}

/// Loads its per-key totals from store `totals` in `init`, counts records in memory, and
/// writes the totals back only in `close`: a processor that batches its state updates. It
/// relies on `init` seeing its store restored, and on what `close` writes being committed.
#[derive(Default)]
struct TotalsOnClose {
    totals: BTreeMap<String, i64>,
    store: Option<KeyValueStore<String, i64>>,
}

impl Processor<String, String> for TotalsOnClose {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> kstreams::Result<()> {
        let store = ctx.key_value_store("totals")?;
        self.totals = store.all()?.into_iter().collect();
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> kstreams::Result<()> {
        if let Some(key) = &record.key {
            *self.totals.entry(key.clone()).or_default() += 1;
        }
        ctx.forward(record)
    }

    fn close(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        for (key, total) in &self.totals {
            store.put(key, total).expect("writing a total on close");
        }
    }
}

fn totals_on_close(s: &Setup) -> Topology {
    let builder = StreamsBuilder::new();
    builder.add_state_store(Stores::key_value_store_builder(
        Stores::persistent_key_value_store("totals"),
        StringSerde,
        I64Serde,
    ));
    builder
        .stream(&s.input, Consumed::with(StringSerde, StringSerde))
        .process(TotalsOnClose::default, &["totals"])
        .to(&s.output, Produced::with(StringSerde, StringSerde));
    builder.build().unwrap()
}

#[test]
fn state_saved_on_close_and_loaded_in_init_passes_to_the_next_owner() {
    hand_over_through_init_and_close(ProcessingGuarantee::AtLeastOnce);
}

#[test]
fn state_saved_on_close_and_loaded_in_init_passes_to_the_next_owner_under_exactly_once() {
    // The final transaction must run although no record came since the last one.
    hand_over_through_init_and_close(ProcessingGuarantee::ExactlyOnceV2);
}

/// Two instances one after the other, each with nothing on disk, each counting a round of
/// records with [`TotalsOnClose`]: the totals in the changelog after the second are the
/// two rounds'.
fn hand_over_through_init_and_close(guarantee: ProcessingGuarantee) {
    let s = setup("close-writes", 2);
    let changelog = format!("{}-totals-changelog", s.app);
    s.broker.create_topic(&changelog, 2).unwrap();
    let (keys, per_key) = (5, 6);
    let config = |dir: &str| {
        StreamsConfig::new(&s.app, s.broker.bootstrap())
            .state_dir(state_dir(dir))
            .processing_guarantee(guarantee)
    };
    let round = |n: usize| {
        s.broker.produce(
            &s.input,
            (0..keys * per_key).map(|i| (format!("k{}", i % keys), format!("v{i}"))),
        );
        let forwarded = s
            .broker
            .consume(&s.output, 2, n * keys * per_key, Duration::from_secs(60));
        assert_eq!(forwarded.len(), n * keys * per_key, "round {n} processed");
    };
    let totals = |n: usize| -> BTreeMap<String, i64> {
        (0..keys)
            .map(|k| (format!("k{k}"), (n * per_key) as i64))
            .collect()
    };
    let logged = || -> BTreeMap<String, i64> {
        s.broker
            .consume_to_end(&changelog, 2, Duration::from_secs(30))
            .into_iter()
            .map(|r| {
                let key = String::from_utf8(r.key.expect("changelog key")).unwrap();
                let value = r.value.expect("a total, not a tombstone");
                (key, i64::from_be_bytes(value.try_into().expect("8 bytes")))
            })
            .collect()
    };

    let first = KafkaStreams::new(totals_on_close(&s), config("cw1"));
    first.start().unwrap();
    round(1);
    assert_ne!(first.state(), State::Error);
    // A clean stop: the processors close before the final commit (Kafka Streams' suspend,
    // commit, close), so the totals they write then are flushed to the changelog with it.
    first.close();
    assert_eq!(logged(), totals(1), "the changelog holds what close wrote");

    // The next owner restores the totals before its processors' init, which loads them.
    let next = KafkaStreams::new(totals_on_close(&s), config("cw2"));
    next.start().unwrap();
    wait_for("RUNNING", Duration::from_secs(60), || {
        assert_ne!(next.state(), State::Error);
        next.state() == State::Running
    });
    let store = next.store::<String, i64>("totals").unwrap();
    for (key, total) in &totals(1) {
        assert_eq!(store.get(key).unwrap(), Some(*total), "{key} restored");
    }
    round(2);
    next.close();
    assert_eq!(
        logged(),
        totals(2),
        "the second owner's init loaded the first's totals, and its close added its round"
    );
}
