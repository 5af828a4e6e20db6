//! lakestream's state stores: RocksDB, one database per partition task under
//! `LAKESTREAM_STATE_DIR`, one column family per store.
//!
//! - [`store`]: opening a partition's database and typed key-value stores over its
//!   column families, written in batches.
//! - [`snapshot`]: incremental snapshots of a partition's database in the object store
//!   (only new table files are uploaded) and their restore on any instance.
//! - [`changelog`]: the state batches written since the last snapshot, one object each;
//!   a restore applies them on top of the snapshot.
//!
//! - [`typed`]: typed key-value and windowed stores (time-based expiry) over one column
//!   family each.
//!
//! The runtime (`topology`) decides *when* state changes become durable; the stores only
//! make each change set atomic and portable.

pub mod changelog;
pub mod snapshot;
pub mod store;
pub mod typed;

pub use changelog::Changelog;
pub use snapshot::{Checkpoint, SnapshotError, SnapshotManifest, Snapshots, Transfer};
pub use store::{Applied, PartitionDb, StateBatch, StateError};
pub use typed::{KeyValueStore, StoreKey, WindowStore};
