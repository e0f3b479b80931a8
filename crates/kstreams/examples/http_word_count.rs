//! A word count that keeps running on the embedded broker and serves its HTTP endpoints
//! and web page: `cargo run -p kstreams --features http --example http_word_count [ADDR]`,
//! then open `http://ADDR/` (default `127.0.0.1:8080`). A producer thread writes a few
//! lines a second; `/stores/word-counts/kafka` answers the count of `kafka`.

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
    let cluster = EmbeddedCluster::start()?;
    let admin = cluster.admin()?;
    admin.create_topics(&[NewTopic::new("lines", 3), NewTopic::new("word-counts", 3)])?;

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
    let topology = builder.build()?;
    // The embedded broker cannot create topics on request: the internal topics, and the
    // status and log topics of an application that serves HTTP.
    let internal = topology.internal_topics("word-count", &|_| Some(3))?;
    for t in internal.into_iter().chain(operational_topics("word-count")) {
        admin.create_topics(&[NewTopic::new(t.name, t.partitions)])?;
    }
    let state_dir =
        std::env::temp_dir().join(format!("kstreams-http-example-{}", std::process::id()));
    let config = StreamsConfig::new("word-count", cluster.bootstrap_servers())
        .num_stream_threads(2)
        .state_dir(&state_dir)
        .commit_interval(Duration::from_millis(500))
        .http_listener(addr);
    // Logs to stderr, and to the application's log topic for every instance's page.
    let (log_layer, log_shipper) = KafkaLogLayer::new(&config)?;
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(log_layer)
        .init();
    let streams = KafkaStreams::new(topology, config);
    streams.expose_store::<String, i64>("word-counts");
    streams.start()?;
    if let Some(a) = streams.http_local_addr() {
        println!("serving http://{a}/");
    }

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
    streams.close();
    log_shipper.close();
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(())
}
