//! Daily aggregates per user and UTC day (CONTRACT section 4), kept in a windowed store
//! (one window per day) and written to `aggregated/daily_user_stats` as one file per
//! partition and day, rewritten whenever the day changes.
//!
//! Changes of records in open windows are held here, by event hour, until the hour is
//! durable. Events whose day ended more than the allowed lateness before the watermark
//! no longer change the aggregate; days past that point are final and leave the store.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;

use lakestream_state::{PartitionDb, StateBatch, WindowStore};
use serde::{Deserialize, Serialize};

use crate::domain::{Attempt, Session};

use super::pending::HourMap;
use super::HOUR_MS;

pub const DAY_MS: i64 = 24 * HOUR_MS;
pub const STORE: &str = "daily_user_stats";

/// `(UTC day, user_id) -> stats`.
const DAILY: WindowStore<String, DailyStats> = WindowStore::new(STORE, DAY_MS);

/// One user's day. Sums are kept exact (integers, the item set) so that merging hours in
/// any grouping gives the same result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyStats {
    pub total_attempts: i64,
    pub correct_attempts: i64,
    pub response_time_ms_sum: i64,
    /// Distinct items attempted: exact, as the contract asks, not a sketch.
    pub items: BTreeSet<String>,
    pub total_sessions: i64,
    pub study_time_ms: i64,
}

impl DailyStats {
    fn add_attempt(&mut self, a: &Attempt) {
        self.total_attempts += 1;
        self.correct_attempts += i64::from(a.correct);
        self.response_time_ms_sum += a.time_taken_ms;
        if !self.items.contains(&a.item_id) {
            self.items.insert(a.item_id.clone());
        }
    }

    fn add_session(&mut self, s: &Session) {
        self.total_sessions += 1;
        self.study_time_ms += s.ended_at_ms - s.started_at_ms;
    }

    fn merge(&mut self, other: DailyStats) {
        self.total_attempts += other.total_attempts;
        self.correct_attempts += other.correct_attempts;
        self.response_time_ms_sum += other.response_time_ms_sum;
        self.items.extend(other.items);
        self.total_sessions += other.total_sessions;
        self.study_time_ms += other.study_time_ms;
    }

    /// Null without attempts, as the contract says.
    pub fn accuracy(&self) -> Option<f64> {
        (self.total_attempts > 0).then(|| self.correct_attempts as f64 / self.total_attempts as f64)
    }

    pub fn avg_response_time_ms(&self) -> Option<f64> {
        (self.total_attempts > 0)
            .then(|| self.response_time_ms_sum as f64 / self.total_attempts as f64)
    }

    pub fn study_time_minutes(&self) -> f64 {
        self.study_time_ms as f64 / 60_000.0
    }
}

/// One row of `aggregated/daily_user_stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyRow {
    pub user_id: String,
    pub day_ms: i64,
    pub partition: i32,
    pub stats: DailyStats,
}

pub struct Daily {
    allowed_lateness_ms: i64,
    /// Changes of records not yet durable: event hour -> user -> stats (the day is the
    /// hour's).
    pending: HourMap<HashMap<String, DailyStats>>,
    expired_before: i64,
}

/// What an event did to the aggregates.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Counted,
    /// Its day is final: later than the allowed lateness.
    TooLate,
    /// Not an attempt or a session.
    NotAggregated,
}

impl Daily {
    pub fn new(allowed_lateness_ms: i64) -> Self {
        Daily {
            allowed_lateness_ms,
            pending: HourMap::new(STORE),
            expired_before: i64::MIN,
        }
    }

    fn is_final(&self, day_ms: i64, watermark_ms: Option<i64>) -> bool {
        watermark_ms.is_some_and(|w| day_ms + DAY_MS + self.allowed_lateness_ms <= w)
    }

    fn entry(&mut self, hour_ms: i64, user: &str) -> std::io::Result<&mut DailyStats> {
        let users = self.pending.entry(hour_ms)?;
        // Most events are not their user's first of the hour: allocate a key only for a
        // new user.
        if !users.contains_key(user) {
            users.insert(user.to_string(), DailyStats::default());
        }
        Ok(users.get_mut(user).expect("inserted above"))
    }

