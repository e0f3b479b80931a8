//! One instance of a small kstreams application, for tests that run several instances as
//! separate OS processes (scaling, takeover, crashes).
//!
//! Modes: `passthrough` copies `input` to `output`, tagging each value with the instance
//! name; `count` counts records per key into `output`; `windowed` counts per key and
//! 10-second event-time window and emits each window's final count once. `--eos` runs
//! under `exactly_once_v2`.

use clap::Parser;
use kstreams::dsl::{Suppressed, TimeWindows, Windowed};
use kstreams::runtime::kafka::{
    wait_for_shutdown_signal, KafkaStreams, ProcessingGuarantee, State, StreamsConfig,
};
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use std::time::Duration;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    app: String,
    #[arg(long)]
    input: String,
    #[arg(long)]
    output: String,
    #[arg(long, default_value = "passthrough")]
    mode: String,
    #[arg(long, default_value = "instance")]
    name: String,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 200)]
    commit_ms: u64,
    #[arg(long, default_value_t = 6000)]
    session_timeout_ms: u64,
    /// State directory (persistent stores, checkpoints); one per instance on a machine.
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// Run under `exactly_once_v2` instead of at-least-once.
    #[arg(long)]
    eos: bool,
    /// A librdkafka setting for every client, `key=value` (repeatable).
    #[arg(long = "config", value_parser = kstreams_testkit::broker::parse_client_setting)]
    client_config: Vec<(String, String)>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let builder = StreamsBuilder::new();
    let plain = || builder.stream(&args.input, Consumed::with(StringSerde, StringSerde));
    match args.mode.as_str() {
        "passthrough" => {
            let name = args.name.clone();
            plain()
                .map_values(move |v| format!("{v}|{name}"))
                .to(&args.output, Produced::with(StringSerde, StringSerde));
        }
        "count" => {
            plain()
                .group_by_key(Grouped::with(StringSerde, StringSerde))
                .count(Materialized::named("counts"))
                .to_stream()
                .to(
                    &args.output,
                    Produced::with(StringSerde, Nullable(I64Serde)),
                );
        }
        "windowed" => {
            // Event time from the value ("<ms>" or "<ms>|anything"), 10 s tumbling windows
            // without grace, one final count per key and window: `<key>@<window start>`.
            builder
                .stream(
                    &args.input,
                    Consumed::with(StringSerde, StringSerde).with_timestamp_extractor(
                        |_: Option<&String>, v: &String, _ts: i64, _pt: i64| {
                            v.split('|')
                                .next()
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(-1)
                        },
                    ),
                )
                .group_by_key(Grouped::with(StringSerde, StringSerde))
                .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
                .count(Materialized::named("window-counts"))
                .suppress(Suppressed::until_window_closes().with_name("finals"))
                .to_stream()
                .flat_map(|w: Option<Windowed<String>>, count: Option<i64>| {
                    w.zip(count)
                        .map(|(w, c)| (format!("{}@{}", w.key, w.window.start), c))
                })
                .to(&args.output, Produced::with(StringSerde, I64Serde));
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    let mut config = StreamsConfig::new(&args.app, &args.bootstrap)
        .num_stream_threads(args.threads)
        .commit_interval(Duration::from_millis(args.commit_ms))
        .client_config("session.timeout.ms", args.session_timeout_ms.to_string())
        .client_config("heartbeat.interval.ms", "500");
    if args.eos {
        config = config.processing_guarantee(ProcessingGuarantee::ExactlyOnceV2);
    }
    for (k, v) in &args.client_config {
        config = config.client_config(k, v);
    }
    if let Some(dir) = &args.state_dir {
        config = config.state_dir(dir);
    }
    let streams = KafkaStreams::new(builder.build()?, config);
    streams.start()?;
    wait_for_shutdown_signal(&streams);
    let failed = streams.state() == State::Error;
    streams.close();
    eprintln!(
        "instance {} stopped after processing {} records",
        args.name,
        streams.processed()
    );
    if failed {
        return Err(format!("instance {} stopped on an error", args.name).into());
    }
    Ok(())
}
