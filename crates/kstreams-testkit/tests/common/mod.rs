//! Helpers shared by the multi-process broker tests: instances of `kstreams-instance` run
//! as child processes, and a reader that collects an output topic.
#![allow(dead_code)]

use kstreams_testkit::broker::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `kstreams-instance` child process and what its log says.
pub struct Instance {
    pub name: String,
    pub child: Child,
    /// Partitions of the latest assignment (`None` before the first).
    pub assigned: Arc<Mutex<Option<BTreeSet<String>>>>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub state_dir: std::path::PathBuf,
}

impl Drop for Instance {
    /// No instance outlives its test, and no state directory is left behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

impl Instance {
    /// Starts an instance with its own state directory under the system temp dir, named
    /// after the application and `name`: a restarted instance of the same name finds its
    /// state again, and two instances never share one (the database is locked).
    pub fn start(
        name: &str,
        broker: &TestBroker,
        app: &str,
        input: &str,
        output: &str,
        mode: &str,
    ) -> Instance {
        Self::start_with(name, broker, app, input, output, mode, &[])
    }

    /// The state directory an instance of `app` named `name` uses.
    pub fn state_dir_of(app: &str, name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("kstreams-it-{app}-{name}"))
    }

    /// [`start`](Self::start) with more `kstreams-instance` arguments (`--eos`, say).
    pub fn start_with(
        name: &str,
        broker: &TestBroker,
        app: &str,
        input: &str,
        output: &str,
        mode: &str,
        extra: &[&str],
    ) -> Instance {
        let state_dir = Self::state_dir_of(app, name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_kstreams-instance"))
            .arg("--state-dir")
            .arg(&state_dir)
            .args([
                "--bootstrap",
                broker.bootstrap(),
                "--app",
                app,
                "--input",
                input,
            ])
            .args(["--output", output, "--name", name, "--mode", mode])
            .args(["--commit-ms", "200", "--session-timeout-ms", "6000"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kstreams-instance");
        let assigned = Arc::new(Mutex::new(None));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (a, l) = (assigned.clone(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Setting newly assigned partitions [").nth(1) {
                    let list = rest.split(']').next().unwrap_or("");
                    let set: BTreeSet<String> = list
                        .split(", ")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    *a.lock().unwrap() = Some(set);
                } else if line.contains("Revoking previously assigned partitions") {
                    *a.lock().unwrap() = Some(BTreeSet::new());
                }
                l.lock().unwrap().push(line);
            }
        });
        Instance {
            name: name.to_string(),
            child,
            assigned,
            log,
            state_dir,
        }
    }

    /// SIGKILL, and reap the process. The state directory stays for a restart.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    pub fn partitions(&self) -> usize {
        self.assigned
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, BTreeSet::len)
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn dump(&self) -> String {
        format!(
            "--- {} log ---\n{}",
            self.name,
            self.log.lock().unwrap().join("\n")
        )
    }
}

/// Key and value bytes of a record read back.
pub type RawRecord = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Collects every record written to an output topic.
pub struct OutputReader {
    pub records: Arc<Mutex<Vec<RawRecord>>>,
    pub stop: Arc<AtomicBool>,
}

impl OutputReader {
    /// A `read_committed` reader (librdkafka's default).
    pub fn start(bootstrap: &str, topic: &str, partitions: i32) -> OutputReader {
        Self::start_with_isolation(bootstrap, topic, partitions, "read_committed")
    }

    /// A reader with this `isolation.level`: `read_uncommitted` also sees the records of
    /// aborted transactions.
    pub fn start_with_isolation(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        isolation: &str,
    ) -> OutputReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", TestBroker::unique("reader"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", isolation)
            .create()
            .expect("reader");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (records.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    r.lock()
                        .unwrap()
                        .push((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)));
                }
            }
        });
        OutputReader { records, stop }
    }

    /// Values as text.
    pub fn strings(&self) -> Vec<String> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, v)| v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    /// Passthrough output (`v<i>|<instance>`): input ids seen, and how often each.
    pub fn seen(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for v in self.strings() {
            let id = v.split('|').next().unwrap_or("").to_string();
            *m.entry(id).or_insert(0) += 1;
        }
        m
    }

    /// Whether passthrough output holds `v0 .. v<n-1>`.
    pub fn has_all(&self, n: usize) -> bool {
        let seen = self.seen();
        (0..n).all(|i| seen.contains_key(&format!("v{i}")))
    }

    /// Count output (string key, i64 value): the latest count per key.
    pub fn latest_counts(&self) -> HashMap<String, i64> {
        let mut m = HashMap::new();
        for (k, v) in self.records.lock().unwrap().iter() {
            if let (Some(k), Some(v)) = (k, v) {
                if let Ok(bytes) = <[u8; 8]>::try_from(v.as_slice()) {
                    m.insert(
                        String::from_utf8_lossy(k).into_owned(),
                        i64::from_be_bytes(bytes),
                    );
                }
            }
        }
        m
    }
}

