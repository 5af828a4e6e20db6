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
