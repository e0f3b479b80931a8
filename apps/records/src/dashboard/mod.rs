//! The records dashboard: the whole diamond (ingest, the detectors, notify) on one page,
//! with each role's instances, throughput, lag, alerts, CPU and memory.
//!
//! It reads nothing from the roles directly: every role that serves HTTP publishes its
//! state to its application's status topic (kstreams' built-in aggregation), and a
//! [`StatusWatcher`] reads them all. So the dashboard runs anywhere the broker is
//! reachable (`records dashboard --bootstrap B --listen ADDR`), and `records demo --http`
//! serves it beside the roles it runs.

use crate::detectors;
use crate::roles::INGEST_APPLICATION_ID;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use kstreams::runtime::kafka::http::status::{InstanceStatus, StatusWatcher};
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A role of the platform, as the dashboard draws it.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// `ingest`, the detector's name, or `notify`.
    pub name: String,
    /// `ingest`, `detector` or `notify`: its column in the diamond.
    pub stage: &'static str,
    /// Its application id.
    pub application_id: String,
}

/// Every role of the diamond, in drawing order.
pub fn roles() -> Vec<Role> {
    let mut roles = vec![Role {
        name: "ingest".into(),
        stage: "ingest",
        application_id: INGEST_APPLICATION_ID.into(),
    }];
    roles.extend(detectors::all().iter().map(|d| Role {
        name: d.name().to_string(),
        stage: "detector",
        application_id: detectors::application_id(d.as_ref()),
    }));
    roles.push(Role {
        name: "notify".into(),
        stage: "notify",
        application_id: "records-notify".into(),
    });
    roles
}

/// One instance of a role.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// Its instance id.
    pub instance_id: String,
    /// Where its own page answers.
    pub http_address: Option<String>,
    /// Not heard of lately.
    pub stale: bool,
    /// Its client state.
    pub state: String,
    /// Records its tasks processed (as of their last commit).
    pub processed: u64,
    /// Records its sinks sent (alerts, for a detector).
    pub produced: u64,
    /// Records behind on its input partitions.
    pub lag: i64,
    /// CPU seconds of its process.
    pub cpu_seconds: f64,
    /// Resident memory of its process.
    pub rss_bytes: u64,
}

/// A role and its instances.
#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    /// The role.
    #[serde(flatten)]
    pub role: Role,
    /// Its live and stale instances.
    pub instances: Vec<InstanceView>,
}

fn instance(s: &InstanceStatus) -> InstanceView {
    let st = &s.state;
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let lag = st["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["active_tasks"].as_array().into_iter().flatten())
        .flat_map(|t| t["partitions"].as_array().into_iter().flatten())
        .filter_map(|p| p["lag"].as_i64())
        .sum();
    InstanceView {
        instance_id: s.instance_id.clone(),
        http_address: s.http_address.clone(),
        stale: s.stale,
        state: st["state"].as_str().unwrap_or("UNKNOWN").to_string(),
        processed: u(&st["metrics"]["tasks"]["processed"]),
        produced: u(&st["metrics"]["tasks"]["produced"]),
        lag,
        cpu_seconds: st["process"]["cpu_seconds"].as_f64().unwrap_or(0.0),
        rss_bytes: u(&st["process"]["resident_memory_bytes"]),
    }
}

/// Every role with its instances, as the watcher last read them.
pub fn view(watcher: &StatusWatcher) -> Vec<RoleView> {
    roles()
        .into_iter()
        .map(|role| RoleView {
            instances: watcher
                .instances(&role.application_id)
                .iter()
                .map(instance)
                .collect(),
            role,
        })
        .collect()
}

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");

/// The dashboard, served until its stop flag is set.
pub struct Dashboard {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dashboard {
    /// Serves the dashboard of the platform on the cluster at `bootstrap` on `listen`.
    pub fn serve(bootstrap: &str, listen: &str) -> Result<Dashboard, Box<dyn std::error::Error>> {
        let apps: Vec<String> = roles().into_iter().map(|r| r.application_id).collect();
        let refs: Vec<&str> = apps.iter().map(String::as_str).collect();
        let watcher = Arc::new(StatusWatcher::start(bootstrap, &Default::default(), &refs)?);
        let app = Router::new()
            .route(
                "/",
                get(|| async { ([(CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
            )
            .route(
                "/dashboard.js",
                get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }),
            )
            .route(
                "/api/roles",
                get(move || {
                    let watcher = watcher.clone();
                    async move {
                        let body = serde_json::to_vec(&view(&watcher)).unwrap_or_default();
                        ([(CONTENT_TYPE, "application/json")], body).into_response()
                    }
                }),
            );
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, thread) = crate::serve::spawn(listen, app, "dashboard", stop.clone())?;
        Ok(Dashboard {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it answers.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
