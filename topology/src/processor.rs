//! The seam between the runtime and the domain. A [`Processor`] reads one record's event
//! time ([`Processor::parse`], pure), turns it into rows of named datasets
//! ([`Processor::route`], stateful), and keeps state in the partition's stores; the runtime
//! owns windows, files, offsets, commits and *when* state changes become durable.
//!
//! State protocol: `route` may read the stores but never writes them. Its changes stay
//! pending inside the processor, filed under the record's event hour, until the runtime
//! has written that hour's files; then [`Processor::stage`] hands them over in one batch.
//! So the stores always hold exactly the effects of the records the lake holds.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use lakestream_state::{PartitionDb, StateBatch};

pub use crate::dead_letter::DeadLetter;
use crate::record::SourceRecord;

/// A dataset of the lake, e.g. `processed/user_attempts`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Path under the lake root, without partition folders.
    pub path: String,
    pub schema: SchemaRef,
    /// Columns whose values rarely repeat (ids, payloads): dictionary encoding would only
    /// cost memory and a fallback, so they are written plain.
    pub plain_columns: Vec<&'static str>,
}

/// A record's event time, read before anything else so that replay can skip records the
/// lake already holds without touching state.
#[derive(Debug)]
pub struct Parsed<T> {
    /// Event time used for the window and the hive partition, epoch milliseconds.
    pub event_time_ms: i64,
    /// False when the time is only a fallback (e.g. the Kafka timestamp of a record that
    /// could not be parsed): such records must not move the watermark.
    pub advances_watermark: bool,
    pub value: T,
}

/// What the runtime tells `route` about the task's progress.
#[derive(Debug, Clone, Copy)]
pub struct RouteContext {
    /// The watermark state is judged by (`Windows::state_watermark_ms`), before this
    /// record.
    pub watermark_ms: Option<i64>,
}

/// A file of a derived dataset (e.g. a day of aggregates), rewritten whole whenever the
/// state behind it changes.
#[derive(Debug)]
pub struct DerivedFile<R> {
    pub dataset: usize,
    /// Start of the UTC day the file covers.
    pub day_ms: i64,
    pub rows: Vec<R>,
}

/// Domain logic run by every partition task. Implementations must be deterministic: the
/// same records in the same order (per topic) give the same rows and state, which is what
/// makes replay safe.
pub trait Processor: Send + Sync + 'static {
    /// Serializable so that rows of open windows can move to disk past the memory budget.
    type Row: Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static;
    type Parsed: Send + 'static;

    /// Every dataset this processor can emit, in a fixed order.
    fn datasets(&self) -> Arc<Vec<Dataset>>;

    /// Column families of the partition's state database.
    fn stores(&self) -> &'static [&'static str];

    /// Hands over the partition's state, restored to match the manifest, before the first
    /// record.
    fn attach(&mut self, db: Arc<PartitionDb>);

    /// Reads the record's event time. Pure: no state is read or changed.
    fn parse(&self, record: &SourceRecord) -> Parsed<Self::Parsed>;

    /// Turns one record into `(dataset index, row)` pairs. Bad data is not an error: it
    /// becomes a quarantine row. Errors are state-store failures; the runtime retries.
    fn route(
        &mut self,
        record: &SourceRecord,
        parsed: Parsed<Self::Parsed>,
        ctx: RouteContext,
    ) -> anyhow::Result<Vec<(usize, Self::Row)>>;

    /// The windows of `hours` are durable in the lake: add their pending state changes
    /// (and expiry of state past its horizon) to `batch`. Pending changes stay until
    /// [`Processor::forget`], so a failed write loses nothing. Returns the start of each
    /// day whose derived files must be rewritten.
    fn stage(
        &mut self,
        hours: &[i64],
        watermark_ms: Option<i64>,
        batch: &mut StateBatch<'_>,
    ) -> anyhow::Result<Vec<i64>>;

    /// The batch built by `stage` for `hours` has been written; drop its pending changes.
    fn forget(&mut self, hours: &[i64]);

    /// The derived files of `days`, read from the stores.
    fn derived(&self, days: &[i64]) -> anyhow::Result<Vec<DerivedFile<Self::Row>>>;

    /// Called when the runtime spills its windows past the memory budget: move the state
    /// changes held for open hours to files in `dir` (scratch, emptied when the task
    /// starts), so that they too stay out of memory while many hours are open. Returns the
    /// bytes written.
    fn spill_pending(&mut self, _dir: &std::path::Path) -> anyhow::Result<u64> {
        Ok(0)
    }

    /// Approximate heap bytes held by a buffered row, for the memory budget.
    fn row_bytes(row: &Self::Row) -> usize;

    /// Encodes buffered rows of one dataset into an Arrow batch with that dataset's schema.
    fn encode(&self, dataset: usize, rows: &[Self::Row]) -> anyhow::Result<RecordBatch>;

    /// Records of `dataset`'s rows to copy to their dead-letter topic (rejected records),
    /// when dead letters are enabled.
    fn dead_letters(&self, _dataset: usize, _rows: &[Self::Row]) -> Vec<DeadLetter> {
        Vec::new()
    }

    /// What to say about a file about to be written (e.g. its quality report), stored in
    /// its sidecar under `quality`; `Null` for nothing. Must be a function of the rows.
    fn describe(
        &self,
        dataset: usize,
        rows: &[Self::Row],
        batch: &RecordBatch,
    ) -> serde_json::Value;
}

/// Builds one processor per partition task.
pub trait ProcessorFactory: Send + Sync + 'static {
    type Processor: Processor;
    fn create(&self, partition: i32) -> Self::Processor;
}