    pub fn attempt(
        &mut self,
        a: &Attempt,
        hour_ms: i64,
        watermark_ms: Option<i64>,
    ) -> std::io::Result<Applied> {
        if self.is_final(DAILY.window_of(hour_ms), watermark_ms) {
            return Ok(Applied::TooLate);
        }
        self.entry(hour_ms, &a.user_id)?.add_attempt(a);
        Ok(Applied::Counted)
    }

    pub fn session(
        &mut self,
        s: &Session,
        hour_ms: i64,
        watermark_ms: Option<i64>,
    ) -> std::io::Result<Applied> {
        if self.is_final(DAILY.window_of(hour_ms), watermark_ms) {
            return Ok(Applied::TooLate);
        }
        self.entry(hour_ms, &s.user_id)?.add_session(s);
        Ok(Applied::Counted)
    }

    /// Merges the changes of `hours` into the stored days and expires final days. Returns
    /// the days that changed.
    pub fn stage(
        &mut self,
        db: &PartitionDb,
        hours: &[i64],
        watermark_ms: Option<i64>,
        batch: &mut StateBatch<'_>,
    ) -> anyhow::Result<Vec<i64>> {
        let mut merged: BTreeMap<(i64, String), DailyStats> = BTreeMap::new();
        self.pending.load(hours)?;
        for hour in hours {
            let day = DAILY.window_of(*hour);
            for (user, stats) in self.pending.get(*hour).into_iter().flatten() {
                merged
                    .entry((day, user.clone()))
                    .or_default()
                    .merge(stats.clone());
            }
        }
        let mut days = BTreeSet::new();
        for ((day, user), change) in merged {
            let mut stats = DAILY.get(db, day, &user)?.unwrap_or_default();
            stats.merge(change);
            DAILY.put(batch, day, &user, &stats)?;
            days.insert(day);
        }
        if let Some(watermark) = watermark_ms {
            // The first day that can still change; never one with changes in flight.
            let mut cutoff = DAILY.window_of(watermark - self.allowed_lateness_ms);
            if let Some(first_pending) = self.pending.first_hour() {
                cutoff = cutoff.min(DAILY.window_of(first_pending));
            }
            if cutoff > self.expired_before {
                DAILY.expire_before(batch, cutoff)?;
                self.expired_before = cutoff;
            }
        }
        Ok(days.into_iter().collect())
    }

    pub fn forget(&mut self, hours: &[i64]) {
        for hour in hours {
            self.pending.remove(*hour);
        }
    }

    pub fn load(&mut self, hour: i64) -> std::io::Result<()> {
        self.pending.load(&[hour])
    }

    /// Moves the pending changes to files in `dir` (see `pending.rs`).
    pub fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<u64> {
        self.pending.spill(dir)
    }

    /// Every user's row of `day`, in user order: the content of the day's file.
    pub fn rows(db: &PartitionDb, day_ms: i64, partition: i32) -> anyhow::Result<Vec<DailyRow>> {
        Ok(DAILY
            .fetch_window(db, day_ms)?
            .into_iter()
            .map(|(user_id, stats)| DailyRow {
                user_id,
                day_ms,
                partition,
                stats,
            })
            .collect())
    }

