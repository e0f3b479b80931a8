//! Windowed aggregations in Python: `TimeWindows` (tumbling and hopping), `SessionWindows`,
//! the windowed grouped stream, and the table of per-window results whose stream keys are
//! `kstreams.windowing.Windowed(key, start, end)`.

use crate::dsl::KStream;
use crate::object::{Obj, PySerde, UserFn};
use kstreams::dsl::{EmitStrategy, SessionWindowedKStream, TimeWindowedKStream, Windowed};
use kstreams::serde::I64Serde;
use kstreams::Materialized;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use std::time::Duration;

fn ms(v: i64, what: &str) -> PyResult<Duration> {
    u64::try_from(v)
        .map(Duration::from_millis)
        .map_err(|_| PyValueError::new_err(format!("{what} must not be negative, got {v}")))
}

/// Fixed-size windows of event time: tumbling (`advance_ms` = `size_ms`) or hopping.
#[pyclass(frozen, module = "kstreams")]
#[derive(Clone, Copy)]
pub struct TimeWindows {
    inner: kstreams::dsl::TimeWindows,
}

#[pymethods]
impl TimeWindows {
    /// Tumbling windows of `size_ms`, accepting records up to `grace_ms` late.
    #[staticmethod]
    #[pyo3(signature = (size_ms, grace_ms = 0))]
    fn tumbling(size_ms: i64, grace_ms: i64) -> PyResult<TimeWindows> {
        if size_ms < 1 {
            return Err(PyValueError::new_err(format!(
                "window size must be at least 1 ms, got {size_ms}"
            )));
        }
        Ok(TimeWindows {
            inner: kstreams::dsl::TimeWindows::of_size_and_grace(
                ms(size_ms, "size_ms")?,
                ms(grace_ms, "grace_ms")?,
            ),
        })
    }

    /// Hopping windows of `size_ms`, a new one every `advance_ms`.
    #[staticmethod]
    #[pyo3(signature = (size_ms, advance_ms, grace_ms = 0))]
    fn hopping(size_ms: i64, advance_ms: i64, grace_ms: i64) -> PyResult<TimeWindows> {
        let t = Self::tumbling(size_ms, grace_ms)?;
        if !(1..=size_ms).contains(&advance_ms) {
            return Err(PyValueError::new_err(format!(
                "window advance must be between 1 ms and the size ({size_ms} ms), got {advance_ms}"
            )));
        }
        Ok(TimeWindows {
            inner: t.inner.advance_by(ms(advance_ms, "advance_ms")?),
        })
    }
}

/// Sessions of activity: a key's records at most `gap_ms` apart share a window.
#[pyclass(frozen, module = "kstreams")]
#[derive(Clone, Copy)]
pub struct SessionWindows {
    inner: kstreams::dsl::SessionWindows,
}

#[pymethods]
impl SessionWindows {
    #[new]
    #[pyo3(signature = (gap_ms, grace_ms = 0))]
    fn new(gap_ms: i64, grace_ms: i64) -> PyResult<SessionWindows> {
        if gap_ms < 1 {
            return Err(PyValueError::new_err(format!(
                "session inactivity gap must be at least 1 ms, got {gap_ms}"
            )));
        }
        Ok(SessionWindows {
            inner: kstreams::dsl::SessionWindows::of_inactivity_gap_and_grace(
                ms(gap_ms, "gap_ms")?,
                ms(grace_ms, "grace_ms")?,
            ),
        })
    }
}

/// Which windows a grouped stream was windowed by.
pub enum Windows {
    Time(TimeWindows),
    Session(SessionWindows),
}

impl<'py> FromPyObject<'py> for Windows {
    fn extract_bound(o: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(t) = o.downcast::<TimeWindows>() {
            return Ok(Windows::Time(*t.get()));
        }
        if let Ok(s) = o.downcast::<SessionWindows>() {
            return Ok(Windows::Session(*s.get()));
        }
        Err(PyValueError::new_err(
            "windowed_by takes TimeWindows.tumbling(...), TimeWindows.hopping(...) or SessionWindows(...)",
        ))
    }
}

enum Inner {
    Time(TimeWindowedKStream<Obj, Obj>),
    Session(SessionWindowedKStream<Obj, Obj>),
}

/// A grouped stream with windows, ready to aggregate per key and window.
#[pyclass(unsendable, module = "kstreams")]
pub struct WindowedKStream {
    inner: Inner,
    key: PySerde,
}

impl WindowedKStream {
    /// Windows `grouped`; `emit` is `"update"` (every change) or `"final"` (once per
    /// window, when it closes).
    pub fn new(
        grouped: kstreams::KGroupedStream<Obj, Obj>,
        key: PySerde,
        windows: Windows,
        emit: &str,
    ) -> PyResult<WindowedKStream> {
        let emit = match emit {
            "update" => EmitStrategy::OnWindowUpdate,
            "final" => EmitStrategy::OnWindowClose,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown emit {other:?}: expected \"update\" or \"final\""
                )))
            }
        };
        let inner = match windows {
            Windows::Time(t) => Inner::Time(grouped.windowed_by(t.inner).emit_strategy(emit)),
            Windows::Session(s) => {
                Inner::Session(grouped.windowed_by_session(s.inner).emit_strategy(emit))
            }
        };
        Ok(WindowedKStream { inner, key })
    }

    fn materialized<V: 'static>(
        &self,
        name: Option<String>,
        retention_ms: Option<i64>,
    ) -> PyResult<Materialized<Obj, V>> {
        let mut m = name
            .map_or_else(Materialized::default, Materialized::named)
            .with_key_serde(self.key);
        if let Some(r) = retention_ms {
            m = m.with_retention(ms(r, "retention_ms")?);
        }
        Ok(m)
    }
}

