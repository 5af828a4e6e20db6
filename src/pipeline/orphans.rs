//! Attempts whose session never arrives (an error-level rule: the attempt stays processed,
//! is flagged in `quality/attempts_without_session` and counted).
//!
//! A session event is published when the session ends, after its attempts, and on another
//! topic, which the task may read ahead of or behind the attempts. So an attempt waits
//! until the sessions topic itself has moved `session_wait` (event time) past the attempt
//! and every hour up to then is durable; then its session is looked up among the sessions
//! seen. Events later than the allowed lateness are not judged, as they no longer count in
//! their day either. Like every state change, the waits and the sessions
//! seen are held per event hour until the runtime says that hour is durable, so a replay
//! neither judges an attempt twice nor forgets one.

use std::collections::BTreeMap;

use foldhash::HashSet;

use lakestream_state::{PartitionDb, StateBatch, WindowStore};
use serde::{Deserialize, Serialize};

use super::daily::DAY_MS;
use super::pending::HourMap;
use super::HOUR_MS;
use crate::domain::{Attempt, Session};

pub const SESSIONS_STORE: &str = "sessions_seen";
pub const WAITING_STORE: &str = "awaiting_session";
pub const ORPHANS_STORE: &str = "attempts_without_session";

/// `(session event hour, session_id) -> ()`.
const SESSIONS: WindowStore<String, ()> = WindowStore::new(SESSIONS_STORE, HOUR_MS);
/// `(hour the wait ends, event_id) -> attempt`.
const WAITING: WindowStore<String, Waiting> = WindowStore::new(WAITING_STORE, HOUR_MS);
/// `(attempt's UTC day, event_id) -> attempt`: the flagged attempts, a day file's rows.
const ORPHANS: WindowStore<String, Waiting> = WindowStore::new(ORPHANS_STORE, DAY_MS);

/// What the flag keeps of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    pub event_id: String,
    pub user_id: String,
    pub session_id: String,
    pub event_time_ms: i64,
}

/// One row of `quality/attempts_without_session`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrphanRow {
    pub attempt: Waiting,
    pub partition: i32,
}

pub struct Orphans {
    wait_ms: i64,
    /// Flags stay this long after their day (by watermark), so a rewrite of the day file
    /// still holds every flag of the day.
    keep_ms: i64,
    /// Changes of records not yet durable, by the record's event hour.
    pending_sessions: HourMap<HashSet<String>>,
    pending_waits: HourMap<Vec<Waiting>>,
    /// Latest session end seen: how far the sessions topic has come.
    sessions_until: Option<i64>,
    /// Wait windows before this are judged; `None` until read from the store.
    judged_before: Option<i64>,
    /// The sessions this task staged, by event hour, for as long as the store keeps them:
    /// an attempt's session is found here instead of by a store lookup per hour of
    /// `session_wait` (6% of the benchmark's CPU). About two days' sessions at the
    /// benchmark's rate, a few MB per instance.
    recent_sessions: BTreeMap<i64, HashSet<String>>,
    /// Up to this hour an earlier owner of the partition may have stored sessions the
    /// cache does not know: only those hours are looked up. `None` until read from the
    /// store.
    stored_until: Option<i64>,
    /// Hours before this are expired, from the store and the cache alike.
    cached_from: i64,
}

impl Orphans {
    pub fn new(wait_ms: i64, keep_ms: i64) -> Self {
        Orphans {
            wait_ms,
            keep_ms,
            pending_sessions: HourMap::new(SESSIONS_STORE),
            pending_waits: HourMap::new(WAITING_STORE),
            sessions_until: None,
            judged_before: None,
            recent_sessions: BTreeMap::new(),
            stored_until: None,
            cached_from: i64::MIN,
        }
    }

    fn too_late(&self, event_time_ms: i64, watermark_ms: Option<i64>) -> bool {
        watermark_ms.is_some_and(|w| event_time_ms < w - self.keep_ms)
    }

