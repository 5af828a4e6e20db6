//! A partition task's state: its RocksDB database under the state directory, kept in step
//! with the lake's manifest (see DESIGN.md, "State").
//!
//! A flush publishes its state batch as a changelog entry in the lake; every
//! `snapshot_every` publications (and the first) upload a snapshot of the database
//! instead, which the following entries build on.
//!
//! On takeover the task compares the local database's last applied batch with the one the
//! manifest names: equal means the local copy is current and is used as it is; anything
//! else (no local copy, an older one, or one ahead because its owner crashed before
//! publishing) is replaced by the snapshot the manifest names plus its changelog entries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use lakestream_state::{Applied, Changelog, Checkpoint, PartitionDb, Snapshots};
use object_store::ObjectStore;
use tracing::{info, warn};

use crate::error::{Result, RuntimeError};
use crate::manifest::StateRef;
use crate::metrics::RuntimeMetrics;

/// The state databases this instance serves right now, for interactive queries. A task
/// registers its database once restored and removes it when it stops.
#[derive(Default)]
pub struct LiveStores {
    stores: RwLock<BTreeMap<i32, Arc<PartitionDb>>>,
    partitions: std::sync::atomic::AtomicI32,
    /// Partitions the group gave this instance; restored ones are also in `stores`.
    assigned: RwLock<BTreeSet<i32>>,
}

impl LiveStores {
    pub fn get(&self, partition: i32) -> Option<Arc<PartitionDb>> {
        self.stores.read().unwrap().get(&partition).cloned()
    }

    /// Partitions whose state is restored and served here.
    pub fn owned(&self) -> Vec<i32> {
        self.stores.read().unwrap().keys().copied().collect()
    }

    /// Partitions assigned to this instance by the group, restored or not.
    pub fn assigned(&self) -> Vec<i32> {
        self.assigned.read().unwrap().iter().copied().collect()
    }

    pub(crate) fn set_assigned(&self, partitions: impl IntoIterator<Item = i32>) {
        *self.assigned.write().unwrap() = partitions.into_iter().collect();
    }

    /// Partition count of the subscribed topics, once the runtime has checked it.
    pub fn partition_count(&self) -> Option<i32> {
        match self.partitions.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    pub(crate) fn set_partition_count(&self, n: i32) {
        self.partitions
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn insert(&self, partition: i32, db: Arc<PartitionDb>) {
        self.stores.write().unwrap().insert(partition, db);
    }

    pub(crate) fn remove(&self, partition: i32) {
        self.stores.write().unwrap().remove(&partition);
    }
}

/// Where partition `p`'s snapshots live in the lake.
pub fn snapshot_prefix(partition: i32) -> String {
    format!("_lakestream/state/partition={partition:05}")
}

/// How a task got its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The manifest names no state yet: a new, empty database.
    Empty,
    /// The local copy matched the manifest.
    Local,
    /// Downloaded from the snapshot the manifest names.
    Snapshot,
}

impl Restored {
    pub fn as_str(self) -> &'static str {
        match self {
            Restored::Empty => "empty",
            Restored::Local => "local",
            Restored::Snapshot => "snapshot",
        }
    }
}

pub(crate) struct TaskState {
    pub db: Arc<PartitionDb>,
    scratch: PathBuf,
    prefix: String,
    /// Days whose derived files must be rewritten before the next manifest save.
    pub dirty_days: BTreeSet<i64>,
    /// Batches written locally that the manifest does not name yet, oldest first, with
    /// their serialized form for the changelog.
    pub unpublished: Vec<(Applied, Bytes)>,
    pub publishes_since_cleanup: u32,
}

/// RocksDB's answer when another handle in this process holds the database's lock.
fn held_by_this_process(error: &lakestream_state::StateError) -> bool {
    error.to_string().contains("lock hold by current process")
}

fn state_err(partition: i32, reason: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::State {
        partition,
        reason: reason.to_string(),
    }
}

