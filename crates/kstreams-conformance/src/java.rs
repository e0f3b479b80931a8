//! The Kafka Streams reference (`conformance/kafka-streams`): built with Maven, run as one
//! JVM that runs every topology as its own `KafkaStreams`.

use crate::Error;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// Builds the reference and returns the classpath to run it with (its classes first).
pub fn build(work: &Path) -> Result<String, Error> {
    kstreams_testkit::kafka::reference::build(work).map_err(Error::Java)
}

/// What the reference reported of each topology: `Ok` once RUNNING, `Err` on ERROR.
pub type Reports = Arc<Mutex<BTreeMap<String, Result<(), String>>>>;

/// The running reference; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Reference {
    child: Child,
    /// Its reports, from its standard output.
    pub reports: Reports,
}

impl Reference {
    /// Starts every topology of `names` on Kafka Streams.
    pub fn start(
        classpath: &str,
        bootstrap: &str,
        run: &str,
        names: &[&str],
        work: &Path,
    ) -> Result<Reference, Error> {
        let log = std::fs::File::create(work.join("kafka-streams.log"))
            .map_err(|e| Error::Java(format!("log file: {e}")))?;
        let mut child = Command::new("java")
            .args(["-Xmx1g", "-cp", classpath, "dev.kstreams.conformance.Main"])
            .args(["--bootstrap", bootstrap, "--run", run])
            .args(["--topologies", &names.join(",")])
            .arg("--state-dir")
            .arg(work.join("java-state"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::Java(format!("starting java: {e}")))?;
        let reports: Reports = Arc::default();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Java("no stdout".into()))?;
        let r = reports.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut parts = line.splitn(3, ' ');
                let (what, name, rest) = (parts.next(), parts.next(), parts.next());
                let mut reports = r.lock().unwrap_or_else(|p| p.into_inner());
                match (what, name) {
                    (Some("RUNNING"), Some(n)) => {
                        reports.entry(n.to_string()).or_insert(Ok(()));
                    }
                    (Some("ERROR"), Some(n)) => {
                        reports.insert(n.to_string(), Err(rest.unwrap_or_default().to_string()));
                    }
                    _ => {}
                }
            }
        });
        Ok(Reference { child, reports })
    }

    /// Whether the JVM is still up.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..300 {
            if !self.alive() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
