//! A partition task's RocksDB database: one column family per store, plus `_meta`, which
//! records which state batch was applied last (how a task tells whether its local copy
//! matches the lake's manifest).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, Options, WriteBatch, WriteBufferManager, DB,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

type Result<T> = std::result::Result<T, StateError>;

/// Column family of the database's own bookkeeping.
const META: &str = "_meta";
const APPLIED_KEY: &[u8] = b"applied";

/// Identity of the last state batch written: `seq` counts batches along the partition's
/// history and `token` is drawn at random per batch, so two owners that both wrote a batch
/// number `seq` (one of them crashed before publishing it) are still told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub seq: u64,
    pub token: u64,
}

/// One partition's database with a fixed set of stores (column families).
pub struct PartitionDb {
    db: DB,
    path: PathBuf,
}

impl PartitionDb {
    /// Opens (creating if needed) `<dir>/partition=<p>` with the named stores.
    pub fn open(dir: &Path, partition: i32, stores: &[&str]) -> Result<Self> {
        Self::open_at(&Self::dir_of(dir, partition), stores)
    }

    /// Where [`open`](Self::open) keeps partition `partition`'s database.
    pub fn dir_of(dir: &Path, partition: i32) -> PathBuf {
        dir.join(format!("partition={partition:05}"))
    }

    /// Opens the database in `path` itself (e.g. one just restored from a snapshot).
    pub fn open_at(path: &Path, stores: &[&str]) -> Result<Self> {
        let path = path.to_path_buf();
        let mut options = family_options();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_write_buffer_manager(&shared().write_buffers);
        options.set_writable_file_max_buffer_size(FILE_BUFFER_BYTES);
        // Column families are created in this order, so every database of a lineage gives
        // a store the same id: changelog batches (which name families by id) replay on
        // any copy restored from the lineage's snapshot.
        let families = stores
            .iter()
            .chain(std::iter::once(&META))
            .map(|name| ColumnFamilyDescriptor::new(*name, family_options()));
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
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        let checkpoint =
            rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(|e| self.rocks(e))?;
        checkpoint.create_checkpoint(dir).map_err(|e| self.rocks(e))
    }

    fn family(&self, store: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(store)
            .ok_or_else(|| StateError::UnknownStore {
                store: store.into(),
            })
    }

    /// Reads a JSON-encoded value.
    pub fn get<V: DeserializeOwned>(&self, store: &str, key: &[u8]) -> Result<Option<V>> {
        let cf = self.family(store)?;
        let Some(bytes) = self.db.get_pinned_cf(cf, key).map_err(|e| self.rocks(e))? else {
            return Ok(None);
        };
        decode(store, &bytes).map(Some)
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub fn scan_prefix<V: DeserializeOwned>(
        &self,
        store: &str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, V)>> {
        let cf = self.family(store)?;
        let mode = rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, mode) {
            let (key, value) = item.map_err(|e| self.rocks(e))?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_vec(), decode(store, &value)?));
        }
        Ok(out)
    }

    /// The largest key of `store`, if it has any.
    pub fn last_key(&self, store: &str) -> Result<Option<Vec<u8>>> {
        self.edge_key(store, rocksdb::IteratorMode::End)
    }

    /// The smallest key of `store`, if it has any.
    pub fn first_key(&self, store: &str) -> Result<Option<Vec<u8>>> {
        self.edge_key(store, rocksdb::IteratorMode::Start)
    }

    fn edge_key(&self, store: &str, from: rocksdb::IteratorMode<'_>) -> Result<Option<Vec<u8>>> {
        let cf = self.family(store)?;
        match self.db.iterator_cf(cf, from).next() {
            Some(item) => Ok(Some(item.map_err(|e| self.rocks(e))?.0.to_vec())),
            None => Ok(None),
        }
    }

    /// Applies puts atomically; one write per batch keeps RocksDB's write path cheap.
    pub fn put_all<V: Serialize>(&self, store: &str, entries: &[(Vec<u8>, V)]) -> Result<()> {
        let mut batch = self.batch();
        for (key, value) in entries {
            batch.put(store, key, value)?;
        }
        self.write(batch)
    }

    /// An empty batch of changes to this database's stores.
    pub fn batch(&self) -> StateBatch<'_> {
        StateBatch {
            db: self,
            batch: WriteBatch::default(),
        }
    }

    /// Applies a batch atomically.
    pub fn write(&self, batch: StateBatch<'_>) -> Result<()> {
        self.db.write(batch.batch).map_err(|e| self.rocks(e))
    }

    /// Applies a batch serialized by [`StateBatch::data`] (a changelog entry), atomically.
    pub fn apply(&self, data: &[u8]) -> Result<()> {
        self.db
            .write(WriteBatch::from_data(data))
            .map_err(|e| self.rocks(e))
    }

    /// The last batch marked with [`StateBatch::set_applied`], if any.
    pub fn applied(&self) -> Result<Option<Applied>> {
        self.get(META, APPLIED_KEY)
    }

    /// Bytes of table files plus memtables: what a snapshot and a restore move, roughly.
    pub fn size_bytes(&self) -> u64 {
        [
            "rocksdb.total-sst-files-size",
            "rocksdb.cur-size-all-mem-tables",
        ]
        .iter()
        .map(|p| self.db.property_int_value(*p).ok().flatten().unwrap_or(0))
        .sum()
    }
}

