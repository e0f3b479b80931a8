//! A word count that keeps running on the embedded broker and serves its HTTP endpoints
//! and web page: `cargo run -p kstreams --features http --example http_word_count [ADDR]`,
//! then open `http://ADDR/` (default `127.0.0.1:8080`). A producer thread writes a few
//! lines a second; `/stores/word-counts/kafka` answers the count of `kafka`.

use kstreams::prelude::*;
use kstreams::runtime::kafka::{EmbeddedCluster, NewTopic};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::Duration;

const WORDS: [&str; 8] = [
    "kafka", "streams", "rust", "state", "store", "window", "join", "table",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber_init();
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
    // The embedded broker cannot create topics on request.
    for t in topology.internal_topics("word-count", &|_| Some(3))? {
        admin.create_topics(&[NewTopic::new(t.name, t.partitions)])?;
    }
    let state_dir =
        std::env::temp_dir().join(format!("kstreams-http-example-{}", std::process::id()));
    let config = StreamsConfig::new("word-count", cluster.bootstrap_servers())
        .num_stream_threads(2)
        .state_dir(&state_dir)
        .commit_interval(Duration::from_millis(500))
        .http_listener(addr);
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
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(())
}

fn tracing_subscriber_init() {
    // Logs to stderr at info, as an operator would run it.
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
}
