//! A partition task's RocksDB database and typed access to its stores.

use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store at `{path}`: {source}")]
    Rocks {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("state store `{store}` has no column family; declare it when opening")]
    UnknownStore { store: String },
    #[error("state value in `{store}` does not decode: {reason}")]
    Decode { store: String, reason: String },
}

/// One partition's database with a fixed set of stores (column families).
pub struct PartitionDb {
    db: DB,
    path: PathBuf,
}

impl PartitionDb {
    /// Opens (creating if needed) `<dir>/partition=<p>` with the named stores.
    pub fn open(dir: &Path, partition: i32, stores: &[&str]) -> Result<Self, StateError> {
        Self::open_at(&dir.join(format!("partition={partition:05}")), stores)
    }

    /// Opens the database in `path` itself (e.g. one just restored from a snapshot).
    pub fn open_at(path: &Path, stores: &[&str]) -> Result<Self, StateError> {
        let path = path.to_path_buf();
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let families = stores
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&options, &path, families).map_err(|source| {
            StateError::Rocks {
                path: path.clone(),
                source,
            }
        })?;
        Ok(PartitionDb { db, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rocks(&self, source: rocksdb::Error) -> StateError {
        StateError::Rocks {
            path: self.path.clone(),
            source,
        }
    }

    /// A consistent copy of the database in `dir` (table files hard-linked, memtables
    /// flushed first so the copy needs no write-ahead log).
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StateError> {
        let checkpoint =
            rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(|e| self.rocks(e))?;
        checkpoint.create_checkpoint(dir).map_err(|e| self.rocks(e))
    }

    fn family(&self, store: &str) -> Result<&rocksdb::ColumnFamily, StateError> {
        self.db
            .cf_handle(store)
            .ok_or_else(|| StateError::UnknownStore {
                store: store.into(),
            })
    }

    /// Reads a JSON-encoded value.
    pub fn get<V: DeserializeOwned>(
        &self,
        store: &str,
        key: &[u8],
    ) -> Result<Option<V>, StateError> {
        let cf = self.family(store)?;
        let Some(bytes) = self.db.get_pinned_cf(cf, key).map_err(|e| self.rocks(e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Decode {
                store: store.into(),
                reason: e.to_string(),
            })
    }

    /// Applies puts atomically; one write per batch keeps RocksDB's write path cheap.
    pub fn put_all<V: Serialize>(
        &self,
        store: &str,
        entries: &[(Vec<u8>, V)],
    ) -> Result<(), StateError> {
        let cf = self.family(store)?;
        let mut batch = WriteBatch::default();
        for (key, value) in entries {
            batch.put_cf(
                cf,
                key,
                serde_json::to_vec(value).expect("state values serialize"),
            );
        }
        self.db.write(batch).map_err(|e| self.rocks(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = PartitionDb::open(dir.path(), 3, &["seen"]).unwrap();
            db.put_all(
                "seen",
                &[(b"e1".to_vec(), 17_i64), (b"e2".to_vec(), 18_i64)],
            )
            .unwrap();
        }
        let db = PartitionDb::open(dir.path(), 3, &["seen"]).unwrap();
        assert_eq!(db.get::<i64>("seen", b"e2").unwrap(), Some(18));
        assert_eq!(db.get::<i64>("seen", b"nope").unwrap(), None);
        assert!(matches!(
            db.get::<i64>("other", b"e1"),
            Err(StateError::UnknownStore { .. })
        ));
        assert!(db.path().ends_with("partition=00003"));
    }
}
