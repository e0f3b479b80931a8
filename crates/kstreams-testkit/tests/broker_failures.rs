//! Failure modes of the runtime on a broker (the in-process mock, or `KSTREAMS_BOOTSTRAP`),
//! each of which once ended a stream thread silently, hung the client, or looped forever:
//! a panic outside record processing, a header key that is not UTF-8, a poison pill under
//! `ReplaceThread`, and a state listener that queries the client.

use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::runtime::kafka::{KafkaStreams, State, StreamThreadExceptionResponse, StreamsConfig};
use kstreams::serde::StringSerde;
use kstreams::{Consumed, Produced, StreamsBuilder, StreamsError, Topology};
use kstreams_testkit::broker::TestBroker;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, Producer};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Topics {
    broker: TestBroker,
    app: String,
    input: String,
    output: String,
}

fn topics(name: &str) -> Topics {
    kstreams_testkit::broker::log_to_test_output("warn");
    let broker = TestBroker::from_env();
    let t = Topics {
        app: TestBroker::unique(name),
        input: TestBroker::unique(&format!("{name}-in")),
        output: TestBroker::unique(&format!("{name}-out")),
        broker,
    };
    t.broker.create_topic(&t.input, 1).unwrap();
    t.broker.create_topic(&t.output, 1).unwrap();
    t
}

/// `input` through `processor` to `output`.
fn through<P>(t: &Topics, processor: impl Fn() -> P + Send + Sync + 'static) -> Topology
where
    P: Processor<String, String, String, String> + 'static,
{
    let builder = StreamsBuilder::new();
    builder
        .stream(&t.input, Consumed::with(StringSerde, StringSerde))
        .process(processor, &[])
        .to(&t.output, Produced::with(StringSerde, StringSerde));
    builder.build().unwrap()
}

fn recorded_errors(
    streams: &KafkaStreams,
    response: StreamThreadExceptionResponse,
) -> Arc<Mutex<Vec<String>>> {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    streams.set_uncaught_exception_handler(move |e: &StreamsError| {
        seen.lock().unwrap().push(e.to_string());
        response
    });
    errors
}

struct PanicsOnInit;

impl Processor<String, String, String, String> for PanicsOnInit {
    fn init(&mut self, _: &mut ProcessorContext<'_, String, String>) -> kstreams::Result<()> {
        panic!("the processor cannot start");
    }
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> kstreams::Result<()> {
        ctx.forward(r)
    }
}

#[test]
fn a_panic_in_processor_init_reaches_the_uncaught_exception_handler() {
    let t = topics("panic-init");
    let streams = KafkaStreams::new(
        through(&t, || PanicsOnInit),
        StreamsConfig::new(&t.app, t.broker.bootstrap()),
    );
    let errors = recorded_errors(&streams, StreamThreadExceptionResponse::ShutdownClient);
    // Records waiting, as when an application restarts on a backlog: the error is still
    // the init's, not that of a record whose task does not exist.
    t.broker.produce(
        &t.input,
        (0..10).map(|i| (format!("k{i}"), "v".to_string())),
    );
    streams.start().unwrap();
    wait_for(
        "the client to stop on the error",
        Duration::from_secs(60),
        || streams.state() == State::Error,
    );
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("of task 0_0 failed to initialize")
            && errors[0].contains("panicked: the processor cannot start"),
        "{errors:?}"
    );
    streams.close();
}

struct Forward;

impl Processor<String, String, String, String> for Forward {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> kstreams::Result<()> {
        ctx.forward(r)
    }
}

