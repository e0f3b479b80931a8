//! Exactly-once v2 on librdkafka's mock broker: the commit path, the abort path and the
//! fencing of a zombie.
//!
//! These run on the in-process mock whatever `KSTREAMS_BOOTSTRAP` says: Tansu has no EndTxn,
//! and only the mock can inject the broker's transactional answers. The mock does not filter
//! aborted records, so the producer here lingers for 5 s, far past the 100 ms commit interval: a transaction's records stay
//! in the producer until it commits, and an abort discards them before the broker sees
//! them. What the output topic shows is then what a read_committed consumer of a real broker
//! would see. The mock also drops offsets sent in a transaction; the runtime detects that
//! after its first commit and commits them directly too (logged), which is what lets a
//! restarted instance resume here. See the README for what needs a real cluster.

use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::runtime::kafka::{
    KafkaStreams, ProcessingGuarantee, State, StreamThreadExceptionResponse, StreamsConfig,
};
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::state::{KeyValueStore, Stores};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsError};
use kstreams_testkit::broker::TestBroker;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 2;
const KEYS: usize = 20;

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Setup {
    broker: TestBroker,
    app: String,
    input: String,
    output: String,
}

fn setup(name: &str) -> Setup {
    kstreams_testkit::broker::log_to_test_output("warn");
    // Always the mock: see the module docs.
    let broker = TestBroker::connect(None);
    let s = Setup {
        app: TestBroker::unique(name),
        input: TestBroker::unique(&format!("{name}-in")),
        output: TestBroker::unique(&format!("{name}-out")),
        broker,
    };
    s.broker.create_topic(&s.input, PARTITIONS).unwrap();
    s.broker.create_topic(&s.output, PARTITIONS).unwrap();
    s
}

/// Fails once, on the record whose value is `poison`, when armed.
struct FailOnce {
    armed: Arc<AtomicBool>,
    poison: String,
}

impl Processor<String, String, String, String> for FailOnce {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> kstreams::Result<()> {
        if r.value == self.poison && self.armed.swap(false, Ordering::SeqCst) {
            return Err(ctx.error("injected failure"));
        }
        ctx.forward(r)
    }
}

/// Counts by key and writes every count update.
fn streams(s: &Setup, state_dir: &Path, armed: Arc<AtomicBool>, poison: &str) -> KafkaStreams {
    let builder = StreamsBuilder::new();
    let poison = poison.to_string();
    builder
        .stream(&s.input, Consumed::with(StringSerde, StringSerde))
        .process(
            move || FailOnce {
                armed: armed.clone(),
                poison: poison.clone(),
            },
            &[],
        )
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("eos-counts"))
        .to_stream()
        .to(&s.output, Produced::with(StringSerde, Nullable(I64Serde)));
    let topology = builder.build().unwrap();
    let prepared = s.broker.prepare_internal_topics(&topology, &s.app, &|t| {
        (t == s.input).then_some(PARTITIONS as u32)
    });
    // A second instance of the app finds them created by the first.
    if let Err(e) = prepared {
        assert!(e.contains("already exists"), "{e}");
    }
    let config = StreamsConfig::new(&s.app, s.broker.bootstrap())
        .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
        .state_dir(state_dir)
        // A transaction's records wait in the producer until it commits (module docs).
        .client_config("linger.ms", "5000")
        .client_config("session.timeout.ms", "6000");
    assert_eq!(config.commit_interval, Duration::from_millis(100));
    KafkaStreams::new(topology, config)
}

fn input(from: usize, to: usize) -> Vec<(String, String)> {
    (from..to)
        .map(|i| (format!("k{}", i % KEYS), format!("v{i}")))
        .collect()
}

/// Every count update per key, in output order.
fn updates(s: &Setup, expected: usize) -> BTreeMap<String, Vec<i64>> {
    let records = s
        .broker
        .consume(&s.output, PARTITIONS, expected, Duration::from_secs(60));
    // Let anything extra (a duplicate) arrive too, then read all there is.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        records.len() >= expected,
        "{} of {expected} outputs",
        records.len()
    );
    let records = s
        .broker
        .consume_to_end(&s.output, PARTITIONS, Duration::from_secs(60));
    let mut by_key: BTreeMap<String, Vec<(i32, i64, i64)>> = BTreeMap::new();
    for r in records {
        let k = String::from_utf8(r.key.unwrap()).unwrap();
        let v = i64::from_be_bytes(r.value.unwrap().try_into().unwrap());
        by_key
            .entry(k)
            .or_default()
            .push((r.partition, r.offset, v));
    }
    by_key
        .into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v.into_iter().map(|(_, _, c)| c).collect())
        })
        .collect()
}

