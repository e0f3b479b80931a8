//! The Processor API: stores, punctuation on stream time and wall-clock time, record
//! metadata and headers.

use kstreams::processor::{
    Headers, Processor, ProcessorContext, PunctuationType, PunctuatorId, Record,
};
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::state::{KeyValueStore, Stores};
use kstreams::{Consumed, Produced, Result, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sums values per key in a store; every 10 ms of stream time emits all sums, and every
/// second of wall-clock time emits a heartbeat.
#[derive(Default)]
struct Summer {
    store: Option<KeyValueStore<String, i64>>,
    stream_tick: Option<PunctuatorId>,
}

impl Processor<String, i64, String, String> for Summer {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<()> {
        self.store = Some(ctx.key_value_store("sums")?);
        self.stream_tick =
            Some(ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime));
        ctx.schedule(Duration::from_secs(1), PunctuationType::WallClockTime);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, i64>,
    ) -> Result<()> {
        let Some(key) = r.key.clone() else {
            return Err(ctx.error("keyless record"));
        };
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| ctx.error("not initialized"))?;
        let sum = store.get(&key)?.unwrap_or(0) + r.value;
        store.put(&key, &sum)?;
        let meta = ctx.record_metadata().expect("processing a record").clone();
        let trace = r
            .headers
            .last("trace")
            .and_then(|h| h.value.clone())
            .unwrap_or_default();
        ctx.forward(r.with_value(format!(
            "{}@{}/{}/{} trace={}",
            sum,
            meta.topic,
            meta.partition,
            meta.offset,
            String::from_utf8_lossy(&trace)
        )))
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        id: PunctuatorId,
        ts: i64,
    ) -> Result<()> {
        if Some(id) == self.stream_tick {
            let all = self
                .store
                .as_ref()
                .map(|s| s.all())
                .transpose()?
                .unwrap_or_default();
            for (k, v) in all {
                ctx.forward(Record::new(
                    Some(k),
                    format!("sum={v} at stream time {ts}"),
                    ts,
                ))?;
            }
        } else {
            ctx.forward(Record::new(None, format!("heartbeat {ts}"), ts))?;
        }
        Ok(())
    }
}

/// `Summer` over topic `in`, with the store `sums` added and connected to `connected`.
fn summer_topology(connected: &[&str]) -> StreamsBuilder {
    let builder = StreamsBuilder::new();
    builder.add_state_store(Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("sums"),
        StringSerde,
        I64Serde,
    ));
    builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .process(Summer::default, connected)
        .to("out", Produced::with(StringSerde, StringSerde));
    builder
}

#[test]
fn processor_with_store_punctuation_and_metadata() {
    let builder = summer_topology(&["sums"]);
    let driver = TestDriver::builder(builder.build().unwrap())
        .wall_clock_ms(1_000)
        .build()
        .unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    let out = driver.output_topic("out", StringSerde, StringSerde);

    let mut headers = Headers::new();
    headers.add("trace", Some(b"t-1".to_vec()));
    input
        .pipe_with_headers(Some("a".into()), 5, 3, headers)
        .unwrap();
    assert_eq!(
        out.read_values(),
        vec![
            "5@in/0/0 trace=t-1".to_string(),
            // stream-time punctuation is aligned to 0 and fires as soon as data arrives
            "sum=5 at stream time 3".to_string(),
        ]
    );
    input.pipe_input_at("a".into(), 2, 7).unwrap();
    input.pipe_input_at("b".into(), 1, 9).unwrap();
    assert_eq!(
        out.read_values(),
        vec!["7@in/0/1 trace=", "1@in/0/2 trace="]
    );
    // stream time jumps from 9 to 35: one punctuation, not three
    input.pipe_input_at("b".into(), 1, 35).unwrap();
    assert_eq!(
        out.read_values(),
        vec![
            "2@in/0/3 trace=",
            "sum=7 at stream time 35",
            "sum=2 at stream time 35"
        ]
    );
    // out-of-order record: stream time stays at 35, nothing due
    input.pipe_input_at("a".into(), 1, 12).unwrap();
    assert_eq!(out.read_values(), vec!["8@in/0/4 trace="]);

    driver
        .advance_wall_clock_time(Duration::from_millis(999))
        .unwrap();
    assert!(out.read_values().is_empty());
    driver
        .advance_wall_clock_time(Duration::from_millis(1))
        .unwrap();
    assert_eq!(out.read_values(), vec!["heartbeat 2000"]);
    assert!(driver.metrics().punctuations >= 3);
}

