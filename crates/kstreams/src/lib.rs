//! # kstreams
//!
//! Stream processing on Apache Kafka, in the spirit of Kafka Streams: a typed DSL
//! ([`KStream`], [`KTable`], grouping, aggregation, joins), a [`processor`] API, [`serde`]s,
//! [`state`] stores, and tasks that run the same way under the test driver
//! (`kstreams-testkit`) and against a broker.
//!
//! ```
//! use kstreams::{Consumed, Produced, StreamsBuilder};
//! use kstreams::serde::StringSerde;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("text-input", Consumed::with(StringSerde, StringSerde))
//!     .filter(|_, text| text.contains('a'))
//!     .map_values(|text| text.to_uppercase())
//!     .to("text-output", Produced::with(StringSerde, StringSerde));
//! println!("{}", builder.build().unwrap().describe());
//! ```
//!
//! Where kstreams differs from Kafka Streams, the item's documentation says so. The main
//! differences: null keys are `Option`s on the record, null values exist only where a
//! serde says so ([`serde::Nullable`]), and punctuation is a trait method rather than a
//! closure.
#![warn(missing_docs)]

pub mod dsl;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod processor;
pub mod runtime;
pub mod serde;
pub mod state;
pub mod topology;
mod time;

pub use dsl::{
    BranchedKStream, Consumed, Grouped, KGroupedStream, KGroupedTable, KStream, KTable,
    Materialized, Produced, Repartitioned, StreamsBuilder, TimeWindowedKStream, TimeWindows,
    Windowed,
};
pub use error::{Result, StreamsError, TopologyError};
pub use topology::Topology;
