//! The write-ahead record of one compaction, `_compact-<hash>.meta.json` in the day's
//! folder: the sources and their sidecars, written before the merged file. Its name is a
//! function of the sorted sources, so the merged file's name is known from it and a crash
//! at any step leaves a state the next run can finish or undo.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const FORMAT: u32 = 1;
const PREFIX: &str = "_compact-";
const SUFFIX: &str = ".meta.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub path: String,
    /// The source's sidecar, `null` when it had none.
    pub sidecar: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub format: u32,
    pub dataset: String,
    /// The merged data file.
    pub target: String,
    pub sources: Vec<Source>,
}

/// Where a compaction of `sources` (paths in one day folder) writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub intent: String,
    pub target: String,
}

/// FNV-1a: stable across builds and platforms, unlike std's hasher.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Names {
    /// `dir` is the day folder, `day` its `YYYYMMDD`.
    pub fn of(dir: &str, day: &str, sources: &[&str]) -> Names {
        let mut sorted = sources.to_vec();
        sorted.sort_unstable();
        let hash = fnv1a(&sorted.join("\n"));
        Names {
            intent: format!("{dir}/{PREFIX}{hash:016x}{SUFFIX}"),
            // Unlike the service's `part-<hour>-p..` and `part-<day>-p..` names, so a
            // merged file never takes the name of a file the service writes.
            target: format!("{dir}/part-{day}-c{hash:016x}.parquet"),
        }
    }
}

/// Whether `path` is a compaction intent.
pub fn is_intent(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with(PREFIX) && name.ends_with(SUFFIX)
}

pub async fn save(store: &dyn ObjectStore, path: &str, intent: &Intent) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(intent)?;
    store
        .put(&Path::from(path), PutPayload::from(body))
        .await
        .map_err(|e| anyhow::anyhow!("{path}: cannot be written: {e}"))?;
    Ok(())
}

pub async fn load(store: &dyn ObjectStore, path: &str) -> anyhow::Result<Intent> {
    let bytes = store
        .get(&Path::from(path))
        .await
        .map_err(|e| anyhow::anyhow!("{path}: cannot be read: {e}"))?
        .bytes()
        .await?;
    let intent: Intent = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{path}: not a compaction intent: {e}"))?;
    anyhow::ensure!(
        intent.format == FORMAT,
        "{path}: intent format {} (this version reads {FORMAT})",
        intent.format
    );
    Ok(intent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_depend_on_the_set_of_sources_only() {
        let dir = "raw/t/year=2026/month=1/day=2";
        let a = Names::of(dir, "20260102", &["x/b.parquet", "x/a.parquet"]);
        let b = Names::of(dir, "20260102", &["x/a.parquet", "x/b.parquet"]);
        let c = Names::of(dir, "20260102", &["x/a.parquet", "x/c.parquet"]);
        assert_eq!(a, b);
        assert_ne!(a.target, c.target);
        assert!(is_intent(&a.intent), "{}", a.intent);
        assert!(!is_intent(&a.target));
        assert!(a.target.starts_with(&format!("{dir}/part-20260102-c")));
        assert!(crate::lake::partition::is_data_file(&a.target));
        assert!(!crate::lake::partition::is_data_file(&a.intent));
    }
}