#[test]
fn processor_errors_name_the_processor_and_the_record() {
    let builder = summer_topology(&["sums"]);
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_input_at("a".into(), 1, 0).unwrap();
    let err = input.pipe_keyless(1).unwrap_err().to_string();
    assert!(err.contains("KSTREAM-PROCESSOR-"), "{err}");
    assert!(err.contains("topic in, partition 0, offset 1"), "{err}");
    assert!(err.contains("keyless record"), "{err}");
}

#[test]
fn a_processor_cannot_reach_a_store_it_is_not_connected_to() {
    let builder = summer_topology(&[]);
    let err = TestDriver::new(builder.build().unwrap())
        .err()
        .expect("init must fail")
        .to_string();
    assert!(err.contains("sums"), "{err}");
}

/// What a [`Logged`] processor does in `init` or `close` besides logging it.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    Succeed,
    Fail,
    Panic,
}

/// Forwards every record and logs its `init` and `close` by name, failing or panicking in
/// them as told.
struct Logged {
    name: &'static str,
    init: Then,
    close: Then,
    log: Arc<Mutex<Vec<String>>>,
}

impl Processor<String, String> for Logged {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<()> {
        self.log.lock().unwrap().push(format!("init {}", self.name));
        match self.init {
            Then::Succeed => Ok(()),
            Then::Fail => Err(ctx.error("the configuration is missing")),
            Then::Panic => panic!("no configuration"),
        }
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        ctx.forward(r)
    }

    fn close(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("close {}", self.name));
        if self.close != Then::Succeed {
            panic!("close failed");
        }
    }
}

/// `in` through processors `(name, init, close)`, in this order, to `out`, and the log
/// they write.
fn logged_chain(chain: &[(&'static str, Then, Then)]) -> (StreamsBuilder, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let builder = StreamsBuilder::new();
    let mut stream = builder.stream("in", Consumed::with(StringSerde, StringSerde));
    for &(name, init, close) in chain {
        let log = log.clone();
        stream = stream.process(
            move || Logged {
                name,
                init,
                close,
                log: log.clone(),
            },
            &[],
        );
    }
    stream.to("out", Produced::with(StringSerde, StringSerde));
    (builder, log)
}

#[test]
fn a_processor_that_panics_on_close_does_not_keep_the_others_from_closing() {
    use Then::*;
    // Both panic: whichever closes first, the other must still close.
    let (builder, log) = logged_chain(&[("a", Succeed, Panic), ("b", Succeed, Panic)]);
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    driver
        .input_topic("in", StringSerde, StringSerde)
        .pipe_input("k".to_string(), "v".to_string())
        .unwrap();
    drop(driver);
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains(&"close a".to_string()) && log.contains(&"close b".to_string()),
        "both closed: {log:?}"
    );
}

#[test]
fn a_processor_whose_init_panics_fails_the_task_naming_it() {
    let (builder, _) = logged_chain(&[("a", Then::Panic, Then::Succeed)]);
    let err = TestDriver::new(builder.build().unwrap())
        .err()
        .expect("the task cannot start")
        .to_string();
    assert!(
        err.contains("processor \"KSTREAM-PROCESSOR-0000000001\" of task 0_0 failed to initialize")
            && err.contains("panicked: no configuration"),
        "{err}"
    );
}

#[test]
fn when_an_init_fails_only_the_processors_that_initialized_close() {
    use Then::*;
    let (builder, log) = logged_chain(&[
        ("a", Succeed, Succeed),
        ("b", Fail, Succeed),
        ("c", Succeed, Succeed),
    ]);
    let err = TestDriver::new(builder.build().unwrap())
        .err()
        .expect("the task cannot start")
        .to_string();
    assert!(
        err.ends_with("failed to initialize: the configuration is missing"),
        "the message init gave, not wrapped in a record's coordinates: {err}"
    );
    // From the source down, as in Kafka Streams: a, then b, which fails, so c never does.
    assert_eq!(*log.lock().unwrap(), ["init a", "init b", "close a"]);
}

#[test]
fn processors_initialize_and_close_from_the_source_down() {
    use Then::*;
    let (builder, log) = logged_chain(&[
        ("a", Succeed, Succeed),
        ("b", Succeed, Succeed),
        ("c", Succeed, Succeed),
    ]);
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    drop(driver);
    assert_eq!(
        *log.lock().unwrap(),
        ["init a", "init b", "init c", "close a", "close b", "close c"]
    );
}
