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
//! closure. Most applications need one import, [`prelude`].
//!
//! The guide below is also the crate's `README.md`.
//!
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod dsl;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod internals;
pub mod processor;
pub mod runtime;
pub mod serde;
pub mod state;
mod time;
pub mod topology;

pub use dsl::{
    BranchedKStream, CogroupedKStream, Consumed, EmitStrategy, GlobalKTable, Grouped, JoinWindows,
    KGroupedStream, KGroupedTable, KStream, KTable, Materialized, Produced, Repartitioned,
    SessionWindowedKStream, SessionWindows, SlidingWindows, StreamJoined, StreamsBuilder,
    Suppressed, TimeWindowedKStream, TimeWindows, Window, Windowed,
};
pub use error::{Result, StreamsError, TopologyError};
pub use runtime::kafka::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
pub use topology::Topology;

/// The names most applications need, in one import.
///
/// ```
/// use kstreams::prelude::*;
/// use std::time::Duration;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("clicks", Consumed::with(StringSerde, StringSerde))
///     .group_by_key(Grouped::with(StringSerde, StringSerde))
///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
///     .count(Materialized::named("clicks-per-minute"));
/// let topology: Topology = builder.build()?;
/// let config = StreamsConfig::new("clicks", "localhost:9092");
/// let _streams = KafkaStreams::new(topology, config);
/// # Ok::<(), StreamsError>(())
/// ```
pub mod prelude {
    pub use crate::processor::{Processor, ProcessorContext, Record};
    pub use crate::serde::{
        BytesSerde, F64Serde, I32Serde, I64Serde, JsonSerde, Nullable, Serde, StringSerde, U64Serde,
    };
    pub use crate::{
        Consumed, GlobalKTable, Grouped, JoinWindows, KGroupedStream, KGroupedTable, KStream,
        KTable, KafkaStreams, Materialized, ProcessingGuarantee, Produced, SessionWindows,
        SlidingWindows, State, StreamJoined, StreamsBuilder, StreamsConfig, StreamsError,
        Suppressed, TimeWindows, Topology, Windowed,
    };
}
