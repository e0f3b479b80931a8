//! **records**: the customer-records platform of the reference talk, on kstreams.
//!
//! A diamond of independent Kafka Streams applications: `ingest` validates and enriches,
//! one application per detector turns enriched records into alerts, `notify` turns alerts
//! into notifications, and `metrics-agg` aggregates every instance's counters. Kafka
//! carries everything in between; each role is its own consumer group and can be started,
//! stopped and redeployed alone.

pub mod bench;
pub mod cli;
pub mod dashboard;
pub mod demo;
pub mod detectors;
pub mod generate;
pub mod hotdeploy;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod offline;
pub mod procs;
pub mod publish;
pub mod replay;
pub mod roles;
pub mod score;
pub mod serve;
pub mod topics;
pub mod webhook;
