//! `lakestream lake summary`: files, rows and bytes per tier, dataset and day, read from
//! object listings and Parquet footers (two small ranged reads per file, never the data).

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectStore;
use std::sync::Arc;

use super::partition::{is_data_file, DayPartition};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.files += other.files;
        self.rows += other.rows;
        self.bytes += other.bytes;
    }
}

/// Per day partition, in path order (tier, dataset, day).
pub type Summary = BTreeMap<DayPartition, Totals>;

/// Footers read at once: enough to hide object-store latency, few enough for a laptop.
const CONCURRENT_FOOTERS: usize = 16;

pub async fn summarize(
    store: Arc<dyn ObjectStore>,
    progress: &(dyn Fn(usize) + Sync),
) -> anyhow::Result<Summary> {
    let objects: Vec<_> = store
        .list(None)
        .try_filter(|meta| std::future::ready(is_data_file(meta.location.as_ref())))
        .try_collect()
        .await?;
    let mut files = futures::stream::iter(objects.into_iter().filter_map(|meta| {
        let partition = DayPartition::of(meta.location.as_ref())?;
        Some((partition, meta))
    }))
    .map(|(partition, meta)| {
        let store = store.clone();
        async move {
            let rows = footer_rows(store.as_ref(), &meta.location, meta.size).await?;
            anyhow::Ok((partition, meta.size, rows))
        }
    })
    .buffer_unordered(CONCURRENT_FOOTERS);
    let mut summary = Summary::new();
    let mut done = 0;
    while let Some(file) = files.next().await {
        let (partition, bytes, rows) = file?;
        summary.entry(partition).or_default().add(Totals {
            files: 1,
            rows,
            bytes,
        });
        done += 1;
        progress(done);
    }
    Ok(summary)
}

async fn footer_rows(store: &dyn ObjectStore, path: &Path, size: u64) -> anyhow::Result<u64> {
    let metadata = super::read::footer(store, path, size).await?;
    Ok(metadata.file_metadata().num_rows().max(0) as u64)
}

/// The summary as text: one line per dataset and day, a total per dataset, and the
/// oldest and newest day of each tier.
pub fn render(summary: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<42} {:>10} {:>7} {:>12} {:>12}",
        "dataset", "day", "files", "rows", "bytes"
    );
    let mut per_dataset: BTreeMap<String, Totals> = BTreeMap::new();
    for (p, t) in summary {
        let _ = writeln!(
            out,
            "{:<42} {:>10} {:>7} {:>12} {:>12}",
            p.dataset_path(),
            p.day.to_string(),
            t.files,
            t.rows,
            t.bytes
        );
        per_dataset.entry(p.dataset_path()).or_default().add(*t);
    }
    let _ = writeln!(out);
    for (dataset, t) in &per_dataset {
        let _ = writeln!(
            out,
            "{:<42} {:>10} {:>7} {:>12} {:>12}",
            dataset, "total", t.files, t.rows, t.bytes
        );
    }
    let mut tiers: BTreeMap<&str, (chrono::NaiveDate, chrono::NaiveDate)> = BTreeMap::new();
    for p in summary.keys() {
        let span = tiers.entry(&p.tier).or_insert((p.day, p.day));
        span.0 = span.0.min(p.day);
        span.1 = span.1.max(p.day);
    }
    let _ = writeln!(out);
    for (tier, (oldest, newest)) in tiers {
        let _ = writeln!(out, "{tier}: oldest day {oldest}, newest day {newest}");
    }
    out
}
