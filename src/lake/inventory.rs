//! What the lake holds: files, rows and bytes per dataset, read from Parquet footers.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::ParquetMetaDataReader;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DatasetStats {
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
}

/// Stats per `<tier>/<dataset>`, for every `*.parquet` object under the root.
pub async fn inventory(store: &dyn ObjectStore) -> anyhow::Result<BTreeMap<String, DatasetStats>> {
    let objects: Vec<_> = store.list(None).try_collect().await?;
    let mut out: BTreeMap<String, DatasetStats> = BTreeMap::new();
    for meta in objects {
        let path = meta.location.as_ref();
        if !path.ends_with(".parquet") {
            continue;
        }
        let mut parts = path.split('/');
        let (Some(tier), Some(dataset)) = (parts.next(), parts.next()) else {
            continue;
        };
        let bytes = store.get(&meta.location).await?.bytes().await?;
        let footer = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .map_err(|e| anyhow::anyhow!("`{path}` is not a readable Parquet file: {e}"))?;
        let stats = out.entry(format!("{tier}/{dataset}")).or_default();
        stats.files += 1;
        stats.rows += footer.file_metadata().num_rows() as u64;
        stats.bytes += meta.size;
    }
    Ok(out)
}
