//! Outlier detection's state: one sketch per metric and event hour (see
//! `quality::anomaly`), summed over the horizon. Like every state change, the sketches of
//! records not yet durable wait here, by hour, until the runtime stages them.

use std::collections::BTreeMap;

use foldhash::HashMap;

use lakestream_state::{PartitionDb, StateBatch, WindowStore};

use super::HOUR_MS;
use crate::quality::anomaly::{AnomalyRules, Sketch};

pub const STORE: &str = "anomaly";

/// How much further than a value a volume must stray (see [`Anomalies::judge_volume`]).
const VOLUME_FACTOR: f64 = 1.5;

/// Events of one user in one event hour, per topic: a sample of each is added to the
/// history when the hour is staged.
pub const USER_HOUR: [&str; 3] = [
    "events_per_user_hour.user.attempts",
    "events_per_user_hour.user.sessions",
    "events_per_user_hour.ml.training",
];

/// `(event hour, metric) -> sketch of that hour's values`.
const SKETCHES: WindowStore<String, Sketch> = WindowStore::new(STORE, HOUR_MS);

pub struct Anomalies {
    rules: AnomalyRules,
    /// Durable sketches, mirrored from the store (loaded on first use).
    durable: Option<BTreeMap<(i64, String), Sketch>>,
    pending: BTreeMap<i64, HashMap<&'static str, Sketch>>,
    /// Events per user of hours not yet staged, by topic index.
    user_counts: BTreeMap<i64, [HashMap<String, u64>; USER_HOUR.len()]>,
    /// Durable plus pending, per metric: what a new value is compared with.
    horizon: HashMap<String, Sketch>,
    /// Built by `stage`, made durable by `forget`.
    staged: Vec<((i64, String), Sketch)>,
    expire_before: Option<i64>,
    expired_before: i64,
}

impl Anomalies {
    pub fn new(rules: AnomalyRules) -> Self {
        Anomalies {
            rules,
            durable: None,
            pending: BTreeMap::new(),
            user_counts: BTreeMap::new(),
            horizon: HashMap::default(),
            staged: Vec::new(),
            expire_before: None,
            expired_before: i64::MIN,
        }
    }

    fn load(&mut self, db: &PartitionDb) -> anyhow::Result<()> {
        if self.durable.is_some() {
            return Ok(());
        }
        let mut durable = BTreeMap::new();
        for (hour, metric, sketch) in SKETCHES.scan_all(db)? {
            self.horizon
                .entry(metric.clone())
                .or_default()
                .merge(&sketch);
            durable.insert((hour, metric), sketch);
        }
        self.durable = Some(durable);
        Ok(())
    }

    /// Scores `x` against the horizon, then counts it. Returns the robust z-score when it
    /// is beyond the sensitivity.
    pub fn observe(
        &mut self,
        db: &PartitionDb,
        metric: &'static str,
        hour_ms: i64,
        x: f64,
    ) -> anyhow::Result<Option<f64>> {
        self.load(db)?;
        let (min_samples, sensitivity) = (self.rules.min_samples, self.rules.sensitivity);
        let history = self.history(metric);
        let z = history
            .robust_z(x, min_samples)
            .filter(|z| z.abs() > sensitivity);
        history.add(x);
        self.pending
            .entry(hour_ms)
            .or_default()
            .entry(metric)
            .or_default()
            .add(x);
        Ok(z)
    }

    /// The horizon of `metric`. Keyed by `String` (metrics read back from the store are
    /// owned), but observed under a handful of fixed names, once or more per record: a
    /// key is allocated only for a new metric.
    fn history(&mut self, metric: &str) -> &mut Sketch {
        if !self.horizon.contains_key(metric) {
            self.horizon.insert(metric.to_string(), Sketch::default());
        }
        self.horizon.get_mut(metric).expect("inserted above")
    }

    /// Counts one event of `user` in `topic` and `hour_ms`.
    pub fn count_event(&mut self, topic: usize, hour_ms: i64, user: &str) {
        let counts = &mut self.user_counts.entry(hour_ms).or_default()[topic];
        // Most events are not their user's first of the hour: allocate a key only for a
        // new user.
        match counts.get_mut(user) {
            Some(n) => *n += 1,
            None => {
                counts.insert(user.to_string(), 1);
            }
        }
    }

