//! The status page's HTML: one document with inline style and SVG, refreshed by the
//! browser every 10 seconds. Everything on it is read from the registry, the recent-flush
//! log and the sampled history, so it agrees with `/metrics`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lakestream_topology::recent::FlushRecord;
use maud::{html, Markup, DOCTYPE};

use super::chart::{chart, format_number, Line};
use super::history::Point;
use super::metrics::Gathered;

/// Who is talking: shown in the page header.
#[derive(Debug, Clone)]
pub struct Identity {
    pub instance: String,
    pub group: String,
    pub lake: String,
}

pub struct View<'a> {
    pub identity: &'a Identity,
    pub uptime_seconds: u64,
    pub now: DateTime<Utc>,
    pub metrics: &'a Gathered,
    pub flushes: &'a [FlushRecord],
    pub history: &'a [Point],
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em;margin:0} h2{font-size:1.1em;margin:1.4em 0 .4em}
.muted{color:#777} table{border-collapse:collapse} td,th{padding:2px 10px;text-align:right}
th{border-bottom:1px solid #bbb} td:first-child,th:first-child{text-align:left}
.warn{color:#b00;font-weight:600} .charts{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0} figcaption{font-weight:600}
";

pub fn render(view: &View<'_>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="10";
                title { "lakestream status: " (view.identity.instance) }
                style { (STYLE) }
            }
            body {
                h1 { "lakestream " span class="muted" { (view.identity.instance) } }
                p class="muted" {
                    "group " b { (view.identity.group) } " · lake " b { (view.identity.lake) }
                    " · up " (duration(view.uptime_seconds as f64))
                    " · " (view.now.format("%Y-%m-%d %H:%M:%S UTC"))
                }
                (charts(view.history))
                (partitions(view))
                (records(view.metrics))
                (flushes(view.flushes))
                (quality(view.metrics))
            }
        }
    }
}

fn charts(history: &[Point]) -> Markup {
    let series = |f: fn(&Point) -> f64| history.iter().map(|p| (p.at, f(p))).collect();
    html! {
        div class="charts" {
            (chart("throughput, records/s (last hour)", &[Line {
                label: "consumed", colour: "#2a6", values: series(|p| p.records_per_second),
            }]))
            (chart("lag, records (last hour)", &[
                Line { label: "consumed lag", colour: "#36c", values: series(|p| p.consumed_lag) },
                Line { label: "durable lag", colour: "#c63", values: series(|p| p.durable_lag) },
            ]))
        }
    }
}

/// One row per owned (topic, partition): the lag gauges exist exactly for those.
fn partitions(view: &View<'_>) -> Markup {
    type Row = (f64, f64, f64);
    let m = view.metrics;
    let mut rows: BTreeMap<(i32, String), Row> = BTreeMap::new();
    for (name, slot) in [
        ("lakestream_consumed_lag_records", 0),
        ("lakestream_durable_lag_records", 1),
        ("lakestream_event_time_lag_seconds", 2),
    ] {
        for (labels, value) in m.series(name) {
            let partition = labels
                .get("partition")
                .and_then(|p| p.parse().ok())
                .unwrap_or(-1);
            let topic = labels.get("topic").cloned().unwrap_or_default();
            let row = rows.entry((partition, topic)).or_default();
            match slot {
                0 => row.0 = *value,
                1 => row.1 = *value,
                _ => row.2 = *value,
            }
        }
    }
    let open_windows = m.by("lakestream_open_windows", "partition");
    let buffered = m.by("lakestream_buffered_records", "partition");
    html! {
        h2 { "Owned partitions (" (open_windows.len()) ")" }
        @if rows.is_empty() {
            p class="muted" { "no partitions assigned yet" }
        } @else {
            table id="partitions" {
                tr { th { "topic" } th { "partition" } th { "consumed lag" } th { "durable lag" }
                     th { "event-time lag" } th { "watermark" } th { "open windows" }
                     th { "buffered records" } }
                @for ((partition, topic), (consumed, durable, event_lag)) in &rows {
                    tr {
                        td { (topic) } td { (partition) }
                        td { (format_number(*consumed)) } td { (format_number(*durable)) }
                        td { (if *event_lag > 0.0 { duration(*event_lag) } else { "-".into() }) }
                        td { (watermark(view.now, *event_lag)) }
                        td { (open_windows.get(&partition.to_string()).copied().unwrap_or(0.0)) }
                        td { (format_number(buffered.get(&partition.to_string()).copied().unwrap_or(0.0))) }
                    }
                }
            }
        }
    }
}

