//! The join result tables of the Kafka documentation ("Kafka Streams Join Semantics"),
//! input by input. All records share one key; `None` input is a null value (a tombstone
//! for tables), and a `None` output is a tombstone.

use kstreams::serde::{Nullable, StringSerde};
use kstreams::{Consumed, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;

/// (timestamp, left input, right input): exactly one side is `Some(..)` per row; the inner
/// `Option` is the value, `None` meaning null.
type Step = (
    i64,
    Option<Option<&'static str>>,
    Option<Option<&'static str>>,
);

const STEPS: [Step; 15] = [
    (1, Some(None), None),
    (2, None, Some(None)),
    (3, Some(Some("A")), None),
    (4, None, Some(Some("a"))),
    (5, Some(Some("B")), None),
    (6, None, Some(Some("b"))),
    (7, Some(None), None),
    (8, None, Some(None)),
    (9, Some(Some("C")), None),
    (10, None, Some(Some("c"))),
    (11, None, Some(None)),
    (12, Some(None), None),
    (13, None, Some(None)),
    (14, None, Some(Some("d"))),
    (15, Some(Some("D")), None),
];

fn joined(l: Option<&str>, r: Option<&str>) -> String {
    format!("{} - {}", l.unwrap_or("null"), r.unwrap_or("null"))
}

/// Runs the steps and returns, per step, the outputs it produced.
fn run(driver: &TestDriver, left: &str, right: &str) -> Vec<Vec<Option<String>>> {
    let l = driver.input_topic(left, StringSerde, Nullable(StringSerde));
    let r = driver.input_topic(right, StringSerde, Nullable(StringSerde));
    let out = driver.output_topic("out", StringSerde, Nullable(StringSerde));
    let key = || "k".to_string();
    STEPS
        .iter()
        .map(|(ts, lv, rv)| {
            if let Some(v) = lv {
                l.pipe_input_at(key(), v.map(str::to_string), *ts).unwrap();
            }
            if let Some(v) = rv {
                r.pipe_input_at(key(), v.map(str::to_string), *ts).unwrap();
            }
            out.read_values()
        })
        .collect()
}

fn expect(rows: &[(i64, &[Option<&str>])]) -> Vec<Vec<Option<String>>> {
    (1..=15)
        .map(|ts| {
            rows.iter()
                .find(|(t, _)| *t == ts)
                .map(|(_, outs)| outs.iter().map(|o| o.map(str::to_string)).collect())
                .unwrap_or_default()
        })
        .collect()
}

fn stream_table(left_join: bool) -> Vec<Vec<Option<String>>> {
    let builder = StreamsBuilder::new();
    let table = builder.table(
        "right",
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("right-store"),
    );
    // Stream records with a null value do not join (Kafka ignores them); the stream's
    // nullable value type makes that explicit.
    let stream = builder
        .stream("left", Consumed::with(StringSerde, Nullable(StringSerde)))
        .flat_map_values(|v| v);
    let result = if left_join {
        stream.left_join(&table, |l: &String, r: Option<&String>| {
            Some(joined(Some(l), r.map(String::as_str)))
        })
    } else {
        stream.join(&table, |l: &String, r: &String| {
            Some(joined(Some(l), Some(r)))
        })
    };
    result.to("out", Produced::with(StringSerde, Nullable(StringSerde)));
    let driver = TestDriver::builder(builder.build().unwrap())
        .default_partitions(2)
        .build()
        .unwrap();
    run(&driver, "left", "right")
}

#[test]
fn kstream_ktable_inner_join() {
    assert_eq!(
        stream_table(false),
        expect(&[(5, &[Some("B - a")]), (15, &[Some("D - d")])])
    );
}

#[test]
fn kstream_ktable_left_join() {
    assert_eq!(
        stream_table(true),
        expect(&[
            (3, &[Some("A - null")]),
            (5, &[Some("B - a")]),
            (9, &[Some("C - null")]),
            (15, &[Some("D - d")]),
        ])
    );
}

#[derive(Clone, Copy)]
enum Kind {
    Inner,
    Left,
    Outer,
}

fn table_table(kind: Kind) -> Vec<Vec<Option<String>>> {
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::with(StringSerde, StringSerde);
    let left = builder.table("left", consumed(), Materialized::named("left-store"));
    let right = builder.table("right", consumed(), Materialized::named("right-store"));
    let result = match kind {
        Kind::Inner => left.join(&right, |l: &String, r: &String| joined(Some(l), Some(r))),
        Kind::Left => left.left_join(&right, |l: &String, r: Option<&String>| {
            joined(Some(l), r.map(String::as_str))
        }),
        Kind::Outer => left.outer_join(&right, |l: Option<&String>, r: Option<&String>| {
            joined(l.map(String::as_str), r.map(String::as_str))
        }),
    };
    result
        .to_stream()
        .to("out", Produced::with(StringSerde, Nullable(StringSerde)));
    let driver = TestDriver::builder(builder.build().unwrap())
        .default_partitions(3)
        .build()
        .unwrap();
    run(&driver, "left", "right")
}

#[test]
fn ktable_ktable_inner_join() {
    assert_eq!(
        table_table(Kind::Inner),
        expect(&[
            (4, &[Some("A - a")]),
            (5, &[Some("B - a")]),
            (6, &[Some("B - b")]),
            (7, &[None]),
            (10, &[Some("C - c")]),
            (11, &[None]),
            (15, &[Some("D - d")]),
        ])
    );
}

#[test]
fn ktable_ktable_left_join() {
    assert_eq!(
        table_table(Kind::Left),
        expect(&[
            (3, &[Some("A - null")]),
            (4, &[Some("A - a")]),
            (5, &[Some("B - a")]),
            (6, &[Some("B - b")]),
            (7, &[None]),
            (9, &[Some("C - null")]),
            (10, &[Some("C - c")]),
            (11, &[Some("C - null")]),
            (12, &[None]),
            (15, &[Some("D - d")]),
        ])
    );
}

#[test]
fn ktable_ktable_outer_join() {
    assert_eq!(
        table_table(Kind::Outer),
        expect(&[
            (3, &[Some("A - null")]),
            (4, &[Some("A - a")]),
            (5, &[Some("B - a")]),
            (6, &[Some("B - b")]),
            (7, &[Some("null - b")]),
            (8, &[None]),
            (9, &[Some("C - null")]),
            (10, &[Some("C - c")]),
            (11, &[Some("C - null")]),
            (12, &[None]),
            (14, &[Some("null - d")]),
            (15, &[Some("D - d")]),
        ])
    );
}

#[test]
fn join_result_timestamp_is_the_larger_input_timestamp() {
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::with(StringSerde, StringSerde);
    let left = builder.table("left", consumed(), Materialized::named("l"));
    let right = builder.table("right", consumed(), Materialized::named("r"));
    left.join(&right, |l: &String, r: &String| format!("{l}{r}"))
        .to_stream()
        .to("out", Produced::with(StringSerde, Nullable(StringSerde)));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    driver
        .input_topic("right", StringSerde, StringSerde)
        .pipe_input_at("k".into(), "r".into(), 50)
        .unwrap();
    driver
        .input_topic("left", StringSerde, StringSerde)
        .pipe_input_at("k".into(), "l".into(), 20)
        .unwrap();
    let out = driver
        .output_topic("out", StringSerde, Nullable(StringSerde))
        .read_records();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].timestamp, 50);
}