#[test]
fn a_header_key_that_is_not_utf8_is_read_without_panicking() {
    let t = topics("header-key");
    let producer = t.broker.producer();
    let headers = OwnedHeaders::new();
    let bad_key = [0xffu8, 0xfe, b'k', 0];
    // SAFETY: the pointer is the header list `headers` owns, which lives past the call;
    // librdkafka copies the name (`bad_key` up to its NUL) and the value.
    unsafe {
        let native = headers.as_borrowed() as *const rdkafka::message::BorrowedHeaders
            as *mut rdkafka::bindings::rd_kafka_headers_t;
        rdkafka::bindings::rd_kafka_header_add(
            native,
            bad_key.as_ptr().cast(),
            -1,
            b"v".as_ptr().cast(),
            1,
        );
    }
    producer
        .send(
            BaseRecord::to(&t.input)
                .key("k")
                .payload("with a bad header")
                .headers(headers),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let streams = KafkaStreams::new(
        through(&t, || Forward),
        StreamsConfig::new(&t.app, t.broker.bootstrap())
            .commit_interval(Duration::from_millis(100)),
    );
    let errors = recorded_errors(&streams, StreamThreadExceptionResponse::ShutdownClient);
    streams.start().unwrap();
    let out = t.broker.consume(&t.output, 1, 1, Duration::from_secs(60));
    assert_eq!(
        out.len(),
        1,
        "the record went through; errors {:?}",
        errors.lock().unwrap()
    );
    assert_eq!(out[0].value.as_deref(), Some(&b"with a bad header"[..]));
    assert_eq!(streams.state(), State::Running);
    streams.close();
}

struct FailsOnPoison;

impl Processor<String, String, String, String> for FailsOnPoison {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> kstreams::Result<()> {
        if r.value == "poison" {
            return Err(ctx.error("this record fails every time"));
        }
        ctx.forward(r)
    }
}

#[test]
fn replace_thread_backs_off_and_gives_up_on_a_poison_pill() {
    let t = topics("poison-replace");
    t.broker
        .produce(&t.input, [("k".to_string(), "poison".to_string())]);
    // Each replacement joins the group anew; a short session keeps the rebalances quick.
    let config = StreamsConfig::new(&t.app, t.broker.bootstrap())
        .thread_replacement(Duration::from_millis(50), 3)
        .consumer_config("session.timeout.ms", "6000");
    let streams = KafkaStreams::new(through(&t, || FailsOnPoison), config);
    let errors = recorded_errors(&streams, StreamThreadExceptionResponse::ReplaceThread);
    let started = Instant::now();
    streams.start().unwrap();
    wait_for(
        "the client to give up replacing the thread",
        Duration::from_secs(120),
        || streams.state() == State::Error,
    );
    let errors = errors.lock().unwrap().clone();
    println!(
        "gave up after {:.1} s and {} failures",
        started.elapsed().as_secs_f64(),
        errors.len()
    );
    // The first failure and three replacements' failures; the fourth replacement is refused.
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors
        .iter()
        .all(|e| e.contains("this record fails every time")));
    // 50 + 100 + 200 ms of backoff at least, between them.
    assert!(started.elapsed() >= Duration::from_millis(350));
    streams.close();
}

#[test]
fn a_state_listener_may_query_the_client() {
    let t = topics("listener");
    let streams = Arc::new(KafkaStreams::new(
        through(&t, || Forward),
        StreamsConfig::new(&t.app, t.broker.bootstrap()),
    ));
    let weak: Weak<KafkaStreams> = Arc::downgrade(&streams);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    streams.set_state_listener(move |_, new| {
        // Called while the client changes state: it must not hold what this needs.
        if let Some(s) = weak.upgrade() {
            seen2.lock().unwrap().push((new, s.assigned_tasks().len()));
        }
    });
    streams.start().unwrap();
    wait_for("RUNNING", Duration::from_secs(60), || {
        streams.state() == State::Running
    });
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&(State::Running, 1)),
        "the listener saw RUNNING with the one task assigned: {seen:?}"
    );
    streams.close();
}

#[test]
fn close_timeout_accepts_an_unbounded_duration() {
    let t = topics("close-max");
    let streams = KafkaStreams::new(
        through(&t, || Forward),
        StreamsConfig::new(&t.app, t.broker.bootstrap()),
    );
    streams.start().unwrap();
    wait_for("RUNNING", Duration::from_secs(60), || {
        streams.state() == State::Running
    });
    // `Instant::now() + Duration::MAX` overflows: the deadline must saturate instead.
    assert!(streams.close_timeout(Duration::MAX));
    assert_eq!(streams.state(), State::NotRunning);
}

#[test]
fn a_state_directory_that_is_a_link_is_refused_and_the_default_is_private() {
    use std::os::unix::fs::MetadataExt;
    let t = topics("state-link");
    let base = std::env::temp_dir().join(TestBroker::unique("state-link"));
    std::fs::create_dir_all(base.join("real")).unwrap();
    std::os::unix::fs::symlink(base.join("real"), base.join("link")).unwrap();
    let streams = KafkaStreams::new(
        through(&t, || Forward),
        StreamsConfig::new(&t.app, t.broker.bootstrap()).state_dir(base.join("link")),
    );
    let err = streams
        .start()
        .expect_err("a link as the state directory is refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // The default state directory is the user's own, private.
    let default = StreamsConfig::new(&t.app, t.broker.bootstrap()).state_dir;
    let streams = KafkaStreams::new(
        through(&t, || Forward),
        StreamsConfig::new(&t.app, t.broker.bootstrap()),
    );
    streams.start().unwrap();
    let meta = std::fs::symlink_metadata(&default).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o777, 0o700, "{}", default.display());
    streams.close();
    let _ = std::fs::remove_dir_all(base);
}
