//! Webhook delivery on the embedded cluster against a tiny axum server that records every
//! request and answers by a script: retries until 2xx with the same Idempotency-Key and a
//! commit only after success; a notification refused with 4xx is given up after the cap
//! (logged, counted, committed) and the next one still goes out; a server that never
//! answers times out and is retried; a header with a line break is refused at start-up;
//! and `records notify --webhook` runs the deliverer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use kstreams_testkit::logs::CapturedLogs;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use records::model::Notification;
use records::topics::{self, Cluster};
use records::webhook::{self, Deliveries, Webhook, WebhookConfig, WebhookError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How the server answers one request.
#[derive(Clone)]
enum Reply {
    Status(u16),
    /// Holds the answer until the flag is set.
    After(Arc<AtomicBool>, u16),
    /// Never answers.
    Hang,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    key: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The answer to the `n`th request (from 1) with idempotency key `key`.
type Script = Arc<dyn Fn(&str, usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
}

impl Receiver {
    fn requests(&self, key: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.key == key)
            .cloned()
            .collect()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let n = {
        let mut seen = r.seen.lock().unwrap();
        seen.push(Seen {
            key: key.clone(),
            headers,
            body: body.to_vec(),
        });
        seen.iter().filter(|s| s.key == key).count()
    };
    let status = match (r.script)(&key, n) {
        Reply::Status(s) => s,
        Reply::After(flag, s) => {
            while !flag.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            s
        }
        Reply::Hang => std::future::pending::<u16>().await,
    };
    StatusCode::from_u16(status).unwrap()
}

/// Starts the receiver on its own thread; returns its URL.
fn start_receiver(
    script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static,
) -> (String, Receiver) {
    let r = Receiver {
        seen: Arc::default(),
        script: Arc::new(script),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{addr}/hook"), r)
}

/// Everything written by `tracing` in this test binary.
fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

fn notification(id: &str) -> Vec<u8> {
    serde_json::to_vec(&Notification {
        notification_id: id.into(),
        customer_id: "c1".into(),
        detector: "velocity".into(),
        message: "many operations".into(),
        record_id: format!("r-{id}"),
        sent_ms: 0,
    })
    .unwrap()
}

/// An embedded cluster with the platform's topics (one partition) and `ids` as
/// notifications, in order.
fn cluster_with(ids: &[&str]) -> Cluster {
    let cluster = Cluster::embedded().unwrap();
    topics::create_all(cluster.admin(), 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .unwrap();
    for id in ids {
        producer
            .send(
                BaseRecord::to(topics::NOTIFICATIONS)
                    .key("c1")
                    .payload(&notification(id)),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    cluster
}

/// The offset `group` committed on `notifications` partition 0.
fn committed(bootstrap: &str, group: &str) -> Offset {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topics::NOTIFICATIONS, 0);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.find_partition(topics::NOTIFICATIONS, 0)
        .map_or(Offset::Invalid, |p| p.offset())
}

/// A config for tests: quick backoff, its own group.
fn config(url: &str) -> WebhookConfig {
    let mut c = WebhookConfig::new(url);
    c.initial_backoff = Duration::from_millis(10);
    c.max_backoff = Duration::from_millis(50);
    c.group_id = topics::unique("webhook-test");
    c
}

/// Polls `done` until it holds or 60 s have passed; whether it held.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if std::thread::panicking() {
            // A failed test: do not wait on a deliverer that may be stuck.
            return;
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn deliver(cluster: &Cluster, config: WebhookConfig, counters: &Arc<Deliveries>) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let hook = Webhook::new(config).unwrap();
    let thread = webhook::spawn(cluster.bootstrap(), hook, counters.clone(), stop.clone()).unwrap();
    Running {
        stop,
        thread: Some(thread),
    }
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

#[test]
fn server_errors_are_retried_until_delivered_and_committed_after() {
    let release = Arc::new(AtomicBool::new(false));
    let gate = release.clone();
    let (url, receiver) = start_receiver(move |_, n| match n {
        1 | 2 => Reply::Status(500),
        _ => Reply::After(gate.clone(), 200),
    });
    let cluster = cluster_with(&["a-1"]);
    let mut cfg = config(&url);
    cfg.headers.push(("X-A".into(), "b".into()));
    let group = cfg.group_id.clone();
    let counters = Arc::new(Deliveries::default());
    let _running = deliver(&cluster, cfg, &counters);

    // Two 500s, then the third attempt is held by the server.
    assert!(eventually(|| receiver.requests("a-1").len() == 3));
    assert_eq!(load(&counters.retries), 2);
    assert_eq!(load(&counters.delivered), 0);
    assert_eq!(
        committed(cluster.bootstrap(), &group),
        Offset::Invalid,
        "nothing is committed before the endpoint accepted"
    );
    release.store(true, Ordering::Relaxed);
    assert!(eventually(
        || committed(cluster.bootstrap(), &group) == Offset::Offset(1)
    ));
    assert_eq!(load(&counters.delivered), 1);
    assert_eq!(load(&counters.rejected), 0);
    let seen = receiver.requests("a-1");
    assert_eq!(seen.len(), 3, "delivered once: no attempt after the 200");
    for s in &seen {
        assert_eq!(s.headers["idempotency-key"], "a-1");
        assert_eq!(s.headers["content-type"], "application/json");
        assert_eq!(s.headers["x-a"], "b");
        let n: Notification = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(n.notification_id, "a-1");
    }
}

#[test]
fn a_refused_notification_is_rejected_after_the_cap_and_the_next_is_delivered() {
    let logs = logs();
    let (url, receiver) = start_receiver(|key, _| match key {
        "b-refused" => Reply::Status(400),
        _ => Reply::Status(200),
    });
    let cluster = cluster_with(&["b-refused", "b-next"]);
    let cfg = config(&url);
    let group = cfg.group_id.clone();
    let counters = Arc::new(Deliveries::default());
    let _running = deliver(&cluster, cfg, &counters);

    assert!(eventually(
        || committed(cluster.bootstrap(), &group) == Offset::Offset(2)
    ));
    assert_eq!(
        receiver.requests("b-refused").len(),
        3,
        "the cap is 3 attempts"
    );
    assert_eq!(receiver.requests("b-next").len(), 1);
    assert_eq!(load(&counters.rejected), 1);
    assert_eq!(load(&counters.delivered), 1);
    assert_eq!(load(&counters.retries), 2);
    let counters_reported: HashMap<String, u64> = counters
        .counters()
        .into_iter()
        .map(|(n, f)| (n, f()))
        .collect();
    assert_eq!(counters_reported["webhook_rejected"], 1);
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("b-refused"))
        .unwrap_or_else(|| panic!("no error line for b-refused in:\n{text}"));
    for part in ["notifications", "partition=0", "offset=0", "status 400"] {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }
}

#[test]
fn a_server_that_never_answers_times_out_and_is_retried() {
    let (url, receiver) = start_receiver(|key, n| match (key, n) {
        ("c-direct", _) | ("c-1", 1) => Reply::Hang,
        _ => Reply::Status(200),
    });
    let mut cfg = config(&url);
    cfg.timeout = Duration::from_millis(300);

    // One attempt on its own: a timeout, which is retried. (On a thread, so that a client
    // without the timeout fails this test instead of hanging it.)
    let hook = Webhook::new(cfg.clone()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(hook.post("c-direct", b"{}")));
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Err(e @ WebhookError::Timeout { .. })) => assert!(e.is_transient()),
        other => panic!("expected a timeout, got {other:?}"),
    }

    let cluster = cluster_with(&["c-1"]);
    let group = cfg.group_id.clone();
    let counters = Arc::new(Deliveries::default());
    let _running = deliver(&cluster, cfg, &counters);
    assert!(eventually(
        || committed(cluster.bootstrap(), &group) == Offset::Offset(1)
    ));
    assert_eq!(receiver.requests("c-1").len(), 2);
    assert_eq!(load(&counters.delivered), 1);
    assert_eq!(load(&counters.retries), 1);
}

#[test]
fn a_header_with_a_line_break_is_refused_at_start_up() {
    let mut cfg = WebhookConfig::new("http://127.0.0.1:9/hook");
    cfg.headers
        .push(("X-A".into(), "b\r\nX-Injected: 1".into()));
    match Webhook::new(cfg) {
        Err(WebhookError::Header { name, reason }) => {
            assert_eq!(name, "X-A");
            assert!(reason.contains("CR or LF"), "{reason}");
        }
        other => panic!("expected a header error, got {other:?}"),
    }
    // The process refuses it before connecting to anything (nothing listens on port 9).
    let mut child = Command::new(env!("CARGO_BIN_EXE_records"))
        .args(["notify", "--bootstrap", "127.0.0.1:9", "--webhook"])
        .args(["http://127.0.0.1:9/hook", "--webhook-header"])
        .arg("X-A: b\r\nX-Injected: 1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = eventually(|| matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(exited, "records notify did not exit");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("webhook header \"X-A\": contains a CR or LF"),
        "{stderr}"
    );
    assert!(!stderr.contains("X-Injected"), "{stderr}");
}

#[test]
fn records_notify_with_a_webhook_delivers_the_notifications() {
    let (url, receiver) = start_receiver(|_, _| Reply::Status(200));
    let cluster = cluster_with(&["d-1", "d-2"]);
    // The embedded cluster has no CreateTopics: notify's changelogs are made here.
    let topology = records::notify::topology(Default::default(), Arc::default()).unwrap();
    topics::create_internal(cluster.admin(), &topology, "records-notify", 1, false).unwrap();
    let dir = std::env::temp_dir().join(topics::unique("records-webhook-notify"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_records"))
        .args([
            "notify",
            "--bootstrap",
            cluster.bootstrap(),
            "--partitions",
            "1",
        ])
        .args(["--instance", "webhook-test", "--state-dir"])
        .arg(&dir)
        .args(["--webhook", &url, "--webhook-header", "X-Tenant: t1"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let delivered =
        eventually(|| receiver.requests("d-1").len() == 1 && receiver.requests("d-2").len() == 1);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopped = eventually(|| matches!(child.try_wait(), Ok(Some(_))));
    if !stopped {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(delivered, "seen: {:?}", receiver.seen.lock().unwrap());
    assert!(stopped, "records notify did not stop on SIGTERM");
    assert!(status.success(), "{status}");
    assert_eq!(receiver.requests("d-1")[0].headers["x-tenant"], "t1");
}
