//! The DSL as Python sees it: `StreamsBuilder`, `KStream`, `KGroupedStream` and `KTable`
//! over Python keys and values. Each method wraps the Rust DSL's; the user's callables run
//! with the GIL held, the rest of the record's way does not take it.

use crate::object::{Format, Obj, PySerde, UserFn};
use crate::processor::PyProcessor;
use crate::windows::{WindowedKStream, Windows};
use kstreams::serde::I64Serde;
use kstreams::state::Stores;
use kstreams::{Consumed, Grouped, Materialized, Produced};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

type Stream = kstreams::KStream<Obj, Obj>;
type Table = kstreams::KTable<Obj, Obj>;

fn serdes(key: &str, value: &str) -> PyResult<(PySerde, PySerde)> {
    Ok((PySerde(Format::parse(key)?), PySerde(Format::parse(value)?)))
}

fn pair<'py>(o: Bound<'py, PyAny>) -> PyResult<(Obj, Obj)> {
    let (k, v): (Bound<'py, PyAny>, Bound<'py, PyAny>) = o.extract()?;
    Ok((Obj::new(k), Obj::new(v)))
}

fn materialized<V: 'static>(name: Option<String>) -> Materialized<Obj, V> {
    name.map_or_else(Materialized::default, Materialized::named)
}

/// Builds a topology: streams and tables from topics, then operations on them.
///
/// ```python
/// builder = StreamsBuilder()
/// builder.stream("payments").filter(lambda k, v: v["amount"] > 1000).to("large")
/// ```
#[pyclass(unsendable, module = "kstreams")]
pub struct StreamsBuilder {
    inner: Option<kstreams::StreamsBuilder>,
}

impl StreamsBuilder {
    fn builder(&self) -> PyResult<&kstreams::StreamsBuilder> {
        self.inner
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("this builder was already built into an app"))
    }

    /// Takes the builder's topology (once).
    pub fn build(&mut self) -> PyResult<kstreams::Topology> {
        let b = self
            .inner
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this builder was already built"))?;
        b.build()
            .map_err(|e| PyRuntimeError::new_err(format!("invalid topology: {e}")))
    }
}

#[pymethods]
impl StreamsBuilder {
    #[new]
    fn new() -> Self {
        StreamsBuilder {
            inner: Some(kstreams::StreamsBuilder::new()),
        }
    }

    /// A stream of the records of `topic`, keys and values decoded as `key` and `value`
    /// (`"json"`, `"str"` or `"bytes"`).
    #[pyo3(signature = (topic, key = "str", value = "json"))]
    fn stream(&self, topic: &str, key: &str, value: &str) -> PyResult<KStream> {
        let (k, v) = serdes(key, value)?;
        Ok(KStream {
            inner: self.builder()?.stream(topic, Consumed::with(k, v)),
        })
    }

    /// The table of the latest value per key of `topic`, in a store named `store` (or a
    /// generated name).
    #[pyo3(signature = (topic, key = "str", value = "json", store = None))]
    fn table(
        &self,
        topic: &str,
        key: &str,
        value: &str,
        store: Option<String>,
    ) -> PyResult<KTable> {
        let (k, v) = serdes(key, value)?;
        let m = materialized(store).with_key_serde(k).with_value_serde(v);
        Ok(KTable {
            inner: self.builder()?.table(topic, Consumed::with(k, v), m),
        })
    }

    /// Adds key-value store `name` for Processor API processors (connect it with
    /// `KStream.process(..., stores=[name])`): persistent (fjall) or in memory, backed by
    /// a changelog topic unless `logging` is False.
    #[pyo3(signature = (name, key = "str", value = "json", persistent = true, logging = true))]
    fn add_state_store(
        &self,
        name: &str,
        key: &str,
        value: &str,
        persistent: bool,
        logging: bool,
    ) -> PyResult<()> {
        let (k, v) = serdes(key, value)?;
        let mut store = if persistent {
            Stores::key_value_store_builder(Stores::persistent_key_value_store(name), k, v)
        } else {
            Stores::key_value_store_builder(Stores::in_memory_key_value_store(name), k, v)
        };
        if !logging {
            store = store.with_logging_disabled();
        }
        self.builder()?.add_state_store(store);
        Ok(())
    }
}

/// A stream of records.
#[pyclass(unsendable, module = "kstreams")]
pub struct KStream {
    pub(crate) inner: Stream,
}

#[pymethods]
impl KStream {
    /// The records for which `predicate(key, value)` is true.
    fn filter(&self, predicate: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(predicate)?;
        Ok(KStream {
            inner: self.inner.filter(move |k, v| f.test(&[k, Some(v)])),
        })
    }

