//! Writes the merged file: the sources' rows in source order, one source in memory at a
//! time, through a multipart upload that becomes visible only when complete.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use lakestream_topology::sink::writer_properties;
use lakestream_topology::Dataset;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::arrow::AsyncArrowWriter;

use super::super::read;

/// Rows and bytes of the merged file at `target`.
pub async fn write(
    store: &Arc<dyn ObjectStore>,
    dataset: &Dataset,
    sources: &[String],
    target: &str,
    row_group_rows: usize,
) -> anyhow::Result<(u64, u64)> {
    let fail =
        |e: parquet::errors::ParquetError| anyhow::anyhow!("{target}: cannot be written: {e}");
    let sink = BufWriter::new(store.clone(), Path::from(target));
    let props = writer_properties(dataset, row_group_rows);
    let mut writer =
        AsyncArrowWriter::try_new(sink, dataset.schema.clone(), Some(props)).map_err(fail)?;
    let mut rows = 0;
    for source in sources {
        let (_, batches) = read::whole(store, &Path::from(source.as_str())).await?;
        for batch in batches {
            // The contract's schema, not the file's: the merged file must match it exactly.
            let batch = RecordBatch::try_new(dataset.schema.clone(), batch.columns().to_vec())
                .map_err(|e| anyhow::anyhow!("{source}: rows do not fit the contract: {e}"))?;
            rows += batch.num_rows() as u64;
            writer.write(&batch).await.map_err(fail)?;
        }
    }
    let metadata = writer.finish().await.map_err(fail)?;
    let written = metadata.file_metadata().num_rows().max(0) as u64;
    anyhow::ensure!(
        written == rows,
        "{target}: {written} rows written, {rows} read from the sources"
    );
    Ok((rows, writer.bytes_written() as u64))
}
