//! lakestream's state stores: RocksDB, one database per partition task under
//! `LAKESTREAM_STATE_DIR`, one column family per store.
//!
//! - [`store`]: opening a partition's database and typed key-value stores over its
//!   column families, written in batches.
//!
//! Snapshots to the lake, restore on another instance, and the windowed stores that hold
//! deduplication and daily aggregates build on this (see DESIGN.md).

pub mod store;

pub use store::{PartitionDb, StateError};
