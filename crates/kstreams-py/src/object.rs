//! Python values inside the Rust runtime: [`Obj`], the serdes that turn Kafka's bytes into
//! Python objects and back, and the call into a user's function.
//!
//! Records travel between processors as Python objects, so a chain of Python functions
//! converts nothing between them: only sources, sinks and stores (de)serialize. Every
//! touch of a Python object takes the GIL for just that touch.

use kstreams::error::SerdeError;
use kstreams::serde::Serde;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyString, PyTuple};
use std::sync::Arc;

thread_local! {
    static PRIMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Takes the GIL for `f`, on any thread. The first time a thread that Python has never
/// seen (a stream thread) comes here, it gets a Python thread state that it keeps: without
/// that, every `with_gil` on such a thread creates and destroys one. In `peer_bench` W1
/// (four entries a record: deserialize, filter, map, serialize) that took CPU per record
/// from 14.1 to 73.5 µs, and W2 from 11.9 to 49.5 µs.
pub fn with_gil<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    PRIMED.with(|primed| {
        if !primed.get() {
            primed.set(true);
            // SAFETY: only on a thread with no Python thread state, so it holds no GIL:
            // PyGILState_Ensure makes its thread state and takes the GIL, SaveThread
            // releases the GIL and keeps the state (its count stays above zero, so later
            // Ensure/Release pairs reuse it). The state lives as long as the thread.
            unsafe {
                if pyo3::ffi::PyGILState_GetThisThreadState().is_null() {
                    pyo3::ffi::PyGILState_Ensure();
                    pyo3::ffi::PyEval_SaveThread();
                }
            }
        }
    });
    Python::with_gil(f)
}

/// A Python object shared by the runtime's processors. Cloning does not touch the
/// interpreter; the last drop without the GIL is deferred by pyo3 until it is next held.
#[derive(Clone)]
pub struct Obj(pub Arc<Py<PyAny>>);

impl Obj {
    /// Wraps a bound object.
    pub fn new(o: Bound<'_, PyAny>) -> Obj {
        Obj(Arc::new(o.unbind()))
    }
    /// Python's None.
    pub fn none() -> Obj {
        with_gil(|py| Obj::new(py.None().into_bound(py)))
    }
    /// A Python int (a count the runtime kept as Kafka's i64).
    pub fn int(n: i64) -> Obj {
        with_gil(|py| {
            let Ok(n) = n.into_pyobject(py);
            Obj::new(n.into_any())
        })
    }
    /// The object, bound to the GIL held.
    pub fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.0.bind(py)
    }
}

impl std::fmt::Debug for Obj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        with_gil(|py| match self.bind(py).repr() {
            Ok(r) => write!(f, "{r}"),
            Err(_) => write!(f, "<python object>"),
        })
    }
}

/// How a topic's keys or values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON, to and from dicts, lists, str, int, float, bool and None.
    Json,
    /// UTF-8 text, to and from `str`.
    Str,
    /// Raw bytes, to and from `bytes`.
    Bytes,
}

impl Format {
    /// Parses the name a user passes (`"json"`, `"str"`, `"bytes"`).
    pub fn parse(name: &str) -> PyResult<Format> {
        match name {
            "json" => Ok(Format::Json),
            "str" | "string" => Ok(Format::Str),
            "bytes" => Ok(Format::Bytes),
            other => Err(PyValueError::new_err(format!(
                "unknown format {other:?}: expected \"json\", \"str\" or \"bytes\""
            ))),
        }
    }
}

/// The serde of a [`Format`], as the runtime calls it.
#[derive(Debug, Clone, Copy)]
pub struct PySerde(pub Format);

static JSON_LOADS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
static JSON_DUMPS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();

fn json_fn<'py>(
    py: Python<'py>,
    cell: &'static GILOnceCell<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    let f = cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("json")?.getattr(name)?.unbind())
    })?;
    Ok(f.bind(py))
}

fn invalid(expected: &'static str, py: Python<'_>, e: PyErr) -> SerdeError {
    SerdeError::Invalid {
        expected,
        reason: describe(py, &e),
    }
}

