//! A buffered row of any dataset. Large variants are boxed so a window's `Vec<Row>` stays
//! compact.

use lakestream_topology::SourceRecord;

use super::orphans::OrphanRow;
use super::DailyRow;
use crate::domain::{Attempt, Event, Rejection, Session, Training};
use crate::quality::Outcome;

#[derive(Debug)]
pub enum Row {
    /// The record as it came (raw tier), with what became of it for the window's quality
    /// report. Cloning shares the payload bytes.
    Raw(Box<(SourceRecord, Outcome)>),
    Quarantine(Box<(SourceRecord, Rejection)>),
    Attempt(Box<Attempt>),
    Session(Box<Session>),
    Training(Box<Training>),
    /// One user's day of `aggregated/daily_user_stats`, read back from state.
    Daily(Box<DailyRow>),
    /// An attempt whose session never arrived, read back from state.
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
}