#[test]
fn mismatched_partition_counts_of_joined_topics_are_rejected() {
    let builder = StreamsBuilder::new();
    let table = builder.table(
        "right",
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("t"),
    );
    builder
        .stream("left", Consumed::with(StringSerde, StringSerde))
        .join(&table, |a: &String, b: &String| format!("{a}{b}"))
        .to("out", Produced::with(StringSerde, StringSerde));
    let err = TestDriver::builder(builder.build().unwrap())
        .partitions("left", 2)
        .partitions("right", 3)
        .build()
        .err()
        .expect("co-partitioning violation must be an error");
    let msg = err.to_string();
    assert!(
        msg.contains("co-partitioned") && msg.contains("left") && msg.contains("right"),
        "{msg}"
    );
}

#[test]
fn kstream_kstream_join_respects_the_window() {
    let builder = StreamsBuilder::new();
    let left = builder.stream("l", Consumed::with(StringSerde, StringSerde));
    let right = builder.stream("r", Consumed::with(StringSerde, StringSerde));
    left.join_stream(
        &right,
        |a: &String, b: &String| format!("{a}{b}"),
        kstreams::dsl::JoinWindows::of_time_difference_with_no_grace(
            std::time::Duration::from_millis(10),
        ),
        kstreams::dsl::StreamJoined::inherit(),
    )
    .to("out", Produced::with(StringSerde, StringSerde));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let l = driver.input_topic("l", StringSerde, StringSerde);
    let r = driver.input_topic("r", StringSerde, StringSerde);
    l.pipe_input_at("k".into(), "x".into(), 100).unwrap();
    r.pipe_input_at("k".into(), "near".into(), 110).unwrap(); // 10 apart: joins
    r.pipe_input_at("k".into(), "far".into(), 111).unwrap(); // 11 apart: does not
    r.pipe_input_at("other".into(), "key".into(), 100).unwrap(); // other key: does not
    let out = driver
        .output_topic("out", StringSerde, StringSerde)
        .read_records();
    let got: Vec<(String, i64)> = out.into_iter().map(|r| (r.value, r.timestamp)).collect();
    assert_eq!(got, vec![("xnear".to_string(), 110)]);
}

