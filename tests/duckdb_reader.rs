//! An independent reader: DuckDB (Python package from PyPI) reads the lake with the
//! contract's glob and hive partitioning, and must find the seed's columns and types.

mod common;

use std::process::Command;

const SCRIPT: &str = r#"
import json, sys
import duckdb
root = sys.argv[1]
out = {}
for dataset in ["processed/user_attempts", "processed/user_sessions", "processed/ml_training",
                "aggregated/daily_user_stats", "raw/user.attempts", "quarantine/user.attempts"]:
    glob = f"{root}/{dataset}/**/*.parquet"
    try:
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning=true)")
    except duckdb.IOException:
        continue
    out[dataset] = {"columns": [[c, str(t)] for c, t in zip(rel.columns, rel.types)],
                    "rows": duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true)").fetchall()[0][0]}
print(json.dumps(out))
"#;

fn columns(report: &serde_json::Value, dataset: &str) -> Vec<(String, String)> {
    report[dataset]["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("DuckDB found no {dataset}"))
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                c[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_prefix(found: &[(String, String)], expected: &[(&str, &str)], dataset: &str) {
    for (i, (name, ty)) in expected.iter().enumerate() {
        assert_eq!(
            (found[i].0.as_str(), found[i].1.as_str()),
            (*name, *ty),
            "{dataset} column {i}"
        );
    }
    for hive in ["year", "month", "day"] {
        assert!(
            found.iter().any(|(n, _)| n == hive),
            "{dataset} lacks hive column {hive}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_reads_the_seed_schemas() {
    let (kafka, topics) = common::mock_with_topics("duck", 2);
    let (lake, _cases) = common::land_contract_cases(kafka.bootstrap_servers(), &topics).await;

    let python = std::env::var("LAKESTREAM_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(lake.path())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "DuckDB reader failed (install it with `pip install duckdb`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_prefix(
        &columns(&report, "processed/user_attempts"),
        &[
            ("user_id", "VARCHAR"),
            ("item_id", "VARCHAR"),
            ("session_id", "VARCHAR"),
            ("correct", "BOOLEAN"),
            ("time_taken_ms", "BIGINT"),
            ("quality", "TINYINT"),
            ("response_time_seconds", "DOUBLE"),
            ("response_time_category", "VARCHAR"),
            ("hour_of_day", "TINYINT"),
            ("day_of_week", "TINYINT"),
            ("is_weekend", "BOOLEAN"),
            ("sm2_easiness_factor_before", "DOUBLE"),
            ("sm2_interval_before", "INTEGER"),
            ("bkt_prob_knowledge_before", "DOUBLE"),
            ("irt_ability_before", "MAP(VARCHAR, DOUBLE)"),
        ],
        "processed/user_attempts",
    );
    assert_prefix(
        &columns(&report, "processed/user_sessions"),
        &[
            ("session_id", "VARCHAR"),
            ("user_id", "VARCHAR"),
            ("duration_minutes", "DOUBLE"),
            ("items_attempted", "INTEGER"),
            ("correct_count", "INTEGER"),
            ("accuracy", "DOUBLE"),
            ("items_per_minute", "DOUBLE"),
            ("topics_count", "SMALLINT"),
            ("session_type", "VARCHAR"),
            ("start_hour", "TINYINT"),
        ],
        "processed/user_sessions",
    );
    assert_prefix(
        &columns(&report, "raw/user.attempts"),
        &[("topic", "VARCHAR"), ("partition", "INTEGER")],
        "raw",
    );
    assert_eq!(report["processed/user_attempts"]["rows"], 4);
    assert_eq!(report["processed/user_sessions"]["rows"], 3);
    assert_eq!(report["processed/ml_training"]["rows"], 2);
    assert_eq!(report["quarantine/user.attempts"]["rows"], 6);
}
