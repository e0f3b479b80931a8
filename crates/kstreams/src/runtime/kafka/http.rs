//! The instance's HTTP endpoints (feature `http`), served by axum on a thread of its own
//! once [`StreamsConfig::http_listener`] is set:
//!
//! | path | answers |
//! |---|---|
//! | `/` | the web page: topology graph, instances, tasks, stores, errors, logs, queries |
//! | `/health` | 200 while the client is alive; 503 once it stopped or failed |
//! | `/ready` | 200 when `RUNNING`, else 503; the body names the state |
//! | `/metrics` | Prometheus text, Kafka Streams' metric names ([`super::prometheus`]) |
//! | `/topology` | the topology as JSON; `/topology.txt` as Kafka Streams prints it |
//! | `/state` | [`LocalState`](super::introspect::LocalState) as JSON |
//! | `/cluster` | every instance of the application, from the status topic ([`status`]) |
//! | `/logs` | the latest events of every instance, from the log topic ([`logs`]) |
//! | `/stores/{store}/{key}` | an interactive query, asked of the key's owner ([`KafkaStreams::query_key`]) |
//!
//! A store query answers `{"key": …, "value": …}`. Errors are JSON too,
//! `{"code": …, "error": …}`, with the status telling what to do: 404 for an unknown,
//! unexposed store or a key without value (`NO_VALUE`), 400 for a key that does not parse,
//! 503 while the key's task is restoring, moving (`REBALANCING`) or not started (ask
//! again), 502 when its owner does not answer, 500 when the store fails. A forwarded query
//! (header `kstreams-forwarded`) is answered from this instance's copy only: 421
//! `NOT_HOSTED` when it does not own the key.
//!
//! [`KafkaStreams::query_key`]: super::KafkaStreams::query_key
//! [`StreamsConfig::http_listener`]: super::StreamsConfig::http_listener

mod background;
pub mod logs;
mod routing;
pub mod status;

use super::inspect::{Inspector, QueryError};
use super::State;
use axum::extract::{Path, State as Extract};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use background::{stopped, Background};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The topics an application whose instances serve HTTP needs besides its own internal
/// ones: the status topic (compacted) and the log topic, one partition each.
/// `KafkaStreams::start` creates them on a real cluster; on the embedded one, create them
/// with the internal topics.
pub fn operational_topics(application_id: &str) -> Vec<crate::topology::InternalTopic> {
    vec![
        crate::topology::InternalTopic {
            name: status::status_topic(application_id),
            partitions: 1,
            compacted: true,
            retention_ms: None,
        },
        crate::topology::InternalTopic {
            name: logs::log_topic(application_id),
            partitions: 1,
            compacted: false,
            retention_ms: None,
        },
    ]
}

/// The id of the instance whose state directory `config` names, created on first need:
/// the same id in the status topic, in shipped logs, and (under exactly-once) in
/// `transactional.id`.
pub(crate) fn instance_id(config: &super::StreamsConfig) -> crate::error::Result<String> {
    let config_error = |what: String| crate::error::StreamsError::Config(what);
    let app_dir = config.state_dir.join(&config.application_id);
    for dir in [&config.state_dir, &app_dir] {
        super::private_files::ensure_private_dir(dir)
            .map_err(|e| config_error(format!("state directory {}: {e}", dir.display())))?;
    }
    super::process_id::load_or_create(&app_dir).map_err(|e| {
        config_error(format!(
            "cannot keep the instance id under {}: {e}",
            app_dir.display()
        ))
    })
}

/// What the endpoints read: the instance, and the application's other instances.
#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) inspector: Inspector,
    pub(crate) directory: Arc<status::Directory>,
    pub(crate) logs: Arc<logs::LogTail>,
    pub(crate) instance_id: Arc<str>,
}

impl Node {
    /// The value of `key` in `store`, from whichever instance owns it.
    pub(crate) fn query_key(
        &self,
        store: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, QueryError> {
        routing::query_key(
            &self.inspector,
            &self.directory,
            &self.instance_id,
            store,
            key,
        )
    }

    /// Every instance: this one as it is now, the others as they last published.
    pub(crate) fn instances(&self, http_address: Option<String>) -> Vec<status::InstanceStatus> {
        let mut all: Vec<status::InstanceStatus> = self
            .directory
            .instances()
            .into_iter()
            .filter(|i| *i.instance_id != *self.instance_id)
            .collect();
        all.push(status::InstanceStatus {
            instance_id: self.instance_id.to_string(),
            http_address,
            updated_ms: status::now_ms(),
            stale: false,
            state: serde_json::to_value(self.inspector.local_state()).unwrap_or_default(),
        });
        all.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        all
    }
}

/// The running server and the status thread: stopped by [`HttpServer::stop`].
pub(crate) struct HttpServer {
    addr: SocketAddr,
    /// Where others reach this instance.
    advertised: String,
    node: Node,
    server: Background,
    status: Option<Background>,
}

impl HttpServer {
    /// Binds `addr` now (a taken port is an error here) and serves from a new thread.
    /// Others reach it at `advertised`, else at the bound address (127.0.0.1 when bound
    /// to every interface).
    pub(crate) fn start(
        addr: &str,
        advertised: Option<&str>,
        node: Node,
    ) -> std::io::Result<HttpServer> {
        let inspector = node.inspector.clone();
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        // One thread for the connections; reading stores and the threads' reports may
        // block on a lock, and a query for another instance's key waits on that instance,
        // so those run on blocking threads: enough that queries forwarded both ways
        // between two instances, and scrapes, never all wait on each other.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(16)
            .build()?;
        let advertised = match advertised {
            Some(a) => a.to_string(),
            None if local.ip().is_unspecified() => format!("127.0.0.1:{}", local.port()),
            None => local.to_string(),
        };
        let app = router(App {
            node: node.clone(),
            advertised: advertised.clone().into(),
        });
        let name = format!("{}-http", inspector.config.application_id);
        let server = Background::spawn(name, move |stop| {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("http on {local}: {e}");
                        return;
                    }
                };
                let shutdown = async move {
                    while !stopped(&stop) {
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
            advertised,
            node,
            server,
            status: None,
        })
    }

