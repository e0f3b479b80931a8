//! Apache Kafka clusters for the tests that only the real broker can answer: exactly-once
//! with transaction markers and aborted records, takeover after SIGKILL, broker failover,
//! compaction, SASL_SSL.
//!
//! A [`KafkaCluster`] is started by the repository's `tools/kafka/run` (KRaft, 127.0.0.1,
//! free ports; the jars come from Maven Central once per machine) and stopped when dropped.
//! Tests that need one broker and nothing else from it share the cluster named by
//! `KSTREAMS_KAFKA_BOOTSTRAP` when it is set (`.ci/run` sets it), and start their own
//! otherwise.
//!
//! ```no_run
//! use kstreams_testkit::kafka::KafkaCluster;
//!
//! let cluster = KafkaCluster::start(3); // replication factor 3, min.insync.replicas=2
//! let leader = cluster.leader_of("orders", 0);
//! cluster.kill(leader);
//! cluster.restart(leader);
//! ```

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The repository's broker script.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/kafka/run")
}

/// A running Apache Kafka cluster. Dropping a cluster this handle started stops it.
#[derive(Debug)]
pub struct KafkaCluster {
    dir: Option<PathBuf>,
    bootstrap: String,
    sasl_ssl_bootstrap: Option<String>,
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
    assert!(
        out.status.success(),
        "tools/kafka/run {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl KafkaCluster {
    /// The cluster named by `KSTREAMS_KAFKA_BOOTSTRAP`, or a new single-broker one.
    pub fn shared_or_start() -> KafkaCluster {
        match std::env::var("KSTREAMS_KAFKA_BOOTSTRAP") {
            Ok(b) if !b.is_empty() => KafkaCluster {
                dir: None,
                bootstrap: b,
                sasl_ssl_bootstrap: None,
            },
            _ => KafkaCluster::start(1),
        }
    }

    /// Starts a cluster of `brokers` brokers (with 3 or more: replication factor 3 and
    /// `min.insync.replicas=2` for every topic).
    ///
    /// # Panics
    /// If the cluster does not start; the panic carries the script's output.
    pub fn start(brokers: usize) -> KafkaCluster {
        Self::launch(brokers, None)
    }

    /// Starts a cluster whose brokers also listen for SASL_SSL (SCRAM-SHA-256 and -512)
    /// with the private key and certificate chain in the PEM file `pem`.
    pub fn start_with_sasl_ssl(brokers: usize, pem: &Path) -> KafkaCluster {
        Self::launch(brokers, Some(pem))
    }

    fn launch(brokers: usize, pem: Option<&Path>) -> KafkaCluster {
        let dir = std::env::temp_dir().join(format!(
            "kstreams-kafka-{}",
            crate::broker::TestBroker::unique("cluster")
        ));
        let dir_s = dir.to_string_lossy().into_owned();
        let n = brokers.to_string();
        let mut args = vec!["start", "--dir", &dir_s, "--brokers", &n];
        let pem_s;
        if let Some(p) = pem {
            pem_s = p.to_string_lossy().into_owned();
            args.extend(["--sasl-ssl", &pem_s]);
        }
        // The cluster is ours from here: stop it even if start-up fails half-way.
        let mut cluster = KafkaCluster {
            dir: Some(dir.clone()),
            bootstrap: String::new(),
            sasl_ssl_bootstrap: None,
        };
        let out = run(&args);
        cluster.bootstrap = String::from_utf8_lossy(&out.stdout).trim().to_string();
        cluster.sasl_ssl_bootstrap = std::fs::read_to_string(dir.join("bootstrap-sasl-ssl"))
            .ok()
            .map(|s| s.trim().to_string());
        cluster
    }

    /// Bootstrap servers of the PLAINTEXT listeners.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Bootstrap servers of the SASL_SSL listeners, if the cluster has them.
    pub fn sasl_ssl_bootstrap(&self) -> Option<&str> {
        self.sasl_ssl_bootstrap.as_deref()
    }

    fn own_dir(&self) -> &Path {
        self.dir
            .as_deref()
            .expect("only a cluster this test started can be killed or restarted")
    }

    /// SIGKILLs broker `id` (1-based node id) and waits until its process is gone.
    pub fn kill(&self, id: i32) {
        let dir = self.own_dir().to_string_lossy().into_owned();
        run(&["kill", &dir, &id.to_string()]);
    }

    /// Starts broker `id` again and waits until it answers Metadata itself.
    pub fn restart(&self, id: i32) {
        let dir = self.own_dir().to_string_lossy().into_owned();
        run(&["restart", &dir, &id.to_string()]);
    }

    /// Runs a Kafka command-line tool class (`org.apache.kafka.tools.ConfigCommand`, say)
    /// on the broker's classpath and returns its output.
    pub fn tool(&self, class: &str, args: &[&str]) -> Output {
        let mut all = vec!["tool", class];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The node id of the leader of `topic`-`partition`, from the cluster's metadata.
    ///
    /// # Panics
    /// If the metadata has no leader for it within 30 s.
    pub fn leader_of(&self, topic: &str, partition: i32) -> i32 {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("metadata client");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
                let leader = md
                    .topics()
                    .iter()
                    .flat_map(|t| t.partitions())
                    .find(|p| p.id() == partition)
                    .map(|p| p.leader())
                    .filter(|&l| l >= 0);
                if let Some(l) = leader {
                    return l;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no leader for {topic}-{partition}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The process id of broker `id`, if this handle started the cluster.
    pub fn pid(&self, id: i32) -> Option<u32> {
        let path = self.dir.as_ref()?.join(format!("broker-{id}/pid"));
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// The Apache Kafka version the script pins (`tools/kafka/pom.xml`).
    pub fn version() -> String {
        let pom = script().with_file_name("pom.xml");
        std::fs::read_to_string(pom)
            .ok()
            .and_then(|p| {
                let start = p.find("<kafka.version>")? + "<kafka.version>".len();
                let end = p[start..].find('<')? + start;
                Some(p[start..end].to_string())
            })
            .unwrap_or_else(|| "unknown".into())
    }

    /// Lines of broker `id`'s server log that contain `needle`.
    pub fn log_lines(&self, id: i32, needle: &str) -> Vec<String> {
        let path = self.own_dir().join(format!("broker-{id}/server.log"));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new(script())
                .arg("stop")
                .arg(dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The Kafka Streams reference (`conformance/kafka-streams`, a Maven project of test
/// infrastructure): the conformance suite's topologies and the benchmark's worker.
pub mod reference {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The Maven project.
    pub fn project() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/kafka-streams")
    }

    /// Builds the project (`mvn package dependency:build-classpath`, the dependencies from
    /// `~/.m2`) and returns the classpath to run it with: its classes, then its
    /// dependencies. The classpath file goes to `work_dir`; `Err` carries Maven's output.
    pub fn build(work_dir: &Path) -> Result<String, String> {
        std::fs::create_dir_all(work_dir).map_err(|e| format!("{}: {e}", work_dir.display()))?;
        let cp_file = work_dir.join("kafka-streams.classpath");
        let _ = std::fs::remove_file(&cp_file);
        // `mvn -q` may still print an ANSI reset on stdout: the classpath is read from the
        // file only.
        let out = Command::new("mvn")
            .args(["-q", "-B", "-Dstyle.color=never", "-f"])
            .arg(project().join("pom.xml"))
            .args(["package", "dependency:build-classpath"])
            .arg(format!("-Dmdep.outputFile={}", cp_file.display()))
            .output()
            .map_err(|e| format!("running mvn: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mvn exited with {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let deps =
            std::fs::read_to_string(&cp_file).map_err(|e| format!("{}: {e}", cp_file.display()))?;
        Ok(format!(
            "{}:{}",
            project().join("target/classes").display(),
            deps.trim()
        ))
    }
}
