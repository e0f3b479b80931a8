//! Serving an axum router from a thread of its own (a current-thread tokio runtime), for
//! the records endpoints that are not kstreams': metrics-agg's Prometheus totals and the
//! dashboard.

use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Binds `listen` now (so a taken port is an error here), then serves `app` on a thread
/// called `name` until `stop` is set, answering what is open before it returns.
pub fn spawn(
    listen: &str,
    app: Router,
    name: &str,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let label = name.to_string();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("{label} on {addr}: {e}");
                        return;
                    }
                };
                let stopped = async move {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::error!("{label} on {addr}: {e}");
                }
            })
        })?;
    Ok((addr, thread))
}