impl TaskState {
    /// Opens the partition's database so that it holds exactly the state `wanted` names.
    pub(crate) async fn open(
        store: &dyn ObjectStore,
        state_dir: &std::path::Path,
        partition: i32,
        stores: &[&str],
        wanted: Option<StateRef>,
        metrics: &RuntimeMetrics,
    ) -> Result<(TaskState, Restored)> {
        let local = PartitionDb::dir_of(state_dir, partition);
        let scratch = state_dir.join(format!("partition={partition:05}.checkpoint"));
        let prefix = snapshot_prefix(partition);
        let err = |e: lakestream_state::StateError| state_err(partition, e);
        std::fs::create_dir_all(state_dir).map_err(|e| {
            state_err(
                partition,
                format!(
                    "cannot create state directory `{}`: {e}",
                    state_dir.display()
                ),
            )
        })?;
        let wanted_applied = wanted.as_ref().map(|w| w.applied());
        if local.exists() {
            match PartitionDb::open_at(&local, stores).and_then(|db| Ok((db.applied()?, db))) {
                Ok((applied, db)) if applied == wanted_applied => {
                    info!(
                        seq = applied.map(|a| a.seq),
                        "local state is current; nothing to download"
                    );
                    return Ok((TaskState::new(db, scratch, prefix), Restored::Local));
                }
                Ok((applied, _)) => info!(
                    local = ?applied.map(|a| a.seq),
                    wanted = ?wanted_applied.map(|a| a.seq),
                    "local state does not match the manifest; replacing it"
                ),
                Err(error) if held_by_this_process(&error) => {
                    // The previous task of this partition in this process (a reassignment
                    // after a session timeout) has not closed the store yet: its files are
                    // in use, so wait for it (`recover` retries) instead of deleting them.
                    return Err(state_err(
                        partition,
                        format!("the local store is still open in this instance's previous task for the partition; waiting for it to close: {error}"),
                    ));
                }
                Err(error) => warn!(%error, "local state does not open; replacing it"),
            }
            std::fs::remove_dir_all(&local).map_err(|e| {
                state_err(
                    partition,
                    format!("cannot remove `{}`: {e}", local.display()),
                )
            })?;
        }
        let Some(wanted) = wanted else {
            let db = PartitionDb::open_at(&local, stores).map_err(err)?;
            return Ok((TaskState::new(db, scratch, prefix), Restored::Empty));
        };
        let started = Instant::now();
        let snapshots = Snapshots::new(store, &prefix);
        let (_, mut moved) = snapshots
            .restore(&local, wanted.snapshot)
            .await
            .map_err(|e| state_err(partition, e))?;
        let db = PartitionDb::open_at(&local, stores).map_err(err)?;
        let replayed = Changelog::new(store, &prefix)
            .replay(&db, &wanted.changelog)
            .await
            .map_err(|e| state_err(partition, e))?;
        moved.files += replayed.files;
        moved.bytes += replayed.bytes;
        let applied = db.applied().map_err(err)?;
        if applied != Some(wanted.applied()) {
            return Err(state_err(
                partition,
                format!(
                    "snapshot {} holds batch {:?}, the manifest names {:?}",
                    wanted.snapshot,
                    applied,
                    wanted.applied()
                ),
            ));
        }
        let seconds = started.elapsed().as_secs_f64();
        metrics.state_restore_seconds.observe(seconds);
        metrics.state_restore_bytes.inc_by(moved.bytes);
        info!(
            snapshot = wanted.snapshot,
            changelog = wanted.changelog.len(),
            files = moved.files,
            bytes = moved.bytes,
            seconds,
            "state restored from the lake"
        );
        Ok((TaskState::new(db, scratch, prefix), Restored::Snapshot))
    }

    fn new(db: PartitionDb, scratch: PathBuf, prefix: String) -> Self {
        TaskState {
            db: Arc::new(db),
            scratch,
            prefix,
            dirty_days: BTreeSet::new(),
            unpublished: Vec::new(),
            publishes_since_cleanup: 0,
        }
    }

