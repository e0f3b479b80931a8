//! The Processor API in Python: a class with `init(context)`, `process(key, value)` and
//! optionally `close()`, run once per task by the Rust runtime; its context forwards,
//! schedules punctuations and hands out state stores.
//!
//! ```python
//! class Dedupe:
//!     def init(self, context):
//!         self.context = context
//!         self.seen = context.get_state_store("seen")
//!     def process(self, key, value):
//!         if self.seen.get(value["id"]) is None:
//!             self.seen.put(value["id"], self.context.timestamp)
//!             self.context.forward(key, value)
//! ```

use crate::object::{describe, with_gil, Obj, UserFn};
use kstreams::processor::{Processor, ProcessorContext, PunctuationType, PunctuatorId, Record};
use kstreams::state::KeyValueStore;
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

type Ctx = ProcessorContext<'static, Obj, Obj>;

/// A processor's view of its task, valid while the runtime is inside one of the
/// processor's methods (a processor may keep it from `init`, as in Kafka Streams).
#[pyclass(unsendable, module = "kstreams", name = "ProcessorContext")]
pub struct PyContext {
    /// The runtime's context during a call into the processor, else null.
    ctx: *mut Ctx,
    /// The current record's timestamp (or the punctuation's time).
    timestamp: i64,
    /// Python callbacks of this processor's schedules.
    punctuators: Rc<RefCell<HashMap<PunctuatorId, Py<PyAny>>>>,
}

impl PyContext {
    fn ctx(&mut self) -> PyResult<&mut Ctx> {
        if self.ctx.is_null() {
            return Err(PyRuntimeError::new_err(
                "the processor context is usable only inside init, process and punctuations",
            ));
        }
        // SAFETY: non-null only while `PyProcessor::enter` runs, which holds the runtime's
        // `&mut ProcessorContext` for exactly that call and clears the pointer after it.
        // The lifetime is erased for the call's duration only; the object is unsendable.
        Ok(unsafe { &mut *self.ctx })
    }
}

#[pymethods]
impl PyContext {
    /// Sends a record to the processor's children; the timestamp defaults to the input's.
    #[pyo3(signature = (key, value, timestamp = None))]
    fn forward(
        &mut self,
        key: Bound<'_, PyAny>,
        value: Bound<'_, PyAny>,
        timestamp: Option<i64>,
    ) -> PyResult<()> {
        let ts = timestamp.unwrap_or(self.timestamp);
        let key = (!key.is_none()).then(|| Obj::new(key));
        let record = Record::new(key, Obj::new(value), ts);
        self.ctx()?
            .forward(record)
            .map_err(|e| PyRuntimeError::new_err(format!("forward: {e}")))
    }

    /// Calls `callback(timestamp)` every `interval_ms` of stream time (`type=
    /// "stream_time"`, the default) or wall-clock time (`"wall_clock"`).
    #[pyo3(signature = (interval_ms, callback, r#type = "stream_time"))]
    fn schedule(
        &mut self,
        interval_ms: u64,
        callback: Bound<'_, PyAny>,
        r#type: &str,
    ) -> PyResult<()> {
        let kind = match r#type {
            "stream_time" => PunctuationType::StreamTime,
            "wall_clock" => PunctuationType::WallClockTime,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown punctuation type {other:?}: expected \"stream_time\" or \"wall_clock\""
                )))
            }
        };
        if !callback.is_callable() {
            return Err(PyValueError::new_err("schedule needs a callable"));
        }
        let id = self
            .ctx()?
            .schedule(Duration::from_millis(interval_ms.max(1)), kind);
        self.punctuators.borrow_mut().insert(id, callback.unbind());
        Ok(())
    }

    /// The key-value store `name`, which `process(..., stores=[name])` connected.
    fn get_state_store(&mut self, name: &str) -> PyResult<KeyValueStoreHandle> {
        let store = self
            .ctx()?
            .key_value_store::<Obj, Obj>(name)
            .map_err(|e| PyKeyError::new_err(format!("state store {name:?}: {e}")))?;
        Ok(KeyValueStoreHandle { inner: store })
    }

    /// The current record's timestamp, ms (in a punctuation: its time).
    #[getter]
    fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The task's stream time, ms.
    #[getter]
    fn stream_time(&mut self) -> PyResult<i64> {
        Ok(self.ctx()?.stream_time())
    }

    /// Topic, partition and offset of the current record (None in a punctuation).
    #[getter]
    fn record_metadata(&mut self) -> PyResult<Option<(String, u32, i64)>> {
        Ok(self
            .ctx()?
            .record_metadata()
            .map(|m| (m.topic.to_string(), m.partition, m.offset)))
    }

    /// The task, as `<subtopology>_<partition>`.
    #[getter]
    fn task_id(&mut self) -> PyResult<String> {
        Ok(self.ctx()?.task_id().to_string())
    }
}

/// A key-value state store: keys and values as the store's formats decode them.
#[pyclass(unsendable, module = "kstreams", name = "KeyValueStore")]
pub struct KeyValueStoreHandle {
    inner: KeyValueStore<Obj, Obj>,
}

fn store_err(e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(format!("state store: {e}"))
}

