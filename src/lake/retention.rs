//! Retention: day partitions older than their tier's retention are deleted, data files
//! and sidecars alike. Used by `lakestream lake cleanup` (optionally `--dry-run`) and, when
//! `retention.schedule` is set, by the service itself. Every deletion is an audit log line.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::ObjectStore;

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
            // Already gone is fine: another instance's scheduled run got there first.
            super::audit::delete(store, path, "retention").await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deletes what has expired every `every` until `stop`, starting now. Every instance of
/// the group may run it: deletions are idempotent.
pub fn spawn_schedule(
    store: std::sync::Arc<dyn ObjectStore>,
    retention: Retention,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let today = chrono::Utc::now().date_naive();
            let outcome = async {
                let found = expired(store.as_ref(), &retention, today).await?;
                let objects = delete(store.as_ref(), &found).await?;
                anyhow::Ok((found.len(), objects))
            }
            .await;
            match outcome {
                Ok((partitions, objects)) => tracing::info!(
                    partitions,
                    objects,
                    "scheduled retention: expired day partitions deleted"
                ),
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "scheduled retention failed; trying again at the next interval"
                ),
            }
        }
    });
}
