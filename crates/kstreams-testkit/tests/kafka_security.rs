//! Production connectivity on Apache Kafka: a SASL_SSL listener with a certificate this test
//! generates and a SCRAM user created through the admin API. Every client of the
//! application (admin, stream thread consumer and producer, restore consumer, global
//! consumer) must use the user's security settings: the only address the application knows
//! is the SASL_SSL listener, so a client without them cannot connect at all. No secret may
//! appear in a log line or a `Debug` output.
//!
//! Ignored under `cargo test --workspace` (it needs Java and Maven for the broker);
//! `.ci/run` runs it with `--ignored`. It starts its own cluster.

use kstreams::runtime::kafka::{KafkaStreams, State, StreamsConfig};
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::broker::TestBroker;
use kstreams_testkit::kafka::KafkaCluster;
use kstreams_testkit::logs::CapturedLogs;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USER: &str = "streams-app";

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost. Writes the
/// broker's PEM keystore (key, certificate, CA) and the clients' CA file into `dir`.
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kstreams test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = server.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let keystore = dir.join("broker.pem");
    std::fs::write(
        &keystore,
        format!("{}{}{}", key.serialize_pem(), cert.pem(), ca_cert.pem()),
    )
    .unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    (keystore, ca_file)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn secure(config: StreamsConfig, ca: &Path, password: &str) -> StreamsConfig {
    config
        .client_config("security.protocol", "SASL_SSL")
        .client_config("sasl.mechanisms", "SCRAM-SHA-256")
        .client_config("sasl.username", USER)
        .client_config("sasl.password", password)
        .client_config("ssl.ca.location", ca.to_string_lossy())
}

