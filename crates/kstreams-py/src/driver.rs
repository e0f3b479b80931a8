//! `TestDriver`: a Python topology run in process, without a broker, for pytest.

use crate::dsl::StreamsBuilder;
use crate::handlers::{Applier, OnError};
use crate::object::{Format, Obj, PySerde};
use kstreams::processor::ProcessingExceptionHandler;
use kstreams_testkit::{TestDriverBuilder, TestOutputTopic};
use pyo3::exceptions::{PyKeyError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::collections::HashMap;

struct SetProcessing;
impl Applier<TestDriverBuilder> for SetProcessing {
    fn apply<H: ProcessingExceptionHandler>(self, b: TestDriverBuilder, h: H) -> TestDriverBuilder {
        b.processing_handler(h)
    }
}

/// Runs a topology record by record, as `App` would on a broker, with every topic in
/// memory: records piped in come out in the output topics, stores can be read, and user
/// errors go through the same `on_error` handling.
///
/// ```python
/// driver = TestDriver(builder)
/// driver.pipe("payments", "alice", {"amount": 5000})
/// assert driver.read("large") == [("alice", {"amount": 5000})]
/// ```
#[pyclass(unsendable, module = "kstreams")]
pub struct TestDriver {
    driver: kstreams_testkit::TestDriver,
    description: String,
    outputs: HashMap<String, TestOutputTopic<Obj, Obj>>,
}

fn runtime_err(e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

#[pymethods]
impl TestDriver {
    /// Not a test class, though pytest would collect it by its name.
    #[classattr]
    #[allow(non_upper_case_globals)]
    const __test__: bool = false;

    #[new]
    #[pyo3(signature = (builder, *, application_id = "test-app", partitions = 1, on_error = "fail", dead_letter_topic = None))]
    fn new(
        builder: &mut StreamsBuilder,
        application_id: &str,
        partitions: u32,
        on_error: &str,
        dead_letter_topic: Option<String>,
    ) -> PyResult<TestDriver> {
        let topology = builder.build()?;
        let description = topology.describe().to_string();
        let on_error = OnError::parse(on_error)?;
        on_error.check(dead_letter_topic.as_deref())?;
        let mut b = kstreams_testkit::TestDriver::builder(topology)
            .application_id(application_id)
            .default_partitions(partitions.max(1));
        b = on_error.apply(b, SetProcessing);
        if let Some(t) = dead_letter_topic {
            b = b.dead_letter_topic(t);
        }
        let driver = b.build().map_err(runtime_err)?;
        Ok(TestDriver {
            driver,
            description,
            outputs: HashMap::new(),
        })
    }

    /// Pipes one record into `topic`. `key` may be None; `timestamp` is in ms (the
    /// previous record's, or 0, if None).
    #[pyo3(signature = (topic, key, value, timestamp = None, *, key_format = "str", value_format = "json"))]
    fn pipe(
        &self,
        topic: &str,
        key: Bound<'_, PyAny>,
        value: Bound<'_, PyAny>,
        timestamp: Option<i64>,
        key_format: &str,
        value_format: &str,
    ) -> PyResult<()> {
        let k = PySerde(Format::parse(key_format)?);
        let v = PySerde(Format::parse(value_format)?);
        let input = self.driver.input_topic(topic, k, v);
        let value = Obj::new(value);
        // The GIL stays held: the driver runs the topology on this thread, and the user's
        // functions take it again (re-entrantly) as they would on a stream thread.
        let key = (!key.is_none()).then(|| Obj::new(key));
        match (key, timestamp) {
            (Some(k), Some(ts)) => input.pipe_input_at(k, value, ts),
            (Some(k), None) => input.pipe_input(k, value),
            (None, _) => input.pipe_keyless(value),
        }
        .map_err(runtime_err)
    }

    /// Every record written to `topic` since the last read, as `(key, value)` tuples.
    #[pyo3(signature = (topic, *, key_format = "str", value_format = "json"))]
    fn read(
        &mut self,
        py: Python<'_>,
        topic: &str,
        key_format: &str,
        value_format: &str,
    ) -> PyResult<Py<PyList>> {
        let k = PySerde(Format::parse(key_format)?);
        let v = PySerde(Format::parse(value_format)?);
        let out = self
            .outputs
            .entry(topic.to_string())
            .or_insert_with(|| self.driver.output_topic(topic, k, v));
        let list = PyList::empty(py);
        while let Some(r) = out.read_record() {
            let r = r.map_err(runtime_err)?;
            let key = match &r.key {
                Some(k) => k.bind(py).clone(),
                None => py.None().into_bound(py),
            };
            list.append((key, r.value.bind(py).clone()))?;
        }
        Ok(list.unbind())
    }

    /// Every record written to `topic` since the last read, with its headers, as dicts:
    /// `key`, `value` (raw bytes), `timestamp`, `headers` (name to bytes). For the
    /// dead-letter topic, whose records keep the input's bytes.
    fn read_raw(&mut self, py: Python<'_>, topic: &str) -> PyResult<Py<PyList>> {
        let bytes = PySerde(Format::Bytes);
        let out = self
            .outputs
            .entry(format!("raw:{topic}"))
            .or_insert_with(|| self.driver.output_topic(topic, bytes, bytes));
        let list = PyList::empty(py);
        while let Some(r) = out.read_record() {
            let r = r.map_err(runtime_err)?;
            let d = PyDict::new(py);
            d.set_item("key", r.key.as_ref().map(|k| k.bind(py).clone()))?;
            d.set_item("value", r.value.bind(py))?;
            d.set_item("timestamp", r.timestamp)?;
            let headers = PyDict::new(py);
            for h in r.headers.iter() {
                headers.set_item(&h.key, h.value.as_deref().map(|b| PyBytes::new(py, b)))?;
            }
            d.set_item("headers", headers)?;
            list.append(d)?;
        }
        Ok(list.unbind())
    }

    /// The contents of key-value store `name`, as a dict (counts are ints, other
    /// aggregates as the functions returned them).
    fn store(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyDict>> {
        let d = PyDict::new(py);
        if let Some(s) = self.driver.key_value_store::<Obj, Obj>(name) {
            let all = s.all().map_err(runtime_err)?;
            for (k, v) in all {
                d.set_item(k.bind(py), v.bind(py))?;
            }
        } else if let Some(s) = self.driver.key_value_store::<Obj, i64>(name) {
            let all = s.all().map_err(runtime_err)?;
            for (k, v) in all {
                d.set_item(k.bind(py), v)?;
            }
        } else {
            return Err(PyKeyError::new_err(format!("no key-value store {name:?}")));
        }
        Ok(d.unbind())
    }

    /// The topology, as Kafka Streams describes it.
    fn describe(&self) -> String {
        self.description.clone()
    }

    /// Records the user's code failed on and the handler skipped or dead-lettered.
    #[getter]
    fn failed_records(&self) -> u64 {
        self.driver.metrics().processing_errors
    }
}
