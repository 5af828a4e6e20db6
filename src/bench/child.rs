//! Runs each contender as a child process of this one and measures it: wall time, CPU
//! time and peak RSS from the kernel's accounting of reaped children (getrusage), so the
//! broker and the generator living in this process count for neither.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::sys::resource::{getrusage, UsageWho};

use super::load::Loaded;
use super::BenchOptions;

pub struct Measured {
    /// Process start to exit: group join, reading, and (lakestream) the final flush.
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    /// Largest peak RSS of the children so far: exact for the one with the larger peak.
    pub peak_rss_kib: u64,
    /// The final metrics of a lakestream run (`--metrics-file`).
    pub metrics: String,
}

impl Measured {
    /// The bare consumer measured before and after lakestream, as one baseline: the mean
    /// of both runs' wall and CPU time. This machine's speed drifts by a factor of 1.7
    /// from one hour to the next, and a baseline taken on one side of the measured run
    /// only moved the ratio with it. The peak RSS is the first run's: by the second,
    /// the kernel's peak over reaped children is lakestream's.
    pub fn bracket(before: &Measured, after: &Measured) -> Measured {
        Measured {
            wall_seconds: (before.wall_seconds + after.wall_seconds) / 2.0,
            cpu_seconds: (before.cpu_seconds + after.cpu_seconds) / 2.0,
            peak_rss_kib: before.peak_rss_kib,
            metrics: String::new(),
        }
    }
}

struct Usage {
    cpu_seconds: f64,
    max_rss_kib: u64,
}

fn children() -> anyhow::Result<Usage> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(Usage {
        cpu_seconds: seconds(usage.user_time()) + seconds(usage.system_time()),
        max_rss_kib: usage.max_rss().max(0) as u64,
    })
}

fn measure(mut command: Command, what: &str) -> anyhow::Result<(Measured, String)> {
    let before = children()?;
    let started = Instant::now();
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot start {what}: {e}"))?;
    let wall_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(output.status.success(), "{what} failed: {}", output.status);
    let after = children()?;
    Ok((
        Measured {
            wall_seconds,
            cpu_seconds: after.cpu_seconds - before.cpu_seconds,
            peak_rss_kib: after.max_rss_kib,
            metrics: String::new(),
        },
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

pub fn measure_bare(bootstrap: &str, loaded: &Loaded) -> anyhow::Result<Measured> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["bench-bare", "--bootstrap", bootstrap, "--records"])
        .arg(loaded.records.to_string());
    let (measured, stdout) = measure(command, "the bare consumer")?;
    let read: u64 = stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    anyhow::ensure!(
        read == loaded.records,
        "the bare consumer read {read} of {} records",
        loaded.records
    );
    Ok(measured)
}

pub fn measure_lakestream(
    bootstrap: &str,
    dir: &Path,
    options: &BenchOptions,
) -> anyhow::Result<Measured> {
    let metrics_file = dir.join("metrics.prom");
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["run", "--exit-at-end", "--metrics-file"])
        .arg(&metrics_file)
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env(
            "DATA_LAKE_URL",
            format!("file://{}", dir.join("lake").display()),
        )
        .env("LAKESTREAM_STATE_DIR", dir.join("state"))
        .env(
            "LAKESTREAM_GROUP_ID",
            format!("bench-lakestream-{}-{}", std::process::id(), options.seed),
        )
        .env("LAKESTREAM_HTTP_ADDR", "127.0.0.1:0")
        // `LAKESTREAM_BENCH_LOG=info` shows the run's own log (startup, flushes) on stderr.
        .env(
            "RUST_LOG",
            std::env::var("LAKESTREAM_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        );
    let (mut measured, _) = measure(command, "lakestream")?;
    measured.metrics = std::fs::read_to_string(&metrics_file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", metrics_file.display()))?;
    Ok(measured)
}
