//! Seeded, realistic event streams for the demo and for tests: simulated
//! learners study in sessions, and each session yields contract-conforming
//! `user.attempts`, `ml.training` and `user.sessions` records, sprinkled with
//! the invalid records and producer redeliveries the pipeline must handle.
//!
//! Records come out ordered by event time plus a per-session delivery delay:
//! one user's events stay in order while users interleave, so the stream as a
//! whole is slightly out of order, as behind a real producer fleet. After the
//! last day the simulation replays the window with fresh ids, so the iterator
//! never ends. Event ids are `<a|s|t|x>-<seed>-<serial>`, unique per stream.
//!
//! - `config`: the stream's parameters and their checks.
//! - `learner`: the simulated learners and the records their sessions produce.
//! - `invalid`: the contract violations injected in rotation.

mod config;
mod invalid;
mod learner;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::domain::Topic;
use learner::{Draft, Learner, DAY_MS};

pub use config::{GeneratorConfig, GeneratorConfigError};

/// A producer retry lands at most this many records after the original.
const MAX_REDELIVERY_LAG: u64 = 100;

/// What a generated record is meant to be, so tests can check the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Valid,
    Invalid,
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub topic: Topic,
    /// The user id, as the contract keys every topic.
    pub key: String,
    pub value: Vec<u8>,
    pub kind: Kind,
}

/// An endless, deterministic stream of records; see the module doc.
pub struct Generator {
    seed: u64,
    rng: StdRng,
    learners: Vec<Learner>,
    window: (i64, i64),
    /// Source of every id, so no two records share one.
    serial: u64,
    /// Simulated records awaiting delivery by (pass, delivery time, serial),
    /// with their event time.
    pending: BTreeMap<(u32, i64, u64), (i64, Generated)>,
    /// Copies to redeliver, with the step at which each is due.
    redeliveries: Vec<(u64, Generated)>,
    invalid_p: f64,
    redelivery_p: f64,
    step: u64,
    invalid_count: u64,
    last_event_ms: i64,
}

impl Generator {
    /// # Panics
    /// If `cfg` fails [`GeneratorConfig::validate`].
    pub fn new(cfg: GeneratorConfig) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("{e}");
        }
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let learners = (0..cfg.users)
            .map(|n| Learner::new(&mut rng, n, cfg.start_ms))
            .collect();
        let (i, d) = (cfg.invalid_ratio, cfg.duplicate_ratio);
        Self {
            seed: cfg.seed,
            rng,
            learners,
            window: (cfg.start_ms, cfg.start_ms + i64::from(cfg.days) * DAY_MS),
            serial: 0,
            pending: BTreeMap::new(),
            redeliveries: Vec::new(),
            // Redeliveries take their own steps; these rates make each kind's
            // share of *all* records the configured ratio.
            invalid_p: i / (1.0 - d),
            redelivery_p: d / (1.0 - d - i),
            step: 0,
            invalid_count: 0,
            last_event_ms: cfg.start_ms,
        }
    }

    /// The simulated wall clock: the event time of the last valid record delivered. A
    /// producer replaying the simulation uses it as the Kafka timestamp, as the platform's
    /// producers stamp records when they publish them.
    pub fn clock_ms(&self) -> i64 {
        self.last_event_ms
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}-{}-{}", self.seed, self.serial)
    }

    /// The learner whose next session starts first (ties to the lowest index).
    fn next_learner(&self) -> usize {
        (0..self.learners.len())
            .min_by_key(|&i| (self.learners[i].pass, self.learners[i].next_start_ms))
            .expect("validate() guarantees at least one user")
    }

    /// The next valid record in delivery order: sessions are simulated until
    /// no learner can still produce one that is due earlier.
    fn next_valid(&mut self) -> Generated {
        loop {
            let learner = &self.learners[self.next_learner()];
            let horizon = (learner.pass, learner.next_start_ms);
            if let Some(entry) = self.pending.first_entry() {
                if (entry.key().0, entry.key().1) <= horizon {
                    let (event_ms, record) = entry.remove();
                    self.last_event_ms = event_ms;
                    return record;
                }
            }
            self.simulate_session();
        }
    }

    fn simulate_session(&mut self) {
        let l = self.next_learner();
        let pass = self.learners[l].pass;
        let session_id = self.next_id("sess");
        // One delay for the whole session keeps each user's records in order.
        let delay = self.rng.random_range(0..90_000);
        let drafts = self.learners[l].study(&mut self.rng, &session_id, self.window);
        for Draft {
            time_ms,
            topic,
            mut value,
        } in drafts
        {
            let prefix = match topic {
                Topic::Attempts => "a",
                Topic::Sessions => "s",
                Topic::Training => "t",
            };
            value["event_id"] = json!(self.next_id(prefix));
            let record = Generated {
                topic,
                key: self.learners[l].id.clone(),
                value: to_bytes(&value),
                kind: Kind::Valid,
            };
            self.pending
                .insert((pass, time_ms + delay, self.serial), (time_ms, record));
        }
    }

    /// An invalid record of the next kind in rotation, timed near the stream's
    /// current event time so it falls in a day the pipeline is writing.
    fn invalid(&mut self) -> Generated {
        let kind = self.invalid_count % invalid::KINDS;
        self.invalid_count += 1;
        let user = self.rng.random_range(0..self.learners.len());
        let key = self.learners[user].id.clone();
        let id = self.next_id("x");
        let (topic, value) = invalid::record(&mut self.rng, kind, &id, &key, self.last_event_ms);
        Generated {
            topic,
            key,
            value,
            kind: Kind::Invalid,
        }
    }
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value always serialises")
}