#[pymethods]
impl WindowedKStream {
    /// Records per key and window, in window store `name`; windows older than
    /// `retention_ms` are dropped from it.
    #[pyo3(signature = (name = None, retention_ms = None))]
    fn count(&self, name: Option<String>, retention_ms: Option<i64>) -> PyResult<WindowedKTable> {
        let m = self
            .materialized::<i64>(name, retention_ms)?
            .with_value_serde(I64Serde);
        let counts = match &self.inner {
            Inner::Time(w) => w.count(m),
            Inner::Session(w) => w.count(m),
        };
        Ok(WindowedKTable {
            inner: counts.map_values(|n| Obj::int(*n)),
        })
    }

    /// Combines values per key and window with `reducer(aggregate, value)`.
    #[pyo3(signature = (reducer, name = None, retention_ms = None))]
    fn reduce(
        &self,
        reducer: Bound<'_, PyAny>,
        name: Option<String>,
        retention_ms: Option<i64>,
    ) -> PyResult<WindowedKTable> {
        let f = UserFn::new(reducer)?;
        let m = self
            .materialized::<Obj>(name, retention_ms)?
            .with_value_serde(PySerde(crate::object::Format::Json));
        let reduce = move |a: Obj, v: Obj| f.apply(&[Some(&a), Some(&v)]);
        let inner = match &self.inner {
            Inner::Time(w) => w.reduce(reduce, m),
            Inner::Session(w) => w.reduce(reduce, m),
        };
        Ok(WindowedKTable { inner })
    }

    /// Folds values per key and window with `aggregator(key, value, aggregate)` from
    /// `initializer()`. Session windows also need `merger(key, a, b)`, which combines the
    /// aggregates of two sessions a record joins.
    #[pyo3(signature = (initializer, aggregator, merger = None, name = None, retention_ms = None))]
    fn aggregate(
        &self,
        initializer: Bound<'_, PyAny>,
        aggregator: Bound<'_, PyAny>,
        merger: Option<Bound<'_, PyAny>>,
        name: Option<String>,
        retention_ms: Option<i64>,
    ) -> PyResult<WindowedKTable> {
        let init = UserFn::new(initializer)?;
        let f = UserFn::new(aggregator)?;
        let m = self
            .materialized::<Obj>(name, retention_ms)?
            .with_value_serde(PySerde(crate::object::Format::Json));
        let initializer = move || init.apply(&[]);
        let aggregator = move |k: &Obj, v: Obj, agg: Obj| f.apply(&[Some(k), Some(&v), Some(&agg)]);
        let inner = match (&self.inner, merger) {
            (Inner::Time(w), None) => w.aggregate(initializer, aggregator, m),
            (Inner::Time(_), Some(_)) => {
                return Err(PyValueError::new_err("merger is for session windows only"))
            }
            (Inner::Session(w), Some(merger)) => {
                let merge = UserFn::new(merger)?;
                w.aggregate(
                    initializer,
                    aggregator,
                    move |k: &Obj, a: Obj, b: Obj| merge.apply(&[Some(k), Some(&a), Some(&b)]),
                    m,
                )
            }
            (Inner::Session(_), None) => {
                return Err(PyValueError::new_err(
                    "session windows need merger(key, a, b) to combine sessions",
                ))
            }
        };
        Ok(WindowedKTable { inner })
    }
}

static WINDOWED: GILOnceCell<Py<PyAny>> = GILOnceCell::new();

/// `Windowed(key, start, end)`, the Python form of a windowed key.
fn windowed_key(w: &Windowed<Obj>) -> Obj {
    crate::object::with_gil(|py| {
        let made = WINDOWED
            .get_or_try_init(py, || {
                Ok::<_, PyErr>(
                    py.import("kstreams.windowing")?
                        .getattr("Windowed")?
                        .unbind(),
                )
            })
            .and_then(|cls| {
                cls.bind(py)
                    .call1((w.key.bind(py), w.window.start, w.window.end))
            });
        match made {
            Ok(o) => Obj::new(o),
            // Only if the package's Python part is missing: a broken install.
            Err(e) => panic!(
                "kstreams.windowing.Windowed: {}",
                crate::object::describe(py, &e)
            ),
        }
    })
}

/// Results per key and window.
#[pyclass(unsendable, module = "kstreams")]
pub struct WindowedKTable {
    inner: kstreams::KTable<Windowed<Obj>, Obj>,
}

#[pymethods]
impl WindowedKTable {
    /// The results as a stream keyed by `Windowed(key, start, end)`; a removed window's
    /// value is None. Map the key to a str or bytes before `to`.
    fn to_stream(&self) -> KStream {
        let stream = self
            .inner
            .to_stream()
            .map(|k: Option<Windowed<Obj>>, v: Option<Obj>| {
                let value = v.unwrap_or_else(Obj::none);
                let key = k.as_ref().map_or_else(Obj::none, windowed_key);
                (key, value)
            });
        KStream { inner: stream }
    }
}
