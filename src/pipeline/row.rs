//! A buffered row of any dataset. Large variants are boxed so a window's `Vec<Row>` stays
//! compact.

use lakestream_topology::SourceRecord;
use serde::{Deserialize, Serialize};

use super::orphans::OrphanRow;
use super::DailyRow;
use crate::domain::{Attempt, Event, Rejection, Session, Training};
use crate::quality::Outcome;

/// Serializable for the spill files of open windows (`lakestream_topology::spill`); the
/// derived rows are read back from state, never buffered in a window, so they never spill.
#[derive(Debug, Serialize, Deserialize)]
pub enum Row {
    /// The record as it came (raw tier), with what became of it for the window's quality
    /// report. Cloning shares the payload bytes.
    Raw(Box<(SourceRecord, Outcome)>),
    Quarantine(Box<(SourceRecord, Rejection)>),
    Attempt(Box<Attempt>),
    Session(Box<Session>),
    Training(Box<Training>),
    /// One user's day of `aggregated/daily_user_stats`, read back from state.
    #[serde(skip)]
    Daily(Box<DailyRow>),
    /// An attempt whose session never arrived, read back from state.
    #[serde(skip)]
    Orphan(Box<OrphanRow>),
}

impl Row {
    /// The raw-tier row of `record`; it shares the record's payload bytes.
    pub fn raw(record: &SourceRecord, outcome: Outcome) -> Row {
        Row::Raw(Box::new((record.clone(), outcome)))
    }

    pub fn from_event(event: Event) -> Row {
        match event {
            Event::Attempt(a) => Row::Attempt(Box::new(a)),
            Event::Session(s) => Row::Session(Box::new(s)),
            Event::Training(t) => Row::Training(Box::new(t)),
        }
    }

    /// Heap footprint estimate; payload bytes are counted once, on the raw row that owns
    /// them (the quarantine row shares them).
    pub fn approx_bytes(&self) -> usize {
        const BASE: usize = 64;
        match self {
            Row::Raw(r) => {
                BASE + std::mem::size_of::<(SourceRecord, Outcome)>() + r.0.payload_bytes()
            }
            Row::Quarantine(q) => BASE + q.1.reason.len() + 64,
            Row::Attempt(a) => {
                BASE + std::mem::size_of::<Attempt>()
                    + a.event_id.len()
                    + a.user_id.len()
                    + a.item_id.len()
                    + a.session_id.len()
                    + a.irt_ability_before
                        .iter()
                        .map(|(t, _)| t.len() + 32)
                        .sum::<usize>()
            }
            Row::Session(s) => {
                BASE + std::mem::size_of::<Session>()
                    + s.topics.iter().map(|t| t.len() + 24).sum::<usize>()
            }
            Row::Training(t) => {
                BASE + std::mem::size_of::<Training>() + t.event_id.len() + t.user_id.len()
            }
            Row::Daily(d) => {
                BASE + std::mem::size_of::<DailyRow>()
                    + d.user_id.len()
                    + d.stats.items.iter().map(|i| i.len() + 24).sum::<usize>()
            }
            Row::Orphan(o) => {
                BASE + std::mem::size_of::<OrphanRow>()
                    + o.attempt.event_id.len()
                    + o.attempt.user_id.len()
                    + o.attempt.session_id.len()
            }
        }
    }

