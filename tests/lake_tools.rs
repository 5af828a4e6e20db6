//! `lakestream lake validate`, `compact` and `report` (issue 5, point 2) on lakes written
//! by the pipeline from generated events (2026-11-17 on, so every day is closed), then
//! damaged, interrupted or inspected by hand.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::lake;
use common::lake_cmd::{self, failure, stdout};

/// The event-tier datasets the generated lake fills.
const EVENT_DATASETS: &[&str] = &[
    "raw/user.attempts",
    "raw/user.sessions",
    "raw/ml.training",
    "processed/user_attempts",
    "processed/user_sessions",
    "processed/ml_training",
    "quarantine/user.attempts",
];

fn validate(root: &Path, dataset: &str) -> std::process::Output {
    lake_cmd::run(root, &["validate", dataset])
}

fn sidecar_of(file: &Path) -> PathBuf {
    let name = file.file_name().unwrap().to_string_lossy();
    file.with_file_name(format!("_{}", name.replace(".parquet", ".meta.json")))
}

/// Data files per day folder.
fn by_day(root: &Path, dataset: &str) -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let mut days: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for file in lake::files(root, dataset) {
        days.entry(file.parent().unwrap().to_path_buf())
            .or_default()
            .push(file);
    }
    days
}

/// Whether compaction may touch the day folder `dir`: the day's end plus the default
/// allowed lateness (2 days) and grace (10 minutes) is past. Records without a readable
/// event time are filed under their Kafka timestamp, today, which is never closed.
fn closed(dir: &Path) -> bool {
    let hive = |key: &str| -> u32 {
        dir.components()
            .find_map(|c| c.as_os_str().to_str()?.strip_prefix(key)?.parse().ok())
            .unwrap()
    };
    let day = chrono::NaiveDate::from_ymd_opt(hive("year=") as i32, hive("month="), hive("day="))
        .unwrap();
    let closes = day.and_hms_opt(0, 0, 0).unwrap().and_utc()
        + chrono::Duration::days(3)
        + chrono::Duration::minutes(10);
    closes <= chrono::Utc::now()
}

/// What identifies each row of a dataset (event_id, or topic/partition/offset), sorted,
/// repeats kept: equal lists mean no row was lost or doubled.
fn identities(root: &Path, dataset: &str) -> Vec<String> {
    let mut ids: Vec<String> = lake::rows(root, dataset)
        .iter()
        .map(|r| {
            if r.values.contains_key("event_id") {
                r.str("event_id").to_string()
            } else {
                format!(
                    "{}/{}/{}",
                    r.str("topic"),
                    r.i64("partition"),
                    r.i64("offset")
                )
            }
        })
        .collect();
    ids.sort();
    ids
}

fn rows_in(file: &Path) -> u64 {
    lake::read_file(file)
        .iter()
        .map(|b| b.num_rows() as u64)
        .sum()
}

/// `(dataset, day) -> rows` from the `dataset day files rows bytes` lines of `text`.
fn rows_per_day<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<(String, String), u64> {
    lines
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [dataset, day, _files, rows, _bytes] = words.as_slice() else {
                return None;
            };
            chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
            Some(((dataset.to_string(), day.to_string()), rows.parse().ok()?))
        })
        .collect()
}