impl Iterator for Generator {
    type Item = Generated;

    fn next(&mut self) -> Option<Generated> {
        self.step += 1;
        let step = self.step;
        if let Some(i) = self.redeliveries.iter().position(|(due, _)| *due <= step) {
            return Some(self.redeliveries.swap_remove(i).1);
        }
        if self.rng.random_bool(self.invalid_p) {
            return Some(self.invalid());
        }
        let record = self.next_valid();
        if self.rng.random_bool(self.redelivery_p) {
            let due = step + self.rng.random_range(1..=MAX_REDELIVERY_LAG);
            let copy = Generated {
                kind: Kind::Duplicate,
                ..record.clone()
            };
            self.redeliveries.push((due, copy));
        }
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    use super::*;
    use crate::domain::{parse, Calendar, Event, ResponseTimeThresholds};

    fn take(cfg: GeneratorConfig, n: usize) -> Vec<Generated> {
        Generator::new(cfg).take(n).collect()
    }

    fn parsed(record: &Generated) -> Result<Event, String> {
        parse(
            record.topic,
            &record.value,
            &ResponseTimeThresholds::default(),
        )
        .map_err(|r| r.to_string())
    }

    #[test]
    fn same_seed_same_stream() {
        let cfg = GeneratorConfig::default();
        assert_eq!(take(cfg.clone(), 3_000), take(cfg.clone(), 3_000));
        let other = take(GeneratorConfig { seed: 7, ..cfg }, 3_000);
        assert_ne!(take(GeneratorConfig::default(), 3_000), other);
    }

    #[test]
    fn valid_records_parse_and_invalid_ones_are_rejected() {
        let cfg = GeneratorConfig {
            invalid_ratio: 0.05,
            ..Default::default()
        };
        let mut reasons = BTreeSet::new();
        for record in take(cfg, 5_000) {
            match (record.kind, parsed(&record)) {
                (Kind::Invalid, Ok(event)) => panic!("accepted invalid record {event:?}"),
                (Kind::Invalid, Err(reason)) => {
                    reasons.insert(reason.split(':').next().unwrap_or_default().to_owned());
                }
                (_, Err(reason)) => panic!("rejected valid record: {reason}"),
                (_, Ok(event)) => assert_eq!(event.user_id(), record.key),
            }
        }
        // Not JSON, not an object, and each rejected field, all seen.
        assert!(reasons.len() >= 9, "{reasons:?}");
    }

    #[test]
    fn duplicate_ratio_is_roughly_honoured() {
        let cfg = GeneratorConfig {
            duplicate_ratio: 0.05,
            ..Default::default()
        };
        let mut originals = HashSet::new();
        let mut duplicates = 0;
        for record in take(cfg, 10_000) {
            match record.kind {
                Kind::Valid => assert!(originals.insert(record.value), "valid records are unique"),
                Kind::Duplicate => {
                    assert!(
                        originals.contains(&record.value),
                        "copies an earlier record"
                    );
                    duplicates += 1;
                }
                Kind::Invalid => {}
            }
        }
        assert!((400..=600).contains(&duplicates), "{duplicates} duplicates");
    }

    #[test]
    fn sessions_agree_with_their_attempts() {
        let mut attempts: BTreeMap<String, Vec<(bool, i64)>> = BTreeMap::new();
        let mut sessions = 0;
        for record in take(GeneratorConfig::default(), 10_000) {
            match (record.kind, parsed(&record)) {
                (Kind::Valid, Ok(Event::Attempt(a))) => {
                    attempts
                        .entry(a.session_id)
                        .or_default()
                        .push((a.correct, a.timestamp_ms));
                }
                (Kind::Valid, Ok(Event::Session(s))) => {
                    sessions += 1;
                    let seen = attempts.remove(&s.session_id).unwrap_or_default();
                    let correct = seen.iter().filter(|(c, _)| *c).count();
                    assert_eq!(
                        (s.items_attempted, s.correct_count),
                        (seen.len() as i32, correct as i32)
                    );
                    let span = s.started_at_ms..=s.ended_at_ms;
                    assert!(seen.iter().all(|(_, t)| span.contains(t)), "{s:?}");
                    assert_eq!(s.reported_accuracy_mismatch, None);
                }
                _ => {}
            }
        }
        assert!(sessions > 100, "{sessions} sessions");
    }

    #[test]
    fn events_span_the_window_in_near_order() {
        let start_ms = config::ANCHOR_MS - 4 * DAY_MS; // Monday 2026-11-16
        let cfg = GeneratorConfig {
            start_ms,
            days: 7,
            users: 10,
            ..Default::default()
        };
        let (mut days, mut hours, mut max_seen, mut late) =
            (BTreeSet::new(), BTreeSet::new(), start_ms, 0);
        for record in take(cfg, 8_000) {
            let Ok(event) = parsed(&record) else { continue };
            let t = event.event_time_ms();
            assert!(
                (start_ms..start_ms + 7 * DAY_MS).contains(&t),
                "{t} outside the window"
            );
            days.insert((t - start_ms) / DAY_MS);
            hours.insert(Calendar::from_epoch_ms(t).hour_of_day);
            if t < max_seen - DAY_MS {
                max_seen = t; // the simulation started its next pass
            } else if t < max_seen - 2 * learner::MINUTE_MS && record.kind == Kind::Valid {
                late += 1;
            }
            max_seen = max_seen.max(t);
        }
        assert_eq!(days.len(), 7, "{days:?}");
        assert!(hours.len() >= 20, "{hours:?}");
        assert_eq!(late, 0, "valid records more than 2 minutes late");
    }
}