/// Exactly once: every key's updates are 1, 2, ..., n with nothing repeated or missing.
fn assert_exactly_once(updates: &BTreeMap<String, Vec<i64>>, total: usize) {
    assert_eq!(updates.len(), KEYS);
    for (k, counts) in updates {
        let n = (0..total)
            .filter(|i| format!("k{}", i % KEYS) == *k)
            .count() as i64;
        assert_eq!(counts, &(1..=n).collect::<Vec<_>>(), "updates of {k}");
    }
}

#[test]
fn commit_and_abort_paths_offsets_in_the_transaction_and_outputs_regenerated() {
    let s = setup("eos-commit");
    let dir = std::env::temp_dir().join(TestBroker::unique("eos-commit-state"));
    let mock = s.broker.mock().expect("mock broker");
    // The broker's answer to a member of an old generation (KIP-447 fencing by group
    // metadata) on the first offsets sent in a transaction: the transaction must abort.
    // That it reaches the runtime at all shows the offsets go through TxnOffsetCommit.
    mock.request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
    );
    let app = streams(&s, &dir, Arc::new(AtomicBool::new(false)), "");
    app.start().unwrap();
    s.broker.produce(&s.input, input(0, 200));
    let first = updates(&s, 200);
    assert_exactly_once(&first, 200);
    let m = app.metrics();
    assert!(m.transactions_aborted >= 1, "{m:?}");
    // State rebuilt after the abort keeps counting from committed state only.
    s.broker.produce(&s.input, input(200, 400));
    assert_exactly_once(&updates(&s, 400), 400);
    let m = app.metrics();
    assert!(m.transactions_committed >= 2, "{m:?}");
    println!(
        "exactly-once commit/abort: {} transactions committed, {} aborted",
        m.transactions_committed, m.transactions_aborted
    );
    app.close();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_thread_aborts_and_its_replacement_restores_committed_state() {
    let s = setup("eos-abort");
    let dir = std::env::temp_dir().join(TestBroker::unique("eos-abort-state"));
    let armed = Arc::new(AtomicBool::new(true));
    let app = streams(&s, &dir, armed.clone(), "v250");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    app.set_uncaught_exception_handler(move |e| {
        e2.lock().unwrap().push(e.to_string());
        StreamThreadExceptionResponse::ReplaceThread
    });
    app.start().unwrap();
    s.broker.produce(&s.input, input(0, 200));
    assert_exactly_once(&updates(&s, 200), 200);
    // The second half carries the record the processor fails on once: the thread aborts
    // its transaction, and its replacement restores the counts of the committed
    // transactions from the changelog, resumes from the committed offsets and regenerates
    // the aborted outputs.
    s.broker.produce(&s.input, input(200, 400));
    assert_exactly_once(&updates(&s, 400), 400);
    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("injected failure"), "{errors:?}");
    let m = app.metrics();
    assert!(m.transactions_aborted >= 1, "{m:?}");
    let (restored, _) = app.restoration();
    assert!(restored > 0, "the replacement restored from the changelog");
    wait_for("RUNNING", Duration::from_secs(30), || {
        app.state() == State::Running
    });
    app.close();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_fenced_zombie_stops_without_committing_and_a_successor_takes_over() {
    let s = setup("eos-fence");
    let dir = std::env::temp_dir().join(TestBroker::unique("eos-fence-state"));
    let zombie = streams(&s, &dir, Arc::new(AtomicBool::new(false)), "");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    zombie.set_uncaught_exception_handler(move |e| {
        e2.lock()
            .unwrap()
            .push(matches!(e, StreamsError::ProducerFenced { .. }));
        StreamThreadExceptionResponse::ShutdownClient
    });
    zombie.start().unwrap();
    s.broker.produce(&s.input, input(0, 100));
    assert_exactly_once(&updates(&s, 100), 100);
    // A newer producer with the same transactional id has started: the broker answers the
    // zombie's next transactional request with its epoch being stale. (The mock does not
    // fence by transactional id by itself; this is the answer a real broker gives.)
    s.broker.mock().expect("mock broker").request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH],
    );
    s.broker.produce(&s.input, input(100, 200));
    wait_for("the zombie to stop", Duration::from_secs(60), || {
        zombie.state() == State::Error
    });
    assert_eq!(
        *errors.lock().unwrap(),
        vec![true],
        "stopped by ProducerFenced"
    );
    // Nothing of the fenced transaction reached the output.
    let after = s
        .broker
        .consume(&s.output, PARTITIONS, 101, Duration::from_secs(2));
    assert_eq!(
        after.len(),
        100,
        "the fenced transaction's outputs are discarded"
    );
    zombie.close();
    drop(zombie);

    // The successor on the same state directory: same transactional ids.
    let successor = streams(&s, &dir, Arc::new(AtomicBool::new(false)), "");
    successor.start().unwrap();
    assert_exactly_once(&updates(&s, 200), 200);
    successor.close();
    let _ = std::fs::remove_dir_all(dir);
}

