//! Log lines kept in memory, for tests that check what was logged (a warning's wording, a
//! secret that must never appear).
//!
//! ```
//! use kstreams_testkit::logs::CapturedLogs;
//!
//! let logs = CapturedLogs::default();
//! let writer = logs.clone();
//! let subscriber = tracing_subscriber::fmt()
//!     .with_ansi(false)
//!     .with_writer(move || writer.clone())
//!     .finish();
//! tracing::subscriber::with_default(subscriber, || tracing::warn!("partition 3 lags"));
//! assert!(logs.text().contains("WARN"));
//! assert!(logs.text().contains("partition 3 lags"));
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `tracing_subscriber` writer that keeps every line; clones share one buffer.
#[derive(Clone, Default)]
pub struct CapturedLogs {
    lines: Arc<Mutex<Vec<u8>>>,
    tee: bool,
}

impl CapturedLogs {
    /// A capture that also writes every line to stderr, for a test whose logs should stay
    /// visible in its output.
    pub fn teeing_to_stderr() -> Self {
        CapturedLogs {
            tee: true,
            ..Self::default()
        }
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&lines).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        if self.tee {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