/// The lines of the report section titled `title`.
fn section<'a>(report: &'a str, title: &str) -> Vec<&'a str> {
    report
        .lines()
        .skip_while(|l| !l.starts_with(&format!("== {title}")))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_passes_on_a_fresh_lake_and_names_each_broken_file() {
    let (root, _) = lake_cmd::written_lake("validate", 2, 1500).await;
    let root = root.path();
    let derived = [
        "aggregated/daily_user_stats",
        "quality/attempts_without_session",
    ];
    for dataset in EVENT_DATASETS.iter().chain(&derived) {
        let out = stdout(&validate(root, dataset));
        let files = lake::files(root, dataset);
        let rows: u64 = files.iter().map(|f| rows_in(f)).sum();
        assert_eq!(
            out.trim(),
            format!("ok: {} files, {rows} rows", files.len()),
            "{dataset}"
        );
    }
    let unknown = failure(&validate(root, "processed/user_attempt"));
    assert!(
        unknown.contains("unknown dataset `processed/user_attempt`; one of: raw/user.attempts"),
        "{unknown}"
    );
    let days = by_day(root, "processed/user_attempts");
    let (day_dir, files) = days.iter().next().unwrap();
    let victim = &files[0];
    let original = std::fs::read(victim).unwrap();

    // A file cut in half.
    std::fs::write(victim, &original[..original.len() / 2]).unwrap();
    let out = failure(&validate(root, "processed/user_attempts"));
    let relative = victim.strip_prefix(root).unwrap().display().to_string();
    assert!(
        out.contains(&format!("{relative}: not a readable Parquet file")),
        "{out}"
    );
    std::fs::write(victim, &original).unwrap();

    // The same file twice in its day: every event_id in two files.
    let (copy, out) = validate_with_copy(root, victim, &day_dir.join("part-copy.parquet"));
    assert!(
        out.contains(&format!(
            "{copy}: {} rows whose event_id is also in {relative}",
            rows_in(victim)
        )),
        "{out}"
    );

    // A file in a day its rows do not belong to.
    let elsewhere = root.join("processed/user_attempts/year=2026/month=11/day=2");
    let (planted, out) =
        validate_with_copy(root, victim, &elsewhere.join(victim.file_name().unwrap()));
    assert!(
        out.contains(&format!(
            "{planted}: {} rows belong to another day than the partition's 2026-11-02 (by timestamp",
            rows_in(victim)
        )),
        "{out}"
    );

    // Another dataset's file: its schema is not the contract's for this one.
    let session = &lake::files(root, "processed/user_sessions")[0];
    let (foreign, out) = validate_with_copy(root, session, &day_dir.join("part-foreign.parquet"));
    assert!(
        out.contains(&format!("{foreign}: schema differs from the contract (column 1 is `session_id`, the contract says `user_id`")),
        "{out}"
    );

    // A sidecar that counts other rows than its file holds.
    let sidecar = sidecar_of(victim);
    let text = std::fs::read_to_string(&sidecar).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    meta["rows"] = serde_json::json!(rows_in(victim) + 1);
    std::fs::write(&sidecar, meta.to_string()).unwrap();
    let out = failure(&validate(root, "processed/user_attempts"));
    assert!(
        out.contains(&format!(
            "{relative}: {} rows in the data, {} in its sidecar",
            rows_in(victim),
            rows_in(victim) + 1
        )),
        "{out}"
    );
    std::fs::write(&sidecar, text).unwrap();

    stdout(&validate(root, "processed/user_attempts"));
    // The generated days are more than a day old: the last day holds none of them.
    let today = stdout(&lake_cmd::run(
        root,
        &["validate", "processed/user_attempts", "--days", "1"],
    ));
    assert_eq!(today.trim(), "ok: 0 files, 0 rows");
}

/// Copies `victim` to `to`, validates its dataset (which must fail) and removes the copy
/// again; the copy's lake path and the output.
fn validate_with_copy(root: &Path, victim: &Path, to: &Path) -> (String, String) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(victim, to).unwrap();
    let out = failure(&validate(root, "processed/user_attempts"));
    std::fs::remove_file(to).unwrap();
    (to.strip_prefix(root).unwrap().display().to_string(), out)
}

