//! The talk's scaling run, with separate OS processes: records go in, instance 1 starts
//! and takes every partition, instance 2 starts and the partitions split, instance 2 is
//! SIGKILLed and instance 1 takes them all back. Every input record must reach the output;
//! the records processed twice are reported ("delta = records processed twice").

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

const PARTITIONS: i32 = 4;
const BATCH: usize = 1000;

struct Instance {
    name: String,
    child: Child,
    assigned: Arc<Mutex<Option<BTreeSet<String>>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn start(name: &str, broker: &TestBroker, app: &str, input: &str, output: &str) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kstreams-instance"))
            .args([
                "--bootstrap",
                broker.bootstrap(),
                "--app",
                app,
                "--input",
                input,
                "--output",
                output,
            ])
            .args([
                "--name",
                name,
                "--commit-ms",
                "200",
                "--session-timeout-ms",
                "6000",
            ])
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
        }
    }

    fn partitions(&self) -> usize {
        self.assigned
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, BTreeSet::len)
    }

    fn dump(&self) -> String {
        format!(
            "--- {} log ---\n{}",
            self.name,
            self.log.lock().unwrap().join("\n")
        )
    }
}

/// Collects every value written to the output topic.
struct OutputReader {
    values: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl OutputReader {
    fn start(bootstrap: &str, topic: &str) -> OutputReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", TestBroker::unique("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let values = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (v, s) = (values.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    if let Some(p) = m.payload() {
                        v.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(p).into_owned());
                    }
                }
            }
        });
        OutputReader { values, stop }
    }

    /// Input ids seen, and how often each.
    fn seen(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for v in self.values.lock().unwrap().iter() {
            let id = v.split('|').next().unwrap_or("").to_string();
            *m.entry(id).or_insert(0) += 1;
        }
        m
    }

    fn has_all(&self, n: usize) -> bool {
        let seen = self.seen();
        (0..n).all(|i| seen.contains_key(&format!("v{i}")))
    }
}

fn wait_for(what: &str, timeout: Duration, instances: &[&Instance], mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            let logs: Vec<String> = instances.iter().map(|i| i.dump()).collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn batch(from: usize) -> impl Iterator<Item = (String, String)> {
    (from..from + BATCH).map(|i| (format!("k{i}"), format!("v{i}")))
}

#[test]
fn scale_up_then_kill_an_instance_loses_nothing() {
    let broker = TestBroker::from_env();
    let takeover_gap = std::env::var("KSTREAMS_BROKER_GAPS").is_ok_and(|g| g.contains("takeover"));
    let app = TestBroker::unique("auth-converter");
    let (input, output) = (
        TestBroker::unique("auth-json"),
        TestBroker::unique("auth-out"),
    );
    broker.create_topic(&input, PARTITIONS).unwrap();
    broker.create_topic(&output, PARTITIONS).unwrap();
    let reader = OutputReader::start(broker.bootstrap(), &output);
    let minute = Duration::from_secs(60);

    broker.produce(&input, batch(0));
    let mut one = Instance::start("app-1", &broker, &app, &input, &output);
    wait_for(
        "instance 1 to take all 4 partitions",
        minute,
        &[&one],
        || one.partitions() == 4,
    );
    wait_for("batch 1 processed", minute, &[&one], || {
        reader.has_all(BATCH)
    });

    let mut two = Instance::start("app-2", &broker, &app, &input, &output);
    wait_for("the partitions to split 2/2", minute, &[&one, &two], || {
        one.partitions() == 2 && two.partitions() == 2
    });
    let (a, b) = (
        one.assigned.lock().unwrap().clone().unwrap(),
        two.assigned.lock().unwrap().clone().unwrap(),
    );
    assert!(
        a.is_disjoint(&b),
        "each partition has one owner: {a:?} {b:?}"
    );
    println!("after scale-up: app-1 has {a:?}, app-2 has {b:?}");
    broker.produce(&input, batch(BATCH));
    wait_for("batch 2 processed by both", minute, &[&one, &two], || {
        reader.has_all(2 * BATCH)
    });
    let by_instance = |name: &str| {
        reader
            .values
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v.ends_with(&format!("|{name}")))
            .count()
    };
    assert!(by_instance("app-2") > 0, "instance 2 processed its share");

    // Kill instance 2 in the middle of a batch: SIGKILL, no commit, no leave-group.
    broker.produce(&input, batch(2 * BATCH));
    std::thread::sleep(Duration::from_millis(100));
    two.child.kill().expect("SIGKILL instance 2");
    two.child.wait().expect("reap instance 2");
    if takeover_gap {
        println!(
            "KNOWN BROKER GAP (takeover): this broker keeps giving the dead member its partitions \
             after the rebalance (seen with Tansu 0.6), so instance 1 cannot take them over; the \
             takeover half of this test runs on the in-process mock broker"
        );
        terminate(&mut one);
        return;
    }
    wait_for(
        "instance 1 to take all 4 partitions back",
        minute,
        &[&one, &two],
        || one.partitions() == 4,
    );
    broker.produce(&input, batch(3 * BATCH));
    let total = 4 * BATCH;
    wait_for(
        "every record in the output",
        Duration::from_secs(120),
        &[&one, &two],
        || reader.has_all(total),
    );

    let seen = reader.seen();
    let lost: Vec<usize> = (0..total)
        .filter(|i| !seen.contains_key(&format!("v{i}")))
        .collect();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "records in: {total}, distinct out: {}, lost: {}",
        seen.len(),
        lost.len()
    );
    println!("delta = records processed twice: {duplicates}");
    assert!(lost.is_empty(), "lost records: {lost:?}");
    terminate(&mut one);
    reader.stop.store(true, Ordering::Relaxed);
}

/// SIGTERM, then a clean exit within the timeout.
fn terminate(instance: &mut Instance) {
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
