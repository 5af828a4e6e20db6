//! The seam between the runtime and the domain: a [`Processor`] turns one record into rows
//! of named datasets; the runtime owns windows, files, offsets and commits. No Kafka type
//! crosses this seam except the plain [`SourceRecord`].

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

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

/// What one record becomes. All rows of one record share its event time, so they land in
/// the same hourly window and become durable together.
#[derive(Debug)]
pub struct Routed<R> {
    /// Event time used for the window and the hive partition, epoch milliseconds.
    pub event_time_ms: i64,
    /// False when the time is only a fallback (e.g. the Kafka timestamp of a record that
    /// could not be parsed): such records must not move the watermark.
    pub advances_watermark: bool,
    /// `(dataset index, row)` pairs; the index points into [`Processor::datasets`].
    pub rows: Vec<(usize, R)>,
}

/// Domain logic run by every partition task. Implementations must be deterministic: the
/// same records in the same order give the same rows, which is what makes replay safe.
pub trait Processor: Send + Sync + 'static {
    type Row: Send + Sync + 'static;

    /// Every dataset this processor can emit, in a fixed order.
    fn datasets(&self) -> Arc<Vec<Dataset>>;

    /// Turns one record into rows. Bad data is not an error: it becomes a quarantine row.
    fn process(&mut self, record: &SourceRecord) -> Routed<Self::Row>;

    /// Approximate heap bytes held by a buffered row, for the memory budget.
    fn row_bytes(row: &Self::Row) -> usize;

    /// Encodes buffered rows of one dataset into an Arrow batch with that dataset's schema.
    fn encode(&self, dataset: usize, rows: &[Self::Row]) -> anyhow::Result<RecordBatch>;
}

/// Builds one processor per partition task.
pub trait ProcessorFactory: Send + Sync + 'static {
    type Processor: Processor;
    fn create(&self, partition: i32) -> Self::Processor;
}
