//! The per-partition manifest: the lake's own record of what is durable, written before
//! every Kafka commit. It is the source of truth on restart; the committed Kafka offset may
//! lag it (a crash between the two) but never lead it.
//!
//! * `offsets`: every record of a topic below this offset is in the lake.
//! * `durable_marks`: above `offsets`, windows already written: every record of that topic
//!   and event hour below the mark is in the lake. Replay skips them instead of writing them
//!   a second time. Marks at or below `offsets` say nothing new and are pruned.
//! * `pending`: write-ahead list of the files a flush is about to write. A restart deletes
//!   whatever of them exists, because their records will be replayed and written again.
//! * `state`: the state snapshot and the changelog entries after it, which together hold
//!   exactly the effects of the durable records.

use std::collections::BTreeMap;

use lakestream_state::Applied;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub partition: i32,
    /// Incremented by every write; tells operators and tests how many flushes happened.
    pub generation: u64,
    pub offsets: BTreeMap<String, i64>,
    pub durable_marks: BTreeMap<String, BTreeMap<i64, i64>>,
    pub max_event_time_ms: Option<i64>,
    pub pending: Vec<String>,
    /// Per dead-letter topic, the offset after the last letter this partition confirmed:
    /// where a new owner starts looking for letters of an unfinished flush.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dead_letter_offsets: BTreeMap<String, i64>,
    /// Absent until the partition's state first changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateRef>,
}

/// Which state belongs to this manifest: the batch last applied, the snapshot in the
/// object store, and the changelog entries to apply on top of it (oldest first; the last
/// is the batch last applied). No entries: the snapshot holds the batch itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRef {
    pub seq: u64,
    pub token: u64,
    pub snapshot: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changelog: Vec<Applied>,
}

impl StateRef {
    pub fn applied(&self) -> Applied {
        Applied {
            seq: self.seq,
            token: self.token,
        }
    }

    /// The batch the snapshot holds: everything at or below it is in table files. A
    /// damaged manifest listing more entries than batches gives 0, so cleanup deletes no
    /// entry (the restore then fails on the applied marker and says so).
    pub fn snapshot_seq(&self) -> u64 {
        self.seq.saturating_sub(self.changelog.len() as u64)
    }
}

pub fn path(partition: i32) -> Path {
    Path::from(format!(
        "_lakestream/manifests/partition={partition:05}.json"
    ))
}

impl Manifest {
    pub fn new(partition: i32) -> Self {
        Manifest {
            format: FORMAT,
            partition,
            ..Default::default()
        }
    }