    pub fn attempt(
        &mut self,
        attempt: &Attempt,
        hour_ms: i64,
        watermark_ms: Option<i64>,
    ) -> std::io::Result<()> {
        if self.too_late(attempt.timestamp_ms, watermark_ms) {
            return Ok(());
        }
        self.pending_waits.entry(hour_ms)?.push(Waiting {
            event_id: attempt.event_id.clone(),
            user_id: attempt.user_id.clone(),
            session_id: attempt.session_id.clone(),
            event_time_ms: attempt.timestamp_ms,
        });
        Ok(())
    }

    pub fn session(
        &mut self,
        session: &Session,
        hour_ms: i64,
        watermark_ms: Option<i64>,
    ) -> std::io::Result<()> {
        self.sessions_until = self.sessions_until.max(Some(session.ended_at_ms));
        if self.too_late(session.ended_at_ms, watermark_ms) {
            return Ok(());
        }
        self.pending_sessions
            .entry(hour_ms)?
            .insert(session.session_id.clone());
        Ok(())
    }

    /// Stages the changes of `hours`, judges the waits that are over, and returns the days
    /// that gained flags plus how many attempts were flagged.
    pub fn stage(
        &mut self,
        db: &PartitionDb,
        hours: &[i64],
        watermark_ms: Option<i64>,
        batch: &mut StateBatch<'_>,
    ) -> anyhow::Result<(Vec<i64>, u64)> {
        if self.stored_until.is_none() {
            self.stored_until = Some(SESSIONS.last_window(db)?.unwrap_or(i64::MIN));
        }
        self.pending_sessions.load(hours)?;
        self.pending_waits.load(hours)?;
        // Sessions staged in this batch are not readable from the database yet.
        let mut fresh_sessions: HashSet<&str> = HashSet::default();
        let mut fresh_waits: Vec<(i64, &Waiting)> = Vec::new();
        for hour in hours {
            if let Some(ids) = self.pending_sessions.get(*hour) {
                let cached = self.recent_sessions.entry(*hour).or_default();
                for id in ids {
                    SESSIONS.put(batch, *hour, id, &())?;
                    fresh_sessions.insert(id);
                    cached.insert(id.clone());
                }
            }
        }
        for hour in hours {
            for attempt in self.pending_waits.get(*hour).into_iter().flatten() {
                let due = WAITING.window_of(attempt.event_time_ms + self.wait_ms);
                // A session once seen stays seen until its attempts are judged, so an
                // attempt whose session is known already can never be flagged. Most
                // sessions end in their attempts' hour and are staged with them: storing,
                // reading back and deleting their waits was most of this check's cost.
                if self.session_known(db, attempt, due)? {
                    continue;
                }
                WAITING.put(batch, due, &attempt.event_id, attempt)?;
                fresh_waits.push((due, attempt));
            }
        }
        let (Some(watermark), Some(sessions_until)) = (watermark_ms, self.sessions_until) else {
            return Ok((Vec::new(), 0));
        };
        // A wait window is judged when the sessions topic is past all its waits and no
        // hour up to it still has changes in flight (a session there is not readable yet).
        let still_pending = self
            .pending_sessions
            .hours()
            .chain(self.pending_waits.hours())
            .filter(|h| !hours.contains(h))
            .min();
        let mut limit = WAITING.window_of(sessions_until) - HOUR_MS;
        if let Some(first) = still_pending {
            limit = limit.min(first - HOUR_MS);
        }
        let stored = match self.judged_before {
            Some(start) => Some(start),
            None => WAITING.first_window(db)?,
        };
        // A late attempt can wait in a window judged already: judge it now.
        let start = stored
            .into_iter()
            .chain(fresh_waits.iter().map(|(w, _)| *w))
            .min()
            .unwrap_or(limit + HOUR_MS);
        let (mut days, mut flagged) = (Vec::new(), 0);
        let mut window = start;
        while window <= limit {
            let mut waits = WAITING.fetch_window(db, window)?;
            waits.extend(
                fresh_waits
                    .iter()
                    .filter(|(w, _)| *w == window)
                    .map(|(_, a)| (a.event_id.clone(), (*a).clone())),
            );
            for (_, attempt) in waits {
                if !self.session_seen(db, &fresh_sessions, &attempt, window)? {
                    let day = ORPHANS.window_of(attempt.event_time_ms);
                    ORPHANS.put(batch, day, &attempt.event_id, &attempt)?;
                    days.push(day);
                    flagged += 1;
                }
            }
            window += HOUR_MS;
        }
        let judged_before = window.max(start);
        WAITING.expire_before(batch, judged_before)?;
        // Sessions no attempt still judged can match (see `session_seen` and `too_late`).
        let sessions_from = (judged_before - 2 * self.wait_ms - 2 * HOUR_MS)
            .min(watermark - self.keep_ms - self.wait_ms - HOUR_MS);
        SESSIONS.expire_before(batch, SESSIONS.window_of(sessions_from))?;
        // The cache forgets what the store forgets: a session it does not know is not in
        // the store either, unless an earlier owner stored it (`stored_until`).
        self.cached_from = self.cached_from.max(SESSIONS.window_of(sessions_from));
        self.recent_sessions = self.recent_sessions.split_off(&self.cached_from);
        ORPHANS.expire_before(batch, ORPHANS.window_of(watermark - self.keep_ms - DAY_MS))?;
        self.judged_before = Some(judged_before);
        days.sort_unstable();
        days.dedup();
        Ok((days, flagged))
    }