    /// The records for which `predicate(key, value)` is false.
    fn filter_not(&self, predicate: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(predicate)?;
        Ok(KStream {
            inner: self.inner.filter_not(move |k, v| f.test(&[k, Some(v)])),
        })
    }

    /// Every value replaced by `f(value)`; keys and partitions stay.
    fn map_values(&self, f: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(f)?;
        Ok(KStream {
            inner: self.inner.map_values(move |v| f.apply(&[Some(&v)])),
        })
    }

    /// Every record replaced by `f(key, value)`, a `(key, value)` tuple. A later
    /// aggregation or join repartitions by the new key.
    fn map(&self, f: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(f)?;
        Ok(KStream {
            inner: self
                .inner
                .map(move |k, v| f.call_with(&[k.as_ref(), Some(&v)], pair)),
        })
    }

    /// Zero or more records per record: `f(key, value)` returns an iterable of
    /// `(key, value)` tuples.
    fn flat_map(&self, f: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(f)?;
        Ok(KStream {
            inner: self.inner.flat_map(move |k, v| {
                f.call_with(&[k.as_ref(), Some(&v)], |r| {
                    r.try_iter()?
                        .map(|item| pair(item?))
                        .collect::<PyResult<Vec<_>>>()
                })
            }),
        })
    }

    /// Zero or more values per record: `f(value)` returns an iterable of values.
    fn flat_map_values(&self, f: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(f)?;
        Ok(KStream {
            inner: self.inner.flat_map_values(move |v| {
                f.call_with(&[Some(&v)], |r| {
                    r.try_iter()?
                        .map(|item| Ok(Obj::new(item?)))
                        .collect::<PyResult<Vec<_>>>()
                })
            }),
        })
    }

    /// Calls `action(key, value)` for every record and passes it on unchanged.
    fn peek(&self, action: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(action)?;
        Ok(KStream {
            inner: self
                .inner
                .peek(move |k, v| f.call_with(&[k, Some(v)], |_| Ok(()))),
        })
    }

    /// One stream per predicate: a record goes to the first whose `predicate(key, value)`
    /// is true, and is dropped if none is.
    #[pyo3(signature = (*predicates))]
    fn branch(&self, predicates: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<KStream>> {
        let mut split = self.inner.split();
        for (i, p) in predicates.into_iter().enumerate() {
            let f = UserFn::new(p)?;
            split = split.branch_as(format!("{i:06}"), move |k, v| f.test(&[k, Some(v)]));
        }
        // The names sort in the predicates' order.
        Ok(split
            .no_default_branch()
            .into_values()
            .map(|inner| KStream { inner })
            .collect())
    }

    /// Groups by the current key, for an aggregation; `key` and `value` are the formats
    /// of the repartition topic and the store.
    #[pyo3(signature = (key = "str", value = "json"))]
    fn group_by_key(&self, key: &str, value: &str) -> PyResult<KGroupedStream> {
        let (k, v) = serdes(key, value)?;
        Ok(KGroupedStream {
            inner: self.inner.group_by_key(Grouped::with(k, v)),
            key: k,
        })
    }

    /// Groups by `selector(key, value)`; always repartitions.
    #[pyo3(signature = (selector, key = "str", value = "json"))]
    fn group_by(
        &self,
        selector: Bound<'_, PyAny>,
        key: &str,
        value: &str,
    ) -> PyResult<KGroupedStream> {
        let (ks, vs) = serdes(key, value)?;
        let f = UserFn::new(selector)?;
        let grouped = self
            .inner
            .group_by(move |k, v| f.apply(&[k, Some(v)]), Grouped::with(ks, vs));
        Ok(KGroupedStream {
            inner: grouped,
            key: ks,
        })
    }

    /// Joins every record with the table's row of its key: `joiner(value, row)`. Records
    /// whose key has no row are dropped.
    fn join(&self, table: &KTable, joiner: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(joiner)?;
        Ok(KStream {
            inner: self
                .inner
                .join(&table.inner, move |v, t| f.apply(&[Some(v), Some(t)])),
        })
    }

    /// Joins every record with the table's row of its key, or None: `joiner(value, row)`.
    fn left_join(&self, table: &KTable, joiner: Bound<'_, PyAny>) -> PyResult<KStream> {
        let f = UserFn::new(joiner)?;
        Ok(KStream {
            inner: self
                .inner
                .left_join(&table.inner, move |v, t| f.apply(&[Some(v), t])),
        })
    }

    /// Runs a Processor API processor: `supplier()` (a class, say) makes one per task,
    /// with `init(context)`, `process(key, value)` and optionally `close()`; it reaches
    /// `stores` through `context.get_state_store(name)`. A later aggregation or join
    /// repartitions, since the processor may change keys.
    #[pyo3(signature = (supplier, stores = Vec::new()))]
    fn process(&self, supplier: Bound<'_, PyAny>, stores: Vec<String>) -> PyResult<KStream> {
        let supplier = UserFn::new(supplier)?;
        let names: Vec<&str> = stores.iter().map(String::as_str).collect();
        Ok(KStream {
            inner: self
                .inner
                .process(move || PyProcessor::supply(&supplier), &names),
        })
    }

    /// Writes every record to `topic`, encoded as `key` and `value`.
    #[pyo3(signature = (topic, key = "str", value = "json"))]
    fn to(&self, topic: &str, key: &str, value: &str) -> PyResult<()> {
        let (k, v) = serdes(key, value)?;
        self.inner.to(topic, Produced::with(k, v));
        Ok(())
    }
}

/// A stream grouped by key, ready to aggregate.
#[pyclass(unsendable, module = "kstreams")]
pub struct KGroupedStream {
    inner: kstreams::KGroupedStream<Obj, Obj>,
    key: PySerde,
}

#[pymethods]
impl KGroupedStream {
    /// Aggregates per window from here on: `TimeWindows.tumbling(...)`,
    /// `TimeWindows.hopping(...)` or `SessionWindows(...)`. `emit` is `"update"` (every
    /// change of a window, the default) or `"final"` (once, when the window closes).
    #[pyo3(signature = (windows, emit = "update"))]
    fn windowed_by(&self, windows: Windows, emit: &str) -> PyResult<WindowedKStream> {
        WindowedKStream::new(self.inner.clone(), self.key, windows, emit)
    }