#[pymethods]
impl KeyValueStoreHandle {
    /// The value of `key`, or None.
    fn get(&self, py: Python<'_>, key: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Ok(match self.inner.get(&Obj::new(key)).map_err(store_err)? {
            Some(v) => v.bind(py).clone().unbind(),
            None => py.None(),
        })
    }

    /// Sets `key` to `value` (changelogged).
    fn put(&mut self, key: Bound<'_, PyAny>, value: Bound<'_, PyAny>) -> PyResult<()> {
        self.inner
            .put(&Obj::new(key), &Obj::new(value))
            .map_err(store_err)
    }

    /// Removes `key`; returns its old value, or None.
    fn delete(&mut self, py: Python<'_>, key: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Ok(
            match self.inner.delete(&Obj::new(key)).map_err(store_err)? {
                Some(v) => v.bind(py).clone().unbind(),
                None => py.None(),
            },
        )
    }

    /// The entries with keys from `start` to `end` (both inclusive, in the order of the
    /// keys' encoded bytes), as `(key, value)` tuples.
    fn range(
        &self,
        py: Python<'_>,
        start: Bound<'_, PyAny>,
        end: Bound<'_, PyAny>,
    ) -> PyResult<Vec<(Py<PyAny>, Py<PyAny>)>> {
        let entries = self
            .inner
            .range(&Obj::new(start), &Obj::new(end))
            .map_err(store_err)?;
        Ok(entries
            .into_iter()
            .map(|(k, v)| (k.bind(py).clone().unbind(), v.bind(py).clone().unbind()))
            .collect())
    }

    /// Every entry, as `(key, value)` tuples.
    fn all(&self, py: Python<'_>) -> PyResult<Vec<(Py<PyAny>, Py<PyAny>)>> {
        let entries = self.inner.all().map_err(store_err)?;
        Ok(entries
            .into_iter()
            .map(|(k, v)| (k.bind(py).clone().unbind(), v.bind(py).clone().unbind()))
            .collect())
    }
}

/// One task's instance of a Python processor.
pub struct PyProcessor {
    processor: Py<PyAny>,
    context: Option<Py<PyContext>>,
    punctuators: Rc<RefCell<HashMap<PunctuatorId, Py<PyAny>>>>,
}

impl PyProcessor {
    /// An instance from the user's supplier (a class, or any callable making one).
    pub fn supply(supplier: &UserFn) -> PyProcessor {
        PyProcessor {
            processor: supplier.call(|py| Ok(pyo3::types::PyTuple::empty(py)), |p| Ok(p.unbind())),
            context: None,
            punctuators: Rc::default(),
        }
    }

    /// Runs `f` with the context pointing at the runtime's for the call; a Python
    /// exception becomes a processing error carrying its traceback.
    fn enter(
        &mut self,
        ctx: &mut ProcessorContext<'_, Obj, Obj>,
        timestamp: i64,
        f: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyAny>, &Py<PyContext>) -> PyResult<()>,
    ) -> kstreams::Result<()> {
        with_gil(|py| {
            let context = match &self.context {
                Some(c) => c.clone_ref(py),
                None => {
                    let c = Py::new(
                        py,
                        PyContext {
                            ctx: std::ptr::null_mut(),
                            timestamp,
                            punctuators: self.punctuators.clone(),
                        },
                    )
                    .map_err(|e| ctx.error(describe(py, &e)))?;
                    self.context = Some(c.clone_ref(py));
                    c
                }
            };
            {
                let mut c = context.borrow_mut(py);
                c.ctx = (ctx as *mut ProcessorContext<'_, Obj, Obj>).cast::<Ctx>();
                c.timestamp = timestamp;
            }
            let result = f(py, self.processor.bind(py), &context);
            context.borrow_mut(py).ctx = std::ptr::null_mut();
            result.map_err(|e| {
                ctx.error(format!(
                    "Python processor raised: {}",
                    describe(py, &e).trim_end()
                ))
            })
        })
    }
}

impl Processor<Obj, Obj> for PyProcessor {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Obj, Obj>) -> kstreams::Result<()> {
        let now = ctx.stream_time();
        self.enter(ctx, now, |_, p, context| {
            if p.hasattr("init")? {
                p.call_method1("init", (context.clone_ref(p.py()),))?;
            }
            Ok(())
        })
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Obj, Obj>,
        record: Record<Obj, Obj>,
    ) -> kstreams::Result<()> {
        self.enter(ctx, record.timestamp, |py, p, _| {
            let key = crate::object::key_arg(py, record.key.as_ref());
            p.call_method1("process", (key, record.value.bind(py)))?;
            Ok(())
        })
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, Obj, Obj>,
        id: PunctuatorId,
        timestamp: i64,
    ) -> kstreams::Result<()> {
        let callback = with_gil(|py| self.punctuators.borrow().get(&id).map(|c| c.clone_ref(py)));
        let Some(callback) = callback else {
            return Ok(());
        };
        self.enter(ctx, timestamp, |py, _, _| {
            callback.bind(py).call1((timestamp,))?;
            Ok(())
        })
    }

    fn close(&mut self) {
        with_gil(|py| {
            let p = self.processor.bind(py);
            if let Err(e) = p.hasattr("close").and_then(|has| {
                if has {
                    p.call_method0("close").map(|_| ())
                } else {
                    Ok(())
                }
            }) {
                tracing::warn!("Python processor's close raised: {}", describe(py, &e));
            }
        })
    }
}
