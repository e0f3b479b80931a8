//! Kafka Streams, the Java library kstreams is modelled on: `PeerWorker` in the Maven
//! project of the conformance suite (`conformance/kafka-streams`, test infrastructure),
//! built once per invocation and run with `java`.

use super::BenchError;
use std::path::Path;
use std::process::Command;

/// The JVM's maximum heap, fixed so that runs compare like with like (the conformance
/// suite runs its reference with the same).
pub const HEAP: &str = "-Xmx1g";

/// The worker's main class.
pub const MAIN_CLASS: &str = "dev.kstreams.conformance.PeerWorker";

/// The built worker: what `java` needs to run it.
#[derive(Debug, Clone)]
pub struct JavaWorker {
    /// The project's classes, then its dependencies.
    pub classpath: String,
}

impl JavaWorker {
    /// Builds the Maven project (`mvn package dependency:build-classpath`), with the
    /// classpath file under `work_dir`.
    pub fn build(work_dir: &Path) -> Result<JavaWorker, BenchError> {
        let classpath = kstreams_testkit::kafka::reference::build(work_dir).map_err(|reason| {
            BenchError::Install {
                what: "the Kafka Streams worker (conformance/kafka-streams, mvn)".into(),
                reason,
            }
        })?;
        Ok(JavaWorker { classpath })
    }

    /// `java -Xmx1g -cp … PeerWorker`; the caller adds the workload's arguments.
    pub fn command(&self) -> Command {
        let mut c = Command::new("java");
        c.args([HEAP, "-cp", &self.classpath, MAIN_CLASS]);
        c
    }

    /// The version of a jar on the classpath, from its file name (`kafka-streams-4.4.0.jar`).
    pub fn jar_version(&self, artifact: &str) -> Option<String> {
        jar_version(&self.classpath, artifact)
    }

    /// Kafka Streams, its clients and RocksDB, and the JVM, for the report's setup lines.
    pub fn versions(&self) -> String {
        let v = |a: &str| self.jar_version(a).unwrap_or_else(|| "?".into());
        format!(
            "Kafka Streams {} (kafka-clients {}, RocksDB JNI {}) on {}, `java {HEAP}`, the JVM's default GC",
            v("kafka-streams"),
            v("kafka-clients"),
            v("rocksdbjni"),
            java_version()
        )
    }
}

fn jar_version(classpath: &str, artifact: &str) -> Option<String> {
    classpath.split(':').find_map(|entry| {
        let file = Path::new(entry).file_name()?.to_str()?;
        let rest = file.strip_prefix(artifact)?.strip_prefix('-')?;
        let version = rest.strip_suffix(".jar")?;
        // `kafka-streams-test-utils-…` is not `kafka-streams-…`.
        version
            .starts_with(|c: char| c.is_ascii_digit())
            .then(|| version.to_string())
    })
}

/// `java -version`'s runtime line, e.g. `OpenJDK Runtime Environment (build 17.0.15+6-…)`.
pub fn java_version() -> String {
    match Command::new("java").arg("-version").output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr).to_string();
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            lines
                .iter()
                .find(|l| l.contains("Runtime Environment"))
                .or(lines.first())
                .map_or_else(|| "an unknown JVM".into(), |l| l.to_string())
        }
        Err(e) => format!("no java ({e})"),
    }
}

/// librdkafka consumer settings under the Java client's names: the driver states them the
/// librdkafka way for every system.
pub fn java_consumer_config(config: &[(String, String)]) -> Vec<(String, String)> {
    config
        .iter()
        .map(|(k, v)| {
            let k = match k.as_str() {
                "fetch.wait.max.ms" => "fetch.max.wait.ms",
                other => other,
            };
            (k.to_string(), v.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jar_versions_come_from_the_classpath() {
        let cp = "/p/target/classes:/m/kafka-streams-test-utils-4.4.0.jar:\
                  /m/org/apache/kafka/kafka-streams/4.4.0/kafka-streams-4.4.0.jar:\
                  /m/rocksdbjni-10.1.3.jar";
        assert_eq!(jar_version(cp, "kafka-streams").as_deref(), Some("4.4.0"));
        assert_eq!(jar_version(cp, "rocksdbjni").as_deref(), Some("10.1.3"));
        assert_eq!(jar_version(cp, "kafka-clients"), None);
    }

    #[test]
    fn the_fetch_wait_goes_by_its_java_name() {
        let c = java_consumer_config(&[
            ("fetch.wait.max.ms".into(), "5".into()),
            ("max.poll.records".into(), "500".into()),
        ]);
        assert_eq!(
            c,
            [
                ("fetch.max.wait.ms".to_string(), "5".to_string()),
                ("max.poll.records".to_string(), "500".to_string())
            ]
        );
    }
}
