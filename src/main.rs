//! The `lakestream` command: `run` the consumer group, or `demo` it end to end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lakestream::app::{self, RunOptions};
use lakestream::config::Settings;
use lakestream::demo::{self, DemoOptions};
use lakestream::telemetry;
use lakestream_topology::RunControl;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

// Why not the system allocator: see BENCHMARKS.md ("History").
#[cfg(all(feature = "mimalloc", feature = "jemalloc-prof"))]
compile_error!(
    "build `jemalloc-prof` with `--no-default-features`: mimalloc and jemalloc both replace malloc"
);
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "jemalloc-prof")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "lakestream",
    version,
    about = "Kafka learning-event streams to a Parquet data lake"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join the consumer group and stream into the lake until SIGTERM/SIGINT.
    Run {
        /// TOML settings file (the environment overrides it).
        #[arg(long, env = "LAKESTREAM_CONFIG")]
        config: Option<PathBuf>,
        /// Stop (flush, commit, exit 0) once every assigned partition is fully consumed.
        #[arg(long)]
        exit_at_end: bool,
        /// Write the final metrics (Prometheus text format) to this file when stopping.
        #[arg(long)]
        metrics_file: Option<PathBuf>,
    },
    /// Run against an in-process Kafka with generated events and show the lake.
    Demo(DemoOptions),
    /// Measure lakestream against a bare consumer on a seeded data set (BENCHMARKS.md).
    Bench(lakestream::bench::BenchOptions),
    /// The bench's baseline consumer, run by `bench` as a child process.
    #[command(hide = true)]
    BenchBare(lakestream::bench::BareOptions),
    /// The data-lake manager: summary, cleanup, validate, compact and report, on the lake
    /// the settings name.
    Lake {
        /// TOML settings file (the environment overrides it).
        #[arg(long, env = "LAKESTREAM_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: lakestream::lake::cli::LakeCommand,
    },
}

fn main() -> ExitCode {
    #[cfg(feature = "mimalloc")]
    lakestream::allocator::return_freed_memory_soon();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run {
                config,
                exit_at_end,
                metrics_file,
            } => run(config, exit_at_end, metrics_file).await,
            Command::Demo(options) => demo::run(options).await,
            Command::Bench(options) => lakestream::bench::run(options).await,
            Command::BenchBare(options) => lakestream::bench::run_bare(options),
            Command::Lake { config, command } => {
                let env: HashMap<String, String> = std::env::vars().collect();
                let settings = Settings::load(config.as_deref(), &env)?;
                telemetry::init(settings.log_format);
                lakestream::lake::cli::run(&settings, command).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lakestream: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    config: Option<PathBuf>,
    exit_at_end: bool,
    metrics_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = Settings::load(config.as_deref(), &env)?;
    telemetry::init(settings.log_format);
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let (_exit_tx, exit_at_end) = watch::channel(exit_at_end);
    let control = RunControl {
        shutdown,
        exit_at_end,
    };
    app::run(
        settings,
        RunOptions {
            control,
            serve_http: true,
            metrics_file,
        },
    )
    .await
}

/// SIGTERM and SIGINT start a graceful stop: flush open windows, commit, exit 0.
pub fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("signal received: stopping gracefully");
        shutdown.cancel();
    });
}
