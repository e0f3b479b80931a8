//! Poison pills through every error handler and every choice of handler: which records
//! went to the output, which to the dead-letter topic (with which headers), which were
//! skipped and counted, and which stopped processing with an error naming the record.
//!
//! One pipeline carries three kinds of poison: bytes that are not an `i64` (deserialization),
//! the value 13, on which user code panics, and the value 7, on which a processor returns an
//! error (processing), and the value 99, which the output serde refuses (production).

use kstreams::error::SerdeError;
use kstreams::processor::{
    dlq_headers, DeadLetter, LogAndContinue, Processor, ProcessorContext, Record,
};
use kstreams::serde::{BytesSerde, I64Serde, Serde, StringSerde};
use kstreams::{Consumed, Produced, StreamsBuilder, StreamsError};
use kstreams_testkit::{TestDriver, TestDriverBuilder};

/// An `i64` serde that refuses to write 99.
struct No99;

impl Serde<i64> for No99 {
    fn serialize(&self, value: &i64, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        if *value == 99 {
            return Err(SerdeError::Invalid {
                expected: "anything but 99",
                reason: "99 is not allowed".into(),
            });
        }
        I64Serde.serialize(value, out)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<i64, SerdeError> {
        I64Serde.deserialize(bytes)
    }
}

/// Fails on 7 with an error, as user code in the Processor API does.
struct RejectSeven;

impl Processor<String, i64, String, i64> for RejectSeven {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, i64>,
    ) -> kstreams::Result<()> {
        if r.value == 7 {
            return Err(ctx.error("seven is rejected"));
        }
        ctx.forward(r)
    }
}

fn driver(
    configure: impl FnOnce(TestDriverBuilder) -> TestDriverBuilder,
) -> Result<TestDriver, String> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .map_values(|v| {
            assert!(v != 13, "thirteen is unlucky");
            v
        })
        .process(|| RejectSeven, &[])
        .to("out", Produced::with(StringSerde, No99));
    configure(TestDriver::builder(builder.build().unwrap()))
        .build()
        .map_err(|e| e.to_string())
}

/// Pipes good values 1, 2, 3 around one poison record (raw bytes) and returns the result
/// of piping the poison.
fn pipe_around(d: &TestDriver, poison: &[u8]) -> Result<(), StreamsError> {
    let pipe = |v: i64, ts| d.pipe_raw("in", Some(b"k"), Some(&v.to_be_bytes()), ts);
    pipe(1, 0).unwrap();
    pipe(2, 1).unwrap();
    let result = d.pipe_raw("in", Some(b"k"), Some(poison), 2);
    if result.is_ok() {
        pipe(3, 3).unwrap();
    }
    result
}

fn out_values(d: &TestDriver) -> Vec<i64> {
    d.output_topic("out", StringSerde, I64Serde).read_values()
}

fn header(r: &kstreams_testkit::TestRecord<Vec<u8>, Vec<u8>>, name: &str) -> String {
    let h = r
        .headers
        .last(name)
        .unwrap_or_else(|| panic!("no header {name}"));
    String::from_utf8(h.value.clone().unwrap_or_default()).unwrap()
}

const NOT_A_LONG: &[u8] = b"abc";

fn seven() -> Vec<u8> {
    7i64.to_be_bytes().to_vec()
}
fn thirteen() -> Vec<u8> {
    13i64.to_be_bytes().to_vec()
}
fn ninety_nine() -> Vec<u8> {
    99i64.to_be_bytes().to_vec()
}

#[test]
fn deserialization_fail_stops_naming_the_record() {
    let d = driver(|b| b).unwrap();
    let err = pipe_around(&d, NOT_A_LONG).unwrap_err();
    assert!(matches!(err, StreamsError::Deserialization { .. }), "{err}");
    assert!(
        err.to_string().contains("topic in, partition 0, offset 2"),
        "{err}"
    );
    assert_eq!(out_values(&d), vec![1, 2]);
}

#[test]
fn deserialization_continue_skips_and_counts() {
    let d = driver(|b| b.deserialization_handler(LogAndContinue)).unwrap();
    pipe_around(&d, NOT_A_LONG).unwrap();
    assert_eq!(out_values(&d), vec![1, 2, 3]);
    let m = d.metrics();
    assert_eq!(
        (m.dropped, m.deserialization_errors, m.dead_lettered),
        (1, 1, 0)
    );
}

