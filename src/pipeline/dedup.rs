//! Deduplication of redelivered events: the first delivery of an `event_id` is processed,
//! later ones within the horizon are counted as duplicates (CONTRACT section 3).
//!
//! A redelivery is the same event, so it has the same event time: the store is windowed by
//! event hour and a lookup only reads the event's own hour. Ids of records still in open
//! windows are held here until their hour is durable (see `Processor::stage`).

use std::collections::BTreeSet;

use foldhash::HashSet;

use lakestream_state::{PartitionDb, StateBatch, WindowStore};

use super::pending::HourMap;
use super::HOUR_MS;

pub const STORE: &str = "dedup";

/// `(event hour, "<topic index>/<event_id>") -> ()`.
const SEEN: WindowStore<String, ()> = WindowStore::new(STORE, HOUR_MS);

pub struct Dedup {
    horizon_ms: i64,
    /// Ids first seen in records not yet durable, by event hour.
    pending: HourMap<HashSet<String>>,
    /// Hours before this were expired from the store already.
    expired_before: i64,
    /// (hour, topic) pairs this task stored ids of. With `stored_until`, the only ones the
    /// store holds ids of: a record of any other (nearly every record: its hour is still
    /// open, or its topic was read behind the others) needs no store lookup, which was 5%
    /// of the benchmark's CPU.
    staged_hours: BTreeSet<(i64, usize)>,
    /// Up to this hour an earlier owner of the partition may have stored ids. `None`
    /// until read from the store.
    stored_until: Option<i64>,
}

/// Built once per record (see [`FirstDelivery`]) and sized up front: two `format!`s per
/// record, each growing its string in steps, were 1% of the benchmark's CPU
/// (BENCHMARKS.md, round 13).
fn key(topic: usize, event_id: &str) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(event_id.len() + 21);
    write!(key, "{topic}/{event_id}").expect("writing to a String cannot fail");
    key
}

/// An id seen for the first time: its store key, for [`Dedup::remember`] once nothing
/// else about the record can fail.
#[derive(Debug)]
pub struct FirstDelivery(String);

fn topic_of(key: &str) -> usize {
    key.split_once('/')
        .and_then(|(topic, _)| topic.parse().ok())
        .expect("keys are made by `key`")
}

impl Dedup {
    pub fn new(horizon_ms: i64) -> Self {
        Dedup {
            horizon_ms,
            pending: HourMap::new(STORE),
            expired_before: i64::MIN,
            staged_hours: BTreeSet::new(),
            stored_until: None,
        }
    }

    /// True for the first delivery of `event_id` in `topic`; remembers it.
    #[cfg(test)]
    pub fn first_delivery(
        &mut self,
        db: &PartitionDb,
        topic: usize,
        hour_ms: i64,
        event_id: &str,
    ) -> anyhow::Result<bool> {
        let first = self.is_first_delivery(db, topic, hour_ms, event_id)?;
        let seen_first = first.is_some();
        if let Some(first) = first {
            self.remember(hour_ms, first)?;
        }
        Ok(seen_first)
    }

    /// Some when neither the pending ids nor the store know `event_id` in `topic`. Changes
    /// nothing: the caller [`Dedup::remember`]s the id once nothing else can fail, or a
    /// retried record would find its own id and count as a duplicate.
    pub fn is_first_delivery(
        &mut self,
        db: &PartitionDb,
        topic: usize,
        hour_ms: i64,
        event_id: &str,
    ) -> anyhow::Result<Option<FirstDelivery>> {
        let key = key(topic, event_id);
        self.pending.load(&[hour_ms])?;
        if self
            .pending
            .get(hour_ms)
            .is_some_and(|ids| ids.contains(&key))
        {
            return Ok(None);
        }
        let stored_until = match self.stored_until {
            Some(hour) => hour,
            None => *self
                .stored_until
                .insert(SEEN.last_window(db)?.unwrap_or(i64::MIN)),
        };
        let may_be_stored =
            hour_ms <= stored_until || self.staged_hours.contains(&(hour_ms, topic));
        if may_be_stored && SEEN.get(db, hour_ms, &key)?.is_some() {
            return Ok(None);
        }
        Ok(Some(FirstDelivery(key)))
    }

    /// Records the id as delivered, pending until its hour is durable.
    pub fn remember(&mut self, hour_ms: i64, first: FirstDelivery) -> std::io::Result<()> {
        self.pending.entry(hour_ms)?.insert(first.0);
        Ok(())
    }

