//! Time windows: how records are grouped into them ([`spec`]), and windows as keys
//! ([`keys`]).

mod keys;
mod spec;

pub(crate) use keys::{SessionStoreSerde, StartFirstSerde};
pub use keys::{SessionWindowedSerde, Window, Windowed, WindowedSerde};
pub use spec::{JoinWindows, SessionWindows, SlidingWindows, TimeWindows};
