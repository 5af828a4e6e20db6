//! Who owns a partition right now: each task announces itself in the lake when it takes a
//! partition over, so an instance asked about a key it does not own can say who does.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::config::Instance;
use crate::error::{Result, RuntimeError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Owner {
    pub partition: i32,
    pub instance: String,
    pub http_url: Option<String>,
    /// When it took the partition over (RFC 3339).
    pub since: String,
}

pub fn path(partition: i32) -> Path {
    Path::from(format!("_lakestream/owners/partition={partition:05}.json"))
}

pub(crate) async fn announce(store: &dyn ObjectStore, partition: i32, me: &Instance) -> Result<()> {
    let owner = Owner {
        partition,
        instance: me.id.clone(),
        http_url: me.http_url.clone(),
        since: chrono::Utc::now().to_rfc3339(),
    };
    let location = path(partition);
    let body = serde_json::to_vec_pretty(&owner).expect("owner serializes");
    store
        .put(&location, PutPayload::from(body))
        .await
        .map(|_| ())
        .map_err(|source| RuntimeError::Store {
            path: location.to_string(),
            source,
        })
}

/// The last announced owner of `partition`, if any announced itself.
pub async fn lookup(store: &dyn ObjectStore, partition: i32) -> Option<Owner> {
    let found = store.get(&path(partition)).await.ok()?;
    serde_json::from_slice(&found.bytes().await.ok()?).ok()
}

/// The partition librdkafka's default partitioner (`consistent_random`) gives a non-empty
/// key: CRC-32 of the key modulo the partition count.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (crc32fast::hash(key) % partitions.max(1) as u32) as i32
}