/// Lists `file` (and its sidecar) as pending in partition 0's manifest, as a flush in
/// progress does.
fn mark_pending(root: &Path, file: &Path) {
    let manifest = root.join("_lakestream/manifests/partition=00000.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let relative = |p: &Path| p.strip_prefix(root).unwrap().display().to_string();
    json["pending"] = serde_json::json!([relative(file), relative(&sidecar_of(file))]);
    std::fs::write(&manifest, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
}

fn all_identities(root: &Path) -> HashMap<&'static str, Vec<String>> {
    EVENT_DATASETS
        .iter()
        .map(|d| (*d, identities(root, d)))
        .collect()
}

const BIG: &str = "1073741824";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_merges_each_closed_day_into_one_file_and_keeps_every_row() {
    let (root, produced) = lake_cmd::written_lake("compact", 3, 1500).await;
    let root = root.path();
    let before = all_identities(root);
    let summary_before = rows_per_day(stdout(&lake_cmd::run(root, &["summary"])).lines());
    let attempts_before = by_day(root, "processed/user_attempts");
    assert!(
        attempts_before.len() >= 3 && attempts_before.values().all(|f| f.len() > 1),
        "several days of several hourly files each: {attempts_before:?}"
    );
    // A flush in progress: one raw file of a day with at least three files is pending.
    let raw_days = by_day(root, "raw/user.attempts");
    let (pending_day, pending_files) = raw_days
        .iter()
        .find(|(d, f)| closed(d) && f.len() >= 3)
        .unwrap();
    let open_days: Vec<(PathBuf, Vec<PathBuf>)> = EVENT_DATASETS
        .iter()
        .flat_map(|d| by_day(root, d))
        .filter(|(day, _)| !closed(day))
        .collect();
    assert!(
        !open_days.is_empty(),
        "records without an event time are filed today, which is not closed"
    );
    let pending = pending_files[1].clone();
    mark_pending(root, &pending);
    // Files with a neighbour to merge with; a day of one file stays as it is.
    let sources: Vec<PathBuf> = EVENT_DATASETS
        .iter()
        .flat_map(|d| by_day(root, d))
        .filter(|(day, _)| closed(day))
        .map(|(_, files)| {
            files
                .into_iter()
                .filter(|f| *f != pending)
                .collect::<Vec<_>>()
        })
        .filter(|files| files.len() > 1)
        .flatten()
        .collect();

    let output = lake_cmd::run(root, &["compact", "--target-size", BIG]);
    let out = stdout(&output);
    assert!(
        out.contains("left 1 files alone: a flush in progress lists them as pending"),
        "{out}"
    );
    let audit = String::from_utf8_lossy(&output.stderr);

    for dataset in EVENT_DATASETS {
        assert_eq!(all_identities(root)[dataset], before[dataset], "{dataset}");
        for (day, files) in by_day(root, dataset) {
            if !closed(&day) {
                continue;
            }
            let expected = if day == *pending_day { 2 } else { 1 };
            assert_eq!(files.len(), expected, "{}: {files:?}", day.display());
        }
        stdout(&validate(root, dataset));
    }
    assert_eq!(
        rows_per_day(stdout(&lake_cmd::run(root, &["summary"])).lines()),
        summary_before
    );
    assert!(
        pending.exists() && sidecar_of(&pending).exists(),
        "pending file untouched"
    );
    assert!(intents(root).is_empty(), "every intent is done");
    for (day, files) in &open_days {
        assert_eq!(
            &lake::files(day, ""),
            files,
            "a day that is not closed is not compacted"
        );
    }
    for source in &sources {
        assert!(
            !source.exists() && !sidecar_of(source).exists(),
            "{} or its sidecar is still there",
            source.display()
        );
        let relative = source.strip_prefix(root).unwrap().display().to_string();
        assert!(
            audit.contains(&format!("path=\"{relative}\""))
                || audit.contains(&format!("path={relative}")),
            "no audit line for {relative}:\n{audit}"
        );
    }
    // The merged sidecars keep the sources' sidecars: the raw quality reports survive.
    let merged_raw = by_day(root, "raw/ml.training")
        .into_values()
        .next()
        .unwrap();
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sidecar_of(&merged_raw[0])).unwrap()).unwrap();
    let sources_kept = sidecar["compacted_from"].as_array().unwrap();
    assert!(sources_kept.len() > 1);
    assert!(sources_kept
        .iter()
        .all(|s| s["sidecar"]["quality"]["scores"]["overall"].is_number()));
    assert_eq!(sidecar["rows"].as_u64(), Some(rows_in(&merged_raw[0])));

    let again = stdout(&lake_cmd::run(root, &["compact", "--target-size", BIG]));
    assert!(again.contains("0 merged files written"), "{again}");
    assert!(!produced.is_empty());
}

