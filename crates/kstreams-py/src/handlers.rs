//! What happens to a record whose user code raised: the `on_error` choice of `App` and
//! `TestDriver`, mapped onto kstreams' processing handlers.

use kstreams::processor::{DeadLetter, LogAndContinue, LogAndFail, ProcessingExceptionHandler};
use pyo3::exceptions::PyValueError;
use pyo3::PyResult;

/// The processing handler named `on_error`: `"fail"` (stop, the default, as Kafka
/// Streams), `"continue"` (log, count and skip) or `"dead_letter"` (send the input record
/// with the traceback in its headers to the dead-letter topic, then skip).
pub enum OnError {
    /// Kafka Streams' `LogAndFailProcessingExceptionHandler`.
    Fail,
    /// Kafka Streams' `LogAndContinueProcessingExceptionHandler`.
    Continue,
    /// KIP-1034's dead-letter queue.
    DeadLetter,
}

impl OnError {
    /// Parses the user's choice.
    pub fn parse(name: &str) -> PyResult<OnError> {
        match name {
            "fail" => Ok(OnError::Fail),
            "continue" => Ok(OnError::Continue),
            "dead_letter" => Ok(OnError::DeadLetter),
            other => Err(PyValueError::new_err(format!(
                "unknown on_error {other:?}: expected \"fail\", \"continue\" or \"dead_letter\""
            ))),
        }
    }

    /// Checks that a dead-letter choice has its topic.
    pub fn check(&self, dead_letter_topic: Option<&str>) -> PyResult<()> {
        match (self, dead_letter_topic) {
            (OnError::DeadLetter, None) => Err(PyValueError::new_err(
                "on_error=\"dead_letter\" needs dead_letter_topic",
            )),
            _ => Ok(()),
        }
    }

    /// Applies the choice through `set`, which takes any handler.
    pub fn apply<T>(&self, t: T, set: impl Applier<T>) -> T {
        match self {
            OnError::Fail => set.apply(t, LogAndFail),
            OnError::Continue => set.apply(t, LogAndContinue),
            OnError::DeadLetter => set.apply(t, DeadLetter),
        }
    }
}

/// A setter generic over the handler type (a closure cannot be).
pub trait Applier<T> {
    /// Sets `h` on `t`.
    fn apply<H: ProcessingExceptionHandler>(self, t: T, h: H) -> T;
}
