//! Centralized metrics, as in the talk: every instance of every app reports its counters
//! to `metrics`, keyed by `<instance>|<metric>`; `metrics-agg` reads that topic as a table,
//! groups it by metric and reduces with add and subtract, so an instance re-reporting a
//! counter replaces its old value instead of adding to it, and a stopped instance's
//! tombstone removes its share. Totals are served in Prometheus' text format.

use crate::topics;
use kstreams::runtime::kafka::KafkaStreams;
use kstreams::serde::{F64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, Topology};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Store of the totals.
pub const TOTALS: &str = "metric-totals";

/// A named counter an instance reports, read when reported.
pub type Counter = (String, Arc<dyn Fn() -> u64 + Send + Sync>);

/// A counter reading an atomic.
pub fn counter(name: &str, value: &Arc<AtomicU64>) -> Counter {
    let v = value.clone();
    (
        name.to_string(),
        Arc::new(move || v.load(Ordering::Relaxed)),
    )
}

/// Reports `counters` every `every` until `stop`; on stop, reports a last time.
pub fn spawn_reporter(
    bootstrap: &str,
    instance: String,
    counters: Vec<Counter>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let producer: Option<BaseProducer> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .create()
        .map_err(|e| tracing::error!("metrics reporter: {e}"))
        .ok();
    std::thread::Builder::new()
        .name(format!("metrics-{instance}"))
        .spawn(move || {
            let Some(producer) = producer else { return };
            loop {
                let last = stop.load(Ordering::Relaxed);
                for (name, value) in &counters {
                    let key = format!("{instance}|{name}");
                    let v = (value() as f64).to_be_bytes();
                    let rec = BaseRecord::to(topics::METRICS).key(&key).payload(&v);
                    if let Err((e, _)) = producer.send(rec) {
                        tracing::warn!("metrics reporter: {e}");
                    }
                }
                producer.poll(Duration::ZERO);
                if last {
                    let _ = producer.flush(Duration::from_secs(10));
                    return;
                }
                std::thread::sleep(every);
            }
        })
}

fn metric_of(key: &str) -> String {
    key.split_once('|').map_or(key, |(_, m)| m).to_string()
}

/// The metrics aggregation topology.
pub fn topology() -> kstreams::Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .table(
            topics::METRICS,
            Consumed::with(StringSerde, F64Serde),
            Materialized::named("metrics-by-instance"),
        )
        .group_by(
            |k: &String, v: &f64| (metric_of(k), *v),
            Grouped::with(StringSerde, F64Serde),
        )
        .reduce(|a, b| a + b, |a, b| a - b, Materialized::named(TOTALS))
        .to_stream()
        .to(
            topics::METRICS_AGG,
            Produced::with(StringSerde, Nullable(F64Serde)),
        );
    Ok(builder.build()?)
}

/// The totals in Prometheus' text exposition format.
pub fn prometheus_text(streams: &KafkaStreams) -> String {
    let mut out = String::new();
    let Some(store) = streams.store::<String, f64>(TOTALS) else {
        return out;
    };
    for (name, value) in store.all().unwrap_or_default() {
        let metric: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out.push_str(&format!(
            "# TYPE records_{metric} gauge\nrecords_{metric} {value}\n"
        ));
    }
    out
}

/// Serves `GET /metrics` at `addr` until `stop`.
pub fn serve_prometheus(
    addr: &str,
    streams: Arc<KafkaStreams>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("prometheus".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let mut buf = [0u8; 1024];
                        let _ = conn.read(&mut buf);
                        let body = prometheus_text(&streams);
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
}