    /// Whether the attempt's session was seen within `session_wait` of the attempt, on
    /// either side: a session is stamped with its end, but a producer may stamp the start.
    fn session_seen(
        &self,
        db: &PartitionDb,
        fresh: &HashSet<&str>,
        attempt: &Waiting,
        wait_window: i64,
    ) -> anyhow::Result<bool> {
        Ok(fresh.contains(attempt.session_id.as_str())
            || self.session_known(db, attempt, wait_window)?)
    }

    /// Whether the attempt's session is among those staged up to now (this batch's
    /// included) within `session_wait` of the attempt.
    fn session_known(
        &self,
        db: &PartitionDb,
        attempt: &Waiting,
        wait_window: i64,
    ) -> anyhow::Result<bool> {
        let first = SESSIONS.window_of(attempt.event_time_ms - self.wait_ms);
        if self
            .recent_sessions
            .range(first..=wait_window)
            .any(|(_, ids)| ids.contains(&attempt.session_id))
        {
            return Ok(true);
        }
        // Only the hours an earlier owner may have stored sessions in are worth a lookup.
        let stored_until = self.stored_until.unwrap_or(i64::MAX);
        let mut hour = first.max(self.cached_from);
        while hour <= wait_window.min(stored_until) {
            if SESSIONS.get(db, hour, &attempt.session_id)?.is_some() {
                return Ok(true);
            }
            hour += HOUR_MS;
        }
        Ok(false)
    }

    pub fn forget(&mut self, hours: &[i64]) {
        for hour in hours {
            self.pending_sessions.remove(*hour);
            self.pending_waits.remove(*hour);
        }
    }

    pub fn load(&mut self, hour: i64) -> std::io::Result<()> {
        self.pending_sessions.load(&[hour])?;
        self.pending_waits.load(&[hour])
    }

    /// Moves the pending sessions and waits to files in `dir` (see `pending.rs`).
    pub fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<u64> {
        Ok(self.pending_sessions.spill(dir)? + self.pending_waits.spill(dir)?)
    }