#[test]
#[ignore = "needs Apache Kafka: .ci/run runs it with --ignored (tools/kafka/run)"]
fn every_client_connects_over_sasl_ssl_and_no_secret_is_logged() {
    // Every log line of this test binary, to search for secrets.
    let logs = CapturedLogs::teeing_to_stderr();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter("debug,rdkafka=debug")
        .with_writer(move || writer.clone())
        .init();
    let dir = std::env::temp_dir().join(TestBroker::unique("tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let (keystore, ca) = certificates(&dir);
    let cluster = KafkaCluster::start_with_sasl_ssl(1, &keystore);
    let secure_bootstrap = cluster.sasl_ssl_bootstrap().expect("SASL_SSL listener");
    // A secret no run has seen, so finding it in the logs can only mean a leak.
    let password = format!("pw-{}", TestBroker::unique("secret"));
    let scram = format!("SCRAM-SHA-256=[iterations=8192,password={password}]");
    cluster.tool(
        "org.apache.kafka.tools.ConfigCommand",
        &[
            "--bootstrap-server",
            cluster.bootstrap(),
            "--alter",
            "--add-config",
            &scram,
            "--entity-type",
            "users",
            "--entity-name",
            USER,
        ],
    );

    // Topics and input through the plaintext listener (test set-up, not the application).
    let admin = TestBroker::connect(Some(cluster.bootstrap()));
    let (app, input, reference, output) = (
        TestBroker::unique("secure-app"),
        TestBroker::unique("payments"),
        TestBroker::unique("merchants"),
        TestBroker::unique("payments-by-merchant"),
    );
    admin.create_topic(&input, 2).unwrap();
    admin.create_topic(&reference, 1).unwrap();
    admin.create_topic(&output, 2).unwrap();
    admin.produce(
        &reference,
        (0..5).map(|m| (format!("m{m}"), format!("merchant-{m}"))),
    );
    admin.produce(
        &input,
        (0..100).map(|i| (format!("p{i}"), format!("m{}", i % 5))),
    );

    let wrong = secure(
        StreamsConfig::new(&app, secure_bootstrap),
        &ca,
        "not-the-password",
    );
    let refused = KafkaStreams::new(topology(&input, &reference, &output), {
        let mut c = wrong;
        c.startup_timeout = Duration::from_secs(15);
        c
    });
    let err = refused
        .start()
        .expect_err("a wrong password is refused at start-up");
    println!("wrong password: {err}");
    assert!(
        err.to_string().to_lowercase().contains("authentication"),
        "the error says authentication failed: {err}"
    );

    let config = secure(
        StreamsConfig::new(&app, secure_bootstrap)
            .commit_interval(Duration::from_millis(100))
            .state_dir(dir.join("state")),
        &ca,
        &password,
    );
    let shown = format!("{config:?}");
    assert!(!shown.contains(&password), "Debug shows no secret: {shown}");
    let streams = KafkaStreams::new(topology(&input, &reference, &output), config);
    streams.start().expect("starts over SASL_SSL");
    wait_for("RUNNING", Duration::from_secs(120), || {
        assert_ne!(streams.state(), State::Error);
        streams.state() == State::Running
    });
    let out = admin.consume(&output, 2, 100, Duration::from_secs(120));
    assert_eq!(
        out.len(),
        100,
        "every payment counted through the secure listener"
    );
    let store = streams.store::<String, i64>("per-merchant").unwrap();
    for m in 0..5 {
        assert_eq!(store.get(&format!("merchant-{m}")).unwrap(), Some(20));
    }
    streams.close();

    let text = logs.text();
    assert!(
        text.contains("SASL_SSL") || text.contains("sasl_ssl") || text.contains(secure_bootstrap),
        "the capture holds the run's logs ({} bytes)",
        text.len()
    );
    assert!(
        !text.contains(&password),
        "the password appears in a log line"
    );
    println!("{} bytes of logs, no secret in them", text.len());

    // Losing read access while running is not a passing fault: the thread fails visibly
    // (the handler hears of it, the client goes to ERROR) instead of logging while its
    // partitions stall for ever.
    let app2 = TestBroker::unique("denied-app");
    let config = secure(
        StreamsConfig::new(&app2, secure_bootstrap)
            .commit_interval(Duration::from_millis(100))
            .state_dir(dir.join("state2")),
        &ca,
        &password,
    );
    let streams = KafkaStreams::new(topology(&input, &reference, &output), config);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    streams.set_uncaught_exception_handler(move |e| {
        seen.lock().unwrap().push(e.to_string());
        kstreams::runtime::kafka::StreamThreadExceptionResponse::ShutdownClient
    });
    streams.start().expect("starts over SASL_SSL");
    wait_for("RUNNING", Duration::from_secs(120), || {
        streams.state() == State::Running
    });
    let principal = format!("User:{USER}");
    cluster.tool(
        "org.apache.kafka.tools.AclCommand",
        &[
            "--bootstrap-server",
            cluster.bootstrap(),
            "--add",
            "--deny-principal",
            &principal,
            "--operation",
            "Read",
            "--topic",
            &input,
        ],
    );
    admin.produce(&input, [("p-late".to_string(), "m1".to_string())]);
    wait_for(
        "the thread to fail on the authorization error",
        Duration::from_secs(60),
        || streams.state() == State::Error,
    );
    let errors = errors.lock().unwrap().clone();
    println!("after the ACL: {errors:?}");
    assert!(
        errors.iter().any(|e| e.to_lowercase().contains("authoriz")),
        "the handler heard of the authorization failure: {errors:?}"
    );
    streams.close();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A global table (global consumer), a count (changelog: restore consumer), internal
/// topics created at start-up (admin client), and the stream thread's own clients.
fn topology(input: &str, reference: &str, output: &str) -> kstreams::Topology {
    let builder = StreamsBuilder::new();
    let merchants = builder.global_table(
        reference,
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("merchants"),
    );
    builder
        .stream(input, Consumed::with(StringSerde, StringSerde))
        .join_global(
            &merchants,
            |_, m: &String| m.clone(),
            |_, name: &String| name.clone(),
        )
        .group_by(
            |_, name| name.clone(),
            Grouped::with(StringSerde, StringSerde),
        )
        .count(Materialized::named("per-merchant"))
        .to_stream()
        .to(output, Produced::with(StringSerde, Nullable(I64Serde)));
    builder.build().unwrap()
}
