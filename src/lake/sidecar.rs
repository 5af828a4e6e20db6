//! The `_<stem>.meta.json` sidecars beside data files: where they are, reading them, and
//! the quality reports inside them. A compacted file's sidecar keeps its sources'
//! sidecars whole under `compacted_from`, so readers look through it.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

/// The sidecar of data file `data` (`dir/part-x.parquet` -> `dir/_part-x.meta.json`).
pub fn path_of(data: &str) -> String {
    let (dir, name) = data.rsplit_once('/').unwrap_or(("", data));
    let stem = name.strip_suffix(".parquet").unwrap_or(name);
    if dir.is_empty() {
        format!("_{stem}.meta.json")
    } else {
        format!("{dir}/_{stem}.meta.json")
    }
}

/// A sidecar's JSON; `None` when there is none (a flush writes it just after its data).
pub async fn read(store: &dyn ObjectStore, path: &str) -> anyhow::Result<Option<Value>> {
    let location = Path::from(path);
    let bytes = match store.get(&location).await {
        Ok(found) => found.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|e| anyhow::anyhow!("{path}: cannot be read: {e}"))?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{path}: not a JSON sidecar: {e}"))?;
    Ok(Some(value))
}

/// The row count a sidecar records, if it records one.
pub fn rows(sidecar: &Value) -> Option<u64> {
    sidecar.get("rows").and_then(Value::as_u64)
}

/// The sidecars a (possibly compacted, possibly repeatedly) sidecar stands for.
pub fn originals(sidecar: &Value) -> Vec<&Value> {
    match sidecar.get("compacted_from").and_then(Value::as_array) {
        Some(sources) => sources
            .iter()
            .filter_map(|s| s.get("sidecar"))
            .flat_map(originals)
            .collect(),
        None => vec![sidecar],
    }
}

/// Window quality reports (raw files' sidecars) inside `sidecar`.
pub fn quality_reports(sidecar: &Value) -> Vec<&Value> {
    originals(sidecar)
        .into_iter()
        .filter_map(|s| s.get("quality"))
        .filter(|q| q.get("scores").is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sidecar_sits_beside_its_data_file() {
        assert_eq!(
            path_of("raw/t/year=2026/month=1/day=2/part-2026010203-p0001-o5-9.parquet"),
            "raw/t/year=2026/month=1/day=2/_part-2026010203-p0001-o5-9.meta.json"
        );
    }

    #[test]
    fn reports_are_found_through_nested_compactions() {
        let report = |overall: f64| json!({"quality": {"scores": {"overall": overall}}});
        let inner = json!({"rows": 3, "compacted_from": [
            {"path": "a", "sidecar": report(0.5)},
            {"path": "b", "sidecar": {"rows": 1}},
        ]});
        let outer = json!({"rows": 4, "compacted_from": [
            {"path": "c", "sidecar": inner},
            {"path": "d", "sidecar": report(1.0)},
        ]});
        let found: Vec<f64> = quality_reports(&outer)
            .iter()
            .map(|q| q["scores"]["overall"].as_f64().unwrap())
            .collect();
        assert_eq!(found, vec![0.5, 1.0]);
        assert_eq!(originals(&outer).len(), 3);
        assert_eq!(rows(&outer), Some(4));
    }
}