    /// One user's live aggregate (interactive query).
    pub fn lookup(
        db: &PartitionDb,
        day_ms: i64,
        user_id: &str,
    ) -> anyhow::Result<Option<DailyStats>> {
        Ok(DAILY.get(db, day_ms, &user_id.to_string())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{self, Event, ResponseTimeThresholds, Topic};

    const DAY0: i64 = 1_795_132_800_000; // a UTC midnight

    fn attempt(user: &str, item: &str, correct: bool, ms: i64, at: i64) -> Attempt {
        let v = serde_json::json!({"event_id": format!("{user}-{at}"), "user_id": user,
            "item_id": item, "session_id": "s", "correct": correct, "time_taken_ms": ms,
            "timestamp": at});
        match domain::parse(
            Topic::Attempts,
            v.to_string().as_bytes(),
            &ResponseTimeThresholds::default(),
        ) {
            Ok(Event::Attempt(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn session(user: &str, start: i64, end: i64) -> Session {
        let v = serde_json::json!({"event_id": format!("s-{user}-{end}"), "session_id": "s",
            "user_id": user, "session_type": "practice", "started_at": start, "ended_at": end,
            "items_attempted": 2, "correct_count": 1});
        match domain::parse(
            Topic::Sessions,
            v.to_string().as_bytes(),
            &ResponseTimeThresholds::default(),
        ) {
            Ok(Event::Session(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn hour(ts: i64) -> i64 {
        ts.div_euclid(HOUR_MS) * HOUR_MS
    }

    #[test]
    fn hours_merge_into_one_exact_day_and_only_when_staged() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let mut daily = Daily::new(2 * DAY_MS);
        let t1 = DAY0 + 3 * HOUR_MS;
        let t2 = DAY0 + 20 * HOUR_MS;
        assert_eq!(
            daily
                .attempt(&attempt("u", "i1", true, 1000, t1), hour(t1), None)
                .unwrap(),
            Applied::Counted
        );
        daily
            .attempt(&attempt("u", "i1", false, 3000, t2), hour(t2), None)
            .unwrap();
        daily
            .attempt(&attempt("u", "i2", true, 2000, t2), hour(t2), None)
            .unwrap();
        daily
            .session(&session("u", t2 - 90_000, t2), hour(t2), None)
            .unwrap();

        let mut batch = db.batch();
        let days = daily.stage(&db, &[hour(t1)], None, &mut batch).unwrap();
        db.write(batch).unwrap();
        daily.forget(&[hour(t1)]);
        assert_eq!(days, vec![DAY0]);
        let first = Daily::lookup(&db, DAY0, "u").unwrap().unwrap();
        assert_eq!(
            first.total_attempts, 1,
            "the open hour is not in the store yet"
        );

        let mut batch = db.batch();
        daily.stage(&db, &[hour(t2)], None, &mut batch).unwrap();
        db.write(batch).unwrap();
        daily.forget(&[hour(t2)]);
        let day = Daily::lookup(&db, DAY0, "u").unwrap().unwrap();
        assert_eq!((day.total_attempts, day.correct_attempts), (3, 2));
        assert_eq!(day.items.len(), 2, "distinct items, exactly");
        assert_eq!(day.avg_response_time_ms(), Some(2000.0));
        assert_eq!(day.total_sessions, 1);
        assert_eq!(day.study_time_minutes(), 1.5);
        let rows = Daily::rows(&db, DAY0 + 5, 3).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].user_id.as_str(), rows[0].partition), ("u", 3));

        // Staging again after forget writes nothing: a retried flush counts nothing twice.
        let mut batch = db.batch();
        let days = daily.stage(&db, &[hour(t2)], None, &mut batch).unwrap();
        assert!(days.is_empty() && batch.is_empty());
    }

    #[test]
    fn a_day_past_the_lateness_is_final_and_leaves_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let mut daily = Daily::new(2 * DAY_MS);
        let t = DAY0 + HOUR_MS;
        daily
            .session(&session("u", t - 60_000, t), hour(t), None)
            .unwrap();
        let mut batch = db.batch();
        daily.stage(&db, &[hour(t)], None, &mut batch).unwrap();
        db.write(batch).unwrap();
        daily.forget(&[hour(t)]);

        // Watermark exactly lateness past the day's end: the day no longer changes.
        let watermark = DAY0 + DAY_MS + 2 * DAY_MS;
        assert_eq!(
            daily
                .attempt(&attempt("u", "i", true, 5, t), hour(t), Some(watermark))
                .unwrap(),
            Applied::TooLate
        );
        assert_eq!(
            daily
                .attempt(&attempt("u", "i", true, 5, t), hour(t), Some(watermark - 1))
                .unwrap(),
            Applied::Counted,
            "a millisecond earlier it still counts"
        );
        // That counted change is pending, so expiry must spare its day.
        let mut batch = db.batch();
        daily
            .stage(&db, &[], Some(watermark + DAY_MS), &mut batch)
            .unwrap();
        db.write(batch).unwrap();
        assert!(Daily::lookup(&db, DAY0, "u").unwrap().is_some());
        let mut batch = db.batch();
        daily
            .stage(&db, &[hour(t)], Some(watermark + DAY_MS), &mut batch)
            .unwrap();
        db.write(batch).unwrap();
        daily.forget(&[hour(t)]);
        let mut batch = db.batch();
        daily
            .stage(&db, &[], Some(watermark + DAY_MS), &mut batch)
            .unwrap();
        db.write(batch).unwrap();
        assert!(
            Daily::lookup(&db, DAY0, "u").unwrap().is_none(),
            "final days expire"
        );
    }
}
