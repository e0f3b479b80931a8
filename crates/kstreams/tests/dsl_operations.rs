//! Stateless KStream operations, routing, repartitioning, and table conversions.

use kstreams::runtime::partitioner::partition_for_key;
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, Repartitioned, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn strings() -> Consumed<String, String> {
    Consumed::with(StringSerde, StringSerde)
}

#[test]
fn stateless_operations_chain() {
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let builder = StreamsBuilder::new();
    let words = builder
        .stream("in", strings())
        .filter_not(|_, v| v.is_empty())
        .peek(move |_, _| {
            seen2.fetch_add(1, Ordering::Relaxed);
        })
        .flat_map(|_, line: String| {
            line.split(' ')
                .map(|w| (w.to_string(), w.len() as i64))
                .collect::<Vec<_>>()
        });
    words.to("lengths", Produced::with(StringSerde, I64Serde));
    words
        .select_key(|_, len| format!("len-{len}"))
        .map_values_with_key(|k, len| format!("{}:{len}", k.cloned().unwrap_or_default()))
        .to("by-len", Produced::with(StringSerde, StringSerde));
    let foreach_count = Arc::new(AtomicUsize::new(0));
    let fc = foreach_count.clone();
    words.foreach(move |_, _| {
        fc.fetch_add(1, Ordering::Relaxed);
    });
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe_keyless("ab c".into()).unwrap();
    input.pipe_keyless(String::new()).unwrap();
    input.pipe_keyless("def".into()).unwrap();
    assert_eq!(
        seen.load(Ordering::Relaxed),
        2,
        "peek saw the non-empty lines"
    );
    assert_eq!(
        foreach_count.load(Ordering::Relaxed),
        3,
        "foreach saw every word"
    );
    let lengths = driver
        .output_topic("lengths", StringSerde, I64Serde)
        .read_key_values();
    assert_eq!(
        lengths,
        vec![
            (Some("ab".into()), 2),
            (Some("c".into()), 1),
            (Some("def".into()), 3)
        ]
    );
    let by_len = driver
        .output_topic("by-len", StringSerde, StringSerde)
        .read_values();
    assert_eq!(by_len, vec!["len-2:2", "len-1:1", "len-3:3"]);
}

#[test]
fn merge_and_split() {
    let builder = StreamsBuilder::new();
    let a = builder.stream("a", Consumed::with(StringSerde, I64Serde));
    let b = builder.stream("b", Consumed::with(StringSerde, I64Serde));
    let branches = a
        .merge(&b)
        .split_named("n-")
        .branch_as("neg", |_, v| *v < 0)
        .branch_as("small", |_, v| *v < 10)
        .default_branch_as("big");
    for (name, s) in &branches {
        s.to(format!("out-{name}"), Produced::inherit());
    }
    let dropping = builder
        .stream("c", Consumed::with(StringSerde, I64Serde))
        .split()
        .branch(|_, v| *v > 0)
        .no_default_branch();
    dropping["1"].to("positive", Produced::inherit());
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let ia = driver.input_topic("a", StringSerde, I64Serde);
    let ib = driver.input_topic("b", StringSerde, I64Serde);
    let ic = driver.input_topic("c", StringSerde, I64Serde);
    ia.pipe_input("x".into(), -1).unwrap();
    ib.pipe_input("y".into(), 5).unwrap();
    ia.pipe_input("z".into(), 50).unwrap();
    ib.pipe_input("w".into(), -7).unwrap();
    ic.pipe_input("p".into(), 1).unwrap();
    ic.pipe_input("q".into(), -1).unwrap();
    let vals = |t: &str| driver.output_topic(t, StringSerde, I64Serde).read_values();
    assert_eq!(vals("out-n-neg"), vec![-1, -7]);
    assert_eq!(vals("out-n-small"), vec![5]);
    assert_eq!(vals("out-n-big"), vec![50]);
    assert_eq!(vals("positive"), vec![1]);
}

#[test]
fn topic_extractor_and_custom_partitioner() {
    let builder = StreamsBuilder::new();
    let s = builder.stream("in", Consumed::with(StringSerde, I64Serde));
    s.to_dynamic(
        |_: Option<&String>, v: &i64| {
            if v % 2 == 0 {
                "even".to_string()
            } else {
                "odd".to_string()
            }
        },
        Produced::inherit(),
    );
    s.to(
        "pinned",
        Produced::with(StringSerde, I64Serde)
            .with_partitioner(|_: &str, _: Option<&String>, v: &i64, n: u32| Some((*v as u32) % n)),
    );
    let driver = TestDriver::builder(builder.build().unwrap())
        .partitions("pinned", 3)
        .build()
        .unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    for v in 0..6 {
        input.pipe_input("k".into(), v).unwrap();
    }
    assert_eq!(
        driver
            .output_topic("even", StringSerde, I64Serde)
            .read_values(),
        vec![0, 2, 4]
    );
    assert_eq!(
        driver
            .output_topic("odd", StringSerde, I64Serde)
            .read_values(),
        vec![1, 3, 5]
    );
    let pinned = driver
        .output_topic("pinned", StringSerde, I64Serde)
        .read_records();
    for r in pinned {
        assert_eq!(r.partition, (r.value as u32) % 3);
    }
}

