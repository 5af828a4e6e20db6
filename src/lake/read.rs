//! Reading lake files back: footers with two ranged reads, whole files in one get.
//! Errors name the object's path, so a problem report says which file is broken.

use std::ops::Range;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::async_reader::MetadataFetch;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// Ranged reads of one object, for the footer decoder.
struct Ranges<'a> {
    store: &'a dyn ObjectStore,
    path: &'a Path,
}

impl MetadataFetch for Ranges<'_> {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(self.path, range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// The Parquet footer of `path` (`size` bytes long), without reading the data pages.
pub async fn footer(
    store: &dyn ObjectStore,
    path: &Path,
    size: u64,
) -> anyhow::Result<ParquetMetaData> {
    ParquetMetaDataReader::new()
        .load_and_finish(Ranges { store, path }, size)
        .await
        .map_err(|e| anyhow::anyhow!("{path}: not a readable Parquet file: {e}"))
}

/// Every row of `path`, with the footer it was read by.
pub async fn whole(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> anyhow::Result<(Arc<ParquetMetaData>, Vec<RecordBatch>)> {
    let bytes = store
        .get(path)
        .await
        .map_err(|e| anyhow::anyhow!("{path}: cannot be read: {e}"))?
        .bytes()
        .await
        .map_err(|e| anyhow::anyhow!("{path}: cannot be read: {e}"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| anyhow::anyhow!("{path}: not a readable Parquet file: {e}"))?;
    let metadata = builder.metadata().clone();
    let batches = builder
        .build()
        .and_then(|reader| reader.collect::<Result<Vec<_>, _>>().map_err(Into::into))
        .map_err(|e: parquet::errors::ParquetError| {
            anyhow::anyhow!("{path}: data pages cannot be decoded: {e}")
        })?;
    Ok((metadata, batches))
}