impl Serde<Obj> for PySerde {
    fn serialize(&self, value: &Obj, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        with_gil(|py| {
            let v = value.bind(py);
            match self.0 {
                Format::Json => {
                    let dumps =
                        json_fn(py, &JSON_DUMPS, "dumps").map_err(|e| invalid("JSON", py, e))?;
                    let text = dumps.call1((v,)).map_err(|e| invalid("JSON", py, e))?;
                    let text = text
                        .downcast::<PyString>()
                        .map_err(|e| invalid("JSON", py, e.into()))?;
                    out.extend_from_slice(
                        text.to_cow()
                            .map_err(|e| invalid("JSON", py, e))?
                            .as_bytes(),
                    );
                }
                Format::Str => {
                    let s = v
                        .downcast::<PyString>()
                        .map_err(|e| invalid("str", py, e.into()))?;
                    out.extend_from_slice(
                        s.to_cow().map_err(|e| invalid("str", py, e))?.as_bytes(),
                    );
                }
                Format::Bytes => {
                    let b = v
                        .downcast::<PyBytes>()
                        .map_err(|e| invalid("bytes", py, e.into()))?;
                    out.extend_from_slice(b.as_bytes());
                }
            }
            Ok(())
        })
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Obj, SerdeError> {
        with_gil(|py| {
            let o = match self.0 {
                Format::Json => {
                    let loads =
                        json_fn(py, &JSON_LOADS, "loads").map_err(|e| invalid("JSON", py, e))?;
                    loads
                        .call1((PyBytes::new(py, bytes),))
                        .map_err(|e| invalid("JSON", py, e))?
                }
                Format::Str => {
                    let s = std::str::from_utf8(bytes).map_err(|e| SerdeError::Invalid {
                        expected: "UTF-8 string",
                        reason: e.to_string(),
                    })?;
                    PyString::new(py, s).into_any()
                }
                Format::Bytes => PyBytes::new(py, bytes).into_any(),
            };
            Ok(Obj::new(o))
        })
    }
}

/// A Python exception as one text: its type, message and traceback. This is what a failed
/// record's error (and its dead-letter header) carries.
pub fn describe(py: Python<'_>, e: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        let lines = tb.getattr("format_exception")?.call1((
            e.get_type(py),
            e.value(py),
            e.traceback(py),
        ))?;
        let joined: String = PyString::new(py, "")
            .call_method1("join", (lines,))?
            .extract()?;
        Ok::<_, PyErr>(joined)
    });
    formatted.unwrap_or_else(|_| e.to_string())
}

/// A user's function, callable from any stream thread.
#[derive(Clone)]
pub struct UserFn {
    f: Arc<Py<PyAny>>,
    name: Arc<str>,
}

impl UserFn {
    /// Wraps a Python callable; fails if `f` is not callable.
    pub fn new(f: Bound<'_, PyAny>) -> PyResult<UserFn> {
        if !f.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "expected a callable, got {}",
                f.get_type().name()?
            )));
        }
        let name = f
            .getattr("__qualname__")
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| "<callable>".into());
        Ok(UserFn {
            f: Arc::new(f.unbind()),
            name: name.into(),
        })
    }

    /// Calls the function with the GIL held and hands its result to `then`, also under
    /// the GIL. A Python exception unwinds as a panic carrying the traceback: the task
    /// turns it into a processing error for the processing handler, as it does any
    /// failure of user code.
    pub fn call<R>(
        &self,
        args: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyTuple>>,
        then: impl for<'py> FnOnce(Bound<'py, PyAny>) -> PyResult<R>,
    ) -> R {
        with_gil(|py| {
            let result = args(py)
                .and_then(|args| self.f.bind(py).call1(args))
                .and_then(then);
            match result {
                Ok(r) => r,
                Err(e) => panic!(
                    "Python function {} raised: {}",
                    self.name,
                    describe(py, &e).trim_end()
                ),
            }
        })
    }
}

impl UserFn {
    /// Calls the function with these arguments (None as Python's None) and hands its
    /// result to `then` (see [`UserFn::call`]).
    pub fn call_with<R>(
        &self,
        args: &[Option<&Obj>],
        then: impl for<'py> FnOnce(Bound<'py, PyAny>) -> PyResult<R>,
    ) -> R {
        self.call(
            |py| PyTuple::new(py, args.iter().map(|a| key_arg(py, *a))),
            then,
        )
    }

    /// A predicate's answer: the truth of the result.
    pub fn test(&self, args: &[Option<&Obj>]) -> bool {
        self.call_with(args, |r| r.is_truthy())
    }

    /// A mapper's answer: the result itself.
    pub fn apply(&self, args: &[Option<&Obj>]) -> Obj {
        self.call_with(args, |r| Ok(Obj::new(r)))
    }
}

/// The key as Python sees it: the object, or None for a record without a key.
pub fn key_arg<'py>(py: Python<'py>, key: Option<&Obj>) -> Bound<'py, PyAny> {
    match key {
        Some(k) => k.bind(py).clone(),
        None => py.None().into_bound(py),
    }
}
