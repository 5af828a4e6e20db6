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

/// A reader of `path`, fetched whole in one get.
async fn reader(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> anyhow::Result<ParquetRecordBatchReaderBuilder<Bytes>> {
    let bytes = store
        .get(path)
        .await
        .map_err(|e| anyhow::anyhow!("{path}: cannot be read: {e}"))?
        .bytes()
        .await
        .map_err(|e| anyhow::anyhow!("{path}: cannot be read: {e}"))?;
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| anyhow::anyhow!("{path}: not a readable Parquet file: {e}"))
}

fn decode(
    builder: ParquetRecordBatchReaderBuilder<Bytes>,
    path: &Path,
) -> anyhow::Result<Vec<RecordBatch>> {
    builder
        .build()
        .and_then(|reader| reader.collect::<Result<Vec<_>, _>>().map_err(Into::into))
        .map_err(|e: parquet::errors::ParquetError| {
            anyhow::anyhow!("{path}: data pages cannot be decoded: {e}")
        })
}

/// Every row of `path`, with the footer it was read by.
pub async fn whole(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> anyhow::Result<(Arc<ParquetMetaData>, Vec<RecordBatch>)> {
    let builder = reader(store, path).await?;
    let metadata = builder.metadata().clone();
    Ok((metadata, decode(builder, path)?))
}

/// One column of `path`, decoding no other column's pages.
pub async fn column(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    name: &str,
) -> anyhow::Result<Vec<arrow::array::ArrayRef>> {
    let builder = reader(store, path).await?;
    let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), [name]);
    decode(builder.with_projection(mask), path)?
        .iter()
        .map(|b| {
            b.column_by_name(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{path}: no column `{name}`"))
        })
        .collect()
}
