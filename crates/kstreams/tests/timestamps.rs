//! Event time: extractors, invalid timestamps, stream time.

use kstreams::processor::InvalidTimestamp;
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Produced, StreamsBuilder, StreamsError};
use kstreams_testkit::TestDriver;

fn driver(consumed: Consumed<String, i64>) -> TestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", consumed)
        .to("out", Produced::with(StringSerde, I64Serde));
    TestDriver::new(builder.build().unwrap()).unwrap()
}

#[test]
fn an_extractor_sets_event_time_and_outputs_inherit_it() {
    let d = driver(
        Consumed::with(StringSerde, I64Serde)
            .with_timestamp_extractor(|_: Option<&String>, v: &i64, _ts: i64, _pt: i64| *v * 1000),
    );
    let input = d.input_topic("in", StringSerde, I64Serde);
    input.pipe_input_at("a".into(), 7, 1).unwrap();
    input.pipe_input_at("b".into(), 3, 2).unwrap();
    let out = d.output_topic("out", StringSerde, I64Serde).read_records();
    let times: Vec<i64> = out.iter().map(|r| r.timestamp).collect();
    assert_eq!(times, vec![7000, 3000]);
}

#[test]
fn invalid_timestamps_fail_by_default_naming_the_record() {
    let d = driver(Consumed::with(StringSerde, I64Serde));
    d.pipe_raw("in", Some(b"k"), Some(&1i64.to_be_bytes()), 5)
        .unwrap();
    let err = d
        .pipe_raw("in", Some(b"k"), Some(&2i64.to_be_bytes()), -1)
        .unwrap_err();
    assert!(
        matches!(err, StreamsError::InvalidTimestamp { timestamp: -1, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("topic in, partition 0, offset 1"),
        "{err}"
    );
}

#[test]
fn invalid_timestamps_can_be_skipped_and_counted() {
    let d = driver(
        Consumed::with(StringSerde, I64Serde).on_invalid_timestamp(InvalidTimestamp::SkipAndCount),
    );
    d.pipe_raw("in", Some(b"k"), Some(&1i64.to_be_bytes()), -1)
        .unwrap();
    d.pipe_raw("in", Some(b"k"), Some(&2i64.to_be_bytes()), 9)
        .unwrap();
    let out = d.output_topic("out", StringSerde, I64Serde).read_values();
    assert_eq!(out, vec![2]);
    assert_eq!(d.metrics().dropped, 1);
}

#[test]
fn invalid_timestamps_can_take_the_partition_time() {
    let d = driver(
        Consumed::with(StringSerde, I64Serde)
            .on_invalid_timestamp(InvalidTimestamp::UsePartitionTime),
    );
    // No partition time yet: still an error.
    assert!(d
        .pipe_raw("in", Some(b"k"), Some(&0i64.to_be_bytes()), -1)
        .is_err());
    d.pipe_raw("in", Some(b"k"), Some(&1i64.to_be_bytes()), 40)
        .unwrap();
    d.pipe_raw("in", Some(b"k"), Some(&2i64.to_be_bytes()), 10)
        .unwrap();
    d.pipe_raw("in", Some(b"k"), Some(&3i64.to_be_bytes()), -1)
        .unwrap();
    let out = d.output_topic("out", StringSerde, I64Serde).read_records();
    let got: Vec<(i64, i64)> = out.iter().map(|r| (r.value, r.timestamp)).collect();
    // The partition time is the highest seen (40), not the latest (10).
    assert_eq!(got, vec![(1, 40), (2, 10), (3, 40)]);
}
