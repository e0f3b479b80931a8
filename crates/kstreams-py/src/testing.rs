//! What a pytest suite of an application needs around it: a broker in process, topics, and
//! a way to write input and read output (`kstreams.testing`).

use kstreams::runtime::kafka::{Admin, EmbeddedCluster, NewTopic};
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError};
use pyo3::prelude::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn err(what: &str, e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(format!("{what}: {e}"))
}

/// librdkafka's mock cluster in this process, for tests without a broker. It lives as long
/// as this object.
#[pyclass(unsendable, module = "kstreams.testing")]
pub struct EmbeddedBroker {
    cluster: EmbeddedCluster,
}

#[pymethods]
impl EmbeddedBroker {
    #[new]
    fn new() -> PyResult<EmbeddedBroker> {
        Ok(EmbeddedBroker {
            cluster: EmbeddedCluster::start()
                .map_err(|e| err("starting the embedded broker", e))?,
        })
    }

    /// `host:port` of the broker.
    #[getter]
    fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers().to_string()
    }

    /// Creates `topics` with `partitions` partitions each, and topic `config` (the mock
    /// cluster takes them through its own API, not the admin protocol).
    #[pyo3(signature = (topics, partitions = 1, config = None))]
    fn create_topics(
        &self,
        topics: Vec<String>,
        partitions: u32,
        config: Option<HashMap<String, String>>,
    ) -> PyResult<()> {
        let admin = self.cluster.admin().map_err(|e| err("admin client", e))?;
        admin
            .create_topics(&new_topics(&topics, partitions, config))
            .map_err(|e| err("creating topics", e))
    }
}

fn new_topics(
    topics: &[String],
    partitions: u32,
    config: Option<HashMap<String, String>>,
) -> Vec<NewTopic> {
    let config = config.unwrap_or_default();
    topics
        .iter()
        .map(|t| {
            config
                .iter()
                .fold(NewTopic::new(t, partitions), |n, (k, v)| n.config(k, v))
        })
        .collect()
}

/// Creates `topics` with `partitions` partitions each, and topic `config` (such as
/// `retention.ms`), on the cluster at `bootstrap` (`kstreams.testing.create_topics`).
#[pyfunction]
#[pyo3(signature = (bootstrap, topics, partitions = 1, config = None))]
pub fn create_topics_at(
    py: Python<'_>,
    bootstrap: &str,
    topics: Vec<String>,
    partitions: u32,
    config: Option<HashMap<String, String>>,
) -> PyResult<()> {
    py.allow_threads(|| {
        let admin = Admin::new(bootstrap).map_err(|e| err("admin client", e))?;
        admin
            .create_topics(&new_topics(&topics, partitions, config))
            .map_err(|e| err("creating topics", e))
    })
}

/// Writes `(key, value)` pairs of UTF-8 text (a key may be None) to `topic`, each with
/// its timestamp (ms) from `timestamps` if given (else the time of sending), and waits
/// until the broker has them all.
#[pyfunction]
#[pyo3(signature = (bootstrap, topic, records, timestamps = None))]
pub fn produce(
    py: Python<'_>,
    bootstrap: &str,
    topic: &str,
    records: Vec<(Option<String>, String)>,
    timestamps: Option<Vec<i64>>,
) -> PyResult<()> {
    if let Some(ts) = &timestamps {
        if ts.len() != records.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{} timestamps for {} records",
                ts.len(),
                records.len()
            )));
        }
    }
    py.allow_threads(|| {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .map_err(|e| err("producer", e))?;
        for (i, (key, value)) in records.iter().enumerate() {
            let mut r = BaseRecord::to(topic).payload(value.as_bytes());
            if let Some(k) = key {
                r = r.key(k.as_bytes());
            }
            if let Some(ts) = timestamps.as_ref().and_then(|t| t.get(i)) {
                r = r.timestamp(*ts);
            }
            producer.send(r).map_err(|(e, _)| err("sending", e))?;
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(30))
            .map_err(|e| err("flushing", e))
    })
}

/// Reads `topic` from its start until `count` records have arrived, as `(key, value)`
/// pairs of UTF-8 text (None for a null key or value). Raises TimeoutError with what did
/// arrive if `timeout` seconds pass first.
#[pyfunction]
#[pyo3(signature = (bootstrap, topic, count, timeout = 30.0, read_committed = false))]
#[allow(clippy::type_complexity)]
pub fn consume(
    py: Python<'_>,
    bootstrap: &str,
    topic: &str,
    count: usize,
    timeout: f64,
    read_committed: bool,
) -> PyResult<Vec<(Option<String>, Option<String>)>> {
    let result = py.allow_threads(|| -> Result<_, String> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "kstreams-testing-reader")
            .set("enable.auto.commit", "false")
            .set(
                "isolation.level",
                if read_committed {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            )
            .create()
            .map_err(|e| format!("consumer: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        let metadata = loop {
            match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
                Ok(m)
                    if m.topics()
                        .first()
                        .is_some_and(|t| !t.partitions().is_empty()) =>
                {
                    break m
                }
                _ if Instant::now() >= deadline => return Err(format!("no topic {topic}")),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let mut tpl = TopicPartitionList::new();
        for p in metadata.topics()[0].partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .map_err(|e| format!("assigning: {e}"))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| format!("assigning: {e}"))?;
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        let mut out = Vec::new();
        while out.len() < count {
            if Instant::now() >= deadline {
                return Ok(Err(out));
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => out.push((text(m.key()), text(m.payload()))),
                Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
                None => {}
            }
        }
        Ok(Ok(out))
    });
    match result {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(partial)) => Err(PyTimeoutError::new_err(format!(
            "{} of {count} records of {topic} within {timeout} s: {partial:?}",
            partial.len()
        ))),
        Err(e) => Err(PyRuntimeError::new_err(e)),
    }
}
