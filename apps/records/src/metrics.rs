//! Centralized metrics, as in the talk: every instance of every app reports its counters
//! to `metrics`, keyed by `<instance>|<metric>`; `metrics-agg` reads that topic as a table,
//! groups it by metric and reduces with add and subtract, so an instance re-reporting a
//! counter replaces its old value instead of adding to it, and a stopped instance's
//! tombstone removes its share. Totals are served in Prometheus' text format.

use crate::topics;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use kstreams::runtime::kafka::KafkaStreams;
use kstreams::serde::{F64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, Topology};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::net::SocketAddr;
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
    let totals = streams
        .store::<String, f64>(TOTALS)
        .and_then(|store| store.all().ok())
        .unwrap_or_default();
    prometheus_format(&totals)
}

/// `totals` (metric name, value) in Prometheus' text exposition format, each a gauge
/// `records_<name>`, characters other than ASCII letters and digits made `_`.
pub fn prometheus_format(totals: &[(String, f64)]) -> String {
    let mut out = String::new();
    for (name, value) in totals {
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

/// The content type of Prometheus' text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The Prometheus endpoint, served by axum on its own thread (a current-thread tokio
/// runtime) until its stop flag is set.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    thread: std::thread::JoinHandle<()>,
}

impl MetricsServer {
    /// The address it listens on (with the port chosen, if `:0` was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until it has stopped: the stop flag was set and the open requests answered.
    pub fn join(self) -> std::thread::Result<()> {
        self.thread.join()
    }
}

/// Serves the totals of `streams` at `GET /metrics` on `addr` until `stop`.
pub fn serve_prometheus(
    addr: &str,
    streams: Arc<KafkaStreams>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<MetricsServer> {
    serve(addr, move || prometheus_text(&streams), stop)
}

/// Serves what `render` returns at `GET /metrics` on `addr` (as Prometheus' text format)
/// until `stop`; every other path is 404. The address is bound before this returns, so a
/// taken port is an error here.
pub fn serve(
    addr: &str,
    render: impl Fn() -> String + Send + Sync + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<MetricsServer> {
    let render = Arc::new(render);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move {
                // Reading the store is blocking work: off the runtime's only thread.
                match tokio::task::spawn_blocking(move || render()).await {
                    Ok(body) => ([(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], body).into_response(),
                    Err(e) => {
                        tracing::error!("rendering metrics: {e}");
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                }
            }
        }),
    );
    let (local, thread) = crate::serve::spawn(addr, app, "prometheus", stop)?;
    Ok(MetricsServer {
        addr: local,
        thread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_in_the_text_format() {
        let text = prometheus_format(&[
            ("ingest_read".into(), 12.0),
            ("detector_amount-spike alerts".into(), 2.5),
        ]);
        assert_eq!(
            text,
            "# TYPE records_ingest_read gauge\nrecords_ingest_read 12\n\
             # TYPE records_detector_amount_spike_alerts gauge\nrecords_detector_amount_spike_alerts 2.5\n"
        );
    }
}
