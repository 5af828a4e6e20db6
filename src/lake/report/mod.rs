//! `lakestream lake report [--days N] [--html FILE]`: records per day, storage growth,
//! quality trend and top quarantine reasons, as terminal tables ([`text`]) or one
//! self-contained HTML page with inline SVG charts ([`html`]). Both render the same
//! [`table::Table`]s.
//!
//! Days are event days (the hive partitions), not the days files were written.

pub mod html;
pub mod svg;
pub mod table;
pub mod text;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::AsArray;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;

use super::compact::intent::is_intent;
use super::partition::DayPartition;
use super::scope::{self, Days};
use super::summary::{self, Summary};
use super::{read, sidecar};

/// Reasons listed.
pub const TOP_REASONS: usize = 10;
const CONCURRENT_READS: usize = 16;

/// Record-weighted quality of one dataset's day.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DayQuality {
    pub records: u64,
    /// Sum over windows of overall score x records.
    weighted: f64,
}

impl DayQuality {
    pub fn overall(&self) -> Option<f64> {
        (self.records > 0).then(|| self.weighted / self.records as f64)
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// Files, rows and bytes per dataset and day.
    pub days: Summary,
    /// `(day, processed dataset)` -> quality, from the raw files' window reports.
    pub quality: BTreeMap<(NaiveDate, String), DayQuality>,
    /// Quarantined rows by reason, most frequent first (ties by reason), at most
    /// [`TOP_REASONS`].
    pub top_reasons: Vec<(String, u64)>,
    pub quarantined: u64,
}

impl Report {
    /// `(day, bytes that day, bytes up to and including that day)`.
    pub fn storage_growth(&self) -> Vec<(NaiveDate, u64, u64)> {
        let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
        for (partition, totals) in &self.days {
            *per_day.entry(partition.day).or_default() += totals.bytes;
        }
        let mut total = 0;
        per_day
            .into_iter()
            .map(|(day, bytes)| {
                total += bytes;
                (day, bytes, total)
            })
            .collect()
    }
}

pub async fn collect(
    store: Arc<dyn ObjectStore>,
    days: Days,
    progress: &(dyn Fn(usize) + Sync),
) -> anyhow::Result<Report> {
    let mut summary = summary::summarize(store.clone(), progress).await?;
    summary.retain(|p, _| days.contains(p.day));
    let (top_reasons, quarantined) = reasons(&store, &days).await?;
    Ok(Report {
        days: summary,
        quality: quality(&store, &days).await?,
        top_reasons,
        quarantined,
    })
}

/// Window quality reports live in the raw files' sidecars (`quality.scores.overall`,
/// `quality.counts.records`, `quality.dataset`), compacted ones included.
async fn quality(
    store: &Arc<dyn ObjectStore>,
    days: &Days,
) -> anyhow::Result<BTreeMap<(NaiveDate, String), DayQuality>> {
    let sidecars: Vec<(NaiveDate, String)> = scope::list(store.as_ref(), Some("raw"))
        .await?
        .into_iter()
        .filter_map(|meta| {
            let path = meta.location.to_string();
            let name = path.rsplit('/').next()?;
            let is_sidecar = name.starts_with('_') && name.ends_with(".meta.json");
            // An intent repeats its sources' sidecars, which still exist beside it.
            if !is_sidecar || is_intent(&path) {
                return None;
            }
            let day = DayPartition::of(&path)?.day;
            days.contains(day).then_some((day, path))
        })
        .collect();
    let mut read = futures::stream::iter(sidecars)
        .map(|(day, path)| async move {
            let json = sidecar::read(store.as_ref(), &path).await?;
            anyhow::Ok((day, json))
        })
        .buffer_unordered(CONCURRENT_READS);
    let mut out: BTreeMap<(NaiveDate, String), DayQuality> = BTreeMap::new();
    while let Some((day, json)) = read.try_next().await? {
        for report in json.iter().flat_map(sidecar::quality_reports) {
            let (Some(dataset), Some(records), Some(overall)) = (
                report["dataset"].as_str(),
                report["counts"]["records"].as_u64(),
                report["scores"]["overall"].as_f64(),
            ) else {
                continue;
            };
            let q = out.entry((day, dataset.to_string())).or_default();
            q.records += records;
            q.weighted += overall * records as f64;
        }
    }
    Ok(out)
}

/// The `reason` column of every quarantine file, counted.
async fn reasons(
    store: &Arc<dyn ObjectStore>,
    days: &Days,
) -> anyhow::Result<(Vec<(String, u64)>, u64)> {
    let objects = scope::list(store.as_ref(), Some("quarantine")).await?;
    let files = scope::data_files(&objects, days);
    let mut read = futures::stream::iter(files)
        .map(|file| async move { read::column(store, &file.meta.location, "reason").await })
        .buffer_unordered(CONCURRENT_READS);
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut total = 0;
    while let Some(columns) = read.try_next().await? {
        for column in columns {
            let Some(reasons) = column.as_string_opt::<i32>() else {
                anyhow::bail!("the quarantine `reason` column is not text");
            };
            for reason in reasons.iter().flatten() {
                *counts.entry(reason.to_string()).or_default() += 1;
                total += 1;
            }
        }
    }
    Ok((top(counts, TOP_REASONS), total))
}

fn top(counts: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut sorted: Vec<_> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::summary::Totals;

    #[test]
    fn top_reasons_by_count_then_text() {
        let counts = [("b", 2), ("a", 2), ("c", 5), ("d", 1)]
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        assert_eq!(
            top(counts, 3),
            vec![("c".into(), 5), ("a".into(), 2), ("b".into(), 2)]
        );
    }

    #[test]
    fn storage_grows_by_each_days_bytes() {
        let mut report = Report::default();
        for (path, bytes) in [
            ("raw/t/year=2026/month=1/day=2/a.parquet", 10),
            ("processed/t/year=2026/month=1/day=2/a.parquet", 5),
            ("raw/t/year=2026/month=1/day=1/a.parquet", 7),
        ] {
            report.days.insert(
                DayPartition::of(path).unwrap(),
                Totals {
                    files: 1,
                    rows: 1,
                    bytes,
                },
            );
        }
        let day = |d| NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
        assert_eq!(
            report.storage_growth(),
            vec![(day(1), 7, 7), (day(2), 15, 22)]
        );
    }

    #[test]
    fn quality_is_weighted_by_records() {
        let q = DayQuality {
            records: 4,
            weighted: 0.5 * 1.0 + 1.0 * 3.0,
        };
        assert_eq!(q.overall(), Some(0.875));
        assert_eq!(DayQuality::default().overall(), None);
    }
}
