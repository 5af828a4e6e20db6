//! lakestream: learning-platform event streams (Kafka) to an analytics data lake (Parquet).
//!
//! A record's way through this crate:
//! - [`app`] wires an instance: [`config`] (settings), [`lake::store`] (where files go),
//!   [`http`] (metrics, health, state queries), then hands a [`pipeline::LearningFactory`] to the stream
//!   runtime (the `lakestream-topology` crate), which owns Kafka, windows and commits.
//! - [`pipeline`] is what each partition task runs per record: [`domain`] parses and
//!   normalizes the event (or rejects it with a reason), deduplication and the daily
//!   aggregates consult the partition's state, and the record is routed to the raw tier
//!   plus the processed tier or quarantine.
//! - [`lake::datasets`] defines the lake's tables and [`lake::encode`] turns buffered rows
//!   into Arrow batches when a window closes; [`quality`] reports on each window and file
//!   written.
//! - [`demo`] runs all of it against an in-process Kafka with generated events.

#[cfg(feature = "mimalloc")]
pub mod allocator;
pub mod app;
pub mod bench;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod lake;
pub mod pipeline;
pub mod quality;
pub mod telemetry;
