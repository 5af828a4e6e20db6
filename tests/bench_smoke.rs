//! A small run of `lakestream bench` (issue 6), so the benchmark never rots: it must load
//! its data set, run both contenders to the end and print every figure. No timing is
//! asserted; the machine is shared.

use std::process::Command;

#[test]
fn a_small_bench_runs_both_contenders_and_prints_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lakestream"))
        .args([
            "bench",
            "--events",
            "6000",
            "--days",
            "1",
            "--users",
            "40",
            "--partitions",
            "2",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run lakestream bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for figure in [
        "(a) bare consumer",
        "(b) lakestream",
        "ratio (b)/(a)",
        "(a) is the mean of the bare consumer before and after (b)",
        "peak RSS under 512 MiB",
        "one Parquet file per dataset, partition and hour",
        "JSON decode",
        "JSON decode vs serde_json::Value",
        "records skipped by the broker 0, delivered twice 0",
    ] {
        assert!(stdout.contains(figure), "`{figure}` missing:\n{stdout}");
    }
    let result: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("bench-result "))
        .map(|json| serde_json::from_str(json).unwrap())
        .unwrap_or_else(|| panic!("no bench-result line:\n{stdout}"));
    assert_eq!(result["records"], 6000);
    assert!(result["lakestream_events_per_second"].as_f64().unwrap() > 0.0);
    assert!(result["bare_events_per_second"].as_f64().unwrap() > 0.0);
    // Every stage of the way was timed.
    for stage in [
        "parse", "route", "window", "put", "state", "manifest", "commit",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(stage)),
            "stage {stage} missing:\n{stdout}"
        );
    }
    // lakestream wrote a real lake there.
    assert!(dir.path().join("lake/processed/user_attempts").is_dir());
}