    pub async fn load(store: &dyn ObjectStore, partition: i32) -> Result<Option<Manifest>> {
        let location = path(partition);
        let bytes = match store.get(&location).await {
            Ok(found) => found.bytes().await,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => Err(e),
        }
        .map_err(|source| RuntimeError::Store {
            path: location.to_string(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Manifest {
                path: location.to_string(),
                reason: e.to_string(),
            })?;
        if manifest.format != FORMAT || manifest.partition != partition {
            return Err(RuntimeError::Manifest {
                path: location.to_string(),
                reason: format!(
                    "format {} for partition {} (expected format {FORMAT}, partition {partition})",
                    manifest.format, manifest.partition
                ),
            });
        }
        Ok(Some(manifest))
    }

    /// Replaces the manifest atomically (object stores make a single put all-or-nothing).
    pub async fn save(&mut self, store: &dyn ObjectStore) -> Result<()> {
        self.generation += 1;
        let location = path(self.partition);
        let body = serde_json::to_vec_pretty(self).expect("manifest serializes");
        store
            .put(&location, PutPayload::from(body))
            .await
            .map_err(|source| RuntimeError::Store {
                path: location.to_string(),
                source,
            })?;
        Ok(())
    }

    /// Whether the record at `offset` of `topic` with event hour `hour_ms` is already in
    /// the lake.
    pub fn is_durable(&self, topic: &str, hour_ms: i64, offset: i64) -> bool {
        if self.offsets.get(topic).is_some_and(|o| offset < *o) {
            return true;
        }
        self.durable_marks
            .get(topic)
            .and_then(|marks| marks.get(&hour_ms))
            .is_some_and(|mark| offset < *mark)
    }

    /// Highest offset below which `is_durable` can still answer true: past it, replay is over.
    pub fn replay_horizon(&self, topic: &str) -> i64 {
        let base = self.offsets.get(topic).copied().unwrap_or(0);
        let marks = self
            .durable_marks
            .get(topic)
            .and_then(|m| m.values().max().copied());
        marks.map_or(base, |m| m.max(base))
    }

    pub fn mark(&mut self, topic: &str, hour_ms: i64, next_offset: i64) {
        let marks = self.durable_marks.entry(topic.to_string()).or_default();
        let mark = marks.entry(hour_ms).or_insert(next_offset);
        *mark = (*mark).max(next_offset);
    }

    pub fn set_offset(&mut self, topic: &str, next_offset: i64) {
        let offset = self.offsets.entry(topic.to_string()).or_insert(next_offset);
        *offset = (*offset).max(next_offset);
    }

    /// Drops marks that `offsets` already covers, keeping the manifest small.
    pub fn prune(&mut self) {
        for (topic, marks) in self.durable_marks.iter_mut() {
            let base = self.offsets.get(topic).copied().unwrap_or(i64::MIN);
            marks.retain(|_, mark| *mark > base);
        }
        self.durable_marks.retain(|_, marks| !marks.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn the_snapshot_holds_what_the_changelog_does_not() {
        let entry = |seq| Applied { seq, token: 1 };
        let mut state = StateRef {
            seq: 9,
            token: 1,
            snapshot: 2,
            changelog: vec![entry(8), entry(9)],
        };
        assert_eq!(state.snapshot_seq(), 7);
        state.changelog = (0..12).map(entry).collect();
        assert_eq!(
            state.snapshot_seq(),
            0,
            "a damaged list protects every entry"
        );
        let old: StateRef =
            serde_json::from_str(r#"{"seq": 4, "token": 5, "snapshot": 1}"#).unwrap();
        assert_eq!((old.snapshot_seq(), old.changelog.len()), (4, 0));
    }

    #[test]
    fn durable_by_offset_or_by_mark() {
        let mut m = Manifest::new(3);
        m.set_offset("a", 10);
        m.mark("a", 7_200_000, 25);
        assert!(m.is_durable("a", 0, 9));
        assert!(!m.is_durable("a", 0, 10), "hour 0 has no mark");
        assert!(m.is_durable("a", 7_200_000, 24));
        assert!(!m.is_durable("a", 7_200_000, 25));
        assert!(!m.is_durable("b", 0, 0));
        assert_eq!(m.replay_horizon("a"), 25);
    }

    #[test]
    fn prune_keeps_only_marks_above_the_offset() {
        let mut m = Manifest::new(0);
        m.mark("a", 0, 5);
        m.mark("a", 3_600_000, 30);
        m.set_offset("a", 20);
        m.prune();
        assert_eq!(m.durable_marks["a"].len(), 1);
        m.set_offset("a", 30);
        m.prune();
        assert!(m.durable_marks.is_empty());
    }

    #[tokio::test]
    async fn save_and_load_round_trip() {
        let store = InMemory::new();
        assert_eq!(Manifest::load(&store, 1).await.unwrap(), None);
        let mut m = Manifest::new(1);
        m.set_offset("t", 4);
        m.pending.push("x/y.parquet".into());
        m.save(&store).await.unwrap();
        let loaded = Manifest::load(&store, 1).await.unwrap().unwrap();
        assert_eq!(loaded, m);
        assert_eq!(loaded.generation, 1);
    }

    #[tokio::test]
    async fn rejects_a_manifest_of_another_partition() {
        let store = InMemory::new();
        let mut m = Manifest::new(2);
        m.partition = 2;
        m.save(&store).await.unwrap();
        store.copy(&path(2), &path(5)).await.unwrap();
        let err = Manifest::load(&store, 5).await.unwrap_err().to_string();
        assert!(err.contains("partition 2"), "{err}");
    }
}
