//! A partition's changelog in the object store: the state batches written since the last
//! snapshot, one object each, so a flush makes its state change durable by uploading the
//! batch (a few KiB) instead of a checkpoint of the database (a memtable flush, new table
//! files, compactions). A restore downloads the snapshot and applies the entries after it.
//!
//! Layout under the partition's prefix: `changelog/<seq>-<token>.batch`, the batch in
//! RocksDB's serialized form. Names carry the batch's random token: two owners that both
//! wrote batch `seq` (one crashed before publishing) never overwrite each other, and the
//! manifest says which one belongs to the partition's history.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::snapshot::{SnapshotError, Transfer};
use crate::store::{Applied, PartitionDb};

type Result<T> = std::result::Result<T, SnapshotError>;

/// The changelog of one partition under one prefix (the snapshots' prefix).
pub struct Changelog<'a> {
    store: &'a dyn ObjectStore,
    prefix: String,
}

impl<'a> Changelog<'a> {
    pub fn new(store: &'a dyn ObjectStore, prefix: &str) -> Self {
        Changelog {
            store,
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    fn entry(&self, applied: Applied) -> ObjectPath {
        ObjectPath::from(format!(
            "{}/changelog/{:020}-{:016x}.batch",
            self.prefix, applied.seq, applied.token
        ))
    }

    fn store_err(path: &ObjectPath) -> impl FnOnce(object_store::Error) -> SnapshotError + '_ {
        move |source| SnapshotError::Store {
            path: path.to_string(),
            source,
        }
    }

    /// Uploads one batch. Idempotent: a retried flush uploads the same bytes again.
    pub async fn append(&self, applied: Applied, data: Bytes) -> Result<u64> {
        let path = self.entry(applied);
        let len = data.len() as u64;
        self.store
            .put(&path, PutPayload::from(data))
            .await
            .map_err(Self::store_err(&path))?;
        Ok(len)
    }

    /// Applies `entries`, in order, to `db` (restored from the snapshot they follow).
    pub async fn replay(&self, db: &PartitionDb, entries: &[Applied]) -> Result<Transfer> {
        let mut moved = Transfer::default();
        for applied in entries {
            let path = self.entry(*applied);
            let body = match self.store.get(&path).await {
                Ok(found) => found.bytes().await.map_err(Self::store_err(&path))?,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(SnapshotError::Corrupt {
                        path: path.to_string(),
                        reason: "the changelog entry the manifest names is missing".into(),
                    })
                }
                Err(source) => return Err(Self::store_err(&path)(source)),
            };
            db.apply(&body)?;
            moved.files += 1;
            moved.bytes += body.len() as u64;
        }
        Ok(moved)
    }

    /// Deletes the entries numbered `seq` or lower: a snapshot holds their changes. Entries
    /// above it that no manifest names (a crashed owner's) go once a later snapshot passes
    /// them.
    pub async fn cleanup(&self, seq: u64) -> Result<usize> {
        let dir = ObjectPath::from(format!("{}/changelog", self.prefix));
        let listing: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(Self::store_err(&dir))?;
        let mut deleted = 0;
        for object in listing {
            let entry_seq: Option<u64> = object
                .location
                .filename()
                .and_then(|name| name.split('-').next())
                .and_then(|s| s.parse().ok());
            if entry_seq.is_some_and(|s| s <= seq) {
                match self.store.delete(&object.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                    Err(source) => return Err(Self::store_err(&object.location)(source)),
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Snapshots;
    use object_store::local::LocalFileSystem;

    const STORES: &[&str] = &["seen", "days"];

    /// Writes one marked batch and returns its serialized form.
    fn batch(db: &PartitionDb, applied: Applied, from: i64, to: i64) -> Bytes {
        let mut batch = db.batch();
        for i in from..to {
            batch
                .put("seen", format!("e{i:06}").as_bytes(), &i)
                .unwrap();
        }
        batch.put("days", b"count", &to).unwrap();
        if from > 0 {
            batch.delete("seen", b"e000000").unwrap();
        }
        batch.set_applied(applied).unwrap();
        let data = Bytes::copy_from_slice(batch.data());
        db.write(batch).unwrap();
        data
    }

    #[tokio::test]
    async fn a_snapshot_plus_its_changelog_restores_the_newest_state() {
        let lake = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(lake.path()).unwrap();
        let (snapshots, changelog) = (Snapshots::new(&store, "p/"), Changelog::new(&store, "p/"));
        let local = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(local.path(), 0, STORES).unwrap();
        let first = Applied { seq: 1, token: 7 };
        batch(&db, first, 0, 100);
        let scratch = local.path().join("checkpoint");
        let (snapshot, _) = snapshots
            .upload(&db, &scratch, serde_json::json!({}))
            .await
            .unwrap();
        let mut chain = Vec::new();
        for (seq, from) in [(2, 100), (3, 200)] {
            let applied = Applied {
                seq,
                token: seq * 11,
            };
            let data = batch(&db, applied, from, from + 100);
            changelog.append(applied, data).await.unwrap();
            chain.push(applied);
        }
        // A crashed owner's batch 3: uploaded, never named by a manifest.
        let stray = Applied { seq: 3, token: 99 };
        changelog
            .append(stray, Bytes::from_static(b"not a batch"))
            .await
            .unwrap();

        let target = local.path().join("restored");
        snapshots
            .restore(&target, snapshot.generation)
            .await
            .unwrap();
        let copy = PartitionDb::open_at(&target, STORES).unwrap();
        assert_eq!(copy.applied().unwrap(), Some(first));
        let moved = changelog.replay(&copy, &chain).await.unwrap();
        assert_eq!(moved.files, 2);
        assert_eq!(copy.applied().unwrap(), Some(chain[1]));
        assert_eq!(copy.get::<i64>("seen", b"e000299").unwrap(), Some(299));
        assert_eq!(copy.get::<i64>("seen", b"e000000").unwrap(), None);
        assert_eq!(copy.get::<i64>("days", b"count").unwrap(), Some(300));
        assert!(changelog
            .replay(&copy, &[Applied { seq: 4, token: 1 }])
            .await
            .is_err());

        assert_eq!(changelog.cleanup(2).await.unwrap(), 1);
        assert!(changelog.replay(&copy, &chain[1..]).await.is_ok());
        assert_eq!(changelog.cleanup(3).await.unwrap(), 2);
    }
}
