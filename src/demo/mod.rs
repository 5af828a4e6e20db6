//! `lakestream demo`: librdkafka's in-process mock cluster, generated contract events
//! (several users, days and hours, a few invalid and duplicated), the real pipeline, and a
//! real lake on disk, then a summary of what landed where.

pub mod generator;
mod produce;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use lakestream_topology::mock::MockKafka;
use lakestream_topology::RunControl;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::app::{self, RunOptions};
use crate::config::{LogFormat, Settings};
use crate::domain::Topic;
use crate::lake;
pub use produce::{produce, Produced};

#[derive(Debug, Clone, Args)]
pub struct DemoOptions {
    /// Events to generate.
    #[arg(long, default_value_t = 30_000)]
    pub events: usize,
    /// Events per second (0: as fast as possible).
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Simulated learners.
    #[arg(long, default_value_t = 120)]
    pub users: usize,
    /// Days of event time the events span (a week shows weekday and weekend traffic).
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How long the producer waits to fill a batch (librdkafka's `linger.ms`).
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u32,
    /// Where the demo lake is written (replaced on every demo run).
    #[arg(long, default_value = "./demo-lake")]
    pub lake: PathBuf,
}

const MARKER: &str = ".lakestream-demo";

/// Empties the demo's own lake folder; refuses to touch a folder the demo did not create.
fn prepare_lake(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        let is_ours = dir.join(MARKER).exists();
        let is_empty = std::fs::read_dir(dir)?.next().is_none();
        anyhow::ensure!(
            is_ours || is_empty,
            "`{}` exists and was not made by the demo; pass --lake with a new folder",
            dir.display()
        );
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "made by `lakestream demo`; replaced on every demo run\n",
    )?;
    Ok(std::fs::canonicalize(dir)?)
}

fn demo_settings(bootstrap: &str, lake: &Path) -> anyhow::Result<Settings> {
    let env: HashMap<String, String> = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.to_string()),
        ("DATA_LAKE_URL", format!("file://{}", lake.display())),
        ("LAKESTREAM_GROUP_ID", "lakestream-demo".into()),
        ("LAKESTREAM_HTTP_ADDR", "127.0.0.1:0".into()),
        (
            "LAKESTREAM_STATE_DIR",
            lake.join("_state").display().to_string(),
        ),
        ("KAFKA_SESSION_TIMEOUT_MS", "6000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok(Settings::load(None, &env)?)
}

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    crate::telemetry::init(LogFormat::Text);
    let started = Instant::now();
    let lake_dir = prepare_lake(&options.lake)?;
    let kafka = MockKafka::start(1)?;
    for topic in Topic::ALL {
        kafka.create_topic(topic.name(), options.partitions)?;
    }
    let settings = demo_settings(kafka.bootstrap_servers(), &lake_dir)?;
    println!(
        "demo: in-process Kafka at {}, {} partitions per topic; producing {} events at {}",
        kafka.bootstrap_servers(),
        options.partitions,
        options.events,
        if options.rate == 0 {
            "full speed".to_string()
        } else {
            format!("{}/s", options.rate)
        }
    );

    let shutdown = CancellationToken::new();
    let (exit_tx, exit_at_end) = watch::channel(false);
    let control = RunControl {
        shutdown,
        exit_at_end,
    };
    let pipeline = tokio::spawn(app::run(
        settings,
        RunOptions {
            control,
            serve_http: true,
            metrics_file: None,
        },
    ));
    let produced = {
        let (bootstrap, opts) = (kafka.bootstrap_servers().to_string(), options.clone());
        tokio::task::spawn_blocking(move || produce(&bootstrap, &opts)).await??
    };
    // Only now may the pipeline stop at the end of the partitions: before, "the end" is
    // just the producer lagging behind.
    exit_tx.send_replace(true);
    pipeline.await??;

    let store = lake::store::open(
        &lake::LakeLocation::Local(lake_dir.clone()),
        &crate::config::Settings::default().lake,
    )?;
    let inventory = lake::inventory::inventory(store.as_ref()).await?;
    print_summary(
        &options,
        &produced,
        &inventory,
        &lake_dir,
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

fn print_summary(
    options: &DemoOptions,
    produced: &Produced,
    inventory: &std::collections::BTreeMap<String, lake::inventory::DatasetStats>,
    lake_dir: &Path,
    seconds: f64,
) {
    println!();
    println!(
        "produced {} records: {} valid, {} invalid, {} duplicate deliveries",
        produced.total(),
        produced.valid,
        produced.invalid,
        produced.duplicate
    );
    println!(
        "{:<36} {:>7} {:>9} {:>12}",
        "dataset", "files", "rows", "bytes"
    );
    for (dataset, stats) in inventory {
        println!(
            "{dataset:<36} {:>7} {:>9} {:>12}",
            stats.files, stats.rows, stats.bytes
        );
    }
    println!();
    println!(
        "lake: {}  ({} events in {seconds:.1} s)",
        lake_dir.display(),
        options.events
    );
    println!("query it with DuckDB:");
    println!(
        "  SELECT response_time_category, count(*) FROM read_parquet('{}/processed/user_attempts/**/*.parquet', hive_partitioning=true) GROUP BY 1;",
        lake_dir.display()
    );
}