#[test]
fn kstream_global_ktable_inner_and_left_join() {
    // The stream-table join table, against a global table: the table side is looked up
    // by a key computed from the stream value, and the table needs no co-partitioning
    // (it has 1 partition, the stream 4).
    let builder = StreamsBuilder::new();
    let table = builder.global_table(
        "table",
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("table-store"),
    );
    let stream = builder.stream("stream", Consumed::with(StringSerde, StringSerde));
    // The stream value is "<table key>:<payload>".
    let lookup = |_: &String, v: &String| v.split(':').next().unwrap_or_default().to_string();
    let payload = |v: &String| v.split(':').nth(1).unwrap_or_default().to_string();
    stream
        .join_global(&table, lookup, move |v, t| {
            joined(Some(&payload(v)), Some(t.as_str()))
        })
        .to("inner", Produced::with(StringSerde, StringSerde));
    stream
        .left_join_global(&table, lookup, move |v, t| {
            joined(Some(&payload(v)), t.map(String::as_str))
        })
        .to("left", Produced::with(StringSerde, StringSerde));
    let topology = builder.build().unwrap();
    let described = topology.describe().to_string();
    assert!(
        described.contains("Sub-topology: 1 for global store (will not generate tasks)")
            && described.contains("(topics: [table])")
            && described.contains("(stores: [table-store])"),
        "{described}"
    );
    let driver = TestDriver::builder(topology)
        .default_partitions(4)
        .partitions("table", 1)
        .build()
        .unwrap();
    let s = driver.input_topic("stream", StringSerde, StringSerde);
    let t = driver.input_topic("table", StringSerde, Nullable(StringSerde));
    let inner = driver.output_topic("inner", StringSerde, StringSerde);
    let left = driver.output_topic("left", StringSerde, StringSerde);
    let mut rows = Vec::new();
    let steps: [(i64, &str, &str, Option<&str>); 8] = [
        (1, "s", "A", None),      // no row yet
        (2, "t", "k", Some("a")), // table only
        (3, "s", "B", None),      // joins a
        (4, "t", "k", Some("b")), // table update, stream side not triggered
        (5, "s", "C", None),      // joins b
        (6, "t", "k", None),      // tombstone deletes the row
        (7, "s", "D", None),      // no row again
        (8, "t", "other", Some("x")),
    ];
    for (i, (_, side, v, tv)) in steps.iter().enumerate() {
        if *side == "s" {
            s.pipe_input(format!("stream-key-{i}"), format!("k:{v}"))
                .unwrap();
        } else {
            t.pipe_input(v.to_string(), tv.map(str::to_string)).unwrap();
        }
        rows.push((inner.read_values(), left.read_values()));
    }
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![
            (vec![], strings(&["A - null"])),
            (vec![], vec![]),
            (strings(&["B - a"]), strings(&["B - a"])),
            (vec![], vec![]),
            (strings(&["C - b"]), strings(&["C - b"])),
            (vec![], vec![]),
            (vec![], strings(&["D - null"])),
            (vec![], vec![]),
        ]
    );
    let store = driver
        .key_value_store::<String, String>("table-store")
        .unwrap();
    assert_eq!(
        store.get(&"other".to_string()).unwrap(),
        Some("x".to_string())
    );
    assert_eq!(store.get(&"k".to_string()).unwrap(), None);
}
