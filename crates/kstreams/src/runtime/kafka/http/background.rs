//! A thread of the instance's HTTP side (the server, the status thread, the log
//! shipper, a status watcher) that runs until asked to stop, and is joined then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A named thread given a stop flag to watch; [`stop`](Self::stop) (or drop) sets the
/// flag and waits for the thread to finish what it does on the way out.
pub(crate) struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Spawns `run` on a thread called `name`; it returns once the flag it gets is set.
    pub(crate) fn spawn(
        name: String,
        run: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
    ) -> std::io::Result<Background> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(flag))?;
        Ok(Background {
            stop,
            thread: Some(thread),
        })
    }

    /// Sets the flag and waits for the thread.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `flag` was set.
pub(crate) fn stopped(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}
