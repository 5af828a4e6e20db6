//! `lakestream bench`: one run on one machine that loads a fixed, seeded data set into a
//! broker, then measures a bare rdkafka consumer reading it (the baseline) and lakestream
//! writing it to a local lake, each as its own process, and prints both with their ratio
//! and where lakestream's time went (BENCHMARKS.md).

mod bare;
mod child;
mod load;
pub mod report;
mod split;

use std::path::PathBuf;

use clap::Args;

pub use bare::{run_bare, BareOptions};

#[derive(Debug, Clone, Args)]
pub struct BenchOptions {
    /// Events to generate (about 1% invalid, 1% redelivered).
    #[arg(long, default_value_t = 2_000_000)]
    pub events: usize,
    /// Days of event time the events span.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Simulated learners. The generator replays its days once they are used up, which
    /// revisits hours already written (a backfill, not steady state): 16,000 learners make
    /// about 2.2 million events in 3 days, so the default set does not wrap.
    #[arg(long, default_value_t = 16_000)]
    pub users: usize,
    /// Partitions of each topic (the mock cluster keeps ~5 MiB per partition: 2 million
    /// events need about 40).
    #[arg(long, default_value_t = 48)]
    pub partitions: i32,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The loader's `linger.ms`: how long its producer lets a partition's batch fill. At
    /// 5 ms (the demo's) the load spreads over 144 partitions in batches of about four
    /// records, and decompressing a zstd frame per batch was two thirds of the bare
    /// consumer's CPU: a baseline slowed by the data set's batching, not by the broker
    /// (BENCHMARKS.md, round 11).
    #[arg(long, default_value_t = 100)]
    pub linger_ms: u32,
    /// A running broker with none of the three topics yet (tansu, Kafka); without it the
    /// bench starts librdkafka's mock cluster in this process.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Scratch folder for the lake and state stores (default: a temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let dir = options.dir.clone().unwrap_or_else(|| scratch.path().into());
    std::fs::create_dir_all(&dir)?;
    let broker = load::Broker::start(&options).await?;
    println!(
        "bench: {} events over {} days, {} users, {} partitions per topic, seed {}, loader linger {} ms; broker: {}",
        options.events,
        options.days,
        options.users,
        options.partitions,
        options.seed,
        options.linger_ms,
        broker.describe()
    );
    let loaded = broker.load(&options).await?;
    println!(
        "loaded {} records ({:.1} MB of values) in {:.1} s",
        loaded.records,
        loaded.value_bytes as f64 / 1e6,
        loaded.seconds
    );
    let bare_before = child::measure_bare(broker.bootstrap(), &loaded)?;
    let lakestream = child::measure_lakestream(broker.bootstrap(), &dir, &options)?;
    let bare_after = child::measure_bare(broker.bootstrap(), &loaded)?;
    let split = split::parse_split(&options)?;
    print!(
        "{}",
        report::render(
            &loaded,
            [&bare_before, &bare_after],
            &lakestream,
            &split,
            &dir
        )?
    );
    Ok(())
}