/// Memory shared by every partition database of the process: an instance owns dozens of
/// partitions, and per-database defaults (a 64 MiB memtable per store, a block cache
/// each) would grow with the partition count instead of with the data.
struct Shared {
    cache: Cache,
    write_buffers: WriteBufferManager,
}

/// All memtables of the process together; past this RocksDB flushes the largest.
const MEMTABLE_BUDGET: usize = 64 << 20;
/// One memtable's size before it is flushed to a table file. The budget above does not
/// bound the sum by itself: past it, RocksDB switches only the oldest memtable of the
/// database being written, often a small store's, so every partition's busiest store
/// (deduplication: every event id) filled its memtable to the full size first. With 4 MiB
/// that was 259 MB of memtables at the benchmark's peak (BENCHMARKS.md, round 7).
const MEMTABLE_BYTES: usize = 1 << 20;
/// A memtable takes memory in blocks of this size, one at least as soon as its store is
/// written. RocksDB's default (an eighth of the memtable) times seven stores times 48
/// partitions is mostly empty blocks.
const ARENA_BLOCK_BYTES: usize = 64 << 10;
const BLOCK_CACHE_BYTES: usize = 32 << 20;
/// Most a file writer buffers, the write-ahead log's included. RocksDB grows the buffer
/// up to this to take a large write batch whole; at its default (1 MiB) the 48 partition
/// databases' logs held 39 MB of the benchmark's heap (BENCHMARKS.md round 9). A batch
/// past it goes to the file in more writes, which costs nothing measurable.
const FILE_BUFFER_BYTES: u64 = 64 << 10;

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared {
        cache: Cache::new_lru_cache(BLOCK_CACHE_BYTES),
        write_buffers: WriteBufferManager::new_write_buffer_manager(MEMTABLE_BUDGET, false),
    })
}

fn family_options() -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&shared().cache);
    // Most lookups are misses (a new event id, a user's first day): a bloom filter answers
    // them without reading a table file's index.
    table.set_bloom_filter(10.0, false);
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options.set_write_buffer_size(MEMTABLE_BYTES);
    options.set_arena_block_size(ARENA_BLOCK_BYTES);
    options
}

fn decode<V: DeserializeOwned>(store: &str, bytes: &[u8]) -> Result<V> {
    serde_json::from_slice(bytes).map_err(|e| StateError::Decode {
        store: store.into(),
        reason: e.to_string(),
    })
}