    pub fn as_orphan(&self) -> Option<&OrphanRow> {
        match self {
            Row::Orphan(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_raw(&self) -> Option<&SourceRecord> {
        match self {
            Row::Raw(r) => Some(&r.0),
            _ => None,
        }
    }

    pub fn as_raw_outcome(&self) -> Option<(&SourceRecord, &Outcome)> {
        match self {
            Row::Raw(r) => Some((&r.0, &r.1)),
            _ => None,
        }
    }

    pub fn as_quarantine(&self) -> Option<(&SourceRecord, &Rejection)> {
        match self {
            Row::Quarantine(q) => Some((&q.0, &q.1)),
            _ => None,
        }
    }

    pub fn as_attempt(&self) -> Option<&Attempt> {
        match self {
            Row::Attempt(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_session(&self) -> Option<&Session> {
        match self {
            Row::Session(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_training(&self) -> Option<&Training> {
        match self {
            Row::Training(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_daily(&self) -> Option<&DailyRow> {
        match self {
            Row::Daily(d) => Some(d),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::generator::{Generator, GeneratorConfig};
    use crate::domain::{self, ResponseTimeThresholds, Topic};
    use crate::lake::{datasets, encode};
    use arrow::record_batch::RecordBatch;
    use bytes::Bytes;

    /// A window holds every row of its hour in a `Vec<Row>`: one unboxed variant sets the
    /// size of every slot. An unboxed raw row made each slot 136 bytes, and the windows'
    /// vectors were a fifth of the heap in the benchmark's profile (BENCHMARKS.md, round 7).
    #[test]
    fn a_row_is_one_pointer_and_a_tag() {
        assert!(
            std::mem::size_of::<Row>() <= 16,
            "{}",
            std::mem::size_of::<Row>()
        );
    }

    /// Every kind of window row, made the way the processor makes them.
    fn rows_of_generated_records() -> Vec<Row> {
        let generator = Generator::new(GeneratorConfig {
            users: 20,
            invalid_ratio: 0.1,
            ..GeneratorConfig::default()
        });
        let mut rows = Vec::new();
        for (offset, g) in generator.take(600).enumerate() {
            let record = SourceRecord {
                topic: g.topic as usize,
                partition: 0,
                offset: offset as i64,
                key: Some(Bytes::from(g.key)),
                value: Some(Bytes::from(g.value)),
                timestamp_ms: Some(1_764_000_000_000),
            };
            let value = record.value.clone().unwrap();
            match domain::parse(g.topic, &value, &ResponseTimeThresholds::default()) {
                Ok(event) => {
                    let outcome = Outcome::Processed {
                        event_time_ms: event.event_time_ms(),
                        rule_error: false,
                        anomaly: offset % 7 == 0,
                    };
                    rows.push(Row::raw(&record, outcome));
                    rows.push(Row::from_event(event));
                }
                Err(rejection) => {
                    rows.push(Row::raw(&record, Outcome::Quarantined(rejection.kind)));
                    rows.push(Row::Quarantine(Box::new((record, rejection))));
                }
            }
        }
        rows
    }

    /// Each dataset's Arrow batch of `rows`, the content of its lake file.
    fn batches(rows: &[Row]) -> Vec<RecordBatch> {
        let names: Vec<String> = Topic::ALL.iter().map(|t| t.name().to_string()).collect();
        let all = datasets::all();
        let schema = |topic: Topic, of: fn(Topic) -> usize| all[of(topic)].schema.clone();
        let mut out = Vec::new();
        for topic in Topic::ALL {
            let t = topic as usize;
            let raw = rows.iter().filter_map(Row::as_raw).filter(|r| r.topic == t);
            let raw: Vec<_> = raw.collect();
            out.push(encode::raw(schema(topic, datasets::raw), &names, raw.into_iter()).unwrap());
            let rejected: Vec<_> = rows
                .iter()
                .filter_map(Row::as_quarantine)
                .filter(|(r, _)| r.topic == t)
                .collect();
            let schema_q = schema(topic, datasets::quarantine);
            out.push(encode::quarantine(schema_q, &names, rejected.into_iter()).unwrap());
        }
        let processed = |topic| schema(topic, datasets::processed);
        let attempts: Vec<_> = rows.iter().filter_map(Row::as_attempt).collect();
        out.push(encode::attempts(processed(Topic::Attempts), attempts.into_iter()).unwrap());
        let sessions: Vec<_> = rows.iter().filter_map(Row::as_session).collect();
        out.push(encode::sessions(processed(Topic::Sessions), sessions.into_iter()).unwrap());
        let training: Vec<_> = rows.iter().filter_map(Row::as_training).collect();
        out.push(encode::training(processed(Topic::Training), training.into_iter()).unwrap());
        out
    }

    /// Rows read back from a spill file must make the same lake files and the same quality
    /// report as the rows that were spilled.
    #[test]
    fn rows_read_back_from_a_spill_make_the_same_files() {
        let rows = rows_of_generated_records();
        assert!(rows.iter().any(|r| r.as_quarantine().is_some()));
        assert!(rows.iter().any(|r| r.as_training().is_some()));
        let spilled = postcard::to_allocvec(&rows).unwrap();
        let back: Vec<Row> = postcard::from_bytes(&spilled).unwrap();
        assert_eq!(back.len(), rows.len());
        assert_eq!(batches(&back), batches(&rows));
        let outcomes = |rows: &[Row]| -> Vec<Outcome> {
            rows.iter()
                .filter_map(Row::as_raw_outcome)
                .map(|(_, o)| *o)
                .collect()
        };
        assert_eq!(outcomes(&back), outcomes(&rows));
    }
}
