//! Supervising stream threads: what they share, spawning them, catching their panics, and
//! what happens when one fails (replace it after a backoff, or shut the client down), as
//! the uncaught-exception handler decides.

use super::*;

/// What every stream thread of an instance shares.
#[derive(Clone)]
pub(crate) struct Env {
    pub(crate) topology: Arc<Topology>,
    pub(crate) config: Arc<StreamsConfig>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) partitions: Arc<super::FastMap<String, u32>>,
    pub(crate) database: Option<Arc<crate::state::FjallDatabase>>,
    pub(crate) cache_budget: Arc<crate::state::CacheBudget>,
    pub(crate) globals: Option<Arc<crate::topology::GlobalStores>>,
    /// Exactly-once: the instance's process id, part of every transactional id.
    pub(crate) process_id: Option<Arc<str>>,
}

/// Stream threads replaced within this window count towards the configured limit
/// (`StreamsConfig::max_thread_replacements`).
pub(super) const REPLACEMENT_WINDOW: Duration = Duration::from_secs(600);

/// Runs `body` and turns a panic into [`StreamsError::ThreadPanicked`]: a panic outside
/// record processing and processors' `init` and `close` (which the task catches itself),
/// say in a client callback or a state listener, must reach the uncaught-exception handler
/// like any other failure, not end the thread silently.
pub(crate) fn catch_thread_panic(name: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(StreamsError::ThreadPanicked {
            thread: name.to_string(),
            message: crate::processor::panic_message(&*payload),
        })
    })
}

/// What the client does about a failed thread: the handler's answer, or shutting down.
fn respond(shared: &Shared, e: &StreamsError) -> StreamThreadExceptionResponse {
    lock(&shared.handler)
        .as_ref()
        .map_or(StreamThreadExceptionResponse::ShutdownClient, |h| h(e))
}

/// The global thread failed: the handler hears of it, and the client stops whatever it
/// answers, since a global thread cannot be replaced.
pub(crate) fn global_thread_failed(shared: &Shared, e: &StreamsError) {
    let _ = respond(shared, e);
    shut_down_on_error(shared);
}

fn shut_down_on_error(shared: &Shared) {
    shared.set_state(State::PendingError);
    shared.running.store(false, Ordering::Release);
    // Threads stop at their next loop turn; whoever waits in close() or
    // wait_for_shutdown_signal() sees the error state.
    shared.set_state(State::Error);
}

pub(super) fn spawn_thread(
    env: Env,
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
    next: Arc<AtomicUsize>,
) {
    let index = next.fetch_add(1, Ordering::Relaxed);
    env.shared
        .thread_phase(index, ThreadPhase::Rebalancing, Vec::new());
    let h2 = handles.clone();
    let name = format!("{}-StreamThread-{index}", env.config.application_id);
    let thread_name = name.clone();
    let handle = std::thread::Builder::new().name(name).spawn(move || {
        let shared = env.shared.clone();
        let result = catch_thread_panic(&thread_name, || thread::run(index, env.clone()));
        let Err(e) = result else {
            return;
        };
        // A panic skipped the thread's own last words.
        shared.thread_phase(index, ThreadPhase::Dead, Vec::new());
        shared.failed_threads.fetch_add(1, Ordering::Relaxed);
        tracing::error!(thread = index, "stream thread failed: {e}");
        match respond(&shared, &e) {
            StreamThreadExceptionResponse::ReplaceThread if shared.is_running() => {
                match shared.replacement_backoff(&env.config) {
                    Ok(backoff) => {
                        tracing::info!(
                            thread = index,
                            "replacing the failed stream thread in {backoff:?}"
                        );
                        let deadline = crate::time::deadline(backoff);
                        while shared.is_running() && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        if shared.is_running() {
                            spawn_thread(env, h2, next);
                        }
                    }
                    Err(replacements) => {
                        let e = StreamsError::TooManyReplacements {
                            replacements,
                            window: REPLACEMENT_WINDOW,
                            last: e.to_string(),
                        };
                        tracing::error!("{e}");
                        shut_down_on_error(&shared);
                    }
                }
            }
            StreamThreadExceptionResponse::ReplaceThread => {}
            StreamThreadExceptionResponse::ShutdownClient
            | StreamThreadExceptionResponse::ShutdownApplication => shut_down_on_error(&shared),
        }
    });
    match handle {
        Ok(h) => lock(&handles).push(h),
        Err(e) => tracing::error!("cannot spawn stream thread: {e}"),
    }
}