fn intents(root: &Path) -> Vec<PathBuf> {
    lake::walk(root, |path| {
        path.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("_compact-"))
    })
}

fn merged_files(root: &Path) -> Vec<PathBuf> {
    EVENT_DATASETS
        .iter()
        .flat_map(|d| lake::files(root, d))
        .filter(|f| f.file_name().unwrap().to_string_lossy().contains("-c"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_compaction_is_finished_or_undone_by_the_next_run() {
    let (root, _) = lake_cmd::written_lake("compactcrash", 2, 1500).await;
    let root = root.path();
    let before = all_identities(root);
    let crash = |point: &str| {
        let output = lake_cmd::run_with(
            root,
            &["compact", "--target-size", BIG],
            &[("LAKESTREAM_FAILPOINT", point)],
        );
        assert!(!output.status.success(), "{point} crashed it");
    };

    // Crash after the intent: no merged file; the next run undoes the intent.
    crash("compact-after-intent");
    assert_eq!(intents(root).len(), 1);
    assert!(merged_files(root).is_empty());
    // Crash after the merged file: its rows are in the lake twice until the next run.
    crash("compact-after-merged-file");
    assert_eq!(intents(root).len(), 1);
    let merged = merged_files(root);
    assert_eq!(merged.len(), 1, "{merged:?}");
    let twice_dataset = EVENT_DATASETS
        .iter()
        .find(|d| merged[0].starts_with(root.join(d)))
        .unwrap();
    assert!(identities(root, twice_dataset).len() > before[twice_dataset].len());
    failure(&validate(root, twice_dataset));

    let out = stdout(&lake_cmd::run(root, &["compact", "--target-size", BIG]));
    assert!(
        out.contains("finished an interrupted compaction into"),
        "{out}"
    );
    assert!(intents(root).is_empty());
    for dataset in EVENT_DATASETS {
        assert_eq!(identities(root, dataset), before[dataset], "{dataset}");
        stdout(&validate(root, dataset));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_days_quality_and_quarantine_reasons() {
    let (root, _) = lake_cmd::written_lake("report", 2, 3000).await;
    let root = root.path();
    let html = root.join("report.html");
    let report = stdout(&lake_cmd::run(
        root,
        &["report", "--html", html.to_str().unwrap()],
    ));
    let summary = stdout(&lake_cmd::run(root, &["summary"]));
    let per_day = rows_per_day(section(&report, "Records per day").into_iter());
    assert!(!per_day.is_empty(), "{report}");
    assert_eq!(per_day, rows_per_day(summary.lines()), "{report}");

    let quality = section(&report, "Quality trend");
    assert!(
        quality
            .iter()
            .any(|l| l.contains("processed/user_attempts")),
        "{report}"
    );

    let mut reasons: HashMap<String, u64> = HashMap::new();
    for topic in ["user.attempts", "user.sessions", "ml.training"] {
        for row in lake::rows(root, &format!("quarantine/{topic}")) {
            *reasons.entry(row.str("reason").to_string()).or_default() += 1;
        }
    }
    let most = reasons
        .values()
        .copied()
        .max()
        .expect("some records quarantined");
    let top_line = section(&report, "Top quarantine reasons")[1];
    let words: Vec<&str> = top_line.split_whitespace().collect();
    let (count, reason) = (words[0].parse::<u64>().unwrap(), words[2..].join(" "));
    assert_eq!(count, most, "{top_line}");
    assert_eq!(
        reasons.get(&reason),
        Some(&most),
        "{top_line} vs {reasons:?}"
    );

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg"), "charts inline");
    assert!(!page.contains("http"), "no external reference");
    assert!(!page.contains("<script") && !page.contains("<link"));
    assert!(
        page.contains(&html_escape(&reason)),
        "the top reason is in the page"
    );
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