    /// Records per key, in store `name` (queryable under that name).
    #[pyo3(signature = (name = None))]
    fn count(&self, name: Option<String>) -> KTable {
        // Counted in Rust and stored as Kafka's i64: Python is entered only to hand the
        // count on.
        let counts = self.inner.count(
            materialized(name)
                .with_key_serde(self.key)
                .with_value_serde(I64Serde),
        );
        KTable {
            inner: counts.map_values(|n| Obj::int(*n)),
        }
    }

    /// Combines values per key with `reducer(aggregate, value)`; the first value of a key
    /// is its first aggregate. Stored as JSON in store `name`.
    #[pyo3(signature = (reducer, name = None))]
    fn reduce(&self, reducer: Bound<'_, PyAny>, name: Option<String>) -> PyResult<KTable> {
        let f = UserFn::new(reducer)?;
        let m = materialized(name)
            .with_key_serde(self.key)
            .with_value_serde(PySerde(Format::Json));
        Ok(KTable {
            inner: self
                .inner
                .reduce(move |agg, v| f.apply(&[Some(&agg), Some(&v)]), m),
        })
    }

    /// Folds values per key with `aggregator(key, value, aggregate)`, starting from
    /// `initializer()`. Stored as JSON in store `name`.
    #[pyo3(signature = (initializer, aggregator, name = None))]
    fn aggregate(
        &self,
        initializer: Bound<'_, PyAny>,
        aggregator: Bound<'_, PyAny>,
        name: Option<String>,
    ) -> PyResult<KTable> {
        let init = UserFn::new(initializer)?;
        let f = UserFn::new(aggregator)?;
        let m = materialized(name)
            .with_key_serde(self.key)
            .with_value_serde(PySerde(Format::Json));
        Ok(KTable {
            inner: self.inner.aggregate(
                move || init.apply(&[]),
                move |k, v, agg| f.apply(&[Some(k), Some(&v), Some(&agg)]),
                m,
            ),
        })
    }
}

/// A table: the latest value per key.
#[pyclass(unsendable, module = "kstreams")]
pub struct KTable {
    pub(crate) inner: Table,
}

#[pymethods]
impl KTable {
    /// The table's changes as a stream; a deleted row arrives as value None.
    fn to_stream(&self) -> KStream {
        KStream {
            inner: self.inner.to_stream().map_values(|v| match v {
                Some(v) => v,
                None => Obj::none(),
            }),
        }
    }

    /// The rows for which `predicate(key, value)` is true.
    fn filter(&self, predicate: Bound<'_, PyAny>) -> PyResult<KTable> {
        let f = UserFn::new(predicate)?;
        Ok(KTable {
            inner: self.inner.filter(move |k, v| f.test(&[Some(k), Some(v)])),
        })
    }

    /// Every row's value replaced by `f(value)`.
    fn map_values(&self, f: Bound<'_, PyAny>) -> PyResult<KTable> {
        let f = UserFn::new(f)?;
        Ok(KTable {
            inner: self.inner.map_values(move |v| f.apply(&[Some(v)])),
        })
    }
}
