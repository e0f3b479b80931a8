//! Python bindings of kstreams: data scientists write the topology and its functions in
//! Python; kstreams' Rust runtime does the Kafka I/O, serdes, state stores, changelogs,
//! commits, exactly-once and rebalances. Imported as `kstreams` (this module is
//! `kstreams._kstreams`; `python/kstreams` re-exports it with type stubs).

mod app;
mod driver;
mod dsl;
mod handlers;
mod object;
mod processor;
mod testing;
mod windows;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _kstreams(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The runtime's warnings and errors (a failed commit, a record skipped by the
    // handler) go to stderr, filtered by RUST_LOG (default: warn). A host process that
    // installed its own subscriber keeps it.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    m.add_class::<dsl::StreamsBuilder>()?;
    m.add_class::<dsl::KStream>()?;
    m.add_class::<dsl::KGroupedStream>()?;
    m.add_class::<dsl::KTable>()?;
    m.add_class::<windows::TimeWindows>()?;
    m.add_class::<windows::SessionWindows>()?;
    m.add_class::<windows::WindowedKStream>()?;
    m.add_class::<windows::WindowedKTable>()?;
    m.add_class::<processor::PyContext>()?;
    m.add_class::<processor::KeyValueStoreHandle>()?;
    m.add_class::<app::App>()?;
    m.add_class::<driver::TestDriver>()?;
    m.add_class::<testing::EmbeddedBroker>()?;
    m.add_function(wrap_pyfunction!(testing::create_topics_at, m)?)?;
    m.add_function(wrap_pyfunction!(testing::produce, m)?)?;
    m.add_function(wrap_pyfunction!(testing::consume, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
