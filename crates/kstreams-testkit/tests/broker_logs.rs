//! Centralized logs against a Kafka-protocol broker (the in-process mock by default, or
//! `KSTREAMS_BOOTSTRAP`): the `KafkaLogLayer` ships the instance's events to
//! `<app>-logs`, `/logs` reads them back with their origin, and a burst that overflows the
//! layer's queue is dropped and counted while processing goes on.
//!
//! One test in this binary: it installs the process's global subscriber.

use kstreams::processor::LogAndContinue;
use kstreams::runtime::kafka::http::logs::{dropped_log_events, KafkaLogLayer, QUEUE};
use kstreams::runtime::kafka::http::operational_topics;
use kstreams::runtime::kafka::{KafkaStreams, State, StreamsConfig};
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
use kstreams_testkit::broker::TestBroker;
use serde_json::Value;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get_json(addr: std::net::SocketAddr, path: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let body = agent
        .get(&format!("http://{addr}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn logs_are_shipped_with_their_origin_and_a_full_queue_drops_without_blocking() {
    let broker = TestBroker::from_env();
    let app = TestBroker::unique("logs");
    let input = TestBroker::unique("logs-amounts");
    broker.create_topic(&input, 2).unwrap();
    for t in operational_topics(&app) {
        broker.create_topic(&t.name, t.partitions as i32).unwrap();
    }
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .count(Materialized::named("counts"));
    let topology = builder.build().unwrap();
    broker
        .prepare_internal_topics(&topology, &app, &|t| (t == input).then_some(2))
        .unwrap();
    let config = StreamsConfig::new(&app, broker.bootstrap())
        .commit_interval(Duration::from_millis(100))
        .deserialization_handler(LogAndContinue)
        .state_dir(std::env::temp_dir().join(TestBroker::unique("logs-state")))
        .http_listener("127.0.0.1:0");
    let (layer, shipper) = KafkaLogLayer::new(&config).unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    let streams = KafkaStreams::new(topology, config);
    streams.start().unwrap();
    let addr = streams.http_local_addr().unwrap();
    wait_for("RUNNING", Duration::from_secs(120), || {
        streams.state() == State::Running
    });
    // A value of 3 bytes is no i64: the handler skips it and says so, naming the task.
    broker.produce(&input, [("k".to_string(), "bad".to_string())]);

    let instance = streams.instances()[0].instance_id.clone();
    let events = || {
        get_json(addr, "/logs")["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait_for(
        "the skipped record and a state change in /logs",
        Duration::from_secs(60),
        || {
            let events = events();
            let skipped = events.iter().any(|e| {
                e["level"] == "WARN"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("skipping record"))
                    && e["task"].as_str().is_some_and(|t| t.starts_with("0_"))
                    && e["thread"] == format!("{app}-StreamThread-0").as_str()
            });
            let running = events.iter().any(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("to Running"))
            });
            skipped && running
        },
    );
    for e in events() {
        assert_eq!(e["application_id"], app.as_str(), "{e}");
        assert_eq!(e["instance_id"], instance.as_str(), "{e}");
        assert!(
            matches!(e["level"].as_str(), Some("INFO" | "WARN" | "ERROR")),
            "{e}"
        );
    }

    // A burst far beyond the queue: the logging thread never waits, the overflow is
    // counted, and the instance keeps processing.
    let before = dropped_log_events();
    let started = Instant::now();
    for i in 0..QUEUE * 5 {
        tracing::info!(burst = i, "burst");
    }
    let took = started.elapsed();
    let dropped = dropped_log_events() - before;
    println!("{} events logged in {took:?}, {dropped} dropped", QUEUE * 5);
    assert!(
        dropped > 0,
        "a queue of {QUEUE} cannot take {} events at once",
        QUEUE * 5
    );
    let metrics = agent_text(addr, "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("kstreams_log_events_dropped_total ")
                && l.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|v| v >= dropped)),
        "{metrics}"
    );
    assert_eq!(
        get_json(addr, "/logs")["dropped"]
            .as_u64()
            .map(|d| d >= dropped),
        Some(true)
    );
    broker.produce(&input, [("k".to_string(), "12345678".to_string())]);
    wait_for("the next record counted", Duration::from_secs(60), || {
        streams
            .store::<String, i64>("counts")
            .and_then(|s| s.get(&"k".to_string()).ok().flatten())
            == Some(1)
    });
    streams.close();
    shipper.close();
}

fn agent_text(addr: std::net::SocketAddr, path: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(&format!("http://{addr}{path}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}
