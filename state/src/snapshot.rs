//! Snapshots of a partition's state in the object store, so any instance can continue a
//! partition with exactly the state that matches its durable offsets.
//!
//! Layout under the partition's prefix (e.g. `_lakestream/state/partition=00003/`):
//! - `sst/<file>-<bytes>.sst`: immutable RocksDB table files, uploaded once and shared by
//!   every snapshot that contains them (incremental upload);
//! - `snapshots/<generation>/<file>`: the small per-snapshot files (MANIFEST, CURRENT,
//!   OPTIONS, WAL);
//! - `snapshots/<generation>.json`: the list of both, plus the caller's metadata (the
//!   offsets the state corresponds to), written last: a snapshot exists once this does;
//! - `LATEST`: the newest complete generation.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::store::{PartitionDb, StateError};

/// The record of one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub generation: u64,
    /// Shared table files, by their name under `sst/`, with the local file name.
    pub tables: Vec<(String, String)>,
    /// Per-snapshot files under `snapshots/<generation>/`.
    pub files: Vec<String>,
    /// What the state corresponds to (the partition's durable offsets), opaque here.
    pub meta: serde_json::Value,
}

/// What an upload or restore moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfer {
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("object store at `{path}`: {source}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("local state file `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot record `{path}` is unreadable: {reason}")]
    Corrupt { path: String, reason: String },
}

type Result<T> = std::result::Result<T, SnapshotError>;

/// A checkpoint of a partition's database in a scratch folder, listed for upload: the
/// blocking half of [`Snapshots::upload`].
pub struct Checkpoint {
    dir: PathBuf,
    files: Vec<CheckpointFile>,
}

struct CheckpointFile {
    /// The local file name.
    name: String,
    /// For a table file, its name under `sst/`; `None` for a per-snapshot file.
    remote_table: Option<String>,
    /// False for a table file the store has already.
    upload: bool,
}

impl Checkpoint {
    /// Checkpoints `db` into `scratch` and lists the files the store does not have yet
    /// (`known`: table files already uploaded, by remote name). Blocks: RocksDB flushes
    /// the memtables and syncs the table files first, 0.1 to 0.6 s per partition in the
    /// benchmark (BENCHMARKS.md, round 12).
    pub fn take(db: &PartitionDb, scratch: &Path, known: &BTreeSet<String>) -> Result<Self> {
        if scratch.exists() {
            std::fs::remove_dir_all(scratch).map_err(io(scratch))?;
        }
        db.checkpoint(scratch)?;
        let mut entries: Vec<_> = std::fs::read_dir(scratch)
            .map_err(io(scratch))?
            .collect::<std::result::Result<_, _>>()
            .map_err(io(scratch))?;
        entries.sort_by_key(|e| e.file_name());
        let mut files = Vec::with_capacity(entries.len());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let len = entry.metadata().map_err(io(&path))?.len();
            // RocksDB never reuses a table file number within one database lineage; the
            // size guards against two lineages that did.
            let remote_table = name
                .strip_suffix(".sst")
                .map(|stem| format!("{stem}-{len}.sst"));
            let upload = remote_table.as_ref().is_none_or(|r| !known.contains(r));
            files.push(CheckpointFile {
                name,
                remote_table,
                upload,
            });
        }
        Ok(Checkpoint {
            dir: scratch.to_path_buf(),
            files,
        })
    }
}

/// Snapshots of one partition under one prefix.
pub struct Snapshots<'a> {
    store: &'a dyn ObjectStore,
    prefix: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl<'a> Snapshots<'a> {
    pub fn new(store: &'a dyn ObjectStore, prefix: &str) -> Self {
        Snapshots {
            store,
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    fn at(&self, rest: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{rest}", self.prefix))
    }

    async fn put(&self, path: ObjectPath, body: Bytes) -> Result<()> {
        self.store
            .put(&path, PutPayload::from(body))
            .await
            .map(|_| ())
            .map_err(|source| SnapshotError::Store {
                path: path.to_string(),
                source,
            })
    }

    async fn get(&self, path: ObjectPath) -> Result<Option<Bytes>> {
        match self.store.get(&path).await {
            Ok(found) => found
                .bytes()
                .await
                .map(Some)
                .map_err(|source| SnapshotError::Store {
                    path: path.to_string(),
                    source,
                }),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(SnapshotError::Store {
                path: path.to_string(),
                source,
            }),
        }
    }

    /// The newest complete snapshot, if any.
    pub async fn latest(&self) -> Result<Option<SnapshotManifest>> {
        let Some(latest) = self.get(self.at("LATEST")).await? else {
            return Ok(None);
        };
        let generation: u64 = std::str::from_utf8(&latest)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| SnapshotError::Corrupt {
                path: self.at("LATEST").to_string(),
                reason: "not a number".into(),
            })?;
        self.manifest(generation).await
    }

    pub async fn manifest(&self, generation: u64) -> Result<Option<SnapshotManifest>> {
        let path = self.at(&format!("snapshots/{generation}.json"));
        let Some(body) = self.get(path.clone()).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| SnapshotError::Corrupt {
                path: path.to_string(),
                reason: e.to_string(),
            })
    }

    /// Checkpoints `db` into `scratch` (a folder on the same file system, so table files
    /// are hard links) and uploads what the object store does not have yet. The
    /// checkpoint blocks the calling thread (see [`Checkpoint::take`]); a caller on an
    /// async runtime's worker runs [`Snapshots::known_tables`], [`Checkpoint::take`] and
    /// [`Snapshots::upload_checkpoint`] itself, the middle one off the workers.
    pub async fn upload(
        &self,
        db: &PartitionDb,
        scratch: &Path,
        meta: serde_json::Value,
    ) -> Result<(SnapshotManifest, Transfer)> {
        let (generation, known) = self.known_tables().await?;
        let checkpoint = Checkpoint::take(db, scratch, &known)?;
        self.upload_checkpoint(generation, checkpoint, meta).await
    }

    /// The generation the next snapshot gets, and the table files already uploaded.
    pub async fn known_tables(&self) -> Result<(u64, BTreeSet<String>)> {
        let previous = self.latest().await?;
        let generation = previous.as_ref().map_or(1, |m| m.generation + 1);
        let known = previous
            .iter()
            .flat_map(|m| m.tables.iter().map(|(remote, _)| remote.clone()))
            .collect();
        Ok((generation, known))
    }

    /// Uploads a checkpoint as snapshot `generation`, then points `LATEST` at it.
    pub async fn upload_checkpoint(
        &self,
        generation: u64,
        checkpoint: Checkpoint,
        meta: serde_json::Value,
    ) -> Result<(SnapshotManifest, Transfer)> {
        let mut manifest = SnapshotManifest {
            generation,
            tables: Vec::new(),
            files: Vec::new(),
            meta,
        };
        let mut moved = Transfer::default();
        // One file in memory at a time; they were just written, so reading is cheap.
        for file in checkpoint.files {
            let path = checkpoint.dir.join(&file.name);
            let body = if file.upload {
                let body = std::fs::read(&path).map_err(io(&path))?;
                moved.files += 1;
                moved.bytes += body.len() as u64;
                Some(Bytes::from(body))
            } else {
                None
            };
            match file.remote_table {
                Some(remote) => {
                    if let Some(body) = body {
                        self.put(self.at(&format!("sst/{remote}")), body).await?;
                    }
                    manifest.tables.push((remote, file.name));
                }
                None => {
                    let body = body.expect("per-snapshot files are always uploaded");
                    self.put(
                        self.at(&format!("snapshots/{generation}/{}", file.name)),
                        body,
                    )
                    .await?;
                    manifest.files.push(file.name);
                }
            }
        }
        std::fs::remove_dir_all(&checkpoint.dir).map_err(io(&checkpoint.dir))?;
        let body = serde_json::to_vec_pretty(&manifest).expect("snapshot manifest serializes");
        self.put(
            self.at(&format!("snapshots/{generation}.json")),
            Bytes::from(body),
        )
        .await?;
        self.put(self.at("LATEST"), Bytes::from(generation.to_string()))
            .await?;
        Ok((manifest, moved))
    }

    /// Downloads snapshot `generation` into `target` (which must not exist), ready for
    /// [`PartitionDb::open_at`]. The caller names the generation its offsets belong to:
    /// `LATEST` may be newer (uploaded by a flush that crashed before it was published).
    pub async fn restore(
        &self,
        target: &Path,
        generation: u64,
    ) -> Result<(SnapshotManifest, Transfer)> {
        let manifest = self
            .manifest(generation)
            .await?
            .ok_or_else(|| SnapshotError::Corrupt {
                path: self.at(&format!("snapshots/{generation}.json")).to_string(),
                reason: "the snapshot this partition's offsets refer to is missing".into(),
            })?;
        std::fs::create_dir_all(target).map_err(io(target))?;
        let mut moved = Transfer::default();
        let tables = manifest
            .tables
            .iter()
            .map(|(remote, local)| (format!("sst/{remote}"), local));
        let files = manifest
            .files
            .iter()
            .map(|f| (format!("snapshots/{}/{f}", manifest.generation), f));
        for (remote, local) in tables.chain(files) {
            let path = self.at(&remote);
            let body = self
                .get(path.clone())
                .await?
                .ok_or_else(|| SnapshotError::Corrupt {
                    path: path.to_string(),
                    reason: "listed by the snapshot but missing".into(),
                })?;
            let file = target.join(local);
            std::fs::write(&file, &body).map_err(io(&file))?;
            moved.files += 1;
            moved.bytes += body.len() as u64;
        }
        Ok((manifest, moved))
    }

    /// Deletes snapshots older than the newest `keep`, and table files none of the kept
    /// snapshots lists.
    pub async fn cleanup(&self, keep: u64) -> Result<usize> {
        let Some(latest) = self.latest().await? else {
            return Ok(0);
        };
        let oldest_kept = latest.generation.saturating_sub(keep.max(1) - 1);
        let mut live = BTreeSet::new();
        for generation in oldest_kept..=latest.generation {
            if let Some(m) = self.manifest(generation).await? {
                live.extend(m.tables.into_iter().map(|(remote, _)| remote));
            }
        }
        let listing: Vec<_> = self
            .store
            .list(Some(&ObjectPath::from(self.prefix.as_str())))
            .try_collect()
            .await
            .map_err(|source| SnapshotError::Store {
                path: self.prefix.clone(),
                source,
            })?;
        let mut deleted = 0;
        for object in listing {
            let rest = object
                .location
                .as_ref()
                .strip_prefix(&format!("{}/", self.prefix))
                .unwrap_or_default()
                .to_string();
            let stale = if let Some(table) = rest.strip_prefix("sst/") {
                !live.contains(table)
            } else if let Some(snapshot) = rest.strip_prefix("snapshots/") {
                let generation: Option<u64> = snapshot
                    .split(['/', '.'])
                    .next()
                    .and_then(|g| g.parse().ok());
                generation.is_some_and(|g| g < oldest_kept)
            } else {
                false
            };
            if stale {
                match self.store.delete(&object.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                    Err(source) => {
                        return Err(SnapshotError::Store {
                            path: object.location.to_string(),
                            source,
                        })
                    }
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;

    const STORES: &[&str] = &["seen"];

    fn write(db: &PartitionDb, from: i64, to: i64) {
        let entries: Vec<_> = (from..to)
            .map(|i| (format!("e{i:06}").into_bytes(), i))
            .collect();
        db.put_all("seen", &entries).unwrap();
    }

    #[tokio::test]
    async fn restores_on_an_empty_disk_and_uploads_only_new_tables() {
        let lake = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(lake.path()).unwrap();
        let snapshots = Snapshots::new(&store, "_lakestream/state/partition=00003");
        let local = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(local.path(), 3, STORES).unwrap();
        assert!(snapshots.latest().await.unwrap().is_none());

        write(&db, 0, 5000);
        let scratch = local.path().join("checkpoint");
        let (first, sent_first) = snapshots
            .upload(&db, &scratch, serde_json::json!({"offset": 5000}))
            .await
            .unwrap();
        write(&db, 5000, 5100);
        let (second, sent_second) = snapshots
            .upload(&db, &scratch, serde_json::json!({"offset": 5100}))
            .await
            .unwrap();
        assert_eq!((first.generation, second.generation), (1, 2));
        let shared = first
            .tables
            .iter()
            .filter(|t| second.tables.contains(t))
            .count();
        assert!(
            shared >= 1,
            "the second snapshot reuses the first one's table files"
        );
        let first_tables_bytes: u64 = sent_first.bytes;
        assert!(
            sent_second.bytes < first_tables_bytes,
            "{sent_second:?} vs {sent_first:?}"
        );

        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("partition=00003");
        let (restored, moved) = snapshots.restore(&target, 2).await.unwrap();
        assert_eq!(restored.meta["offset"], 5100);
        let older = elsewhere.path().join("older");
        let (first_again, _) = snapshots.restore(&older, 1).await.unwrap();
        assert_eq!(first_again.meta["offset"], 5000);
        let copy = PartitionDb::open_at(&older, STORES).unwrap();
        assert_eq!(copy.get::<i64>("seen", b"e005099").unwrap(), None);
        drop(copy);
        assert!(snapshots
            .restore(&elsewhere.path().join("x"), 7)
            .await
            .is_err());
        assert!(moved.bytes > 0);
        let copy = PartitionDb::open_at(&target, STORES).unwrap();
        assert_eq!(copy.get::<i64>("seen", b"e000042").unwrap(), Some(42));
        assert_eq!(copy.get::<i64>("seen", b"e005099").unwrap(), Some(5099));
        assert_eq!(copy.get::<i64>("seen", b"e005100").unwrap(), None);
    }

    #[tokio::test]
    async fn cleanup_keeps_what_the_newest_snapshots_need() {
        let lake = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(lake.path()).unwrap();
        let snapshots = Snapshots::new(&store, "p");
        let local = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(local.path(), 0, STORES).unwrap();
        let scratch = local.path().join("checkpoint");
        for round in 0..4 {
            write(&db, round * 100, round * 100 + 100);
            snapshots
                .upload(&db, &scratch, serde_json::json!(round))
                .await
                .unwrap();
        }
        let deleted = snapshots.cleanup(1).await.unwrap();
        assert!(deleted > 0);
        assert!(
            snapshots.manifest(3).await.unwrap().is_none(),
            "old snapshot records go"
        );
        let target = local.path().join("restored");
        let (latest, _) = snapshots.restore(&target, 4).await.unwrap();
        assert_eq!(latest.generation, 4);
        let copy = PartitionDb::open_at(&target, STORES).unwrap();
        assert_eq!(copy.get::<i64>("seen", b"e000399").unwrap(), Some(399));
        assert_eq!(copy.get::<i64>("seen", b"e000000").unwrap(), Some(0));
    }
}
