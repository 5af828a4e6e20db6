//! lakestream's stream runtime: Kafka records in, durable hive-partitioned Parquet out,
//! offsets committed only after the data is durable.
//!
//! Where a record goes, in order:
//! - [`runtime`]: joins the consumer group, checks co-partitioning, owns shutdown.
//! - `driver`: a thread that reads the consumer's one queue and hands each record to its
//!   task's input, stopping and pausing so that the read-ahead stays bounded.
//! - [`group`]: the rdkafka context; an assignment starts one [`task`] per partition number,
//!   a revocation stops those tasks only after they flushed and committed.
//! - [`source`]: the task's input, partition `p` of every topic, paused while the task has
//!   enough of it waiting, [`merge`]d in timestamp order so that the topics keep in step.
//! - [`task`]: the per-partition loop; hands each [`record`] to the domain's
//!   [`processor`] and buffers the rows in event-time [`window`]s.
//! - [`flush`]: writes closed windows through the [`sink`] (Parquet on object_store), applies
//!   their state changes to the partition's [`state`] database and uploads a snapshot,
//!   records all of it in the partition's [`manifest`], then commits offsets ([`commit`]).
//! - [`dead_letter`]: optional copies of rejected records in dead-letter topics, produced
//!   during the flush and recorded in the manifest so each goes out once.
//! - [`budget`] bounds the memory of all open windows; past it their rows [`spill`] to local
//!   disk until their window is written; [`failpoint`] injects crashes for
//!   tests; [`metrics`] and [`config`] are what they say.
//!
//! The protocol is written down in `DESIGN.md` at the repository root.

pub mod budget;
pub mod commit;
pub mod config;
pub mod continuity;
pub mod dead_letter;
mod driver;
pub mod error;
pub mod failpoint;
mod flush;
mod flush_state;
pub mod group;
pub mod manifest;
pub mod merge;
pub mod metrics;
pub mod mock;
pub mod owner;
pub mod processor;
pub mod recent;
pub mod record;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod spill;
pub mod state;
pub mod task;
pub mod window;

pub use config::{Instance, RuntimeConfig};
pub use error::{Result, RuntimeError};
pub use processor::{Dataset, DerivedFile, Parsed, Processor, ProcessorFactory, RouteContext};
pub use record::SourceRecord;
pub use runtime::{run, RunControl};
pub use state::LiveStores;