#[test]
fn select_key_then_aggregate_repartitions_by_the_new_key() {
    let builder = StreamsBuilder::new();
    builder
        .stream("orders", Consumed::with(StringSerde, StringSerde))
        .select_key(|_, customer| customer.clone())
        .group_by_key(Grouped::with(StringSerde, StringSerde).with_name("by-customer"))
        .count(Materialized::named("orders-per-customer"));
    let topology = builder.build().unwrap();
    assert_eq!(topology.subtopology_count(), 2);
    let driver = TestDriver::builder(topology)
        .application_id("shop")
        .default_partitions(4)
        .build()
        .unwrap();
    let input = driver.input_topic("orders", StringSerde, StringSerde);
    for (i, c) in ["ann", "bob", "ann", "cy", "ann", "bob"].iter().enumerate() {
        input
            .pipe_input(format!("order-{i}"), c.to_string())
            .unwrap();
    }
    assert_eq!(driver.topic_sizes()["shop-by-customer-repartition"], 6);
    let store = driver
        .key_value_store::<String, i64>("orders-per-customer")
        .unwrap();
    let mut all = store.all().unwrap();
    all.sort();
    assert_eq!(
        all,
        vec![("ann".into(), 3), ("bob".into(), 2), ("cy".into(), 1)]
    );
    // Each customer's count is in the task of the partition murmur2 assigns its key.
    let per_partition = store.entries_per_partition();
    for (customer, _) in &all {
        let p = partition_for_key(customer.as_bytes(), 4) as usize;
        assert!(
            per_partition[p] >= 1,
            "{customer} should live in partition {p}"
        );
    }
}

/// Every changelog only compacts, those of stores whose old entries expire (window, session,
/// sliding and join stores) too: they log a tombstone per expired entry, and a deletion by
/// `retention.ms` would go by the records' event times.
#[test]
fn changelogs_of_expiring_stores_only_compact() {
    use kstreams::{JoinWindows, SessionWindows, SlidingWindows, StreamJoined, TimeWindows};
    use std::time::Duration;
    let minutes = |m: u64| Duration::from_secs(60 * m);
    let builder = StreamsBuilder::new();
    let stream = builder.stream("in", strings());
    let grouped = || stream.group_by_key(Grouped::with(StringSerde, StringSerde));
    grouped().count(Materialized::named("totals"));
    grouped()
        .windowed_by(TimeWindows::of_size_and_grace(minutes(1), minutes(1)))
        .count(Materialized::named("tumbling").with_retention(minutes(60)));
    grouped()
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(
            minutes(5),
            minutes(1),
        ))
        .count(Materialized::named("sessions").with_retention(minutes(90)));
    grouped()
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
            minutes(2),
            minutes(1),
        ))
        .count(Materialized::named("sliding").with_retention(minutes(30)));
    let other = builder.stream("other", strings());
    stream
        .left_join_stream(
            &other,
            |a: &String, b: Option<&String>| format!("{a}{b:?}"),
            JoinWindows::of_time_difference_and_grace(minutes(3), minutes(2)),
            StreamJoined::inherit(),
        )
        .to("joined", Produced::with(StringSerde, StringSerde));
    let topology = builder.build().unwrap();
    let changelogs: Vec<(String, Option<i64>)> = topology
        .internal_topics("app", &|_| Some(1))
        .unwrap()
        .into_iter()
        .filter(|t| t.compacted)
        .map(|t| (t.name, t.retention_ms))
        .collect();
    let names: Vec<&str> = changelogs.iter().map(|(n, _)| n.as_str()).collect();
    for suffix in [
        "-totals-changelog",
        "-tumbling-changelog",
        "-sessions-changelog",
        "-sliding-changelog",
        "-sliding-records-changelog",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(suffix)),
            "{suffix} in {names:?}"
        );
    }
    // Both join sides and the left join's parked records.
    assert_eq!(
        names.iter().filter(|n| n.contains("-KSTREAM-JOIN")).count(),
        2
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.contains("-KSTREAM-OUTERSHARED-"))
            .count(),
        1
    );
    assert!(
        changelogs.iter().all(|(_, retention)| retention.is_none()),
        "{changelogs:?}"
    );
}

