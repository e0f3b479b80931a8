//! The markdown table and the ratio lines of a comparison.

use super::run::RunResult;
use super::workloads::{System, Workload};

/// The median of several rounds, metric by metric.
pub fn median(rounds: &[RunResult]) -> Option<RunResult> {
    let mut m = rounds.first()?.clone();
    let med = |f: &dyn Fn(&RunResult) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    m.secs = med(&|r| r.secs);
    m.worker_cpu = med(&|r| r.worker_cpu);
    m.broker_cpu = med(&|r| r.broker_cpu);
    m.exit.peak_rss_mib = med(&|r| r.exit.peak_rss_mib);
    m.exit.cpu_seconds = med(&|r| r.exit.cpu_seconds);
    m.first_output_after = med(&|r| r.first_output_after);
    if m.latency.is_some() {
        let p = |i: usize| {
            med(&|r: &RunResult| {
                r.latency
                    .map_or(f64::NAN, |l| if i == 0 { l.0 } else { l.1 })
            })
        };
        m.latency = m.latency.map(|(_, _, n)| (p(0), p(1), n));
    }
    Some(m)
}

/// The table, one row per system and workload.
pub fn table(results: &[RunResult]) -> String {
    let mut s = String::from(
        "| workload | system | records measured | outputs | records/s | CPU µs/record | broker CPU µs/record | peak RSS MiB | p50 ms | p99 ms | process CPU s | first output s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let (p50, p99) = r
            .latency
            .map_or(("".to_string(), "".to_string()), |(a, b, _)| {
                (format!("{a:.0}"), format!("{b:.0}"))
            });
        s.push_str(&format!(
            "| {} {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {p50} | {p99} | {:.1} | {:.1} |\n",
            r.workload.id().to_uppercase(),
            r.workload.describe(),
            r.system.label(),
            r.measured,
            r.outputs,
            r.throughput(),
            r.cpu_us(),
            r.broker_cpu_us(),
            r.exit.peak_rss_mib,
            r.exit.cpu_seconds,
            r.first_output_after,
        ));
    }
    s
}

/// Which span each figure of the table and the ratios covers; printed under the table.
pub const LEGEND: &str = "\
Measured span, from the first measured input (after the warm-up) to the last expected output: \
records measured, records/s, CPU µs/record, broker CPU µs/record, p50 ms, p99 ms, and the \
*_cpu_*, *_tput_* and *_p99_* ratios. \
Whole life of the worker process (start-up, warm-up, measured span, shutdown): peak RSS MiB, \
process CPU s, and the *rss* ratios. \
outputs: every output read and checked, the warm-up's included. \
first output s: from starting the worker to its first output.";

/// What a ratio's target asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// At least this much (a speed-up, a fraction of the raw loop's throughput).
    AtLeast(f64),
    /// At most this much (a cost relative to a baseline).
    AtMost(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met_by(self, value: f64) -> bool {
        match self {
            Target::AtLeast(t) => value >= t,
            Target::AtMost(t) => value <= t,
        }
    }
}

/// A ratio the issue names, with its target.
pub struct Ratio {
    /// `w1_cpu_vs_quix` and the like.
    pub name: String,
    /// The value.
    pub value: f64,
    /// What the target asks for, if the issue sets one.
    pub target: Option<Target>,
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={:.3}", self.name, self.value)?;
        let Some(target) = self.target else {
            return Ok(());
        };
        let (op, t) = match target {
            Target::AtLeast(t) => (">=", t),
            Target::AtMost(t) => ("<=", t),
        };
        let verdict = if target.met_by(self.value) {
            "met"
        } else {
            "MISSED"
        };
        write!(f, "  (target {op} {t}: {verdict})")
    }
}