    /// The flagged attempts of one day, in event-time order: the day file's rows.
    pub fn rows(db: &PartitionDb, day_ms: i64, partition: i32) -> anyhow::Result<Vec<OrphanRow>> {
        let mut rows: Vec<OrphanRow> = ORPHANS
            .fetch_window(db, day_ms)?
            .into_iter()
            .map(|(_, attempt)| OrphanRow { attempt, partition })
            .collect();
        rows.sort_by(|a, b| {
            (a.attempt.event_time_ms, &a.attempt.event_id)
                .cmp(&(b.attempt.event_time_ms, &b.attempt.event_id))
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{self, Event, ResponseTimeThresholds, Topic};

    const H0: i64 = 1_795_132_800_000;
    const WAIT: i64 = 2 * HOUR_MS;
    const STORES: &[&str] = &[SESSIONS_STORE, WAITING_STORE, ORPHANS_STORE];

    fn attempt(id: &str, session: &str, at: i64) -> Attempt {
        let v = serde_json::json!({"event_id": id, "user_id": "u1", "item_id": "i",
            "session_id": session, "correct": true, "time_taken_ms": 3000, "timestamp": at});
        match domain::parse(
            Topic::Attempts,
            v.to_string().as_bytes(),
            &Default::default(),
        ) {
            Ok(Event::Attempt(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn session(id: &str, end: i64) -> Session {
        let v = serde_json::json!({"event_id": format!("e-{id}"), "session_id": id,
            "user_id": "u1", "session_type": "practice", "started_at": end - 600_000,
            "ended_at": end, "items_attempted": 1, "correct_count": 1});
        let thresholds = ResponseTimeThresholds::default();
        match domain::parse(Topic::Sessions, v.to_string().as_bytes(), &thresholds) {
            Ok(Event::Session(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn hour(ms: i64) -> i64 {
        ms.div_euclid(HOUR_MS) * HOUR_MS
    }

    /// Stages `hours` as the runtime does (write, then forget); returns flagged days and count.
    fn stage(o: &mut Orphans, db: &PartitionDb, hours: &[i64], watermark: i64) -> (Vec<i64>, u64) {
        let mut batch = db.batch();
        let out = o.stage(db, hours, Some(watermark), &mut batch).unwrap();
        db.write(batch).unwrap();
        o.forget(hours);
        out
    }

    fn flagged_ids(db: &PartitionDb, day: i64) -> Vec<String> {
        Orphans::rows(db, day, 3)
            .unwrap()
            .into_iter()
            .map(|r| r.attempt.event_id)
            .collect()
    }

    /// A session of another user that moves the sessions topic to `end`.
    fn clock(o: &mut Orphans, end: i64) {
        o.session(&session(&format!("clock-{end}"), end), hour(end), None)
            .unwrap();
    }

    #[test]
    fn an_attempt_is_flagged_only_when_its_session_is_missing_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut o = Orphans::new(WAIT, 2 * DAY_MS);
        let t = H0 + 10 * 60_000;
        o.attempt(&attempt("a1", "s1", t), hour(t), None).unwrap();
        o.attempt(&attempt("a2", "lost", t), hour(t), None).unwrap();
        // s1 ends in the next hour, after the attempts' hour is already durable.
        let end = t + 70 * 60_000;
        o.session(&session("s1", end), hour(end), None).unwrap();
        let (days, n) = stage(&mut o, &db, &[hour(t)], end);
        assert_eq!(
            (days.len(), n),
            (0, 0),
            "the sessions topic is not past the wait"
        );
        stage(&mut o, &db, &[hour(end)], end);
        let later = t + WAIT + HOUR_MS;
        clock(&mut o, later);
        let (days, n) = stage(&mut o, &db, &[], later);
        assert_eq!(n, 1);
        assert_eq!(days, vec![H0.div_euclid(DAY_MS) * DAY_MS]);
        assert_eq!(flagged_ids(&db, days[0]), ["a2"]);
        // Judged once: more progress flags nothing again.
        let much_later = later + 5 * HOUR_MS;
        clock(&mut o, much_later);
        assert_eq!(stage(&mut o, &db, &[hour(much_later)], much_later).1, 0);
    }

    #[test]
    fn only_attempts_whose_session_is_unknown_wait_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut o = Orphans::new(WAIT, 2 * DAY_MS);
        let t = H0 + 5 * 60_000;
        // s-early was staged by an earlier flush, s-same comes with the attempts (after
        // them in the batch's hours), s-later is not known yet.
        o.session(
            &session("s-early", t - 30 * 60_000),
            hour(t - HOUR_MS),
            None,
        )
        .unwrap();
        stage(&mut o, &db, &[hour(t - HOUR_MS)], t);
        o.attempt(&attempt("a-early", "s-early", t), hour(t), None)
            .unwrap();
        o.attempt(&attempt("a-same", "s-same", t), hour(t), None)
            .unwrap();
        o.attempt(&attempt("a-later", "s-later", t), hour(t), None)
            .unwrap();
        o.session(&session("s-same", t + HOUR_MS), hour(t + HOUR_MS), None)
            .unwrap();
        stage(&mut o, &db, &[hour(t), hour(t + HOUR_MS)], t + HOUR_MS);
        let due = WAITING.window_of(t + WAIT);
        let waiting: Vec<String> = WAITING
            .fetch_window(&db, due)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(waiting, ["a-later"]);
        // The one that waits is still judged: its session arrives in time.
        let end = t + 90 * 60_000;
        o.session(&session("s-later", end), hour(end), None)
            .unwrap();
        stage(&mut o, &db, &[hour(end)], end);
        let later = t + WAIT + 2 * HOUR_MS;
        clock(&mut o, later);
        assert_eq!(stage(&mut o, &db, &[hour(later)], later).1, 0);
        assert!(WAITING.first_window(&db).unwrap().is_none());
    }

    #[test]
    fn a_session_staged_with_its_attempts_is_found_hours_later() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut o = Orphans::new(WAIT, 2 * DAY_MS);
        let t = H0 + 13 * 60_000;
        o.attempt(&attempt("a1", "s1", t), hour(t), None).unwrap();
        o.session(&session("s1", t + 40_000), hour(t), None)
            .unwrap();
        for h in 0..6 {
            let now = H0 + (h + 1) * HOUR_MS;
            clock(&mut o, now);
            let (_, n) = stage(&mut o, &db, &[H0 + h * HOUR_MS, hour(now)], now + 600_000);
            assert_eq!(n, 0, "after hour {h}");
        }
    }

    #[test]
    fn the_attempts_topic_read_behind_the_sessions_topic_is_judged_on_arrival() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut o = Orphans::new(WAIT, 2 * DAY_MS);
        let t = H0 + 5 * 60_000;
        // The sessions topic was read first, far ahead.
        o.session(&session("s-early", t + 600_000), hour(t), None)
            .unwrap();
        clock(&mut o, t + 10 * HOUR_MS);
        stage(
            &mut o,
            &db,
            &[hour(t), hour(t + 10 * HOUR_MS)],
            t + 10 * HOUR_MS,
        );
        o.attempt(
            &attempt("kept", "s-early", t),
            hour(t),
            Some(t + 10 * HOUR_MS),
        )
        .unwrap();
        o.attempt(&attempt("lost", "none", t), hour(t), Some(t + 10 * HOUR_MS))
            .unwrap();
        let (days, n) = stage(&mut o, &db, &[hour(t)], t + 10 * HOUR_MS);
        assert_eq!(n, 1);
        assert_eq!(flagged_ids(&db, days[0]), ["lost"]);
        // Beyond the allowed lateness an attempt is not judged at all.
        o.attempt(&attempt("ancient", "none", H0), H0, Some(H0 + 3 * DAY_MS))
            .unwrap();
        clock(&mut o, H0 + 4 * DAY_MS);
        stage(&mut o, &db, &[H0, hour(H0 + 4 * DAY_MS)], H0 + 4 * DAY_MS);
        assert!(!flagged_ids(&db, H0).contains(&"ancient".to_string()));
    }

    #[test]
    fn nothing_is_judged_while_an_earlier_hour_is_still_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut o = Orphans::new(WAIT, 2 * DAY_MS);
        let t = H0;
        o.attempt(&attempt("a1", "s1", t), hour(t), None).unwrap();
        stage(&mut o, &db, &[hour(t)], t);
        // The session's hour is open (not durable) while the sessions topic is far ahead.
        let end = t + 30 * 60_000;
        o.session(&session("s1", end), hour(end), None).unwrap();
        clock(&mut o, t + 10 * HOUR_MS);
        assert_eq!(
            stage(&mut o, &db, &[hour(t + 10 * HOUR_MS)], t + 10 * HOUR_MS).1,
            0
        );
        stage(&mut o, &db, &[hour(end)], t + 10 * HOUR_MS);
        assert!(flagged_ids(&db, H0).is_empty(), "its session arrived");
    }

    #[test]
    fn sessions_staged_before_a_restart_are_found_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut before = Orphans::new(WAIT, 2 * DAY_MS);
        let t = H0 + 20 * 60_000;
        before
            .session(&session("s1", t + 60_000), hour(t), None)
            .unwrap();
        stage(&mut before, &db, &[hour(t)], t);
        // The new owner's cache is empty: only the store knows s1.
        let mut after = Orphans::new(WAIT, 2 * DAY_MS);
        after
            .attempt(&attempt("a1", "s1", t), hour(t), None)
            .unwrap();
        after
            .attempt(&attempt("a2", "never", t), hour(t), None)
            .unwrap();
        stage(&mut after, &db, &[hour(t)], t);
        let later = t + WAIT + 2 * HOUR_MS;
        clock(&mut after, later);
        let (days, n) = stage(&mut after, &db, &[hour(later)], later);
        assert_eq!(n, 1);
        assert_eq!(flagged_ids(&db, days[0]), ["a2"]);
    }

    #[test]
    fn the_session_cache_keeps_what_the_store_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut o = Orphans::new(WAIT, 3 * HOUR_MS);
        for h in 0..24 {
            let now = H0 + h * HOUR_MS + 60_000;
            clock(&mut o, now);
            stage(&mut o, &db, &[hour(now)], now);
        }
        let stored: Vec<i64> = SESSIONS
            .scan_all(&db)
            .unwrap()
            .iter()
            .map(|s| s.0)
            .collect();
        let cached: Vec<i64> = o.recent_sessions.keys().copied().collect();
        assert!(stored.len() < 24, "the store expired hours: {stored:?}");
        let mut stored_hours = stored.clone();
        stored_hours.dedup();
        assert_eq!(cached, stored_hours);
    }

    #[test]
    fn a_replayed_task_judges_each_attempt_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, STORES).unwrap();
        let mut o = Orphans::new(WAIT, 2 * DAY_MS);
        o.attempt(&attempt("a1", "gone", H0), H0, None).unwrap();
        o.attempt(
            &attempt("a2", "gone", H0 + 3 * HOUR_MS),
            H0 + 3 * HOUR_MS,
            None,
        )
        .unwrap();
        clock(&mut o, H0 + 4 * HOUR_MS);
        stage(
            &mut o,
            &db,
            &[H0, H0 + 3 * HOUR_MS, H0 + 4 * HOUR_MS],
            H0 + 4 * HOUR_MS,
        );
        assert_eq!(flagged_ids(&db, H0), ["a1"]);
        // A new owner reads where judging stopped from the store.
        let mut next = Orphans::new(WAIT, 2 * DAY_MS);
        clock(&mut next, H0 + 4 * HOUR_MS + 60_000);
        let h4 = H0 + 4 * HOUR_MS;
        assert_eq!(stage(&mut next, &db, &[h4], h4).1, 0);
        clock(&mut next, H0 + 7 * HOUR_MS);
        assert_eq!(
            stage(&mut next, &db, &[H0 + 7 * HOUR_MS], H0 + 7 * HOUR_MS).1,
            1
        );
        assert_eq!(flagged_ids(&db, H0), ["a1", "a2"]);
    }
}
