//! lakestream's state stores: RocksDB, one database per partition task under
//! `LAKESTREAM_STATE_DIR`, one column family per store.
//!
//! - [`store`]: opening a partition's database and typed key-value stores over its
//!   column families, written in batches.
//! - [`snapshot`]: incremental snapshots of a partition's database in the object store
//!   (only new table files are uploaded) and their restore on any instance.
//!
//! The windowed stores that hold deduplication and daily aggregates build on these.

pub mod snapshot;
pub mod store;

pub use snapshot::{SnapshotError, SnapshotManifest, Snapshots, Transfer};
pub use store::{PartitionDb, StateError};