fn records(m: &Gathered) -> Markup {
    let columns = [
        ("consumed", "lakestream_records_consumed_total"),
        ("processed", "lakestream_records_processed_total"),
        ("quarantined", "lakestream_records_quarantined_total"),
        ("duplicates", "lakestream_records_duplicate_total"),
        ("late", "lakestream_late_records_total"),
    ];
    let values: Vec<BTreeMap<String, f64>> = columns
        .iter()
        .map(|(_, name)| m.by(name, "topic"))
        .collect();
    html! {
        h2 { "Records since start" }
        table id="records" {
            tr { th { "topic" } @for (label, _) in &columns { th { (label) } } }
            @for topic in values[0].keys() {
                tr {
                    td { (topic) }
                    @for column in &values {
                        td { (format_number(column.get(topic).copied().unwrap_or(0.0))) }
                    }
                }
            }
        }
        @let failures = m.sum("lakestream_write_failures_total") + m.sum("lakestream_commit_failures_total");
        @if failures > 0.0 {
            p class="warn" { (failures) " write or commit failures since start (see the log)" }
        }
    }
}

fn flushes(flushes: &[FlushRecord]) -> Markup {
    html! {
        h2 { "Recent flushes" }
        @if flushes.is_empty() {
            p class="muted" { "none yet: hourly windows are written when they close" }
        } @else {
            table id="flushes" {
                tr { th { "finished" } th { "partition" } th { "reason" } th { "files" }
                     th { "rows" } th { "bytes" } th { "seconds" } }
                @for f in flushes {
                    tr {
                        td { (DateTime::<Utc>::from_timestamp(f.at, 0).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default()) }
                        td { (f.partition) } td { (f.reason) } td { (f.files) }
                        td { (format_number(f.rows as f64)) } td { (format_number(f.bytes as f64)) }
                        td { (format!("{:.2}", f.seconds)) }
                    }
                }
            }
        }
    }
}

fn quality(m: &Gathered) -> Markup {
    let mut scores: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (labels, value) in m.series("lakestream_quality_score") {
        let (Some(dataset), Some(dimension)) = (labels.get("dataset"), labels.get("dimension"))
        else {
            continue;
        };
        scores
            .entry(dataset.clone())
            .or_default()
            .insert(dimension.clone(), *value);
    }
    let dimensions: Vec<String> = scores
        .values()
        .flat_map(|d| d.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    html! {
        h2 { "Quality of the latest window" }
        @if scores.is_empty() {
            p class="muted" { "no window written yet" }
        } @else {
            table id="quality" {
                tr { th { "dataset" } @for d in &dimensions { th { (d) } } }
                @for (dataset, row) in &scores {
                    tr {
                        td { (dataset) }
                        @for d in &dimensions {
                            @let v = row.get(d).copied().unwrap_or(f64::NAN);
                            td class=[(v < 0.95).then_some("warn")] { (format!("{v:.3}")) }
                        }
                    }
                }
            }
        }
    }
}

fn watermark(now: DateTime<Utc>, event_lag_seconds: f64) -> String {
    if event_lag_seconds <= 0.0 {
        return "-".into();
    }
    let at = now - chrono::Duration::milliseconds((event_lag_seconds * 1000.0) as i64);
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// 93784 -> "1d 2h 3m": lags range from seconds to days.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h {}m", s / 86_400, s % 86_400 / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(93_784.0), "1d 2h 3m");
        assert_eq!(watermark(Utc::now(), 0.0), "-");
    }
}
