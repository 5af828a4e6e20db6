//! The data lake: where it is ([`LakeLocation`], [`store`]), what it holds
//! ([`datasets`]), and how rows become Arrow batches ([`encode`]).

pub mod audit;
pub mod cli;
pub mod compact;
pub mod config_audit;
pub mod datasets;
pub mod encode;
pub mod inventory;
pub mod partition;
pub mod read;
pub mod report;
pub mod retention;
pub mod schema_check;
pub mod scope;
pub mod sidecar;
pub mod store;
pub mod summary;
pub mod validate;

use std::path::PathBuf;

use crate::config::LakeSettings;

/// A resolved lake root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    Local(PathBuf),
    Url(url::Url),
}

impl std::fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeLocation::Local(path) => write!(f, "{}", path.display()),
            LakeLocation::Url(url) => write!(f, "{url}"),
        }
    }
}

impl LakeLocation {
    /// `url` wins; else the seed's provider/bucket/base_path; else `./data-lake`.
    pub fn resolve(lake: &LakeSettings) -> Result<LakeLocation, String> {
        if let Some(url) = lake.url.as_deref().filter(|u| !u.is_empty()) {
            return Self::parse(url);
        }
        let base = lake.base_path.clone().unwrap_or_default();
        match lake
            .provider
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("local") => {
                let path = if base.is_empty() {
                    "./data-lake".to_string()
                } else {
                    base
                };
                Ok(LakeLocation::Local(PathBuf::from(path)))
            }
            Some(provider) => {
                let scheme = match provider {
                    "s3" | "aws" => "s3",
                    "gcs" | "gs" | "gcp" => "gs",
                    "azure" | "az" | "abfs" => "az",
                    other => {
                        return Err(format!(
                            "DATA_LAKE_PROVIDER `{other}` is unknown; use local, s3, gcs or azure (or set DATA_LAKE_URL)"
                        ))
                    }
                };
                let bucket = lake.bucket.as_deref().filter(|b| !b.is_empty()).ok_or_else(|| {
                    format!("DATA_LAKE_PROVIDER={provider} needs DATA_LAKE_BUCKET (or set DATA_LAKE_URL)")
                })?;
                Self::parse(&format!(
                    "{scheme}://{bucket}/{}",
                    base.trim_start_matches('/')
                ))
            }
        }
    }

    fn parse(text: &str) -> Result<LakeLocation, String> {
        if !text.contains("://") {
            return Ok(LakeLocation::Local(PathBuf::from(text)));
        }
        let url = url::Url::parse(text)
            .map_err(|e| format!("DATA_LAKE_URL `{text}` is not a URL: {e}"))?;
        // Azure URLs name the container as the user part, so only a password is a secret.
        if url.password().is_some() {
            return Err(
                "DATA_LAKE_URL carries a password; remove it and give credentials in the environment (AWS_*, GOOGLE_*, AZURE_* variables) or by instance metadata".into(),
            );
        }
        match url.scheme() {
            "file" => url
                .to_file_path()
                .map(LakeLocation::Local)
                .map_err(|_| format!("DATA_LAKE_URL `{text}` is not an absolute file path")),
            "s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss" => Ok(LakeLocation::Url(url)),
            other => Err(format!(
                "DATA_LAKE_URL scheme `{other}` is not supported; use file, s3, gs or az"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake(
        url: Option<&str>,
        provider: Option<&str>,
        bucket: Option<&str>,
        base: Option<&str>,
    ) -> LakeSettings {
        LakeSettings {
            url: url.map(Into::into),
            provider: provider.map(Into::into),
            bucket: bucket.map(Into::into),
            base_path: base.map(Into::into),
            region: None,
            row_group_rows: 1024,
            options: Default::default(),
        }
    }

    #[test]
    fn resolves_urls_and_seed_variables() {
        let r = |l| LakeLocation::resolve(&l).unwrap().to_string();
        assert_eq!(
            r(lake(Some("file:///tmp/lake"), None, None, None)),
            "/tmp/lake"
        );
        assert_eq!(
            r(lake(Some("s3://b/p"), Some("gcs"), None, None)),
            "s3://b/p"
        );
        assert_eq!(
            r(lake(None, Some("s3"), Some("bkt"), Some("/analytics"))),
            "s3://bkt/analytics"
        );
        assert_eq!(r(lake(None, Some("gcs"), Some("bkt"), None)), "gs://bkt/");
        assert_eq!(r(lake(None, None, None, Some("/data/lake"))), "/data/lake");
        assert_eq!(r(lake(None, None, None, None)), "./data-lake");
    }

    #[test]
    fn explains_what_is_missing() {
        let e = LakeLocation::resolve(&lake(None, Some("s3"), None, None)).unwrap_err();
        assert!(e.contains("DATA_LAKE_BUCKET"), "{e}");
        let e = LakeLocation::resolve(&lake(None, Some("hdfs"), Some("b"), None)).unwrap_err();
        assert!(e.contains("hdfs"), "{e}");
        let e = LakeLocation::resolve(&lake(Some("s3://AKIA:hunter2@bkt/p"), None, None, None))
            .unwrap_err();
        assert!(e.contains("password") && !e.contains("hunter2"), "{e}");
    }
}
