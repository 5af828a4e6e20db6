//! `lakestream lake compact [--days N] [--target-size BYTES]`: merges the many hourly files
//! of a closed day into few files of about the target size, in the event tiers only
//! (`aggregated/` and `quality/` day files are rewritten in place by the service).
//!
//! Safe beside readers and the running service:
//! - only closed days: the day's end plus `state.allowed_lateness` plus `windows.grace`
//!   is past; a late file arriving afterwards is merged by a later run;
//! - objects are listed before the manifests are read, so a file of a flush in flight
//!   (listed in a manifest's `pending` before it is written) is always seen as pending,
//!   and left alone;
//! - crash-safe ([`intent`]): intent, then merged file, then its sidecar, then the sources
//!   (sidecar, then data), then the intent. Each run first finishes what an earlier run
//!   left: intent and merged file present -> the sources go; intent alone -> it goes and
//!   the sources are merged again. A reader may see a day's rows twice between the merged
//!   file's appearance and the sources' deletion, never miss one.

pub mod intent;
pub mod merge;
pub mod plan;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lakestream_topology::failpoint;
use lakestream_topology::manifest::Manifest;
use lakestream_topology::sink::WRITER_VERSION;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{json, Value};

use super::partition::DayPartition;
use super::scope::{self, DataFile, Days};
use super::{audit, datasets, read, schema_check, sidecar};
use intent::{Intent, Names, Source};

/// The tiers whose files are hourly windows, one file per flush.
pub const EVENT_TIERS: &[&str] = &["raw", "processed", "quarantine"];

/// Fail points (`LAKESTREAM_FAILPOINT`) for crash tests.
pub const AFTER_INTENT: &str = "compact-after-intent";
pub const AFTER_MERGED_FILE: &str = "compact-after-merged-file";

#[derive(Debug, Clone)]
pub struct Options {
    pub days: Days,
    pub target_size: u64,
    /// `state.allowed_lateness` + `windows.grace`.
    pub closed_after: Duration,
    pub now: DateTime<Utc>,
    pub row_group_rows: usize,
}

impl Options {
    fn closed(&self, partition: &DayPartition) -> bool {
        let Some(next) = partition.day.succ_opt() else {
            return false;
        };
        let end = next.and_time(chrono::NaiveTime::MIN).and_utc();
        chrono::Duration::from_std(self.closed_after).is_ok_and(|late| end + late <= self.now)
    }
}

/// What a run did, line by line, for the operator.
#[derive(Debug, Default)]
pub struct Compaction {
    pub lines: Vec<String>,
    pub merged_files: usize,
    pub replaced_files: usize,
}

pub async fn compact(store: Arc<dyn ObjectStore>, options: &Options) -> anyhow::Result<Compaction> {
    let mut out = Compaction::default();
    recover(store.as_ref(), &mut out).await?;
    // Listing before reading the manifests: see the module doc.
    let mut objects = Vec::new();
    for tier in EVENT_TIERS {
        objects.extend(scope::list(store.as_ref(), Some(tier)).await?);
    }
    let pending = pending_files(store.as_ref()).await?;
    let mut days: BTreeMap<DayPartition, Vec<DataFile>> = BTreeMap::new();
    let mut skipped = 0;
    for file in scope::data_files(&objects, &options.days) {
        if !options.closed(&file.partition) {
            continue;
        }
        if pending.contains(file.path()) {
            skipped += 1;
            continue;
        }
        days.entry(file.partition.clone()).or_default().push(file);
    }
    if skipped > 0 {
        out.lines.push(format!(
            "left {skipped} files alone: a flush in progress lists them as pending"
        ));
    }
    for (partition, files) in days {
        for group in plan::groups(files, options.target_size) {
            merge_group(&store, options, &partition, &group, &mut out).await?;
        }
    }
    Ok(out)
}

/// Every file some partition's manifest lists as `pending`. A manifest that cannot be
/// read stops the run: without it, a file in flight cannot be told from a durable one.
async fn pending_files(store: &dyn ObjectStore) -> anyhow::Result<HashSet<String>> {
    let mut pending = HashSet::new();
    for meta in scope::list(store, Some("_lakestream/manifests")).await? {
        let path = meta.location.to_string();
        if !path.ends_with(".json") {
            continue;
        }
        let bytes = store.get(&meta.location).await?.bytes().await?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{path}: not a manifest: {e}"))?;
        pending.extend(manifest.pending);
    }
    Ok(pending)
}

