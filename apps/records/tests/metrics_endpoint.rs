//! The Prometheus endpoint of metrics-agg on the embedded cluster: counters reported to
//! `metrics` come out summed over instances at `GET /metrics`; other paths are 404; the
//! server stops on its stop flag.

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use records::metrics::{self, PROMETHEUS_CONTENT_TYPE};
use records::roles::{self, RoleSettings};
use records::topics::{self, Cluster};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Status, content type and body of `GET url`.
fn get(agent: &ureq::Agent, url: &str) -> Result<(u16, String, String), ureq::Error> {
    let mut r = agent.get(url).call()?;
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = r.body_mut().read_to_string()?;
    Ok((r.status().as_u16(), content_type, body))
}

#[test]
fn metrics_endpoint_serves_the_totals_and_404_elsewhere() {
    let cluster = Cluster::embedded().unwrap();
    topics::create_all(cluster.admin(), 1).unwrap();
    let dir = std::env::temp_dir().join(topics::unique("records-metrics-test"));
    let settings = RoleSettings {
        bootstrap: cluster.bootstrap().to_string(),
        state_dir: dir.clone(),
        commit: Duration::from_millis(100),
        create_internal_topics: true,
        partitions: 1,
        instance: "test".into(),
        http: None,
        threads: 1,
    };
    let running = roles::metrics_agg(&settings, cluster.admin()).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .unwrap();
    // Two instances report `x`, one reports `y`.
    for (key, value) in [("a|x", 2.0f64), ("b|x", 3.0), ("a|y", 1.5)] {
        producer
            .send(
                BaseRecord::to(topics::METRICS)
                    .key(key)
                    .payload(&value.to_be_bytes()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let server =
        metrics::serve_prometheus("127.0.0.1:0", running.streams.clone(), stop.clone()).unwrap();
    let base = format!("http://{}", server.local_addr());
    let agent = client();
    let expected = [
        "# TYPE records_x gauge\nrecords_x 5\n",
        "# TYPE records_y gauge\nrecords_y 1.5\n",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let (status, content_type, body) = loop {
        let got = get(&agent, &format!("{base}/metrics")).unwrap();
        if expected.iter().all(|e| got.2.contains(e)) || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200);
    assert_eq!(content_type, PROMETHEUS_CONTENT_TYPE);
    for e in expected {
        assert!(body.contains(e), "{e:?} not in {body:?}");
    }

    let (status, _, _) = get(&agent, &format!("{base}/nope")).unwrap();
    assert_eq!(status, 404);
    let (status, _, _) = get(&agent, &format!("{base}/")).unwrap();
    assert_eq!(status, 404);

    // The stop flag ends the server: the thread finishes and the port is closed.
    stop.store(true, Ordering::Relaxed);
    let (done, joined) = mpsc::channel();
    std::thread::spawn(move || done.send(server.join().is_ok()));
    assert_eq!(joined.recv_timeout(Duration::from_secs(30)), Ok(true));
    assert!(get(&client(), &format!("{base}/metrics")).is_err());
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_address_is_an_error_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let result = metrics::serve(&addr, String::new, Arc::new(AtomicBool::new(false)));
    assert!(result.is_err());
}
