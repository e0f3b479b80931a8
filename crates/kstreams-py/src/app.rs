//! `App`: a topology built in Python, run by kstreams' Kafka runtime.

use crate::dsl::StreamsBuilder;
use crate::handlers::{Applier, OnError};
use kstreams::processor::ProcessingExceptionHandler;
use kstreams::runtime::kafka::AutoOffsetReset;
use kstreams::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

struct SetProcessing;
impl Applier<StreamsConfig> for SetProcessing {
    fn apply<H: ProcessingExceptionHandler>(self, c: StreamsConfig, h: H) -> StreamsConfig {
        c.processing_handler(h)
    }
}

/// An application: its id, its brokers and its settings. `start(builder)` runs the
/// builder's topology on stream threads in Rust; the Python functions in it run under the
/// GIL, everything else (Kafka I/O, serdes, stores, commits, rebalances) does not.
///
/// ```python
/// app = App("fraud-detector", "localhost:9092", guarantee="exactly_once")
/// app.run(builder)   # until Ctrl-C or SIGTERM, then closes cleanly
/// ```
#[pyclass(unsendable, subclass, module = "kstreams")]
pub struct App {
    config: Option<StreamsConfig>,
    streams: Option<KafkaStreams>,
    description: String,
}

#[pymethods]
impl App {
    #[new]
    #[pyo3(signature = (
        application_id,
        bootstrap,
        *,
        guarantee = "at_least_once",
        num_threads = 1,
        commit_interval_ms = None,
        state_dir = None,
        auto_offset_reset = "earliest",
        on_error = "fail",
        dead_letter_topic = None,
        config = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        application_id: &str,
        bootstrap: &str,
        guarantee: &str,
        num_threads: usize,
        commit_interval_ms: Option<u64>,
        state_dir: Option<std::path::PathBuf>,
        auto_offset_reset: &str,
        on_error: &str,
        dead_letter_topic: Option<String>,
        config: Option<HashMap<String, String>>,
    ) -> PyResult<App> {
        let mut c = StreamsConfig::new(application_id, bootstrap).num_stream_threads(num_threads);
        c = c.processing_guarantee(match guarantee {
            "at_least_once" => ProcessingGuarantee::AtLeastOnce,
            "exactly_once" | "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown guarantee {other:?}: expected \"at_least_once\" or \"exactly_once\""
                )))
            }
        });
        c = c.auto_offset_reset(match auto_offset_reset {
            "earliest" => AutoOffsetReset::Earliest,
            "latest" => AutoOffsetReset::Latest,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown auto_offset_reset {other:?}: expected \"earliest\" or \"latest\""
                )))
            }
        });
        if let Some(ms) = commit_interval_ms {
            c = c.commit_interval(Duration::from_millis(ms));
        }
        if let Some(dir) = state_dir {
            c = c.state_dir(dir);
        }
        let on_error = OnError::parse(on_error)?;
        on_error.check(dead_letter_topic.as_deref())?;
        c = on_error.apply(c, SetProcessing);
        if let Some(t) = dead_letter_topic {
            c = c.dead_letter_topic(t);
        }
        for (k, v) in config.unwrap_or_default() {
            c = c.client_config(k, v);
        }
        Ok(App {
            config: Some(c),
            streams: None,
            description: String::new(),
        })
    }

    /// Starts the builder's topology; returns once the stream threads run.
    fn start(&mut self, py: Python<'_>, builder: &mut StreamsBuilder) -> PyResult<()> {
        let config = self
            .config
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this app was already started"))?;
        let topology = builder.build()?;
        self.description = topology.describe().to_string();
        let streams = KafkaStreams::new(topology, config);
        // The stream threads take the GIL for the user's functions: let them.
        py.allow_threads(|| streams.start())
            .map_err(|e| PyRuntimeError::new_err(format!("start: {e}")))?;
        self.streams = Some(streams);
        Ok(())
    }

    /// The client's state: `CREATED`, `REBALANCING`, `RUNNING`, `PENDING_SHUTDOWN`,
    /// `NOT_RUNNING`, `PENDING_ERROR` or `ERROR`.
    #[getter]
    fn state(&self) -> String {
        match &self.streams {
            None => "CREATED".into(),
            Some(s) => state_name(s.state()).into(),
        }
    }

    /// Waits up to `timeout` seconds (forever if None) for the app to reach RUNNING;
    /// returns whether it did. Raises if it failed.
    #[pyo3(signature = (timeout = None))]
    fn wait_until_running(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let streams = self.running()?;
        let deadline = timeout.map(|t| std::time::Instant::now() + Duration::from_secs_f64(t));
        loop {
            match streams.state() {
                State::Running => return Ok(true),
                State::Error | State::PendingError | State::NotRunning => {
                    return Err(PyRuntimeError::new_err(format!(
                        "the app is {}",
                        state_name(streams.state())
                    )))
                }
                _ => {}
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(false);
            }
            py.allow_threads(|| std::thread::sleep(Duration::from_millis(20)));
            py.check_signals()?;
        }
    }

    /// Stops the stream threads after committing what they processed; waits for them.
    fn close(&mut self, py: Python<'_>) {
        if let Some(s) = self.streams.take() {
            py.allow_threads(|| s.close());
        }
    }

    /// The topology, as Kafka Streams describes it (after start).
    fn describe(&self) -> PyResult<String> {
        self.running()?;
        Ok(self.description.clone())
    }

    /// Sleeps `seconds` with the GIL released, checking for Ctrl-C; returns False once the
    /// app has stopped or failed. `run()` loops on it.
    fn poll(&self, py: Python<'_>, seconds: f64) -> PyResult<bool> {
        let streams = self.running()?;
        py.allow_threads(|| std::thread::sleep(Duration::from_secs_f64(seconds.max(0.0))));
        py.check_signals()?;
        Ok(!matches!(
            streams.state(),
            State::Error | State::PendingError | State::NotRunning
        ))
    }
}

impl App {
    fn running(&self) -> PyResult<&KafkaStreams> {
        self.streams
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("the app is not started"))
    }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Created => "CREATED",
        State::Rebalancing => "REBALANCING",
        State::Running => "RUNNING",
        State::PendingShutdown => "PENDING_SHUTDOWN",
        State::NotRunning => "NOT_RUNNING",
        State::PendingError => "PENDING_ERROR",
        State::Error => "ERROR",
        // A state added to the runtime later.
        _ => "UNKNOWN",
    }
}
