//! The instance's metrics in the Prometheus text format (version 0.0.4), named after
//! Kafka Streams' metrics: group and name joined, `-` turned into `_`, tags as labels
//! (`kafka_streams_stream_thread_metrics_process_rate{thread_id="…"}`). Latencies are in
//! milliseconds, as Kafka reports them. Counters Kafka Streams does not have (dead letters,
//! handler decisions, transactions) follow the same style; process CPU, memory and start
//! time use Prometheus' standard names.

use super::introspect::{LocalState, Reading};
use super::State;
use std::fmt::Write;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

/// Families in the order they were first written; samples in the order added.
#[derive(Default)]
struct Text {
    families: Vec<(String, Kind, &'static str, Vec<String>)>,
}

impl Text {
    fn add(&mut self, name: &str, kind: Kind, help: &'static str, labels: &[(&str, &str)], v: f64) {
        let mut sample = String::from(name);
        if !labels.is_empty() {
            sample.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    sample.push(',');
                }
                let _ = write!(sample, "{k}=\"{}\"", escape(val));
            }
            sample.push('}');
        }
        let _ = write!(sample, " {}", number(v));
        match self.families.iter_mut().find(|f| f.0 == name) {
            Some(f) => f.3.push(sample),
            None => self
                .families
                .push((name.to_string(), kind, help, vec![sample])),
        }
    }

    fn gauge(&mut self, name: &str, help: &'static str, labels: &[(&str, &str)], v: f64) {
        self.add(name, Kind::Gauge, help, labels, v);
    }

    fn counter(&mut self, name: &str, help: &'static str, labels: &[(&str, &str)], v: u64) {
        self.add(name, Kind::Counter, help, labels, v as f64);
    }

    /// A sensor as Kafka exposes it: `<x>-total`, `<x>-rate`, and for a measured value
    /// `<x>-<value>-avg` and `-max`.
    fn sensor(
        &mut self,
        prefix: &str,
        x: &str,
        value: Option<&str>,
        labels: &[(&str, &str)],
        r: &Reading,
    ) {
        self.counter(
            &format!("{prefix}_{x}_total"),
            "Events since start.",
            labels,
            r.total,
        );
        self.gauge(
            &format!("{prefix}_{x}_rate"),
            "Events per second over the window.",
            labels,
            r.rate,
        );
        if let Some(value) = value {
            self.gauge(
                &format!("{prefix}_{x}_{value}_avg"),
                "Average over the window.",
                labels,
                r.avg,
            );
            self.gauge(
                &format!("{prefix}_{x}_{value}_max"),
                "Maximum over the window.",
                labels,
                r.max,
            );
        }
    }

    fn finish(self) -> String {
        let mut out = String::new();
        for (name, kind, help, samples) in self.families {
            let kind = match kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for s in samples {
                out.push_str(&s);
                out.push('\n');
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

const CLIENT: &str = "kafka_streams_stream_metrics";
const THREAD: &str = "kafka_streams_stream_thread_metrics";
const TASK: &str = "kafka_streams_stream_task_metrics";
const STATE: &str = "kafka_streams_stream_state_metrics";
const FETCH: &str = "kafka_consumer_fetch_manager_metrics";

const STATES: [(State, &str); 7] = [
    (State::Created, "CREATED"),
    (State::Rebalancing, "REBALANCING"),
    (State::Running, "RUNNING"),
    (State::PendingShutdown, "PENDING_SHUTDOWN"),
    (State::NotRunning, "NOT_RUNNING"),
    (State::PendingError, "PENDING_ERROR"),
    (State::Error, "ERROR"),
];

/// Renders `s` as Prometheus text.
pub fn render(s: &LocalState) -> String {
    let mut t = Text::default();
    let app = s.application_id.as_str();
    t.gauge(
        &format!("{CLIENT}_info"),
        "The application id and the kstreams version.",
        &[
            ("application_id", app),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    for (state, name) in STATES {
        t.gauge(
            &format!("{CLIENT}_state"),
            "1 for the client's current state, 0 for the others.",
            &[("state", name)],
            if s.state == state { 1.0 } else { 0.0 },
        );
    }
    t.gauge(
        &format!("{CLIENT}_alive_stream_threads"),
        "Live stream threads.",
        &[],
        s.alive_stream_threads as f64,
    );
    t.gauge(
        &format!("{CLIENT}_failed_stream_threads"),
        "Stream threads that failed since start.",
        &[],
        s.failed_stream_threads as f64,
    );
    let m = &s.metrics;
    let client_counters: [(&str, &'static str, u64); 10] = [
        (
            "process_total",
            "Records processed by every task, closed ones included.",
            m.tasks.processed,
        ),
        (
            "dropped_records_total",
            "Records dropped: skipped bad input, null keys.",
            m.tasks.dropped,
        ),
        (
            "deserialization_errors_total",
            "Records that could not be deserialized and were skipped.",
            m.tasks.deserialization_errors,
        ),
        (
            "processing_errors_total",
            "Records whose processing failed and the handler skipped or dead-lettered.",
            m.tasks.processing_errors,
        ),
        (
            "production_errors_total",
            "Output records the production handler skipped.",
            m.tasks.production_errors,
        ),
        (
            "dead_letter_records_total",
            "Records sent to the dead-letter topic.",
            m.tasks.dead_lettered,
        ),
        (
            "produced_records_total",
            "Records sent by sinks, closed tasks included.",
            m.tasks.produced,
        ),
        (
            "transactions_committed_total",
            "Exactly-once transactions committed.",
            m.transactions_committed,
        ),
        (
            "transactions_aborted_total",
            "Exactly-once transactions aborted.",
            m.transactions_aborted,
        ),
        (
            "delivery_errors_skipped_total",
            "Failed deliveries the production handler skipped.",
            m.delivery_errors_skipped,
        ),
    ];
    for (name, help, v) in client_counters {
        t.counter(&format!("{CLIENT}_{name}"), help, &[], v);
    }
    for th in &s.threads {
        let l = [("thread_id", th.thread_name.as_str())];
        let tm = &th.metrics;
        t.sensor(THREAD, "poll", Some("latency"), &l, &tm.poll);
        t.sensor(THREAD, "process", Some("latency"), &l, &tm.process);
        t.sensor(THREAD, "commit", Some("latency"), &l, &tm.commit);
        t.sensor(THREAD, "punctuate", Some("latency"), &l, &tm.punctuate);
        t.gauge(
            &format!("{THREAD}_poll_records_avg"),
            "Records per poll over the window.",
            &l,
            tm.poll_records.avg,
        );
        t.gauge(
            &format!("{THREAD}_poll_records_max"),
            "Most records in one poll over the window.",
            &l,
            tm.poll_records.max,
        );
        for (x, v) in [
            ("poll", tm.poll_ratio),
            ("process", tm.process_ratio),
            ("commit", tm.commit_ratio),
            ("punctuate", tm.punctuate_ratio),
        ] {
            t.gauge(
                &format!("{THREAD}_{x}_ratio"),
                "Share of the loop's time over the window.",
                &l,
                v,
            );
        }
        t.counter(
            &format!("{THREAD}_task_created_total"),
            "Tasks created.",
            &l,
            tm.task_created_total,
        );
        t.counter(
            &format!("{THREAD}_task_closed_total"),
            "Tasks closed.",
            &l,
            tm.task_closed_total,
        );
        for task in &th.active_tasks {
            let l = [
                ("thread_id", th.thread_name.as_str()),
                ("task_id", task.task_id.as_str()),
            ];
            let c = &task.metrics;
            t.counter(
                &format!("{TASK}_process_total"),
                "Records processed by the task.",
                &l,
                c.processed,
            );
            t.counter(
                &format!("{TASK}_dropped_records_total"),
                "Records the task dropped.",
                &l,
                c.dropped,
            );
            t.counter(
                &format!("{TASK}_punctuate_total"),
                "Punctuations run.",
                &l,
                c.punctuations,
            );
            t.counter(
                &format!("{TASK}_dead_letter_records_total"),
                "Records the task dead-lettered.",
                &l,
                c.dead_lettered,
            );
            t.counter(
                &format!("{TASK}_produced_records_total"),
                "Records the task's sinks sent.",
                &l,
                c.produced,
            );
            t.counter(
                &format!("{TASK}_processing_errors_total"),
                "Records whose processing failed.",
                &l,
                c.processing_errors,
            );
            t.gauge(
                &format!("{TASK}_restoring"),
                "1 while the task's stores restore.",
                &l,
                f64::from(u8::from(task.restoring)),
            );
            if let Some(time) = task.stream_time {
                t.gauge(
                    &format!("{TASK}_stream_time"),
                    "The task's stream time, in ms since the epoch.",
                    &l,
                    time as f64,
                );
            }
            let restores = task.stores.iter().filter_map(|s| s.restore.as_ref());
            let (remaining, restored) = restores.fold((0i64, 0u64), |(r, d), p| {
                (r + p.remaining(), d + p.restored)
            });
            t.gauge(
                &format!("{TASK}_restore_remaining_records_total"),
                "Changelog records left to restore.",
                &l,
                remaining as f64,
            );
            t.gauge(
                &format!("{TASK}_restore_progress_records"),
                "Changelog records the restoration under way has applied.",
                &l,
                restored as f64,
            );
            for p in &task.partitions {
                let part = p.partition.to_string();
                let l = [
                    ("thread_id", th.thread_name.as_str()),
                    ("topic", p.topic.as_str()),
                    ("partition", part.as_str()),
                ];
                if let Some(lag) = p.lag {
                    t.gauge(
                        &format!("{FETCH}_records_lag"),
                        "Records between the consumer's position and the partition's end.",
                        &l,
                        lag as f64,
                    );
                }
                if let Some(o) = p.committed_offset {
                    t.gauge(
                        &format!("{FETCH}_committed_offset"),
                        "The last committed offset.",
                        &l,
                        o as f64,
                    );
                }
            }
            for p in &task.processors {
                let l = [
                    ("thread_id", th.thread_name.as_str()),
                    ("task_id", task.task_id.as_str()),
                    ("processor_node_id", p.processor_node_id.as_str()),
                ];
                t.counter(
                    "kafka_streams_stream_processor_node_metrics_process_total",
                    "Records the processor node took.",
                    &l,
                    p.process_total,
                );
            }
            for store in &task.stores {
                let l = [
                    ("thread_id", th.thread_name.as_str()),
                    ("task_id", task.task_id.as_str()),
                    ("state_id", store.name.as_str()),
                ];
                let ops = &store.operations;
                for (op, n) in [
                    ("put", ops.put),
                    ("get", ops.get),
                    ("delete", ops.delete),
                    ("range", ops.range),
                ] {
                    t.counter(
                        &format!("{STATE}_{op}_total"),
                        "Operations on the store through its typed views.",
                        &l,
                        n,
                    );
                }
                if let Some(n) = store.approximate_num_entries {
                    t.gauge(
                        &format!("{STATE}_estimate_num_keys"),
                        "Entries in the store, approximate for persistent ones.",
                        &l,
                        n as f64,
                    );
                }
            }
        }
    }
    #[cfg(feature = "http")]
    t.counter(
        "kstreams_log_events_dropped_total",
        "Log events the Kafka log layer dropped because its queue was full.",
        &[],
        super::http::logs::dropped_log_events(),
    );
    let p = &s.process;
    t.add(
        "process_cpu_seconds_total",
        Kind::Counter,
        "User and system CPU time spent in seconds.",
        &[],
        p.cpu_seconds,
    );
    t.gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        &[],
        p.resident_memory_bytes as f64,
    );
    t.gauge(
        "process_start_time_seconds",
        "Start time of the process since the epoch in seconds.",
        &[],
        p.start_time_seconds,
    );
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_typed_once_and_labels_escaped() {
        let mut t = Text::default();
        t.gauge("a", "A gauge.", &[("k", "x\"y\\z\nw")], 1.5);
        t.counter("b_total", "A counter.", &[], 3);
        t.gauge("a", "A gauge.", &[("k", "plain")], 2.0);
        assert_eq!(
            t.finish(),
            "# HELP a A gauge.\n# TYPE a gauge\na{k=\"x\\\"y\\\\z\\nw\"} 1.5\na{k=\"plain\"} 2\n\
             # HELP b_total A counter.\n# TYPE b_total counter\nb_total 3\n"
        );
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
