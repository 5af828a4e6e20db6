//! Where rows become durable: one Parquet file per dataset and window, written through
//! object_store, plus a metadata sidecar beside it.
//!
//! Data files are streamed with a multipart upload that becomes visible only on completion
//! (the local store renames a staging file), so no reader ever sees half a `*.parquet`.
//! Sidecars start with `_`, which Spark, Hive, pyarrow and the contract's DuckDB glob skip.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Datelike, Timelike, Utc};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::Serialize;

use crate::error::{Result, RuntimeError};
use crate::processor::Dataset;

pub const WRITER_VERSION: &str = concat!("lakestream ", env!("CARGO_PKG_VERSION"));

/// Identifies one output file; every part is a function of the rows it holds.
#[derive(Debug, Clone)]
pub struct FileKey {
    pub dataset: usize,
    pub hour_ms: i64,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// Paths of one data file and its sidecar.
#[derive(Debug, Clone)]
pub struct FilePaths {
    pub data: Path,
    pub meta: Path,
}

/// `<dataset>/year=Y/month=M/day=D/part-<YYYYMMDDHH>-p<partition>-o<first>-<last>.parquet`:
/// hive values unpadded, as pyarrow writes them; the name is unique per row set.
pub fn file_paths(dataset: &Dataset, key: &FileKey) -> FilePaths {
    let hour = DateTime::<Utc>::from_timestamp_millis(key.hour_ms).expect("hour in range");
    let dir = format!(
        "{}/year={}/month={}/day={}",
        dataset.path,
        hour.year(),
        hour.month(),
        hour.day()
    );
    let stem = format!(
        "part-{:04}{:02}{:02}{:02}-p{:04}-o{}-{}",
        hour.year(),
        hour.month(),
        hour.day(),
        hour.hour(),
        key.partition,
        key.first_offset,
        key.last_offset
    );
    FilePaths {
        data: Path::from(format!("{dir}/{stem}.parquet")),
        meta: Path::from(format!("{dir}/_{stem}.meta.json")),
    }
}

/// `<dataset>/year=Y/month=M/day=D/part-<YYYYMMDD>-p<partition>.parquet`: the one file of a
/// derived dataset per partition and day, replaced whole when the day changes.
pub fn derived_paths(dataset: &Dataset, day_ms: i64, partition: i32) -> FilePaths {
    let day = DateTime::<Utc>::from_timestamp_millis(day_ms).expect("day in range");
    let dir = format!(
        "{}/year={}/month={}/day={}",
        dataset.path,
        day.year(),
        day.month(),
        day.day()
    );
    let stem = format!(
        "part-{:04}{:02}{:02}-p{:04}",
        day.year(),
        day.month(),
        day.day(),
        partition
    );
    FilePaths {
        data: Path::from(format!("{dir}/{stem}.parquet")),
        meta: Path::from(format!("{dir}/_{stem}.meta.json")),
    }
}

/// Processing metadata stored beside a derived file.
#[derive(Debug, Serialize)]
pub struct DerivedMeta<'a> {
    pub dataset: &'a str,
    pub partition: i32,
    pub day: String,
    pub rows: usize,
    pub bytes: u64,
    pub schema: Vec<(String, String)>,
    pub writer: &'static str,
    /// The state batch the rows were read after.
    pub state_seq: u64,
}

/// Processing metadata stored beside each data file.
#[derive(Debug, Serialize)]
pub struct FileMeta<'a> {
    pub dataset: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub event_hour: String,
    pub rows: usize,
    pub bytes: u64,
    pub schema: Vec<(String, String)>,
    pub writer: &'static str,
    pub flush_reason: &'a str,
    /// The processor's description of the rows (quality report, column profile).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub quality: serde_json::Value,
}

/// Writer settings shared by all datasets; `row_group_rows` bounds reader memory and gives
/// row-group statistics fine enough for pruning.
pub fn writer_properties(dataset: &Dataset, row_group_rows: usize) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(WRITER_VERSION.to_string());
    for column in &dataset.plain_columns {
        builder = builder.set_column_dictionary_enabled((*column).into(), false);
    }
    builder.build()
}

/// Streams `batch` into a new Parquet object and returns its size in bytes.
pub async fn write_parquet(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    batch: &RecordBatch,
    props: WriterProperties,
) -> Result<u64> {
    let encode_err = |e: parquet::errors::ParquetError| RuntimeError::Encode {
        path: path.to_string(),
        reason: e.to_string(),
    };
    let sink = BufWriter::new(store, path.clone());
    let mut writer =
        AsyncArrowWriter::try_new(sink, batch.schema(), Some(props)).map_err(encode_err)?;
    writer.write(batch).await.map_err(encode_err)?;
    writer.finish().await.map_err(encode_err)?;
    Ok(writer.bytes_written() as u64)
}

pub async fn write_meta(store: &dyn ObjectStore, path: &Path, meta: &impl Serialize) -> Result<()> {
    let body = serde_json::to_vec_pretty(meta).expect("metadata serializes");
    store
        .put(path, PutPayload::from(body))
        .await
        .map_err(|source| RuntimeError::Store {
            path: path.to_string(),
            source,
        })?;
    Ok(())
}

/// Deletes an object, treating "already gone" as success.
pub async fn delete_if_exists(store: &dyn ObjectStore, path: &Path) -> Result<()> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(RuntimeError::Store {
            path: path.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use bytes::Bytes;
    use object_store::local::LocalFileSystem;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn dataset() -> Dataset {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        Dataset {
            path: "processed/things".into(),
            schema,
            plain_columns: vec!["id"],
        }
    }

    #[test]
    fn paths_are_hive_partitioned_by_the_event_hour() {
        let key = FileKey {
            dataset: 0,
            hour_ms: 1_764_237_600_000, // 2025-11-27T10:00Z
            partition: 7,
            first_offset: 12,
            last_offset: 40,
        };
        let paths = file_paths(&dataset(), &key);
        assert_eq!(
            paths.data.as_ref(),
            "processed/things/year=2025/month=11/day=27/part-2025112710-p0007-o12-40.parquet"
        );
        assert_eq!(
            paths.meta.as_ref(),
            "processed/things/year=2025/month=11/day=27/_part-2025112710-p0007-o12-40.meta.json"
        );
        let day = derived_paths(&dataset(), 1_764_201_600_000, 7);
        assert_eq!(
            day.data.as_ref(),
            "processed/things/year=2025/month=11/day=27/part-20251127-p0007.parquet"
        );
    }

    #[tokio::test]
    async fn writes_a_readable_snappy_file() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let ds = dataset();
        let batch = RecordBatch::try_new(
            ds.schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let path = Path::from("x/y.parquet");
        let bytes = write_parquet(store.clone(), &path, &batch, writer_properties(&ds, 1000))
            .await
            .unwrap();
        let data: Bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(data.len() as u64, bytes);
        let reader = ParquetRecordBatchReaderBuilder::try_new(data).unwrap();
        let meta = reader.metadata().clone();
        let column = meta.row_group(0).column(0);
        assert_eq!(column.compression(), Compression::SNAPPY);
        assert!(column.statistics().is_some());
        let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 2);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("x")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging file is left behind");
    }
}
