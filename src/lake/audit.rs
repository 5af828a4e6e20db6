//! The audit trail of the lake manager: one log line on target `lakestream::audit` per
//! object it deletes, with the reason, so operators can answer "where did this file go".

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// Logs the deletion of `path` for `reason`.
pub fn deleted(path: &str, reason: &str) {
    tracing::info!(
        target: "lakestream::audit",
        action = "delete",
        reason,
        path,
        "lake object deleted"
    );
}

/// Deletes `path` and logs it; an object that is already gone is neither an error nor a
/// log line (a run finishing an interrupted one meets those).
pub async fn delete(store: &dyn ObjectStore, path: &str, reason: &str) -> anyhow::Result<()> {
    match store.delete(&Path::from(path)).await {
        Ok(()) => {
            deleted(path, reason);
            Ok(())
        }
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("{path}: delete failed: {e}")),
    }
}