    /// Adds the ids of `hours` to the batch and expires hours past the horizon (never an
    /// hour that still has pending ids).
    pub fn stage(
        &mut self,
        hours: &[i64],
        watermark_ms: Option<i64>,
        batch: &mut StateBatch<'_>,
    ) -> anyhow::Result<()> {
        self.pending.load(hours)?;
        for hour in hours {
            for key in self.pending.get(*hour).into_iter().flatten() {
                SEEN.put(batch, *hour, key, &())?;
                self.staged_hours.insert((*hour, topic_of(key)));
            }
        }
        if let Some(watermark) = watermark_ms {
            let mut cutoff = watermark - self.horizon_ms;
            if let Some(first_pending) = self.pending.first_hour() {
                cutoff = cutoff.min(first_pending);
            }
            let cutoff = SEEN.window_of(cutoff);
            if cutoff > self.expired_before {
                SEEN.expire_before(batch, cutoff)?;
                self.expired_before = cutoff;
                self.staged_hours = self.staged_hours.split_off(&(cutoff, 0));
            }
        }
        Ok(())
    }

    pub fn forget(&mut self, hours: &[i64]) {
        for hour in hours {
            self.pending.remove(*hour);
        }
    }

    pub fn load(&mut self, hour: i64) -> std::io::Result<()> {
        self.pending.load(&[hour])
    }

    /// Moves the pending ids to files in `dir` (see `pending.rs`).
    pub fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<u64> {
        self.pending.spill(dir)
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

    /// Asking changes nothing, so a record retried after a later state error is still
    /// new; only `remember` makes the next delivery a duplicate.
    #[test]
    fn asking_does_not_remember() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let mut dedup = Dedup::new(7 * 24 * HOUR_MS);
        assert!(dedup.is_first_delivery(&db, 0, H0, "e1").unwrap().is_some());
        let retried = dedup.is_first_delivery(&db, 0, H0, "e1").unwrap();
        dedup.remember(H0, retried.expect("retried")).unwrap();
        assert!(dedup.is_first_delivery(&db, 0, H0, "e1").unwrap().is_none());
        assert!(
            dedup.is_first_delivery(&db, 1, H0, "e1").unwrap().is_some(),
            "another topic's id"
        );
    }

    /// Pending ids moved to disk still catch redeliveries and still reach the store.
    #[test]
    fn spilled_pending_ids_still_count() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let mut dedup = Dedup::new(7 * 24 * HOUR_MS);
        assert!(dedup.first_delivery(&db, 0, H0, "e1").unwrap());
        assert!(dedup.first_delivery(&db, 0, H0 + HOUR_MS, "e2").unwrap());
        assert!(dedup.spill(scratch.path()).unwrap() > 0);
        assert!(!dedup.first_delivery(&db, 0, H0, "e1").unwrap(), "spilled");
        stage(&mut dedup, &db, &[H0 + HOUR_MS], None);
        let mut fresh = Dedup::new(7 * 24 * HOUR_MS);
        assert!(
            !fresh.first_delivery(&db, 0, H0 + HOUR_MS, "e2").unwrap(),
            "a spilled hour is staged whole"
        );
    }

    #[test]
    fn a_new_owner_finds_the_ids_an_earlier_owner_stored() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let mut earlier = Dedup::new(7 * 24 * HOUR_MS);
        assert!(earlier.first_delivery(&db, 0, H0, "e1").unwrap());
        assert!(earlier
            .first_delivery(&db, 0, H0 + 5 * HOUR_MS, "e5")
            .unwrap());
        stage(&mut earlier, &db, &[H0, H0 + 5 * HOUR_MS], None);
        let mut next = Dedup::new(7 * 24 * HOUR_MS);
        assert!(!next.first_delivery(&db, 0, H0, "e1").unwrap());
        assert!(!next.first_delivery(&db, 0, H0 + 5 * HOUR_MS, "e5").unwrap());
        assert!(next.first_delivery(&db, 0, H0 + 6 * HOUR_MS, "e6").unwrap());
        // An hour it stored itself after taking over is looked up too, for that topic.
        stage(&mut next, &db, &[H0 + 6 * HOUR_MS], None);
        assert!(!next.first_delivery(&db, 0, H0 + 6 * HOUR_MS, "e6").unwrap());
        assert!(next.first_delivery(&db, 1, H0 + 6 * HOUR_MS, "e6").unwrap());
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
