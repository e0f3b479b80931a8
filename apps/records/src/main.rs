//! `records`: the customer-records platform. `records demo` runs everything in one
//! process; every role can also run as its own process against one broker.

use clap::{Parser, Subcommand};
use records::demo::{self, DemoConfig};
use records::generate::GeneratorConfig;

#[derive(Parser)]
#[command(about = "Real-time customer-records analysis on kstreams")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process, on the embedded broker unless --bootstrap is given.
    Demo {
        /// Broker (host:port); default: the embedded in-process broker.
        #[arg(long)]
        bootstrap: Option<String>,
        /// Records to generate.
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        /// Customers.
        #[arg(long, default_value_t = 50_000)]
        customers: usize,
        /// Partitions of every topic.
        #[arg(long, default_value_t = 8)]
        partitions: u32,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Peak rate over the daily average.
        #[arg(long, default_value_t = 1.6)]
        peak: f64,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Demo {
            bootstrap,
            records,
            customers,
            partitions,
            seed,
            peak,
        } => {
            let summary = demo::run(DemoConfig {
                bootstrap,
                generator: GeneratorConfig {
                    seed,
                    records,
                    customers,
                    peak,
                    ..Default::default()
                },
                partitions,
                ..Default::default()
            })?;
            demo::print(&summary);
            if !summary.reconciles() {
                return Err("records in != valid + dead-lettered".into());
            }
        }
    }
    Ok(())
}
