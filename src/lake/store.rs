//! Opens the object store behind a [`LakeLocation`]. Cloud credentials come from the
//! standard environment variables and instance metadata (object_store's `from_env`
//! builders), never from the command line or the settings file: `lake.options` takes
//! object_store settings such as server-side encryption, and refuses credentials.
//!
//! Transient failures (5xx, throttling, timeouts, dropped connections) are retried inside
//! object_store with exponential backoff (its default `RetryConfig`: up to 10 retries
//! within 3 minutes); a write that still fails is retried whole by the flush, so no
//! record is lost and no offset is committed past it.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

use super::LakeLocation;
use crate::config::LakeSettings;

/// Parts of option names that hold credentials.
const CREDENTIAL_MARKERS: &[&str] = &[
    "secret",
    "access_key",
    "account_key",
    "master_key",
    "token",
    "sas",
    "password",
    "service_account_key",
];

/// Which store a URL scheme selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    S3,
    Gcs,
    Azure,
}

fn cloud(url: &url::Url) -> Cloud {
    match url.scheme() {
        "s3" | "s3a" => Cloud::S3,
        "gs" => Cloud::Gcs,
        _ => Cloud::Azure,
    }
}

/// Checks `lake.options` against the store the location selects, so a typo or a
/// credential fails the start instead of the first write.
pub fn check_options(
    location: &LakeLocation,
    options: &BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(first) = options.keys().next() else {
        return Ok(());
    };
    let LakeLocation::Url(url) = location else {
        return Err(format!(
            "lake.options.{first} is set but the lake is a local folder; options apply to s3://, gs:// and az:// lakes"
        ));
    };
    for key in options.keys() {
        let name = key.to_ascii_lowercase();
        if CREDENTIAL_MARKERS.iter().any(|m| name.contains(m)) {
            return Err(format!(
                "lake.options.{key} is a credential; give credentials in the environment (AWS_*, GOOGLE_*, AZURE_* variables) or by instance metadata, never in the settings"
            ));
        }
        let known = match cloud(url) {
            Cloud::S3 => AmazonS3ConfigKey::from_str(key).is_ok(),
            Cloud::Gcs => GoogleConfigKey::from_str(key).is_ok(),
            Cloud::Azure => AzureConfigKey::from_str(key).is_ok(),
        };
        if !known {
            return Err(format!(
                "lake.options.{key} is not an object_store setting of the {} store (see the README, \"Object stores\")",
                url.scheme()
            ));
        }
    }
    Ok(())
}

pub fn open(location: &LakeLocation, lake: &LakeSettings) -> anyhow::Result<Arc<dyn ObjectStore>> {
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
            check_options(location, &lake.options).map_err(anyhow::Error::msg)?;
            let store: Arc<dyn ObjectStore> = match cloud(url) {
                Cloud::S3 => {
                    let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
                    if let Some(region) = &lake.region {
                        builder = builder.with_region(region);
                    }
                    for (key, value) in &lake.options {
                        builder = builder.with_config(AmazonS3ConfigKey::from_str(key)?, value);
                    }
                    Arc::new(builder.build()?)
                }
                Cloud::Gcs => {
                    let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
                    for (key, value) in &lake.options {
                        builder = builder.with_config(GoogleConfigKey::from_str(key)?, value);
                    }
                    Arc::new(builder.build()?)
                }
                Cloud::Azure => {
                    let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                    for (key, value) in &lake.options {
                        builder = builder.with_config(AzureConfigKey::from_str(key)?, value);
                    }
                    Arc::new(builder.build()?)
                }
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

    fn lake() -> LakeSettings {
        crate::config::Settings::default().lake
    }

    #[tokio::test]
    async fn a_file_url_writes_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        let store = open(&LakeLocation::Local(root.clone()), &lake()).unwrap();
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
            open(&LakeLocation::Url(url::Url::parse(u).unwrap()), &{
                let mut l = lake();
                l.region = Some("eu-west-1".into());
                l
            })
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

    #[test]
    fn options_are_checked_against_the_store_and_refuse_credentials() {
        let at = |u: &str| LakeLocation::Url(url::Url::parse(u).unwrap());
        let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let sse = opts(&[
            ("aws_server_side_encryption", "aws:kms"),
            ("aws_sse_kms_key_id", "arn:aws:kms:eu-west-1:1:key/k"),
        ]);
        check_options(&at("s3://b/p"), &sse).unwrap();
        let e = check_options(&at("gs://b/p"), &sse).unwrap_err();
        assert!(
            e.contains("aws_server_side_encryption") && e.contains("gs"),
            "{e}"
        );
        let e = check_options(&LakeLocation::Local("/l".into()), &sse).unwrap_err();
        assert!(e.contains("local folder"), "{e}");
        for credential in [
            "aws_secret_access_key",
            "aws_access_key_id",
            "aws_session_token",
            "azure_storage_account_key",
            "google_service_account_key",
        ] {
            let e = check_options(&at("s3://b"), &opts(&[(credential, "x")])).unwrap_err();
            assert!(e.contains(credential) && e.contains("environment"), "{e}");
        }
        let e = check_options(
            &at("s3://b"),
            &opts(&[("aws_sever_side_encryption", "AES256")]),
        )
        .unwrap_err();
        assert!(e.contains("aws_sever_side_encryption"), "{e}");
    }
}