/// The ratios between systems that the results allow.
pub fn ratios(results: &[RunResult]) -> Vec<Ratio> {
    let get = |s: System, w: Workload| results.iter().find(|r| r.system == s && r.workload == w);
    let mut out = Vec::new();
    let mut push = |name: &str, value: Option<f64>, target: Option<Target>| {
        if let Some(value) = value {
            out.push(Ratio {
                name: name.into(),
                value,
                target,
            });
        }
    };
    let (ks, quix, raw) = (System::Kstreams, System::Quix, System::Raw);
    for w in [Workload::W1, Workload::W2, Workload::W3, Workload::W4] {
        let cpu = get(quix, w)
            .zip(get(ks, w))
            .map(|(q, k)| q.cpu_us() / k.cpu_us());
        let target = matches!(w, Workload::W1 | Workload::W2).then_some(Target::AtLeast(10.0));
        push(&format!("{}_cpu_vs_quix", w.id()), cpu, target);
    }
    let w1 = Workload::W1;
    push(
        "w1_fraction_of_raw",
        get(ks, w1)
            .zip(get(raw, w1))
            .map(|(k, r)| k.throughput() / r.throughput()),
        Some(Target::AtLeast(0.9)),
    );
    // CPU per record against the hand-written loop's: below 1 means the framework's
    // batching beats a naive loop.
    push(
        "w1_cpu_of_raw",
        get(ks, w1)
            .zip(get(raw, w1))
            .map(|(k, r)| k.cpu_us() / r.cpu_us()),
        Some(Target::AtMost(0.9)),
    );
    // What the operations surface (HTTP, status snapshots, log shipping, a scrape every
    // second) costs per record, workload by workload.
    for w in [Workload::W1, Workload::W2, Workload::W3, Workload::W4] {
        push(
            &format!("{}_cpu_http_over_plain", w.id()),
            get(System::KstreamsHttp, w)
                .zip(get(ks, w))
                .map(|(h, k)| h.cpu_us() / k.cpu_us()),
            (w == w1).then_some(Target::AtMost(1.03)),
        );
    }
    // The Python package against Quix Streams, the same Python functions on both.
    for w in [Workload::W1, Workload::W2, Workload::W3, Workload::W4] {
        push(
            &format!("{}_cpu_py_vs_quix", w.id()),
            get(quix, w)
                .zip(get(System::KstreamsPy, w))
                .map(|(q, k)| q.cpu_us() / k.cpu_us()),
            matches!(w, Workload::W1 | Workload::W2).then_some(Target::AtLeast(3.0)),
        );
    }
    push(
        "w1_tput_vs_quix",
        get(ks, w1)
            .zip(get(quix, w1))
            .map(|(k, q)| k.throughput() / q.throughput()),
        None,
    );
    for w in [Workload::W2, Workload::W3] {
        push(
            &format!("{}_tput_vs_quix", w.id()),
            get(ks, w)
                .zip(get(quix, w))
                .map(|(k, q)| k.throughput() / q.throughput()),
            None,
        );
    }
    let p99 = |r: &RunResult| r.latency.map_or(f64::NAN, |l| l.1);
    push(
        "w4_p99_vs_quix",
        get(quix, Workload::W4)
            .zip(get(ks, Workload::W4))
            .map(|(q, k)| p99(q) / p99(k)),
        Some(Target::AtLeast(5.0)),
    );
    // The raw loop on W4 shows the latency the broker and librdkafka leave.
    push(
        "w4_p99_of_raw",
        get(ks, Workload::W4)
            .zip(get(raw, Workload::W4))
            .map(|(k, r)| p99(k) / p99(r)),
        None,
    );
    // Peak RSS per workload, and the worst of them as the headline.
    let mut worst: Option<f64> = None;
    for w in [Workload::W1, Workload::W2, Workload::W3, Workload::W4] {
        let r = get(quix, w)
            .zip(get(ks, w))
            .map(|(q, k)| q.exit.peak_rss_mib / k.exit.peak_rss_mib);
        push(&format!("{}_rss_vs_quix", w.id()), r, None);
        if let Some(r) = r {
            worst = Some(worst.map_or(r, |m: f64| m.min(r)));
        }
    }
    push("rss_vs_quix", worst, Some(Target::AtLeast(4.0)));
    // Kafka Streams, the library kstreams is modelled on: its cost over kstreams'.
    let kafka = System::KafkaStreams;
    for w in [Workload::W1, Workload::W2, Workload::W3, Workload::W4] {
        let cpu = get(kafka, w)
            .zip(get(ks, w))
            .map(|(j, k)| j.cpu_us() / k.cpu_us());
        let target = (w != Workload::W4).then_some(Target::AtLeast(3.0));
        push(&format!("{}_cpu_vs_kafka_streams", w.id()), cpu, target);
    }
    for w in [Workload::W1, Workload::W2, Workload::W3] {
        push(
            &format!("{}_tput_vs_kafka_streams", w.id()),
            get(ks, w)
                .zip(get(kafka, w))
                .map(|(k, j)| k.throughput() / j.throughput()),
            None,
        );
    }
    push(
        "w4_p99_vs_kafka_streams",
        get(kafka, Workload::W4)
            .zip(get(ks, Workload::W4))
            .map(|(j, k)| p99(j) / p99(k)),
        Some(Target::AtLeast(1.0)),
    );
    let mut worst: Option<f64> = None;
    for w in [Workload::W1, Workload::W2, Workload::W3, Workload::W4] {
        let r = get(kafka, w)
            .zip(get(ks, w))
            .map(|(j, k)| j.exit.peak_rss_mib / k.exit.peak_rss_mib);
        push(&format!("{}_rss_vs_kafka_streams", w.id()), r, None);
        if let Some(r) = r {
            worst = Some(worst.map_or(r, |m: f64| m.min(r)));
        }
    }
    push("rss_vs_kafka_streams", worst, Some(Target::AtLeast(5.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::process::Exit;

    fn result(system: System, workload: Workload, cpu_s: f64, secs: f64, rss: f64) -> RunResult {
        RunResult {
            system,
            workload,
            records_in: 1_000_010,
            measured: 1_000_000,
            outputs: 0,
            secs,
            worker_cpu: cpu_s,
            broker_cpu: 0.0,
            exit: Exit {
                cpu_seconds: cpu_s,
                peak_rss_mib: rss,
                clean: true,
            },
            first_output_after: 0.0,
            latency: (workload == Workload::W4).then_some((10.0, cpu_s * 10.0, 100)),
        }
    }

    #[test]
    fn ratios_divide_the_right_way_round_and_flag_targets() {
        let results = [
            result(System::Raw, Workload::W1, 2.0, 10.0, 20.0),
            result(System::Kstreams, Workload::W1, 2.5, 10.5, 25.0),
            result(System::Quix, Workload::W1, 30.0, 20.0, 150.0),
            result(System::Kstreams, Workload::W2, 4.0, 11.0, 100.0),
            result(System::Quix, Workload::W2, 36.0, 40.0, 300.0),
            result(System::Kstreams, Workload::W4, 1.0, 20.0, 10.0),
            result(System::Quix, Workload::W4, 6.0, 20.0, 80.0),
        ];
        let r = ratios(&results);
        let get = |name: &str| {
            r.iter()
                .find(|x| x.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert!((get("w1_cpu_vs_quix").value - 12.0).abs() < 1e-9);
        assert!(get("w1_cpu_vs_quix").to_string().ends_with("met)"));
        assert!((get("w2_cpu_vs_quix").value - 9.0).abs() < 1e-9);
        assert!(get("w2_cpu_vs_quix").to_string().ends_with("MISSED)"));
        assert!((get("w1_fraction_of_raw").value - 10.0 / 10.5).abs() < 1e-9);
        assert!((get("w1_tput_vs_quix").value - 20.0 / 10.5).abs() < 1e-9);
        // 2.5 µs against the raw loop's 2.0: 1.25, over the 0.9 asked for.
        assert!((get("w1_cpu_of_raw").value - 1.25).abs() < 1e-9);
        assert!(get("w1_cpu_of_raw")
            .to_string()
            .ends_with("(target <= 0.9: MISSED)"));
        // p99 is ten times the CPU seconds here: 60 ms against 10 ms.
        assert!((get("w4_p99_vs_quix").value - 6.0).abs() < 1e-9);
        // The worst workload sets the headline: W2's 3.0, under W1's 6.0 and W4's 8.0.
        assert!((get("rss_vs_quix").value - 3.0).abs() < 1e-9);
        assert!(get("rss_vs_quix").to_string().ends_with("MISSED)"));
        assert!(
            r.iter().all(|x| x.name != "w3_cpu_vs_quix"),
            "no W3 runs, no W3 ratio"
        );
    }

    #[test]
    fn kafka_streams_ratios_divide_the_right_way_round_and_flag_targets() {
        let results = [
            result(System::Kstreams, Workload::W1, 2.5, 10.0, 25.0),
            result(System::KafkaStreams, Workload::W1, 10.0, 12.5, 400.0),
            result(System::Kstreams, Workload::W2, 4.0, 11.0, 100.0),
            result(System::KafkaStreams, Workload::W2, 10.0, 22.0, 450.0),
            result(System::Kstreams, Workload::W3, 5.0, 11.0, 100.0),
            result(System::KafkaStreams, Workload::W3, 16.0, 33.0, 700.0),
            result(System::Kstreams, Workload::W4, 2.0, 20.0, 10.0),
            result(System::KafkaStreams, Workload::W4, 1.5, 20.0, 300.0),
        ];
        let r = ratios(&results);
        let get = |name: &str| {
            r.iter()
                .find(|x| x.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        // Kafka Streams' CPU per record over kstreams', against 3.
        assert!((get("w1_cpu_vs_kafka_streams").value - 4.0).abs() < 1e-9);
        assert!(get("w1_cpu_vs_kafka_streams")
            .to_string()
            .ends_with("(target >= 3: met)"));
        assert!((get("w2_cpu_vs_kafka_streams").value - 2.5).abs() < 1e-9);
        assert!(get("w2_cpu_vs_kafka_streams")
            .to_string()
            .ends_with("(target >= 3: MISSED)"));
        assert!((get("w3_cpu_vs_kafka_streams").value - 3.2).abs() < 1e-9);
        assert!(get("w3_cpu_vs_kafka_streams").to_string().ends_with("met)"));
        assert!(get("w4_cpu_vs_kafka_streams").target.is_none());
        // kstreams' throughput over Kafka Streams'.
        assert!((get("w2_tput_vs_kafka_streams").value - 2.0).abs() < 1e-9);
        // p99 is ten times the CPU seconds here: 15 ms against 20 ms.
        assert!((get("w4_p99_vs_kafka_streams").value - 0.75).abs() < 1e-9);
        assert!(get("w4_p99_vs_kafka_streams")
            .to_string()
            .ends_with("(target >= 1: MISSED)"));
        // The worst workload sets the headline: W2's 4.5, under 16, 7 and 30.
        assert!((get("w2_rss_vs_kafka_streams").value - 4.5).abs() < 1e-9);
        assert!((get("rss_vs_kafka_streams").value - 4.5).abs() < 1e-9);
        assert!(get("rss_vs_kafka_streams")
            .to_string()
            .ends_with("(target >= 5: MISSED)"));
        // No Quix runs, no Quix ratios; and the other way round.
        assert!(r.iter().all(|x| !x.name.contains("quix")));
        let only_quix = [
            result(System::Kstreams, Workload::W1, 2.5, 10.0, 25.0),
            result(System::Quix, Workload::W1, 30.0, 20.0, 150.0),
        ];
        assert!(ratios(&only_quix)
            .iter()
            .all(|x| !x.name.contains("kafka_streams")));
    }

    #[test]
    fn the_http_cost_is_a_ratio_to_plain_kstreams_with_an_upper_target() {
        let within = [
            result(System::Kstreams, Workload::W1, 2.5, 10.0, 25.0),
            result(System::KstreamsHttp, Workload::W1, 2.55, 10.0, 30.0),
        ];
        let r = ratios(&within);
        let cost = r
            .iter()
            .find(|x| x.name == "w1_cpu_http_over_plain")
            .expect("w1_cpu_http_over_plain");
        assert!((cost.value - 1.02).abs() < 1e-9);
        assert!(cost.to_string().ends_with("(target <= 1.03: met)"));
        let over = [
            result(System::Kstreams, Workload::W1, 2.5, 10.0, 25.0),
            result(System::KstreamsHttp, Workload::W1, 2.6, 10.0, 30.0),
        ];
        assert!(ratios(&over)
            .iter()
            .any(|x| x.to_string() == "w1_cpu_http_over_plain=1.040  (target <= 1.03: MISSED)"));
    }

    #[test]
    fn the_python_package_is_compared_with_quix_against_three() {
        let results = [
            result(System::KstreamsPy, Workload::W1, 10.0, 10.0, 60.0),
            result(System::Quix, Workload::W1, 30.0, 20.0, 150.0),
            result(System::KstreamsPy, Workload::W2, 20.0, 10.0, 60.0),
            result(System::Quix, Workload::W2, 36.0, 40.0, 300.0),
        ];
        let r = ratios(&results);
        let line = |name: &str| {
            r.iter()
                .find(|x| x.name == name)
                .map(ToString::to_string)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert_eq!(
            line("w1_cpu_py_vs_quix"),
            "w1_cpu_py_vs_quix=3.000  (target >= 3: met)"
        );
        assert_eq!(
            line("w2_cpu_py_vs_quix"),
            "w2_cpu_py_vs_quix=1.800  (target >= 3: MISSED)"
        );
    }

    #[test]
    fn the_median_is_taken_metric_by_metric() {
        let rounds = [
            result(System::Kstreams, Workload::W1, 3.0, 12.0, 30.0),
            result(System::Kstreams, Workload::W1, 1.0, 10.0, 50.0),
            result(System::Kstreams, Workload::W1, 2.0, 11.0, 10.0),
        ];
        let m = median(&rounds).expect("median");
        assert_eq!(
            (m.worker_cpu, m.secs, m.exit.peak_rss_mib),
            (2.0, 11.0, 30.0)
        );
        assert!(median(&[]).is_none());
    }
}
