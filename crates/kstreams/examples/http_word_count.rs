//! A word count that keeps running on the embedded broker and serves its HTTP endpoints
//! and web page: `cargo run -p kstreams --features http --example http_word_count [ADDR]
//! [INSTANCES]`, then open `http://ADDR/` (default `127.0.0.1:8080`). The loop writes a
//! few lines a second; `/stores/word-counts/kafka` answers the count of `kafka` from any
//! instance. With more than one instance (default 1) the others serve on free ports, and
//! each page shows them all.

use kstreams::prelude::*;
use kstreams::runtime::kafka::http::logs::KafkaLogLayer;
use kstreams::runtime::kafka::http::operational_topics;
use kstreams::runtime::kafka::{EmbeddedCluster, NewTopic};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const WORDS: [&str; 8] = [
    "kafka", "streams", "rust", "state", "store", "window", "join", "table",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let instances: usize = std::env::args().nth(2).map_or(Ok(1), |n| n.parse())?;
    let cluster = EmbeddedCluster::start()?;
    let admin = cluster.admin()?;
    admin.create_topics(&[NewTopic::new("lines", 3), NewTopic::new("word-counts", 3)])?;

    // The embedded broker cannot create topics on request: the internal topics, and the
    // status and log topics of an application that serves HTTP.
    let internal = word_count()?.internal_topics("word-count", &|_| Some(3))?;
    for t in internal.into_iter().chain(operational_topics("word-count")) {
        admin.create_topics(&[NewTopic::new(t.name, t.partitions)])?;
    }
    let base = std::env::temp_dir().join(format!("kstreams-http-example-{}", std::process::id()));
    let config = |n: usize| {
        StreamsConfig::new("word-count", cluster.bootstrap_servers())
            .num_stream_threads(2)
            .state_dir(base.join(n.to_string()))
            .commit_interval(Duration::from_millis(500))
            // The embedded broker (librdkafka's mock) waits a member's session timeout,
            // less a second, for the group to rejoin whenever a member joins a running
            // group: at the default 45 s, an instance that joins after the first election
            // holds every instance in REBALANCING for 44 s. Six seconds (Kafka's least)
            // bounds that wait; a real broker ends a rebalance once every member rejoined.
            .consumer_config("session.timeout.ms", "6000")
            .consumer_config("heartbeat.interval.ms", "1000")
            .http_listener(if n == 0 { addr.as_str() } else { "127.0.0.1:0" })
    };
    // Logs to stderr, and to the application's log topic for every instance's page.
    let (log_layer, log_shipper) = KafkaLogLayer::new(&config(0))?;
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(log_layer)
        .init();
    let mut all = Vec::new();
    for n in 0..instances.max(1) {
        let streams = KafkaStreams::new(word_count()?, config(n));
        streams.expose_store::<String, i64>("word-counts");
        streams.start()?;
        if let Some(a) = streams.http_local_addr() {
            println!("instance {n}: serving http://{a}/");
        }
        all.push(streams);
    }
    // The loop runs while the first instance does.
    let streams = &all[0];

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()?;
    let mut n: usize = 0;
    while streams.state() != State::Error && streams.state() != State::NotRunning {
        let line: Vec<&str> = (0..4)
            .map(|i| WORDS[(n * 7 + i * 3) % WORDS.len()])
            .collect();
        let key = format!("line-{n}");
        let line = line.join(" ");
        if let Err((e, _)) = producer.send(BaseRecord::to("lines").key(&key).payload(&line)) {
            eprintln!("sending: {e}");
        }
        producer.poll(Duration::ZERO);
        n += 1;
        std::thread::sleep(Duration::from_millis(200));
        if n % 5 == 0 {
            producer.flush(Duration::from_secs(5))?;
        }
    }
    for s in &all {
        s.close();
    }
    log_shipper.close();
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

/// Words of the lines, counted in store `word-counts` (through a repartition topic).
fn word_count() -> Result<Topology, kstreams::TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream("lines", Consumed::with(StringSerde, StringSerde))
        .flat_map_values(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .group_by(|_, w| w.clone(), Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("word-counts"))
        .to_stream()
        .to(
            "word-counts",
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    builder.build()
}
