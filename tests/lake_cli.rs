//! `lakestream lake summary` and `lakestream lake cleanup` (issue 5) on a lake with known
//! content: written by the pipeline from generated events, plus an expired day partition
//! (a copy of a real file under a day long past every retention) and a corrupted file.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::lake;
use common::lake_cmd::{self, stdout};

/// `(files, rows)` of a dataset's "total" line.
fn total(summary: &str, dataset: &str) -> (u64, u64) {
    let line = summary
        .lines()
        .find(|l| l.starts_with(&format!("{dataset} ")) && l.contains(" total "))
        .unwrap_or_else(|| panic!("no total for {dataset} in:\n{summary}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Rows in the raw tier, over the three topics.
fn raw_total(summary: &str) -> u64 {
    ["user.attempts", "user.sessions", "ml.training"]
        .iter()
        .map(|t| total(summary, &format!("raw/{t}")).1)
        .sum()
}

async fn written_lake() -> (tempfile::TempDir, common::Produced) {
    lake_cmd::written_lake("lakecli", 2, 1500).await
}

/// Copies a raw file and its sidecar to a day in 2020, beyond any retention.
fn plant_expired(root: &Path) -> (PathBuf, u64) {
    let source = lake::files(root, "raw/user.attempts")
        .into_iter()
        .next()
        .unwrap();
    let rows: u64 = lake::read_file(&source)
        .iter()
        .map(|b| b.num_rows() as u64)
        .sum();
    let dir = root.join("raw/user.attempts/year=2020/month=1/day=5");
    std::fs::create_dir_all(&dir).unwrap();
    let name = source.file_name().unwrap().to_string_lossy().to_string();
    std::fs::copy(&source, dir.join(&name)).unwrap();
    let sidecar = source.with_file_name(format!("_{}", name.replace(".parquet", ".meta.json")));
    std::fs::copy(&sidecar, dir.join(sidecar.file_name().unwrap())).unwrap();
    (dir, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_counts_what_was_written_and_cleanup_removes_only_expired_days() {
    let (root, produced) = written_lake().await;
    let (expired_dir, expired_rows) = plant_expired(root.path());

    let summary = stdout(&lake_cmd::run(root.path(), &["summary"]));
    let raw_rows = raw_total(&summary);
    assert_eq!(
        raw_rows,
        produced.len() as u64 + expired_rows,
        "every record once in raw, plus the planted copy:\n{summary}"
    );
    let files_on_disk = lake::files(root.path(), "processed/user_attempts").len() as u64;
    assert_eq!(total(&summary, "processed/user_attempts").0, files_on_disk);
    assert!(summary.contains("raw: oldest day 2020-01-05"), "{summary}");

    // Dry run: listed, nothing deleted.
    let dry = stdout(&lake_cmd::run(root.path(), &["cleanup", "--dry-run"]));
    assert!(
        dry.contains("would delete raw/user.attempts/year=2020/month=1/day=5 (2 objects)"),
        "{dry}"
    );
    assert!(dry.contains("1 day partitions past retention"), "{dry}");
    assert_eq!(std::fs::read_dir(&expired_dir).unwrap().count(), 2);

    let done = stdout(&lake_cmd::run(root.path(), &["cleanup"]));
    assert!(done.contains("2 objects deleted"), "{done}");
    // The local store removes folders left empty.
    assert!(!expired_dir.exists(), "the expired day is gone");
    let after = stdout(&lake_cmd::run(root.path(), &["summary"]));
    let raw_after = raw_total(&after);
    assert_eq!(
        raw_after,
        produced.len() as u64,
        "only the expired day went"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_file_fails_the_summary_naming_its_path() {
    let (root, _) = written_lake().await;
    let dir = root
        .path()
        .join("processed/user_attempts/year=2026/month=1/day=1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("part-broken.parquet"), b"not parquet at all").unwrap();
    let output = lake_cmd::run(root.path(), &["summary"]);
    assert!(
        !output.status.success(),
        "a corrupted file must fail the summary"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("processed/user_attempts/year=2026/month=1/day=1/part-broken.parquet"),
        "{stderr}"
    );
}

#[test]
fn the_service_deletes_expired_days_on_its_schedule_and_audits_each_object() {
    let root = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (kafka, topics) = common::mock_with_topics("lakesched", 1);
    let produced = common::generate(3, 2, 1, 200);
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::records_of(&produced),
    );
    runtime.block_on(common::run_to_end(common::fresh_settings(
        kafka.bootstrap_servers(),
        &topics,
        root.path(),
    )));
    let (expired_dir, _) = plant_expired(root.path());

    let mut env = common::env(
        kafka.bootstrap_servers(),
        &topics,
        root.path(),
        &common::unique("sched"),
    );
    env.insert("LAKESTREAM_RETENTION__RAW".into(), "30d".into());
    env.insert("LAKESTREAM_RETENTION__SCHEDULE".into(), "1s".into());
    env.insert(
        "RUST_LOG".into(),
        format!("{},lakestream::audit=info", common::process::LOG),
    );
    let mut child = common::process::Lakestream::spawn("sched", &env, &[], None);
    child.wait_for(&["scheduled retention on"], Duration::from_secs(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while expired_dir.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired day is still there"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The data file goes last, after its sidecar.
    child.wait_for(
        &["lake object deleted", "year=2020", ".parquet"],
        Duration::from_secs(10),
    );
    let audited = child.lines(&["lake object deleted", "year=2020"]);
    assert_eq!(audited.len(), 2, "one audit line per object: {audited:?}");
    // Only the expired day went: the raw tier still holds every record produced.
    let summary = stdout(&lake_cmd::run(root.path(), &["summary"]));
    assert_eq!(raw_total(&summary), produced.len() as u64, "{summary}");
    child.terminate();
}