pub fn wait_for(
    what: &str,
    timeout: Duration,
    instances: &[&Instance],
    mut f: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            let logs: Vec<String> = instances.iter().map(|i| i.dump()).collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, then a clean exit within the timeout.
pub fn terminate(instance: &mut Instance) {
    let pid = instance.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = instance.child.try_wait().expect("wait") {
            assert!(s.success(), "instance exited with {s}\n{}", instance.dump());
            return;
        }
        assert!(
            Instant::now() < deadline,
            "instance did not stop on SIGTERM\n{}",
            instance.dump()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Produces `n` records `(key_of(i), value_of(i))` to `topic` at about `rate` records/s
/// from a background thread, with an idempotent producer (acks=all), so the input itself
/// has no duplicates or gaps whatever the brokers do. Returns when all are acknowledged.
pub fn produce_at_rate(
    bootstrap: &str,
    topic: &str,
    n: usize,
    rate: usize,
    key_of: impl Fn(usize) -> String + Send + 'static,
    value_of: impl Fn(usize) -> String + Send + 'static,
) -> std::thread::JoinHandle<()> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "300000")
        .create()
        .expect("input producer");
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let started = Instant::now();
        for i in 0..n {
            // Pace in steps of 1% of a second's worth.
            if i % (rate / 100).max(1) == 0 {
                let due = Duration::from_secs_f64(i as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            let (k, v) = (key_of(i), value_of(i));
            let mut rec = BaseRecord::to(&topic)
                .key(k.as_bytes())
                .payload(v.as_bytes());
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        producer.poll(Duration::from_millis(10));
                        rec = back;
                    }
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(300))
            .expect("input acknowledged");
    })
}

/// Count output read `read_committed`: every key's updates in order. Exactly-once holds
/// when each key's updates are exactly `1..=n`, `n` being its number of input records.
pub fn count_updates(reader: &OutputReader) -> HashMap<String, Vec<i64>> {
    let mut m: HashMap<String, Vec<i64>> = HashMap::new();
    for (k, v) in reader.records.lock().unwrap().iter() {
        if let (Some(k), Some(v)) = (k, v) {
            if let Ok(bytes) = <[u8; 8]>::try_from(v.as_slice()) {
                m.entry(String::from_utf8_lossy(k).into_owned())
                    .or_default()
                    .push(i64::from_be_bytes(bytes));
            }
        }
    }
    m
}

/// Checks that every key's count updates are exactly `1..=expected[key]`: no duplicate,
/// no gap, nothing else. Returns the number of updates checked.
pub fn assert_exactly_once(
    updates: &HashMap<String, Vec<i64>>,
    expected: &HashMap<String, i64>,
) -> usize {
    assert_eq!(
        updates.len(),
        expected.len(),
        "keys with output against keys with input"
    );
    let mut checked = 0;
    for (key, n) in expected {
        let got = updates
            .get(key)
            .unwrap_or_else(|| panic!("no output for key {key}"));
        if got.len() != *n as usize || got.iter().zip(1..).any(|(&g, want)| g != want) {
            let first_bad = got
                .iter()
                .zip(1..)
                .position(|(&g, want)| g != want)
                .unwrap_or(got.len().min(*n as usize));
            panic!(
                "key {key}: {} updates where exactly 1..={n} were due; first wrong at index \
                 {first_bad}: {:?}",
                got.len(),
                &got[first_bad.saturating_sub(3)..(first_bad + 3).min(got.len())]
            );
        }
        checked += got.len();
    }
    checked
}
