//! The instance's HTTP endpoints (feature `http`), served by axum on a thread of its own
//! once [`StreamsConfig::http_listener`] is set:
//!
//! | path | answers |
//! |---|---|
//! | `/health` | 200 while the client is alive; 503 once it stopped or failed |
//! | `/ready` | 200 when `RUNNING`, else 503; the body names the state |
//! | `/metrics` | Prometheus text, Kafka Streams' metric names ([`super::prometheus`]) |
//! | `/topology` | the topology as JSON; `/topology.txt` as Kafka Streams prints it |
//! | `/state` | [`LocalState`](super::introspect::LocalState) as JSON |
//! | `/stores/{store}/{key}` | an interactive query ([`KafkaStreams::query_json`]) |
//!
//! A store query answers `{"key": …, "value": …}`. Errors are JSON too,
//! `{"code": …, "error": …}`, with the status telling what to do: 404 for an unknown,
//! unexposed store or a key without value (`NO_VALUE`), 400 for a key that does not parse,
//! 503 while the key's partition is restoring or not started (ask again), 421 when
//! another instance owns it (`NOT_HOSTED`), 500 when the store fails.
//!
//! [`KafkaStreams::query_json`]: super::KafkaStreams::query_json
//! [`StreamsConfig::http_listener`]: super::StreamsConfig::http_listener

use super::inspect::{Inspector, QueryError};
use super::State;
use axum::extract::{Path, State as Extract};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The running server: stopped by [`HttpServer::stop`].
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `addr` now (a taken port is an error here) and serves from a new thread.
    pub(crate) fn start(addr: &str, inspector: Inspector) -> std::io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        // One thread for the connections; reading stores and the threads' reports may
        // block on a lock, so that runs on (at most two) blocking threads.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(2)
            .build()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let app = router(inspector.clone());
        let name = format!("{}-http", inspector.config.application_id);
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("http on {local}: {e}");
                        return;
                    }
                };
                let shutdown = async move {
                    while !stopped.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::error!("http on {local}: {e}");
                }
            })
        })?;
        tracing::info!("serving http on {local}");
        Ok(HttpServer {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address (with the port chosen when `:0` was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, answers what is open, and waits for the thread.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn router(inspector: Inspector) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/topology", get(topology))
        .route("/topology.txt", get(topology_text))
        .route("/state", get(state))
        .route("/stores/{store}/{key}", get(store))
        .with_state(inspector)
}

const JSON: &str = "application/json";

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, JSON)], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Runs `f` off the runtime's only thread: it takes locks the stream threads hold.
async fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn state_body(s: State) -> serde_json::Value {
    serde_json::json!({ "state": s })
}

async fn health(Extract(i): Extract<Inspector>) -> Response {
    let s = i.state();
    let alive = !matches!(s, State::NotRunning | State::PendingError | State::Error);
    let status = if alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &state_body(s))
}

async fn ready(Extract(i): Extract<Inspector>) -> Response {
    let s = i.state();
    let status = if s == State::Running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &state_body(s))
}

async fn metrics(Extract(i): Extract<Inspector>) -> Response {
    blocking(move || {
        let body = super::prometheus::render(&i.local_state());
        (
            [(header::CONTENT_TYPE, super::prometheus::CONTENT_TYPE)],
            body,
        )
            .into_response()
    })
    .await
}

async fn topology(Extract(i): Extract<Inspector>) -> Response {
    json(StatusCode::OK, &i.topology.describe())
}

async fn topology_text(Extract(i): Extract<Inspector>) -> Response {
    i.topology.describe().to_string().into_response()
}

async fn state(Extract(i): Extract<Inspector>) -> Response {
    blocking(move || json(StatusCode::OK, &i.local_state())).await
}

async fn store(
    Extract(i): Extract<Inspector>,
    Path((store, key)): Path<(String, String)>,
) -> Response {
    blocking(move || match i.query_json(&store, &key) {
        Ok(Some(value)) => json(
            StatusCode::OK,
            &serde_json::json!({ "key": key, "value": value }),
        ),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "NO_VALUE",
            format!("store {store:?} has no value for {key:?}"),
        ),
        Err(e) => {
            let (status, code) = match &e {
                QueryError::UnknownStore { .. } => (StatusCode::NOT_FOUND, "UNKNOWN_STORE"),
                QueryError::NotExposed { .. } => (StatusCode::NOT_FOUND, "NOT_EXPOSED"),
                QueryError::BadKey { .. } => (StatusCode::BAD_REQUEST, "BAD_KEY"),
                QueryError::NotHosted { .. } => (StatusCode::MISDIRECTED_REQUEST, "NOT_HOSTED"),
                QueryError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "STORE_ERROR"),
            };
            error(status, code, e.to_string())
        }
    })
    .await
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    json(
        status,
        &serde_json::json!({ "code": code, "error": message }),
    )
}
