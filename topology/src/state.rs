//! A partition task's state: its RocksDB database under the state directory, kept in step
//! with the lake's manifest (see DESIGN.md, "State").
//!
//! On takeover the task compares the local database's last applied batch with the one the
//! manifest names: equal means the local copy is current and is used as it is; anything
//! else (no local copy, an older one, or one ahead because its owner crashed before
//! publishing) is replaced by the snapshot the manifest names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use lakestream_state::{Applied, PartitionDb, Snapshots};
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
    /// A batch written locally whose snapshot the manifest does not name yet.
    pub unpublished: Option<Applied>,
    pub publishes_since_cleanup: u32,
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
        let wanted_applied = wanted.map(|w| w.applied());
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
        let (_, moved) = snapshots
            .restore(&local, wanted.snapshot)
            .await
            .map_err(|e| state_err(partition, e))?;
        let db = PartitionDb::open_at(&local, stores).map_err(err)?;
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
            unpublished: None,
            publishes_since_cleanup: 0,
        }
    }

    /// Uploads a snapshot of the database (only table files the lake lacks) and returns
    /// the reference the manifest will carry.
    pub(crate) async fn publish(
        &mut self,
        store: &dyn ObjectStore,
        partition: i32,
        applied: Applied,
        metrics: &RuntimeMetrics,
    ) -> Result<StateRef> {
        let started = Instant::now();
        let snapshots = Snapshots::new(store, &self.prefix);
        let meta = serde_json::json!({ "seq": applied.seq, "token": applied.token });
        let (snapshot, moved) = snapshots
            .upload(&self.db, &self.scratch, meta)
            .await
            .map_err(|e| state_err(partition, e))?;
        metrics
            .state_snapshot_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.state_snapshot_bytes.inc_by(moved.bytes);
        metrics
            .state_store_bytes
            .with_label_values(&[&partition.to_string()])
            .set(self.db.size_bytes() as i64);
        self.publishes_since_cleanup += 1;
        Ok(StateRef {
            seq: applied.seq,
            token: applied.token,
            snapshot: snapshot.generation,
        })
    }

    /// Deletes snapshots older than the newest `keep`. Runs after a manifest save, when
    /// the newest snapshot is the one the manifest names.
    pub(crate) async fn cleanup(&mut self, store: &dyn ObjectStore, keep: u64) {
        self.publishes_since_cleanup = 0;
        match Snapshots::new(store, &self.prefix).cleanup(keep).await {
            Ok(deleted) if deleted > 0 => tracing::debug!(deleted, "old state snapshots removed"),
            Ok(_) => {}
            Err(error) => warn!(%error, "state snapshot cleanup failed; it runs again later"),
        }
    }
}
