//! Opens the object store behind a [`LakeLocation`]. Cloud credentials come from the
//! standard environment variables and instance metadata (object_store's `from_env`
//! builders), never from the command line.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

use super::LakeLocation;

pub fn open(location: &LakeLocation, region: Option<&str>) -> anyhow::Result<Arc<dyn ObjectStore>> {
    match location {
        LakeLocation::Local(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!("cannot create the lake folder `{}`: {e}", dir.display())
            })?;
            // Empty folders left by deletions would otherwise pile up under day partitions.
            Ok(Arc::new(
                LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true),
            ))
        }
        LakeLocation::Url(url) => {
            let store: Arc<dyn ObjectStore> = match url.scheme() {
                "s3" | "s3a" => {
                    let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
                    if let Some(region) = region {
                        builder = builder.with_region(region);
                    }
                    Arc::new(builder.build()?)
                }
                "gs" => Arc::new(
                    GoogleCloudStorageBuilder::from_env()
                        .with_url(url.as_str())
                        .build()?,
                ),
                _ => Arc::new(
                    MicrosoftAzureBuilder::from_env()
                        .with_url(url.as_str())
                        .build()?,
                ),
            };
            let prefix = url.path().trim_matches('/');
            if prefix.is_empty() {
                Ok(store)
            } else {
                Ok(Arc::new(PrefixStore::new(store, Path::from(prefix))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn a_file_url_writes_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        let store = open(&LakeLocation::Local(root.clone()), None).unwrap();
        store
            .put(&Path::from("raw/x/y.parquet"), b"data".to_vec().into())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(root.join("raw/x/y.parquet")).unwrap(),
            b"data"
        );
    }

    #[test]
    fn s3_urls_select_the_s3_store_and_keep_their_prefix() {
        let open_url = |u: &str| {
            open(
                &LakeLocation::Url(url::Url::parse(u).unwrap()),
                Some("eu-west-1"),
            )
            .unwrap()
            .to_string()
        };
        let bare = open_url("s3://analytics");
        assert!(
            bare.contains("AmazonS3") && bare.contains("analytics"),
            "{bare}"
        );
        assert_eq!(
            open_url("s3://analytics/learning/lake"),
            "PrefixObjectStore(learning/lake)"
        );
    }
}
