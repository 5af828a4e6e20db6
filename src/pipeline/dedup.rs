//! Deduplication of redelivered events: the first delivery of an `event_id` is processed,
//! later ones within the horizon are counted as duplicates (CONTRACT section 3).
//!
//! A redelivery is the same event, so it has the same event time: the store is windowed by
//! event hour and a lookup only reads the event's own hour. Ids of records still in open
//! windows are held here until their hour is durable (see `Processor::stage`).

use std::collections::{BTreeMap, HashSet};

use lakestream_state::{PartitionDb, StateBatch, WindowStore};

use super::HOUR_MS;

pub const STORE: &str = "dedup";

/// `(event hour, "<topic index>/<event_id>") -> ()`.
const SEEN: WindowStore<String, ()> = WindowStore::new(STORE, HOUR_MS);

pub struct Dedup {
    horizon_ms: i64,
    /// Ids first seen in records not yet durable, by event hour.
    pending: BTreeMap<i64, HashSet<String>>,
    /// Hours before this were expired from the store already.
    expired_before: i64,
}

fn key(topic: usize, event_id: &str) -> String {
    format!("{topic}/{event_id}")
}

impl Dedup {
    pub fn new(horizon_ms: i64) -> Self {
        Dedup {
            horizon_ms,
            pending: BTreeMap::new(),
            expired_before: i64::MIN,
        }
    }

    /// True for the first delivery of `event_id` in `topic`; remembers it.
    pub fn first_delivery(
        &mut self,
        db: &PartitionDb,
        topic: usize,
        hour_ms: i64,
        event_id: &str,
    ) -> anyhow::Result<bool> {
        let key = key(topic, event_id);
        if self
            .pending
            .get(&hour_ms)
            .is_some_and(|ids| ids.contains(&key))
        {
            return Ok(false);
        }
        if SEEN.get(db, hour_ms, &key)?.is_some() {
            return Ok(false);
        }
        self.pending.entry(hour_ms).or_default().insert(key);
        Ok(true)
    }

    /// Adds the ids of `hours` to the batch and expires hours past the horizon (never an
    /// hour that still has pending ids).
    pub fn stage(
        &mut self,
        hours: &[i64],
        watermark_ms: Option<i64>,
        batch: &mut StateBatch<'_>,
    ) -> anyhow::Result<()> {
        for hour in hours {
            for key in self.pending.get(hour).into_iter().flatten() {
                SEEN.put(batch, *hour, key, &())?;
            }
        }
        if let Some(watermark) = watermark_ms {
            let mut cutoff = watermark - self.horizon_ms;
            if let Some(first_pending) = self.pending.keys().next() {
                cutoff = cutoff.min(*first_pending);
            }
            let cutoff = SEEN.window_of(cutoff);
            if cutoff > self.expired_before {
                SEEN.expire_before(batch, cutoff)?;
                self.expired_before = cutoff;
            }
        }
        Ok(())
    }

    pub fn forget(&mut self, hours: &[i64]) {
        for hour in hours {
            self.pending.remove(hour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H0: i64 = 1_795_132_800_000;

    fn stage(dedup: &mut Dedup, db: &PartitionDb, hours: &[i64], watermark: Option<i64>) {
        let mut batch = db.batch();
        dedup.stage(hours, watermark, &mut batch).unwrap();
        db.write(batch).unwrap();
        dedup.forget(hours);
    }

    #[test]
    fn first_delivery_wins_in_memory_and_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let mut dedup = Dedup::new(7 * 24 * HOUR_MS);
        assert!(dedup.first_delivery(&db, 0, H0, "e1").unwrap());
        assert!(!dedup.first_delivery(&db, 0, H0, "e1").unwrap(), "pending");
        assert!(
            dedup.first_delivery(&db, 1, H0, "e1").unwrap(),
            "ids are per topic"
        );
        stage(&mut dedup, &db, &[H0], None);
        assert!(!dedup.first_delivery(&db, 0, H0, "e1").unwrap(), "stored");
        // Unstaged ids vanish with the process (their records are replayed).
        assert!(dedup.first_delivery(&db, 0, H0 + HOUR_MS, "e2").unwrap());
        let mut fresh = Dedup::new(7 * 24 * HOUR_MS);
        assert!(fresh.first_delivery(&db, 0, H0 + HOUR_MS, "e2").unwrap());
    }

    #[test]
    fn ids_expire_past_the_horizon_but_not_while_pending() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let mut dedup = Dedup::new(24 * HOUR_MS);
        assert!(dedup.first_delivery(&db, 0, H0, "old").unwrap());
        stage(&mut dedup, &db, &[H0], None);
        assert!(dedup.first_delivery(&db, 0, H0, "pending").unwrap());
        stage(&mut dedup, &db, &[], Some(H0 + 48 * HOUR_MS));
        assert!(
            !dedup.first_delivery(&db, 0, H0, "old").unwrap(),
            "spared: an id of its hour is pending"
        );
        stage(&mut dedup, &db, &[H0], Some(H0 + 48 * HOUR_MS));
        stage(&mut dedup, &db, &[], Some(H0 + 49 * HOUR_MS));
        assert!(
            dedup.first_delivery(&db, 0, H0, "old").unwrap(),
            "past the horizon it is new again"
        );
    }
}
