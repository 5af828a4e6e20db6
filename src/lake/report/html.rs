//! The report as one self-contained HTML page: inline CSS, inline SVG charts, the same
//! tables as the terminal. No script and no external asset, so it opens offline and can
//! be mailed as it is.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chrono::NaiveDate;

use super::svg::{self, escape, Series};
use super::table::Table;
use super::Report;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0 0 2em}td,th{padding:2px 10px;border-bottom:1px solid #eee}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left}svg{display:block;margin:1em 0}";

pub fn render(report: &Report, tables: &[Table], generated: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>lakestream lake report</title><style>{STYLE}</style></head><body><h1>Lake report</h1><p>Generated {}</p>",
        escape(generated)
    );
    for chart in charts(report) {
        out.push_str(&chart);
    }
    for table in tables {
        write_table(&mut out, table);
    }
    out.push_str("</body></html>\n");
    out
}

fn charts(report: &Report) -> Vec<String> {
    let mut rows: BTreeMap<&str, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for (p, t) in &report.days {
        *rows.entry(&p.tier).or_default().entry(p.day).or_default() += t.rows as f64;
    }
    let (days, per_tier) = by_day(rows, 0.0);
    let records = svg::stacked_bars("Records per day, by tier", &days, &per_tier);

    let growth = report.storage_growth();
    let growth_days: Vec<String> = growth.iter().map(|(d, _, _)| d.to_string()).collect();
    let growth_series = vec![
        Series {
            name: "cumulative bytes".into(),
            values: growth.iter().map(|g| g.2 as f64).collect(),
        },
        Series {
            name: "bytes of the day".into(),
            values: growth.iter().map(|g| g.1 as f64).collect(),
        },
    ];
    let storage = svg::lines("Storage growth", &growth_days, &growth_series, None);

    let mut scores: BTreeMap<&str, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for ((day, dataset), q) in &report.quality {
        if let Some(overall) = q.overall() {
            scores.entry(dataset).or_default().insert(*day, overall);
        }
    }
    // A day without a score is a gap, not a zero.
    let (quality_days, per_dataset) = by_day(scores, f64::NAN);
    let quality = svg::lines(
        "Quality trend (overall score)",
        &quality_days,
        &per_dataset,
        Some((0.0, 1.0)),
    );

    let (reasons, counts): (Vec<String>, Vec<f64>) = report
        .top_reasons
        .iter()
        .map(|(r, n)| (r.clone(), *n as f64))
        .unzip();
    let top = svg::horizontal_bars("Top quarantine reasons", &reasons, &counts);
    vec![records, storage, quality, top]
}

/// Day labels (every day any series has) and one series per name over them, `missing`
/// where a series has no value for a day.
fn by_day(
    per_name: BTreeMap<&str, BTreeMap<NaiveDate, f64>>,
    missing: f64,
) -> (Vec<String>, Vec<Series>) {
    let days: BTreeSet<NaiveDate> = per_name.values().flat_map(|m| m.keys().copied()).collect();
    let series = per_name
        .into_iter()
        .map(|(name, values)| Series {
            name: name.to_string(),
            values: days
                .iter()
                .map(|d| values.get(d).copied().unwrap_or(missing))
                .collect(),
        })
        .collect();
    (days.iter().map(NaiveDate::to_string).collect(), series)
}

fn write_table(out: &mut String, table: &Table) {
    let _ = write!(out, "<h2>{}</h2>", escape(table.title));
    if table.rows.is_empty() {
        out.push_str("<p>(none)</p>");
        return;
    }
    out.push_str("<table><tr>");
    for header in &table.headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr>");
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if table.numeric(i) { " class=\"n\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::partition::DayPartition;
    use crate::lake::summary::Totals;

    #[test]
    fn a_page_with_charts_tables_and_no_urls() {
        let mut report = Report::default();
        report.days.insert(
            DayPartition::of("raw/t/year=2026/month=1/day=2/a.parquet").unwrap(),
            Totals {
                files: 2,
                rows: 40,
                bytes: 900,
            },
        );
        report.top_reasons = vec![("<bad> & worse".into(), 3)];
        report.quarantined = 3;
        let tables = super::super::table::all(&report);
        let page = render(&report, &tables, "now");
        assert_eq!(page.matches("<svg").count(), 4);
        assert_eq!(
            page.matches("<table>").count(),
            3,
            "all but the empty quality table"
        );
        assert!(page.contains("&lt;bad&gt; &amp; worse"));
        assert!(!page.contains("<bad>"));
        assert!(!page.contains("http"), "no external reference");
        assert!(!page.contains("<script"));
    }
}
