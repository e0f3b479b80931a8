//! Bad input gets a clear error naming topic, partition, offset and field; nulls behave as
//! in Kafka Streams; nothing is dropped without being counted.

use kstreams::processor::LogAndContinue;
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, TopologyError};
use kstreams_testkit::TestDriver;

fn pipeline() -> kstreams::Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("numbers", Consumed::with(StringSerde, I64Serde))
        .map_values(|v| v * 2)
        .to("doubled", Produced::with(StringSerde, I64Serde));
    builder.build().unwrap()
}

#[test]
fn bad_value_fails_by_default_naming_topic_partition_offset_and_field() {
    let driver = TestDriver::builder(pipeline())
        .default_partitions(3)
        .build()
        .unwrap();
    driver
        .pipe_raw("numbers", Some(b"k"), Some(&7i64.to_be_bytes()), 0)
        .unwrap();
    let err = driver
        .pipe_raw("numbers", Some(b"k"), Some(b"abc"), 1)
        .unwrap_err();
    let p = kstreams::runtime::partitioner::partition_for_key(b"k", 3);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("topic numbers, partition {p}, offset 1")),
        "{msg}"
    );
    assert!(msg.contains("value"), "{msg}");
    assert!(msg.contains("expected 8 bytes, got 3"), "{msg}");
    let bad_key = driver
        .pipe_raw("numbers", Some(&[0xff, 0xfe]), Some(&1i64.to_be_bytes()), 2)
        .unwrap_err();
    assert!(
        bad_key.to_string().contains("cannot deserialize key"),
        "{bad_key}"
    );
}

#[test]
fn log_and_continue_skips_and_counts_bad_records() {
    let driver = TestDriver::builder(pipeline())
        .deserialization_handler(LogAndContinue)
        .build()
        .unwrap();
    driver
        .pipe_raw("numbers", Some(b"a"), Some(&1i64.to_be_bytes()), 0)
        .unwrap();
    driver
        .pipe_raw("numbers", Some(b"b"), Some(b"garbage"), 1)
        .unwrap();
    driver.pipe_raw("numbers", Some(b"c"), None, 2).unwrap(); // null value, non-nullable type
    driver
        .pipe_raw("numbers", Some(b"d"), Some(&4i64.to_be_bytes()), 3)
        .unwrap();
    let out = driver
        .output_topic("doubled", StringSerde, I64Serde)
        .read_key_values();
    assert_eq!(
        out,
        vec![(Some("a".to_string()), 2), (Some("d".to_string()), 8)]
    );
    let m = driver.metrics();
    assert_eq!(m.processed, 4);
    assert_eq!(m.deserialization_errors, 2);
    assert_eq!(m.dropped, 2);
}

#[test]
fn per_source_handler_overrides_the_default() {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "numbers",
            Consumed::with(StringSerde, I64Serde).with_deserialization_handler(LogAndContinue),
        )
        .to("copy", Produced::with(StringSerde, I64Serde));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe_raw("numbers", None, Some(b"x"), 0).unwrap();
    assert_eq!(driver.metrics().deserialization_errors, 1);
}

#[test]
fn aggregations_drop_and_count_null_keys() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .count(Materialized::named("counts"));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_input("a".into(), 1).unwrap();
    input.pipe_keyless(2).unwrap();
    input.pipe_input("a".into(), 3).unwrap();
    let store = driver.key_value_store::<String, i64>("counts").unwrap();
    assert_eq!(store.all().unwrap(), vec![("a".to_string(), 2)]);
    assert_eq!(driver.metrics().dropped, 1);
}

#[test]
fn tables_delete_on_tombstones_and_drop_null_keys() {
    let builder = StreamsBuilder::new();
    builder.table(
        "t",
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("t-store"),
    );
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe_raw("t", Some(b"a"), Some(b"1"), 0).unwrap();
    driver.pipe_raw("t", Some(b"b"), Some(b"2"), 1).unwrap();
    driver.pipe_raw("t", Some(b"a"), None, 2).unwrap();
    driver.pipe_raw("t", None, Some(b"3"), 3).unwrap();
    let store = driver.key_value_store::<String, String>("t-store").unwrap();
    assert_eq!(
        store.all().unwrap(),
        vec![("b".to_string(), "2".to_string())]
    );
    assert_eq!(driver.metrics().dropped, 1);
}

#[test]
fn stateful_operation_without_a_serde_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .map_values(|v| v.len() as i64)
        .group_by(|_, v| *v, Grouped::default())
        .count(Materialized::named("by-length"));
    let err = builder.build().unwrap_err();
    assert!(matches!(err, TopologyError::MissingSerde { .. }), "{err}");
}

#[test]
fn duplicate_store_names_are_a_build_error() {
    let builder = StreamsBuilder::new();
    let s = builder.stream("in", Consumed::with(StringSerde, StringSerde));
    s.group_by_key(Grouped::default())
        .count(Materialized::named("same"));
    s.group_by_key(Grouped::default())
        .count(Materialized::named("same"));
    assert_eq!(
        builder.build().unwrap_err(),
        TopologyError::DuplicateStore("same".into())
    );
}

#[test]
fn empty_topology_is_a_build_error() {
    assert_eq!(
        StreamsBuilder::new().build().unwrap_err(),
        TopologyError::Empty
    );
}

#[test]
fn an_empty_key_is_a_key_not_a_null() {
    // "" serializes to zero bytes; the persistent engine must still store it.
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .count(Materialized::named("counts"));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_input(String::new(), 1).unwrap();
    input.pipe_input(String::new(), 2).unwrap();
    let store = driver.key_value_store::<String, i64>("counts").unwrap();
    assert_eq!(store.get(&String::new()).unwrap(), Some(2));
    assert_eq!(driver.metrics().dropped, 0);
}