    /// Robust z-score of a user's events in one hour against the history of `metric`,
    /// without counting it; `None` when it is within the volume sensitivity or the history
    /// is too short. Volumes are judged at 1.5 times the sensitivity: an hour's count is
    /// burstier than a single value (a learner's whole session can fall into one hour),
    /// and a normal long session must not read as an anomaly.
    pub fn judge_volume(&self, metric: &str, x: f64) -> Option<f64> {
        self.horizon
            .get(metric)?
            .robust_z(x, self.rules.min_samples)
            .filter(|z| *z > VOLUME_FACTOR * self.rules.sensitivity)
    }

    pub fn stage(
        &mut self,
        db: &PartitionDb,
        hours: &[i64],
        watermark_ms: Option<i64>,
        batch: &mut StateBatch<'_>,
    ) -> anyhow::Result<()> {
        self.load(db)?;
        // An hour's per-user counts are final for this flush: they join the history now
        // (once; a retried stage finds them already moved).
        for hour in hours {
            let by_topic = self.user_counts.remove(hour).into_iter().flatten();
            for (topic, counts) in by_topic.enumerate() {
                let metric = USER_HOUR[topic];
                for n in counts.into_values() {
                    self.history(metric).add(n as f64);
                    self.pending
                        .entry(*hour)
                        .or_default()
                        .entry(metric)
                        .or_default()
                        .add(n as f64);
                }
            }
        }
        let durable = self.durable.as_ref().expect("loaded");
        self.staged.clear();
        for hour in hours {
            for (metric, sketch) in self.pending.get(hour).into_iter().flatten() {
                let key = (*hour, metric.to_string());
                let mut merged = durable.get(&key).cloned().unwrap_or_default();
                merged.merge(sketch);
                SKETCHES.put(batch, *hour, &key.1, &merged)?;
                self.staged.push((key, merged));
            }
        }
        self.expire_before = None;
        if let Some(watermark) = watermark_ms {
            let cutoff = SKETCHES.window_of(watermark - self.rules.horizon_ms);
            if cutoff > self.expired_before {
                SKETCHES.expire_before(batch, cutoff)?;
                self.expire_before = Some(cutoff);
            }
        }
        Ok(())
    }

    pub fn forget(&mut self, hours: &[i64]) {
        for hour in hours {
            self.pending.remove(hour);
        }
        let Some(durable) = self.durable.as_mut() else {
            return;
        };
        for (key, sketch) in self.staged.drain(..) {
            durable.insert(key, sketch);
        }
        if let Some(cutoff) = self.expire_before.take() {
            let keep = durable.split_off(&(cutoff, String::new()));
            for ((_, metric), sketch) in std::mem::replace(durable, keep) {
                if let Some(sum) = self.horizon.get_mut(&metric) {
                    sum.subtract(&sketch);
                }
            }
            self.expired_before = cutoff;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H0: i64 = 1_795_132_800_000;

    #[test]
    fn history_survives_a_restart_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let db = PartitionDb::open(dir.path(), 0, &[STORE]).unwrap();
        let rules = AnomalyRules {
            sensitivity: 6.0,
            min_samples: 100,
            horizon_ms: 24 * HOUR_MS,
        };
        let mut a = Anomalies::new(rules);
        for i in 0..200 {
            let z = a
                .observe(&db, "rt", H0, 4000.0 + (i % 50) as f64 * 40.0)
                .unwrap();
            assert_eq!(z, None);
        }
        let mut batch = db.batch();
        a.stage(&db, &[H0], None, &mut batch).unwrap();
        db.write(batch).unwrap();
        a.forget(&[H0]);

        // A new owner reads the same history from the store.
        let mut b = Anomalies::new(rules);
        assert!(b.observe(&db, "rt", H0 + HOUR_MS, 4e7).unwrap().is_some());
        assert_eq!(b.observe(&db, "rt", H0 + HOUR_MS, 4500.0).unwrap(), None);

        // Past the horizon the old hour leaves: too few samples to judge again.
        let mut batch = db.batch();
        b.stage(&db, &[H0 + HOUR_MS], Some(H0 + 30 * HOUR_MS), &mut batch)
            .unwrap();
        db.write(batch).unwrap();
        b.forget(&[H0 + HOUR_MS]);
        assert_eq!(b.observe(&db, "rt", H0 + 30 * HOUR_MS, 4e7).unwrap(), None);
        assert_eq!(SKETCHES.scan_all(&db).unwrap().len(), 0);
    }
}
