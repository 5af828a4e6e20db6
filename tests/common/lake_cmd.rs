//! `lakestream lake ...` as a process against a local lake, and a lake to run it on:
//! generated events produced to a mock cluster and run through the pipeline to the end.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `lakestream lake <args>` on the lake at `root`, with `env` on top.
pub fn run_with(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakestream"))
        .arg("lake")
        .args(args)
        .env("DATA_LAKE_URL", format!("file://{}", root.display()))
        .env("LAKESTREAM_RETENTION__RAW", "30d")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run lakestream lake")
}

pub fn run(root: &Path, args: &[&str]) -> Output {
    run_with(root, args, &[])
}

/// Standard output of a run that must have succeeded.
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Standard output and error of a run that must have failed.
pub fn failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A lake written by the pipeline from `n` generated events over `days` event days (the
/// generator's fixed window, 2026-11-17 on), on 2 partitions.
pub async fn written_lake(
    prefix: &str,
    days: u32,
    n: usize,
) -> (tempfile::TempDir, super::Produced) {
    let (kafka, topics) = super::mock_with_topics(prefix, 2);
    let produced = super::generate(17, 6, days, n);
    super::produce(
        kafka.bootstrap_servers(),
        &topics,
        &super::records_of(&produced),
    );
    let root = tempfile::tempdir().unwrap();
    super::run_to_end(super::fresh_settings(
        kafka.bootstrap_servers(),
        &topics,
        root.path(),
    ))
    .await;
    (root, produced)
}