    /// Serves `addr` for the instance of `config`, whose instance id is kept in its
    /// state directory (created here if needed).
    pub(crate) fn serve(
        addr: &str,
        config: &super::StreamsConfig,
        inspector: Inspector,
    ) -> crate::error::Result<HttpServer> {
        let instance_id = instance_id(config)?;
        let node = Node {
            inspector,
            directory: Arc::default(),
            logs: Arc::default(),
            instance_id: instance_id.into(),
        };
        HttpServer::start(addr, config.application_server.as_deref(), node).map_err(|e| {
            crate::error::StreamsError::Config(format!("cannot serve http on {addr}: {e}"))
        })
    }

    /// Starts publishing this instance's status and reading everyone's (once the status
    /// topic exists).
    pub(crate) fn start_status(
        &mut self,
        config: &super::StreamsConfig,
    ) -> crate::error::Result<()> {
        self.status = Some(status::start(
            config,
            self.node.inspector.clone(),
            self.node.instance_id.to_string(),
            Some(self.advertised.clone()),
            self.node.directory.clone(),
            self.node.logs.clone(),
        )?);
        Ok(())
    }

    pub(crate) fn node(&self) -> Node {
        self.node.clone()
    }

    pub(crate) fn advertised(&self) -> &str {
        &self.advertised
    }

    /// The bound address (with the port chosen when `:0` was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Publishes the departure, stops accepting, answers what is open, and waits for the
    /// threads.
    pub(crate) fn stop(&mut self) {
        if let Some(mut s) = self.status.take() {
            s.stop();
        }
        self.server.stop();
    }
}

/// The endpoints' state.
#[derive(Clone)]
struct App {
    node: Node,
    advertised: Arc<str>,
}

impl axum::extract::FromRef<App> for Inspector {
    fn from_ref(app: &App) -> Inspector {
        app.node.inspector.clone()
    }
}

/// The web page, embedded: no CDN, nothing to install.
const UI: [(&str, &str, &str); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("http/ui/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_str!("http/ui/app.js"),
    ),
    (
        "/ui/graph.js",
        "text/javascript; charset=utf-8",
        include_str!("http/ui/graph.js"),
    ),
    (
        "/ui/style.css",
        "text/css; charset=utf-8",
        include_str!("http/ui/style.css"),
    ),
];

fn router(app: App) -> Router {
    let mut router = Router::new();
    for (path, content_type, body) in UI {
        router = router.route(
            path,
            get(move || async move { ([(header::CONTENT_TYPE, content_type)], body) }),
        );
    }
    router
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/topology", get(topology))
        .route("/topology.txt", get(topology_text))
        .route("/state", get(state))
        .route("/cluster", get(cluster))
        .route("/logs", get(logs_tail))
        .route("/stores/{store}/{key}", get(store))
        .with_state(app)
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

async fn cluster(Extract(app): Extract<App>) -> Response {
    blocking(move || {
        let instances = app.node.instances(Some(app.advertised.to_string()));
        json(
            StatusCode::OK,
            &serde_json::json!({ "instances": instances }),
        )
    })
    .await
}

async fn logs_tail(Extract(app): Extract<App>) -> Response {
    blocking(move || {
        let body = serde_json::json!({
            "events": app.node.logs.events(),
            "dropped": logs::dropped_log_events(),
        });
        json(StatusCode::OK, &body)
    })
    .await
}

async fn store(
    Extract(app): Extract<App>,
    headers: HeaderMap,
    Path((store, key)): Path<(String, String)>,
) -> Response {
    let forwarded = headers.contains_key(routing::FORWARDED);
    blocking(move || {
        let answer = if forwarded {
            app.node.inspector.query_json(&store, &key)
        } else {
            app.node.query_key(&store, &key)
        };
        match answer {
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
                    QueryError::Unavailable { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
                    }
                    QueryError::Rebalancing { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "REBALANCING")
                    }
                    QueryError::Remote { .. } => (StatusCode::BAD_GATEWAY, "REMOTE_ERROR"),
                    _ => (StatusCode::INTERNAL_SERVER_ERROR, "STORE_ERROR"),
                };
                error(status, code, e.to_string())
            }
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