/// Changes to one database, applied all or nothing by [`PartitionDb::write`].
pub struct StateBatch<'a> {
    db: &'a PartitionDb,
    batch: WriteBatch,
}

impl StateBatch<'_> {
    pub fn put<V: Serialize + ?Sized>(&mut self, store: &str, key: &[u8], value: &V) -> Result<()> {
        let cf = self.db.family(store)?;
        let body = serde_json::to_vec(value).expect("state values serialize");
        self.batch.put_cf(cf, key, body);
        Ok(())
    }

    pub fn delete(&mut self, store: &str, key: &[u8]) -> Result<()> {
        let cf = self.db.family(store)?;
        self.batch.delete_cf(cf, key);
        Ok(())
    }

    /// Deletes keys in `[from, to)`: one range tombstone instead of a delete per key.
    pub fn delete_range(&mut self, store: &str, from: &[u8], to: &[u8]) -> Result<()> {
        let cf = self.db.family(store)?;
        self.batch.delete_range_cf(cf, from, to);
        Ok(())
    }

    /// Records which batch this is, in the same atomic write as its changes.
    pub fn set_applied(&mut self, applied: Applied) -> Result<()> {
        self.put(META, APPLIED_KEY, &applied)
    }

    /// The batch in RocksDB's serialized form, for [`PartitionDb::apply`] on another copy.
    pub fn data(&self) -> &[u8] {
        self.batch.data()
    }

    /// Changes in the batch (a marker counts as one).
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
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

    #[test]
    fn a_batch_and_its_marker_land_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &["s"]).unwrap();
        assert_eq!(db.applied().unwrap(), None);
        let mut batch = db.batch();
        batch.put("s", b"a1", &1_u32).unwrap();
        batch.put("s", b"a2", &2_u32).unwrap();
        batch.put("s", b"b1", &3_u32).unwrap();
        let marker = Applied { seq: 4, token: 99 };
        batch.set_applied(marker).unwrap();
        assert_eq!(batch.len(), 4);
        db.write(batch).unwrap();
        assert_eq!(db.applied().unwrap(), Some(marker));
        let a: Vec<(Vec<u8>, u32)> = db.scan_prefix("s", b"a").unwrap();
        assert_eq!(a, vec![(b"a1".to_vec(), 1), (b"a2".to_vec(), 2)]);

        let mut batch = db.batch();
        batch.delete_range("s", b"a", b"b").unwrap();
        batch.delete("s", b"b1").unwrap();
        db.write(batch).unwrap();
        assert!(db.scan_prefix::<u32>("s", b"").unwrap().is_empty());
        assert!(db.size_bytes() > 0);
    }

    /// RocksDB records the options in force in the database's OPTIONS file: the memory
    /// bounds above must be among them (a setter on the wrong options object is silently
    /// ignored).
    #[test]
    fn the_memory_bounds_are_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &["s"]).unwrap();
        let newest = std::fs::read_dir(db.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("OPTIONS-")
            })
            .max()
            .expect("an OPTIONS file");
        let text = std::fs::read_to_string(newest).unwrap();
        // `[Section "name"]` headers, each followed by its `key=value` lines.
        let setting = |section: &str, name: &str| {
            text.lines()
                .map(str::trim)
                .skip_while(|l| *l != section)
                .skip(1)
                .take_while(|l| !l.starts_with('['))
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} not in {section}"))
                .to_owned()
        };
        let (db_options, store) = ("[DBOptions]", "[CFOptions \"s\"]");
        assert_eq!(
            setting(db_options, "writable_file_max_buffer_size"),
            FILE_BUFFER_BYTES.to_string()
        );
        assert_eq!(
            setting(store, "write_buffer_size"),
            MEMTABLE_BYTES.to_string()
        );
        assert_eq!(
            setting(store, "arena_block_size"),
            ARENA_BLOCK_BYTES.to_string()
        );
    }
}