    /// Makes the unpublished batches durable in the lake and returns the reference the
    /// manifest will carry: their changelog entries on top of `current` (the manifest's
    /// state), or a new snapshot when there is no snapshot yet or `current` already has
    /// `snapshot_every` entries (a restore replays at most that many).
    pub(crate) async fn publish(
        &mut self,
        store: &dyn ObjectStore,
        partition: i32,
        current: Option<&StateRef>,
        snapshot_every: usize,
        metrics: &RuntimeMetrics,
    ) -> Result<Option<StateRef>> {
        let Some(&(last, _)) = self.unpublished.last() else {
            return Ok(None);
        };
        let started = Instant::now();
        let chain = current.map(|c| c.changelog.len() + self.unpublished.len());
        let published = match (current, chain) {
            (Some(current), Some(chain)) if chain <= snapshot_every => {
                let changelog = Changelog::new(store, &self.prefix);
                let mut entries = current.changelog.clone();
                for (applied, data) in &self.unpublished {
                    let bytes = changelog
                        .append(*applied, data.clone())
                        .await
                        .map_err(|e| state_err(partition, e))?;
                    metrics.state_snapshot_bytes.inc_by(bytes);
                    entries.push(*applied);
                }
                metrics
                    .state_changelog_seconds
                    .observe(started.elapsed().as_secs_f64());
                StateRef {
                    seq: last.seq,
                    token: last.token,
                    snapshot: current.snapshot,
                    changelog: entries,
                }
            }
            _ => {
                let snapshots = Snapshots::new(store, &self.prefix);
                let meta = serde_json::json!({ "seq": last.seq, "token": last.token });
                let (generation, known) = snapshots
                    .known_tables()
                    .await
                    .map_err(|e| state_err(partition, e))?;
                // The checkpoint waits for RocksDB's memtable flush and its syncs: 0.1 to
                // 0.6 s each, 18 s in all over a benchmark run (round 12). A runtime
                // worker must not sleep that long; the pool's threads may.
                let (db, scratch) = (self.db.clone(), self.scratch.clone());
                let checkpoint =
                    tokio::task::spawn_blocking(move || Checkpoint::take(&db, &scratch, &known))
                        .await
                        .expect("checkpoint thread")
                        .map_err(|e| state_err(partition, e))?;
                let (snapshot, moved) = snapshots
                    .upload_checkpoint(generation, checkpoint, meta)
                    .await
                    .map_err(|e| state_err(partition, e))?;
                metrics
                    .state_snapshot_seconds
                    .observe(started.elapsed().as_secs_f64());
                metrics.state_snapshot_bytes.inc_by(moved.bytes);
                StateRef {
                    seq: last.seq,
                    token: last.token,
                    snapshot: snapshot.generation,
                    changelog: Vec::new(),
                }
            }
        };
        metrics
            .state_store_bytes
            .with_label_values(&[&partition.to_string()])
            .set(self.db.size_bytes() as i64);
        self.publishes_since_cleanup += 1;
        Ok(Some(published))
    }

    /// Deletes snapshots older than the newest `keep`, and changelog entries the snapshot
    /// of `current` (the saved manifest's state) holds. Runs after a manifest save, when
    /// the newest snapshot is the one the manifest names.
    pub(crate) async fn cleanup(&mut self, store: &dyn ObjectStore, keep: u64, current: &StateRef) {
        self.publishes_since_cleanup = 0;
        let snapshots = Snapshots::new(store, &self.prefix).cleanup(keep).await;
        let changelog = Changelog::new(store, &self.prefix)
            .cleanup(current.snapshot_seq())
            .await;
        match snapshots.and_then(|s| Ok(s + changelog?)) {
            Ok(deleted) if deleted > 0 => tracing::debug!(deleted, "old state snapshots removed"),
            Ok(_) => {}
            Err(error) => warn!(%error, "state snapshot cleanup failed; it runs again later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;

    #[tokio::test]
    async fn a_store_still_open_in_this_process_is_waited_for_not_deleted() {
        let lake = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(lake.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let metrics = RuntimeMetrics::new(&prometheus::Registry::new());
        let (first, restored) = TaskState::open(&store, dir.path(), 4, &["s"], None, &metrics)
            .await
            .unwrap();
        assert_eq!(restored, Restored::Empty);
        first.db.put_all("s", &[(b"k".to_vec(), 1_u32)]).unwrap();

        let second = TaskState::open(&store, dir.path(), 4, &["s"], None, &metrics).await;
        let Err(error) = second else {
            panic!("a second open of a held store must fail")
        };
        assert!(error.to_string().contains("waiting"), "{error}");
        assert_eq!(first.db.get::<u32>("s", b"k").unwrap(), Some(1));

        drop(first);
        let (again, restored) = TaskState::open(&store, dir.path(), 4, &["s"], None, &metrics)
            .await
            .unwrap();
        assert_eq!(restored, Restored::Local);
        assert_eq!(again.db.get::<u32>("s", b"k").unwrap(), Some(1));
    }
}
