//! The baseline: a bare rdkafka consumer in the same consumer-group setup as lakestream
//! (subscribe, fresh group, from the earliest offset) that reads every record, touches
//! its value and discards it. Runs as `lakestream bench-bare` so that its CPU time and
//! memory are measured on their own.

use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;

use crate::domain::Topic;

#[derive(Debug, Clone, Args)]
pub struct BareOptions {
    #[arg(long)]
    pub bootstrap: String,
    /// Stop after this many records.
    #[arg(long)]
    pub records: u64,
}

/// Prints `records bytes seconds` (seconds from the first record to the last).
pub fn run_bare(options: BareOptions) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .set("group.id", format!("bench-bare-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let topics: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
    consumer.subscribe(&topics)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while records < options.records {
        anyhow::ensure!(
            Instant::now() < deadline,
            "read {records} of {} records in 30 minutes",
            options.records
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        first.get_or_insert_with(Instant::now);
        bytes += message.payload().map_or(0, |v| v.len()) as u64;
        records += 1;
    }
    let seconds = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    println!("{records} {bytes} {seconds}");
    Ok(())
}
