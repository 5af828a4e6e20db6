//! The bench's printout: both contenders side by side, the ratio, the targets of issue 6,
//! where lakestream's time went, and whether the lake stayed free of small files.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::child::Measured;
use super::load::Loaded;
use super::split::ParseSplit;

struct Rates {
    events_per_second: f64,
    mb_per_second: f64,
    cpu_per_million: f64,
    rss_mib: f64,
}

fn rates(loaded: &Loaded, m: &Measured) -> Rates {
    Rates {
        events_per_second: loaded.records as f64 / m.wall_seconds,
        mb_per_second: loaded.value_bytes as f64 / 1e6 / m.wall_seconds,
        cpu_per_million: m.cpu_seconds / loaded.records as f64 * 1e6,
        rss_mib: m.peak_rss_kib as f64 / 1024.0,
    }
}

/// `name{stage="x"} v` lines of a Prometheus text exposition.
fn stages(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("lakestream_stage_seconds_total{stage=\"")?;
            let (stage, value) = rest.split_once("\"} ")?;
            Some((stage.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Sum of a metric's samples (all label sets) in a Prometheus text exposition.
fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Parquet files per (dataset, event hour, partition) of the event tiers, from the file
/// names `part-<YYYYMMDDHH>-p<partition>-o<first>-<last>.parquet`.
pub fn files_per_hour(lake: &Path) -> BTreeMap<(String, String, String), usize> {
    let mut counts = BTreeMap::new();
    for tier in ["raw", "processed", "quarantine"] {
        for entry in walk(&lake.join(tier)) {
            let Some(name) = entry.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let mut parts = name.trim_end_matches(".parquet").split('-');
            let (Some("part"), Some(hour), Some(partition)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let dataset = entry
                .strip_prefix(lake)
                .ok()
                .and_then(|p| {
                    p.iter()
                        .take(2)
                        .map(|c| c.to_str())
                        .collect::<Option<Vec<_>>>()
                })
                .map(|c| c.join("/"))
                .unwrap_or_default();
            *counts
                .entry((dataset, hour.to_string(), partition.to_string()))
                .or_insert(0) += 1;
        }
    }
    counts
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out
}

/// `bare_runs`: the bare consumer before and after lakestream; (a) is their mean.
pub fn render(
    loaded: &Loaded,
    bare_runs: [&Measured; 2],
    lakestream: &Measured,
    split: &ParseSplit,
    dir: &Path,
) -> anyhow::Result<String> {
    let bare = &Measured::bracket(bare_runs[0], bare_runs[1]);
    let (a, b) = (rates(loaded, bare), rates(loaded, lakestream));
    let ratio = b.events_per_second / a.events_per_second;
    let mut out = String::new();
    writeln!(out)?;
    writeln!(
        out,
        "{:<22} {:>9} {:>11} {:>8} {:>16} {:>14}",
        "", "seconds", "events/s", "MB/s", "CPU s/M events", "peak RSS MiB"
    )?;
    for (name, m, r) in [
        ("(a) bare consumer", bare, &a),
        ("(b) lakestream", lakestream, &b),
    ] {
        writeln!(
            out,
            "{name:<22} {:>9.2} {:>11.0} {:>8.1} {:>16.2} {:>14.0}",
            m.wall_seconds, r.events_per_second, r.mb_per_second, r.cpu_per_million, r.rss_mib
        )?;
    }
    writeln!(
        out,
        "(a) is the mean of the bare consumer before and after (b): {:.0} and {:.0} events/s",
        rates(loaded, bare_runs[0]).events_per_second,
        rates(loaded, bare_runs[1]).events_per_second
    )?;
    writeln!(out, "ratio (b)/(a): {ratio:.2}")?;
    if lakestream.peak_rss_kib == bare.peak_rss_kib {
        writeln!(
            out,
            "(lakestream's peak RSS is at most the bare consumer's)"
        )?;
    }

    writeln!(out)?;
    writeln!(out, "targets (issue 6):")?;
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    writeln!(
        out,
        "  end to end >= 50% of the bare consumer: {}",
        mark(ratio >= 0.5)
    )?;
    if a.events_per_second > 150_000.0 {
        writeln!(
            out,
            "  >= 150,000 events/s (the broker serves the bare consumer faster): {}",
            mark(b.events_per_second >= 150_000.0)
        )?;
    } else {
        writeln!(
            out,
            "  >= 150,000 events/s: not applicable, the broker serves the bare consumer at {:.0}/s",
            a.events_per_second
        )?;
    }
    writeln!(out, "  peak RSS under 512 MiB: {}", mark(b.rss_mib < 512.0))?;
    let files = files_per_hour(&dir.join("lake"));
    let crowded = files.values().filter(|n| **n > 1).count();
    writeln!(
        out,
        "  one Parquet file per dataset, partition and hour: {} ({} of {} have more; most {})",
        mark(crowded == 0),
        crowded,
        files.len(),
        files.values().max().copied().unwrap_or(0)
    )?;
    let mut by_dataset: BTreeMap<&str, usize> = BTreeMap::new();
    for ((dataset, _, _), n) in &files {
        if *n > 1 {
            *by_dataset.entry(dataset).or_insert(0) += 1;
        }
    }
    if !by_dataset.is_empty() {
        let list: Vec<String> = by_dataset.iter().map(|(d, n)| format!("{d} {n}")).collect();
        writeln!(out, "    by dataset: {}", list.join(", "))?;
    }

    writeln!(out)?;
    writeln!(
        out,
        "where lakestream's time went (seconds inside each stage, summed over partition tasks):"
    )?;
    let stages = stages(&lakestream.metrics);
    let total: f64 = stages.values().sum::<f64>().max(1e-9);
    for (stage, seconds) in &stages {
        writeln!(
            out,
            "  {stage:<30} {seconds:>9.2} s {:>5.1}%",
            seconds / total * 100.0
        )?;
        if stage == "parse" {
            let sampled = (split.decode + split.normalize_validate_derive).max(1e-9);
            for (step, cost) in [
                ("JSON decode", split.decode),
                (
                    "normalize, validate, derive",
                    split.normalize_validate_derive,
                ),
            ] {
                writeln!(
                    out,
                    "    {step:<28} {:>9.2} s   (in-process split: {cost:.2} CPU s per million)",
                    seconds * cost / sampled
                )?;
            }
            writeln!(
                out,
                "    JSON decode vs serde_json::Value: {:.2} against {:.2} CPU s per million, ratio {:.2}",
                split.decode,
                split.decode_to_value,
                split.decode / split.decode_to_value.max(1e-9)
            )?;
        }
    }
    writeln!(
        out,
        "  consume: the bare consumer's {:.2} CPU s per million events is librdkafka's share",
        a.cpu_per_million
    )?;
    writeln!(
        out,
        "(tasks await object-store writes concurrently, so the sum can exceed the run's wall time;\n put includes Parquet encoding by the writer, state includes snapshot uploads)"
    )?;
    let m = |name: &str| metric_sum(&lakestream.metrics, name);
    writeln!(
        out,
        "\nreading: read-ahead peak {:.1} MB, full for {:.1} s, {} topic-partition pauses",
        m("lakestream_read_ahead_bytes_peak") / 1e6,
        m("lakestream_read_ahead_full_seconds_total"),
        m("lakestream_partition_pauses_total"),
    )?;
    // A broker that loses or repeats records on a resume (README, known issues) shows here.
    writeln!(
        out,
        "  records skipped by the broker {}, delivered twice {}; open windows peak {:.1} MB",
        m("lakestream_offset_gap_records_total"),
        m("lakestream_records_redelivered_total"),
        m("lakestream_buffered_bytes_peak") / 1e6,
    )?;
    writeln!(
        out,
        "\nbench-result {}",
        serde_json::json!({
            "records": loaded.records,
            "bare_events_per_second": a.events_per_second.round(),
            "lakestream_events_per_second": b.events_per_second.round(),
            "ratio": (ratio * 100.0).round() / 100.0,
            "lakestream_cpu_s_per_million": (b.cpu_per_million * 100.0).round() / 100.0,
            "lakestream_peak_rss_mib": b.rss_mib.round(),
            "hours_with_more_than_one_file": crowded,
        })
    )?;
    Ok(out)
}
