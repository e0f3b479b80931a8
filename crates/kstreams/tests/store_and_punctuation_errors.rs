//! Store failures on a record and punctuation failures go through the processing handler,
//! like a processor's own errors: under `LogAndContinue` they are logged, counted and
//! skipped; under `LogAndFail` they stop the task naming where they happened.

use kstreams::error::{SerdeError, StoreError};
use kstreams::processor::{
    ErrorContext, HandlerResponse, LogAndContinue, ProcessingExceptionHandler, Processor,
    ProcessorContext, PunctuationType, PunctuatorId, Record,
};
use kstreams::serde::{I64Serde, Nullable, Serde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsError};
use kstreams_testkit::{TestDriver, TestDriverBuilder};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An `i64` serde whose stored 2 no longer reads back, as a value written by an older
/// version of the application might not.
struct TwoIsCorrupt;

impl Serde<i64> for TwoIsCorrupt {
    fn serialize(&self, value: &i64, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        I64Serde.serialize(value, out)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<i64, SerdeError> {
        match I64Serde.deserialize(bytes)? {
            2 => Err(SerdeError::Invalid {
                expected: "a count written by this version",
                reason: "2 is corrupt".into(),
            }),
            n => Ok(n),
        }
    }
}

fn counting(configure: impl FnOnce(TestDriverBuilder) -> TestDriverBuilder) -> TestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("counts").with_value_serde(TwoIsCorrupt))
        .to_stream()
        .to("out", Produced::with(StringSerde, Nullable(I64Serde)));
    configure(TestDriver::builder(builder.build().unwrap()))
        .build()
        .unwrap()
}

fn pipe(d: &TestDriver, key: &str, ts: i64) -> Result<(), StreamsError> {
    d.pipe_raw("in", Some(key.as_bytes()), Some(b"x"), ts)
}

fn out(d: &TestDriver) -> Vec<(String, i64)> {
    d.output_topic("out", StringSerde, I64Serde)
        .read_records()
        .into_iter()
        .map(|r| (r.key.unwrap_or_default(), r.value))
        .collect()
}

#[test]
fn a_store_value_that_does_not_deserialize_fails_by_default_naming_the_record() {
    let d = counting(|b| b);
    pipe(&d, "a", 0).unwrap();
    pipe(&d, "a", 1).unwrap();
    let err = pipe(&d, "a", 2).unwrap_err();
    let StreamsError::Store { origin, source } = &err else {
        panic!("expected a store error, got {err}");
    };
    assert_eq!((origin.topic.as_str(), origin.offset), ("in", 2), "{err}");
    assert!(matches!(source, StoreError::Serde { .. }), "{err}");
    assert!(err.to_string().contains("2 is corrupt"), "{err}");
}

#[test]
fn a_store_value_that_does_not_deserialize_is_skipped_under_log_and_continue() {
    let d = counting(|b| b.processing_handler(LogAndContinue));
    for (key, ts) in [("a", 0), ("a", 1), ("a", 2), ("b", 3), ("a", 4)] {
        pipe(&d, key, ts).unwrap();
    }
    // The third "a" reads the corrupt 2 and is skipped; the task goes on with "b", and the
    // next "a" is skipped too (its stored count is still unreadable).
    assert_eq!(out(&d), [("a".into(), 1), ("a".into(), 2), ("b".into(), 1)]);
    let m = d.metrics();
    assert_eq!((m.processing_errors, m.dropped), (2, 2));
}

/// A processor whose first punctuation fails and whose later ones forward a tick.
struct Ticker {
    calls: u32,
}

impl Processor<String, String, String, i64> for Ticker {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> kstreams::Result<()> {
        ctx.schedule(Duration::from_millis(10), PunctuationType::WallClockTime);
        Ok(())
    }
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, String, i64>,
        _: Record<String, String>,
    ) -> kstreams::Result<()> {
        Ok(())
    }
    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        _: PunctuatorId,
        timestamp: i64,
    ) -> kstreams::Result<()> {
        self.calls += 1;
        if self.calls == 1 {
            return Err(ctx.error("the first tick fails"));
        }
        ctx.forward(Record::new(Some("tick".to_string()), timestamp, timestamp))
    }
}

fn ticking(configure: impl FnOnce(TestDriverBuilder) -> TestDriverBuilder) -> TestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .process(|| Ticker { calls: 0 }, &[])
        .to("out", Produced::with(StringSerde, I64Serde));
    configure(TestDriver::builder(builder.build().unwrap()))
        .build()
        .unwrap()
}

#[test]
fn a_failing_punctuation_fails_by_default() {
    let d = ticking(|b| b);
    let err = d
        .advance_wall_clock_time(Duration::from_millis(10))
        .unwrap_err();
    assert!(
        matches!(&err, StreamsError::Processing { message, .. } if message == "the first tick fails"),
        "{err}"
    );
    assert!(err.to_string().contains("punctuation"), "{err}");
}

/// Where a failure was reported: topic, offset, processor.
type Asked = (String, i64, Option<String>);

/// Records what the handler was asked, and continues.
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<Asked>>>);

impl ProcessingExceptionHandler for Recording {
    fn handle(&self, ctx: &ErrorContext<'_>, _: &StreamsError) -> HandlerResponse {
        self.0.lock().unwrap().push((
            ctx.topic.to_string(),
            ctx.offset,
            ctx.processor.map(str::to_string),
        ));
        HandlerResponse::Continue
    }
}

#[test]
fn a_failing_punctuation_goes_to_the_handler_and_later_ones_run() {
    let seen = Recording::default();
    let d = ticking(|b| b.processing_handler(seen.clone()));
    d.advance_wall_clock_time(Duration::from_millis(10))
        .unwrap();
    d.advance_wall_clock_time(Duration::from_millis(10))
        .unwrap();
    assert_eq!(out(&d), [("tick".into(), 20)]);
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (topic, offset, processor) = &seen[0];
    assert!(topic.contains("punctuation"), "{topic}");
    assert_eq!(*offset, -1);
    assert!(
        processor
            .as_deref()
            .is_some_and(|p| p.starts_with("KSTREAM-PROCESSOR")),
        "{processor:?}"
    );
    let m = d.metrics();
    assert_eq!((m.processing_errors, m.dropped, m.punctuations), (1, 1, 2));
}