/// Counts its `init` calls; with a store, writes to it in `close`.
struct CountsInits {
    inits: Arc<std::sync::atomic::AtomicUsize>,
    store_name: Option<&'static str>,
    store: Option<KeyValueStore<String, i64>>,
}

impl Processor<String, String, String, String> for CountsInits {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> kstreams::Result<()> {
        self.inits.fetch_add(1, Ordering::SeqCst);
        if let Some(name) = self.store_name {
            self.store = Some(ctx.key_value_store(name)?);
        }
        Ok(())
    }
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> kstreams::Result<()> {
        ctx.forward(r)
    }
    fn close(&mut self) {
        if let Some(store) = self.store.as_mut() {
            store
                .put(&"closed".to_string(), &1)
                .expect("a write on close");
        }
    }
}

#[test]
fn a_final_transaction_that_fails_at_close_does_not_start_the_tasks_again() {
    let s = setup("eos-close-abort");
    let dir = std::env::temp_dir().join(TestBroker::unique("eos-close-abort-state"));
    // Two subtopologies: the stateful one writes on close, so that the close's transaction
    // has records; the stateless one would start at once if a rewind created it again
    // (a task with a store would first wait for its restoration).
    let stateless_in = TestBroker::unique("eos-close-abort-in2");
    s.broker.create_topic(&stateless_in, PARTITIONS).unwrap();
    // The stateless tasks' inits.
    let inits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let builder = StreamsBuilder::new();
    builder.add_state_store(Stores::key_value_store_builder(
        Stores::persistent_key_value_store("closes"),
        StringSerde,
        I64Serde,
    ));
    builder
        .stream(&s.input, Consumed::with(StringSerde, StringSerde))
        .process(
            move || CountsInits {
                inits: Arc::default(),
                store_name: Some("closes"),
                store: None,
            },
            &["closes"],
        )
        .to(&s.output, Produced::with(StringSerde, StringSerde));
    let counted = inits.clone();
    builder
        .stream(&stateless_in, Consumed::with(StringSerde, StringSerde))
        .process(
            move || CountsInits {
                inits: counted.clone(),
                store_name: None,
                store: None,
            },
            &[],
        )
        .to(&s.output, Produced::with(StringSerde, StringSerde));
    let topology = builder.build().unwrap();
    s.broker
        .prepare_internal_topics(&topology, &s.app, &|t| {
            (t == s.input || t == stateless_in).then_some(PARTITIONS as u32)
        })
        .unwrap();
    let config = StreamsConfig::new(&s.app, s.broker.bootstrap())
        .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
        .state_dir(&dir);
    let app = KafkaStreams::new(topology, config);
    app.start().unwrap();
    s.broker.produce(&s.input, input(0, 20));
    let out = s
        .broker
        .consume(&s.output, PARTITIONS, 20, Duration::from_secs(60));
    assert_eq!(out.len(), 20);
    assert_eq!(
        inits.load(Ordering::SeqCst),
        PARTITIONS as usize,
        "one task a partition"
    );
    // The mock shows records before their transaction commits: wait for the last one to
    // commit, so that the error below hits the close's. An idle thread commits nothing,
    // so five commit intervals without a commit mean none is open.
    let mut last = (app.metrics().transactions_committed, Instant::now());
    wait_for("the processing to commit", Duration::from_secs(30), || {
        let committed = app.metrics().transactions_committed;
        if committed != last.0 {
            last = (committed, Instant::now());
        }
        committed > 0 && last.1.elapsed() > Duration::from_millis(500)
    });
    // The transaction of the close's commit fails and is aborted. The tasks are closing:
    // rewinding them would create and initialize them again, only to close them.
    s.broker.mock().expect("mock broker").request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID],
    );
    app.close();
    let m = app.metrics();
    println!("at close: {m:?}");
    assert!(
        m.transactions_aborted >= 1,
        "the close's transaction failed: {m:?}"
    );
    assert_eq!(
        inits.load(Ordering::SeqCst),
        PARTITIONS as usize,
        "no task was started again during the close"
    );
    let _ = std::fs::remove_dir_all(dir);
}
