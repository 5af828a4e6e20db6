//! `lakestream lake validate <tier>/<dataset> [--days N]`: reads every data file of a
//! dataset and checks what readers rely on: the file decodes, its schema is the
//! contract's, its row count agrees with its footer and sidecar, no row identity is in
//! the dataset twice, and every row's event day is the day its path names.

pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use futures::StreamExt;
use object_store::ObjectStore;

use super::scope::{self, DataFile, Days};
use super::{datasets, read, schema_check, sidecar};
use rules::Rules;

/// Files decoded at once: whole files are in memory while they are checked.
const CONCURRENT_FILES: usize = 4;

#[derive(Debug, Default)]
pub struct Validation {
    pub files: u64,
    pub rows: u64,
    /// One line per problem, each starting with the path it concerns.
    pub problems: Vec<String>,
}

/// What one file's own checks found, and its row identities for the dataset-wide check.
struct FileScan {
    rows: u64,
    identities: Vec<String>,
    problems: Vec<String>,
}

pub async fn validate(
    store: Arc<dyn ObjectStore>,
    dataset: &str,
    days: Days,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> anyhow::Result<Validation> {
    let (_, contract) = datasets::by_path(dataset).ok_or_else(|| {
        let known: Vec<String> = datasets::all().into_iter().map(|d| d.path).collect();
        anyhow::anyhow!("unknown dataset `{dataset}`; one of: {}", known.join(", "))
    })?;
    let rules = rules::for_dataset(dataset)
        .ok_or_else(|| anyhow::anyhow!("no validation rules for `{dataset}`"))?;
    let objects = scope::list(store.as_ref(), Some(&format!("{dataset}/"))).await?;
    let files = scope::data_files(&objects, &days);
    let mut scans = futures::stream::iter(&files)
        .map(|file| scan(store.clone(), file, &contract.schema, rules))
        .buffered(CONCURRENT_FILES);
    let mut out = Validation::default();
    let mut twice = Duplicates::default();
    let mut done = 0;
    while let Some(found) = scans.next().await {
        out.files += 1;
        out.rows += found.rows;
        out.problems.extend(found.problems);
        twice.add(done, found.identities);
        done += 1;
        progress(done, files.len());
    }
    out.problems.extend(twice.problems(&files, rules.identity));
    Ok(out)
}

async fn scan(
    store: Arc<dyn ObjectStore>,
    file: &DataFile,
    contract: &SchemaRef,
    rules: Rules,
) -> FileScan {
    let path = file.path();
    let mut scan = FileScan {
        rows: 0,
        identities: Vec::new(),
        problems: Vec::new(),
    };
    let (metadata, batches) = match read::whole(&store, &file.meta.location).await {
        Ok(read) => read,
        Err(e) => {
            scan.problems.push(format!("{e:#}"));
            return scan;
        }
    };
    let footer_rows = metadata.file_metadata().num_rows().max(0) as u64;
    scan.rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let differences = match schema_check::of_footer(&metadata) {
        Ok(actual) => schema_check::differences(&actual, contract),
        Err(e) => vec![format!("the footer has no Arrow schema: {e}")],
    };
    if !differences.is_empty() {
        scan.problems.push(format!(
            "{path}: schema differs from the contract ({}); its rows were not checked",
            differences.join("; ")
        ));
        return scan;
    }
    if scan.rows != footer_rows {
        scan.problems.push(format!(
            "{path}: {} rows in the data, {footer_rows} in the footer",
            scan.rows
        ));
    }
    match sidecar::read(store.as_ref(), &sidecar::path_of(path)).await {
        Ok(Some(meta)) => match sidecar::rows(&meta) {
            Some(recorded) if recorded != scan.rows => scan.problems.push(format!(
                "{path}: {} rows in the data, {recorded} in its sidecar",
                scan.rows
            )),
            _ => {}
        },
        Ok(None) => {}
        Err(e) => scan.problems.push(format!("{e:#}")),
    }
    let mut misplaced = Misplaced::default();
    for batch in &batches {
        let checked = rules.identities(batch).and_then(|ids| {
            misplaced.add(file.partition.day, &rules.event_days(batch)?);
            Ok(ids)
        });
        match checked {
            Ok(ids) => scan.identities.extend(ids),
            Err(e) => scan.problems.push(format!("{path}: {e:#}")),
        }
    }
    if let Some((count, example)) = misplaced.first {
        scan.problems.push(format!(
            "{path}: {count} rows belong to another day than the partition's {} (by {}; e.g. {})",
            file.partition.day,
            rules.time_source(),
            example.map_or("an unreadable time".into(), |d| d.to_string())
        ));
    }
    scan
}

/// Rows whose event day is not their partition's day: how many, and the first one's day.
#[derive(Default)]
struct Misplaced {
    first: Option<(u64, Option<NaiveDate>)>,
}

impl Misplaced {
    fn add(&mut self, partition_day: NaiveDate, days: &[Option<NaiveDate>]) {
        for day in days.iter().filter(|d| **d != Some(partition_day)) {
            self.first.get_or_insert((0, *day)).0 += 1;
        }
    }
}

/// Row identities seen so far (by file number), and the ones seen again per file pair.
#[derive(Default)]
struct Duplicates {
    first_seen: HashMap<String, usize>,
    /// `(earlier file, later file)` -> (count, an example identity).
    again: BTreeMap<(usize, usize), (u64, String)>,
}

impl Duplicates {
    fn add(&mut self, file: usize, identities: Vec<String>) {
        for id in identities {
            match self.first_seen.get(&id) {
                Some(&earlier) => {
                    let entry = self.again.entry((earlier, file)).or_insert((0, id));
                    entry.0 += 1;
                }
                None => {
                    self.first_seen.insert(id, file);
                }
            }
        }
    }

    fn problems(&self, files: &[DataFile], identity: &[&str]) -> Vec<String> {
        let what = identity.join("/");
        self.again
            .iter()
            .map(|(&(earlier, later), (count, example))| {
                let (a, b) = (files[earlier].path(), files[later].path());
                if earlier == later {
                    format!(
                        "{a}: {count} rows whose {what} is also in the same file (e.g. {example})"
                    )
                } else {
                    format!("{b}: {count} rows whose {what} is also in {a} (e.g. {example})")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_name_both_files_once_per_pair() {
        let files: Vec<DataFile> = ["a", "b"]
            .iter()
            .map(|name| DataFile {
                partition: super::super::partition::DayPartition {
                    tier: "processed".into(),
                    dataset: "x".into(),
                    day: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                },
                meta: object_store::ObjectMeta {
                    location: format!("processed/x/year=2026/month=1/day=1/{name}.parquet").into(),
                    last_modified: chrono::Utc::now(),
                    size: 1,
                    e_tag: None,
                    version: None,
                },
            })
            .collect();
        let mut d = Duplicates::default();
        d.add(0, vec!["e1".into(), "e2".into()]);
        d.add(1, vec!["e2".into(), "e1".into(), "e3".into(), "e3".into()]);
        let problems = d.problems(&files, &["event_id"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("processed/x/year=2026/month=1/day=1/b.parquet: 2 rows whose event_id is also in processed/x/year=2026/month=1/day=1/a.parquet"), "{problems:?}");
        assert!(
            problems[1].contains("also in the same file (e.g. e3)"),
            "{problems:?}"
        );
    }

    #[test]
    fn misplaced_rows_are_counted_with_the_first_wrong_day() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 1, d);
        let mut m = Misplaced::default();
        m.add(day(1).unwrap(), &[day(1), day(2), None, day(3)]);
        assert_eq!(m.first, Some((3, day(2))));
    }
}
