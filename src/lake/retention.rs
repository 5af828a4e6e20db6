//! Retention: day partitions older than their tier's retention are deleted, data files
//! and sidecars alike. Used by `lakestream lake cleanup` (optionally `--dry-run`). Every
//! deletion is an audit log line.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;

use super::partition::DayPartition;

/// How long each tier keeps a day, by tier name ([`super::partition::TIERS`]).
pub type Retention = BTreeMap<String, Duration>;

/// A day partition past its retention and its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub partition: DayPartition,
    pub objects: Vec<String>,
}

/// Day partitions whose day ended more than their tier's retention before `today`.
pub async fn expired(
    store: &dyn ObjectStore,
    retention: &Retention,
    today: NaiveDate,
) -> anyhow::Result<Vec<Expired>> {
    let objects: Vec<_> = store.list(None).try_collect().await?;
    let mut found: BTreeMap<DayPartition, Vec<String>> = BTreeMap::new();
    for meta in objects {
        let path = meta.location.to_string();
        let Some(partition) = DayPartition::of(&path) else {
            continue;
        };
        let Some(keep) = retention.get(&partition.tier) else {
            continue;
        };
        let keep_days = keep.as_secs().div_ceil(86_400) as i64;
        if (today - partition.day).num_days() > keep_days {
            found.entry(partition).or_default().push(path);
        }
    }
    Ok(found
        .into_iter()
        .map(|(partition, mut objects)| {
            objects.sort();
            Expired { partition, objects }
        })
        .collect())
}

/// Deletes the objects of `expired`; data files last, so a reader never finds a sidecar
/// without its data but may find data without a sidecar for a moment.
pub async fn delete(store: &dyn ObjectStore, expired: &[Expired]) -> anyhow::Result<u64> {
    let mut deleted = 0;
    for e in expired {
        let (data, other): (Vec<&String>, Vec<&String>) = e
            .objects
            .iter()
            .partition(|p| super::partition::is_data_file(p));
        for path in other.into_iter().chain(data) {
            store
                .delete(&path.as_str().into())
                .await
                .map_err(|err| anyhow::anyhow!("{path}: delete failed: {err}"))?;
            super::audit::deleted(path, "retention");
            deleted += 1;
        }
    }
    Ok(deleted)
}