#[test]
fn deserialization_dead_letter_keeps_the_raw_record_with_error_headers() {
    let d = driver(|b| {
        b.deserialization_handler(DeadLetter)
            .dead_letter_topic("dlq")
    })
    .unwrap();
    pipe_around(&d, NOT_A_LONG).unwrap();
    assert_eq!(out_values(&d), vec![1, 2, 3]);
    let dlq = d.output_topic("dlq", BytesSerde, BytesSerde).read_records();
    assert_eq!(dlq.len(), 1);
    let r = &dlq[0];
    assert_eq!(
        (r.key.as_deref(), r.value.as_slice()),
        (Some(&b"k"[..]), NOT_A_LONG)
    );
    assert_eq!(r.timestamp, 2);
    assert_eq!(header(r, dlq_headers::EXCEPTION), "Deserialization");
    assert_eq!(header(r, dlq_headers::TOPIC), "in");
    assert_eq!(header(r, dlq_headers::PARTITION), "0");
    assert_eq!(header(r, dlq_headers::OFFSET), "2");
    assert!(header(r, dlq_headers::MESSAGE).contains("cannot deserialize value"));
    assert!(header(r, dlq_headers::STACKTRACE).contains("expected 8 bytes"));
    let m = d.metrics();
    assert_eq!(
        (m.dropped, m.deserialization_errors, m.dead_lettered),
        (1, 1, 1)
    );
}

#[test]
fn processing_fail_stops_on_an_error_and_on_a_panic_naming_processor_and_record() {
    let d = driver(|b| b).unwrap();
    let err = pipe_around(&d, &seven()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StreamsError::Processing { .. }), "{msg}");
    assert!(
        msg.contains("seven is rejected") && msg.contains("offset 2"),
        "{msg}"
    );

    let d = driver(|b| b).unwrap();
    let err = pipe_around(&d, &thirteen()).unwrap_err();
    let StreamsError::Processing {
        processor,
        origin,
        message,
    } = &err
    else {
        panic!("not a processing error: {err}");
    };
    assert!(processor.starts_with("KSTREAM-MAPVALUES"), "{processor}");
    assert_eq!((origin.topic.as_str(), origin.offset), ("in", 2));
    assert!(message.contains("thirteen is unlucky"), "{message}");
    assert_eq!(out_values(&d), vec![1, 2]);
    // The task is usable after a caught panic: its nodes were not left borrowed.
    d.pipe_raw("in", Some(b"k"), Some(&4i64.to_be_bytes()), 4)
        .unwrap();
    assert_eq!(out_values(&d), vec![1, 2, 4]);
}

#[test]
fn processing_continue_skips_errors_and_panics_and_counts_them() {
    let d = driver(|b| b.processing_handler(LogAndContinue)).unwrap();
    pipe_around(&d, &seven()).unwrap();
    pipe_around(&d, &thirteen()).unwrap();
    assert_eq!(out_values(&d), vec![1, 2, 3, 1, 2, 3]);
    let m = d.metrics();
    assert_eq!((m.dropped, m.processing_errors, m.dead_lettered), (2, 2, 0));
}

#[test]
fn processing_dead_letter_sends_the_raw_input() {
    let d = driver(|b| b.processing_handler(DeadLetter).dead_letter_topic("dlq")).unwrap();
    pipe_around(&d, &seven()).unwrap();
    pipe_around(&d, &thirteen()).unwrap();
    assert_eq!(out_values(&d), vec![1, 2, 3, 1, 2, 3]);
    let dlq = d.output_topic("dlq", BytesSerde, BytesSerde).read_records();
    let values: Vec<Vec<u8>> = dlq.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, vec![seven(), thirteen()]);
    assert_eq!(header(&dlq[0], dlq_headers::EXCEPTION), "Processing");
    assert!(header(&dlq[0], dlq_headers::MESSAGE).contains("seven is rejected"));
    assert!(header(&dlq[1], dlq_headers::MESSAGE).contains("thirteen is unlucky"));
    assert_eq!(header(&dlq[1], dlq_headers::OFFSET), "6");
    let m = d.metrics();
    assert_eq!((m.dropped, m.processing_errors, m.dead_lettered), (2, 2, 2));
}

#[test]
fn production_fail_stops_on_a_serialization_error() {
    let d = driver(|b| b).unwrap();
    let err = pipe_around(&d, &ninety_nine()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StreamsError::Serialization { .. }), "{msg}");
    assert!(
        msg.contains("topic out") && msg.contains("offset 2"),
        "{msg}"
    );
}

#[test]
fn production_continue_skips_the_output_and_counts_it() {
    let d = driver(|b| b.production_handler(LogAndContinue)).unwrap();
    pipe_around(&d, &ninety_nine()).unwrap();
    assert_eq!(out_values(&d), vec![1, 2, 3]);
    let m = d.metrics();
    assert_eq!((m.dropped, m.production_errors), (1, 1));
}

#[test]
fn a_dead_letter_handler_without_a_topic_is_a_configuration_error() {
    let Err(err) = driver(|b| b.processing_handler(DeadLetter)) else {
        panic!("a dead-letter handler without a topic was accepted");
    };
    assert!(err.contains("no dead-letter topic"), "{err}");
}