#[test]
fn explicit_repartition_with_fixed_partition_count() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .repartition(
            Repartitioned::with(StringSerde, StringSerde)
                .with_name("spread")
                .with_partitions(5),
        )
        .to("out", Produced::inherit());
    let topology = builder.build().unwrap();
    let internal = topology.internal_topics("app", &|_| Some(2)).unwrap();
    assert_eq!(internal.len(), 1);
    assert_eq!(internal[0].name, "app-spread-repartition");
    assert_eq!(internal[0].partitions, 5);
    let driver = TestDriver::builder(topology)
        .application_id("app")
        .default_partitions(2)
        .build()
        .unwrap();
    assert_eq!(driver.task_ids().len(), 2 + 5);
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe_input("k1".into(), "v1".into()).unwrap();
    input.pipe_input("k2".into(), "v2".into()).unwrap();
    assert_eq!(
        driver
            .output_topic("out", StringSerde, StringSerde)
            .read_values(),
        vec!["v1", "v2"]
    );
}

#[test]
fn stream_to_table_and_table_transformations() {
    let builder = StreamsBuilder::new();
    let table = builder
        .stream("prices", Consumed::with(StringSerde, I64Serde))
        .to_table(Materialized::named("latest-price"));
    table
        .filter(|_, p| *p >= 100)
        .map_values(|p| format!("{p} cents"))
        .to_stream()
        .to(
            "expensive",
            Produced::with(StringSerde, Nullable(StringSerde)),
        );
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("prices", StringSerde, I64Serde);
    input.pipe_input("tea".into(), 50).unwrap();
    input.pipe_input("cake".into(), 300).unwrap();
    input.pipe_input("cake".into(), 80).unwrap(); // no longer passes: deletion downstream
    input.pipe_input("tea".into(), 120).unwrap();
    let out = driver
        .output_topic("expensive", StringSerde, Nullable(StringSerde))
        .read_key_values();
    assert_eq!(
        out,
        vec![
            (Some("cake".into()), Some("300 cents".into())),
            (Some("cake".into()), None),
            (Some("tea".into()), Some("120 cents".into())),
        ]
    );
    let store = driver
        .key_value_store::<String, i64>("latest-price")
        .unwrap();
    assert_eq!(store.get(&"cake".into()).unwrap(), Some(80));
}

#[test]
fn stream_joins_a_filtered_table_through_its_value_getter() {
    let builder = StreamsBuilder::new();
    let customers = builder
        .table("customers", strings(), Materialized::named("customers"))
        .filter(|_, country| country != "blocked");
    builder
        .stream("records", strings())
        .join(&customers, |record: &String, country: &String| {
            format!("{record} from {country}")
        })
        .to("enriched", Produced::with(StringSerde, StringSerde));
    let driver = TestDriver::builder(builder.build().unwrap())
        .default_partitions(4)
        .build()
        .unwrap();
    let c = driver.input_topic("customers", StringSerde, StringSerde);
    c.pipe_input("c1".into(), "FR".into()).unwrap();
    c.pipe_input("c2".into(), "blocked".into()).unwrap();
    let r = driver.input_topic("records", StringSerde, StringSerde);
    r.pipe_input("c1".into(), "r1".into()).unwrap();
    r.pipe_input("c2".into(), "r2".into()).unwrap();
    r.pipe_input("c3".into(), "r3".into()).unwrap();
    assert_eq!(
        driver
            .output_topic("enriched", StringSerde, StringSerde)
            .read_values(),
        vec!["r1 from FR"]
    );
}

#[test]
fn describe_matches_kafka_streams_layout() {
    let builder = StreamsBuilder::new();
    builder
        .stream("input", strings())
        .filter(|_, v| !v.is_empty())
        .to("output", Produced::with(StringSerde, StringSerde));
    let text = builder.build().unwrap().describe().to_string();
    let expected = "Topologies:\n   Sub-topology: 0\n    Source: KSTREAM-SOURCE-0000000000 (topics: [input])\n      --> KSTREAM-FILTER-0000000001\n    Processor: KSTREAM-FILTER-0000000001 (stores: [])\n      --> KSTREAM-SINK-0000000002\n      <-- KSTREAM-SOURCE-0000000000\n    Sink: KSTREAM-SINK-0000000002 (topic: output)\n      <-- KSTREAM-FILTER-0000000001\n\n";
    assert_eq!(text, expected);
}