async fn merge_group(
    store: &Arc<dyn ObjectStore>,
    options: &Options,
    partition: &DayPartition,
    group: &[DataFile],
    out: &mut Compaction,
) -> anyhow::Result<()> {
    let dataset_path = partition.dataset_path();
    let Some((_, dataset)) = datasets::by_path(&dataset_path) else {
        out.lines.push(format!(
            "left {} alone: `{dataset_path}` is not a dataset of the contract",
            partition.prefix()
        ));
        return Ok(());
    };
    for file in group {
        let footer = read::footer(store.as_ref(), &file.meta.location, file.meta.size).await?;
        let differences =
            schema_check::differences(&schema_check::of_footer(&footer)?, &dataset.schema);
        if !differences.is_empty() {
            out.lines.push(format!(
                "left {} alone: {} has another schema than the contract (run validate)",
                partition.prefix(),
                file.path()
            ));
            return Ok(());
        }
    }
    let paths: Vec<&str> = group.iter().map(DataFile::path).collect();
    let names = Names::of(
        &partition.prefix(),
        &partition.day.format("%Y%m%d").to_string(),
        &paths,
    );
    let mut sources = Vec::with_capacity(group.len());
    for path in &paths {
        let sidecar = sidecar::read(store.as_ref(), &sidecar::path_of(path)).await?;
        sources.push(Source {
            path: path.to_string(),
            sidecar: sidecar.unwrap_or(Value::Null),
        });
    }
    let intent = Intent {
        format: intent::FORMAT,
        dataset: dataset_path,
        target: names.target.clone(),
        sources,
    };
    intent::save(store.as_ref(), &names.intent, &intent).await?;
    failpoint::hit(AFTER_INTENT);
    let source_paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    if let Err(e) = merge::write(
        store,
        &dataset,
        &source_paths,
        &names.target,
        options.row_group_rows,
    )
    .await
    {
        // Nothing visible was written: undo the intent so the sources stay as they were.
        audit::delete(store.as_ref(), &names.intent, "compaction-failed").await?;
        return Err(e);
    }
    failpoint::hit(AFTER_MERGED_FILE);
    let (rows, bytes) = finish(store.as_ref(), &names.intent, &intent).await?;
    out.merged_files += 1;
    out.replaced_files += group.len();
    out.lines.push(format!(
        "merged {} files of {} into {} ({rows} rows, {bytes} bytes)",
        group.len(),
        partition.prefix(),
        names.target
    ));
    Ok(())
}

/// The merged file exists: writes its sidecar, deletes the sources (sidecar first, so a
/// reader never finds a sidecar without its data) and then the intent.
async fn finish(
    store: &dyn ObjectStore,
    intent_path: &str,
    intent: &Intent,
) -> anyhow::Result<(u64, u64)> {
    let target = Path::from(intent.target.as_str());
    let size = store
        .head(&target)
        .await
        .map_err(|e| anyhow::anyhow!("{}: cannot be read: {e}", intent.target))?
        .size;
    let footer = read::footer(store, &target, size).await?;
    let rows = footer.file_metadata().num_rows().max(0) as u64;
    let schema: Vec<(String, String)> = schema_check::of_footer(&footer)?
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let meta = json!({
        "dataset": intent.dataset,
        "rows": rows,
        "bytes": size,
        "schema": schema,
        "writer": WRITER_VERSION,
        "compacted_from": intent.sources,
    });
    let meta_path = sidecar::path_of(&intent.target);
    store
        .put(
            &Path::from(meta_path.as_str()),
            PutPayload::from(serde_json::to_vec_pretty(&meta)?),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{meta_path}: cannot be written: {e}"))?;
    for source in &intent.sources {
        audit::delete(store, &sidecar::path_of(&source.path), "compaction").await?;
        audit::delete(store, &source.path, "compaction").await?;
    }
    audit::delete(store, intent_path, "compaction-done").await?;
    Ok((rows, size))
}

/// Finishes or undoes the compactions an earlier run left (see the module doc).
async fn recover(store: &dyn ObjectStore, out: &mut Compaction) -> anyhow::Result<()> {
    for tier in EVENT_TIERS {
        for meta in scope::list(store, Some(tier)).await? {
            let path = meta.location.to_string();
            if !intent::is_intent(&path) {
                continue;
            }
            let intent = intent::load(store, &path).await?;
            match store.head(&Path::from(intent.target.as_str())).await {
                Ok(_) => {
                    finish(store, &path, &intent).await?;
                    out.lines.push(format!(
                        "finished an interrupted compaction into {} ({} sources)",
                        intent.target,
                        intent.sources.len()
                    ));
                }
                Err(object_store::Error::NotFound { .. }) => {
                    audit::delete(store, &path, "compaction-abandoned").await?;
                    out.lines.push(format!(
                        "undid an interrupted compaction ({path}): its merged file was never written"
                    ));
                }
                Err(e) => return Err(anyhow::anyhow!("{}: cannot be read: {e}", intent.target)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_closes_after_its_end_plus_the_lateness() {
        let partition = DayPartition::of("raw/t/year=2026/month=11/day=20/x.parquet").unwrap();
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        let options = |now| Options {
            days: Days::all(chrono::NaiveDate::MIN),
            target_size: 1,
            closed_after: Duration::from_secs(2 * 86_400 + 600),
            now,
            row_group_rows: 1,
        };
        assert!(!options(at("2026-11-23T00:09:59Z")).closed(&partition));
        assert!(options(at("2026-11-23T00:10:00Z")).closed(&partition));
    }
}
