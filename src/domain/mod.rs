//! The learning-analytics domain: turns one record value of one topic into a
//! validated, enriched [`Event`] or a [`Rejection`] (contract sections 2, 4, 5).
//!
//! Nothing here knows about Kafka, Arrow or storage, so it is all plain
//! synchronous functions over bytes.
//!
//! - `value`: the contract's value types as checked conversions of one JSON value.
//! - `fields`: reads a parsed JSON object field by field, naming each path.
//! - `features`: derived fields shared by event types (response-time
//!   category, UTC calendar, derived SM-2 quality).
//! - `attempt`, `session`, `training`: one event type each.
//! - `reject`: why a record goes to quarantine.

mod attempt;
mod features;
mod fields;
mod json;
mod reject;
mod session;
mod training;
mod value;

pub use attempt::Attempt;
pub use features::{
    derived_quality, utc_hour, Calendar, ResponseTimeCategory, ResponseTimeThresholds,
};
pub use json::Json;
pub use reject::{RejectKind, Rejection};
pub use session::{Session, SessionType};
pub use training::{Algorithm, ModelState, Training};

use fields::Fields;

/// The input topics of the contract (section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Attempts,
    Sessions,
    Training,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Attempts, Topic::Sessions, Topic::Training];

    pub fn name(&self) -> &'static str {
        match self {
            Topic::Attempts => "user.attempts",
            Topic::Sessions => "user.sessions",
            Topic::Training => "ml.training",
        }
    }

    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A valid event of any topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Attempt(Attempt),
    Session(Session),
    Training(Training),
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self {
            Event::Attempt(_) => Topic::Attempts,
            Event::Session(_) => Topic::Sessions,
            Event::Training(_) => Topic::Training,
        }
    }

    /// The deduplication key.
    pub fn event_id(&self) -> &str {
        match self {
            Event::Attempt(a) => &a.event_id,
            Event::Session(s) => &s.event_id,
            Event::Training(t) => &t.event_id,
        }
    }

    pub fn user_id(&self) -> &str {
        match self {
            Event::Attempt(a) => &a.user_id,
            Event::Session(s) => &s.user_id,
            Event::Training(t) => &t.user_id,
        }
    }

    /// Epoch milliseconds (UTC) that choose the event's day partition; a
    /// session belongs to the day it ended.
    pub fn event_time_ms(&self) -> i64 {
        match self {
            Event::Attempt(a) => a.timestamp_ms,
            Event::Session(s) => s.ended_at_ms,
            Event::Training(t) => t.timestamp_ms,
        }
    }
}

/// Validates and enriches one record value of `topic`. The first failed
/// check wins; fields are checked in the contract's order.
pub fn parse(
    topic: Topic,
    value: &[u8],
    thresholds: &ResponseTimeThresholds,
) -> Result<Event, Rejection> {
    let fields = Fields::from_json(value)?;
    match topic {
        Topic::Attempts => attempt::parse(fields, thresholds).map(Event::Attempt),
        Topic::Sessions => session::parse(fields).map(Event::Session),
        Topic::Training => training::parse(fields).map(Event::Training),
    }
}

/// Best-effort event time of a record that may be invalid, so its raw and
/// quarantine rows land in the day it belongs to; `None` sends the caller to
/// its fallback (e.g. the Kafka timestamp). For a session whose `ended_at` is
/// unusable, `started_at` is the next best guess.
///
/// This decodes the value again, so call it for rejected records only; a
/// valid event already has [`Event::event_time_ms`].
pub fn event_time_hint(topic: Topic, value: &[u8]) -> Option<i64> {
    let json::Json::Object(map) = serde_json::from_slice(value).ok()? else {
        return None;
    };
    let keys: &[&str] = match topic {
        Topic::Sessions => &["ended_at", "started_at"],
        Topic::Attempts | Topic::Training => &["timestamp"],
    };
    keys.iter()
        .find_map(|key| value::as_timestamp(map.get(key)?).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_default(topic: Topic, json: &str) -> Result<Event, Rejection> {
        parse(topic, json.as_bytes(), &ResponseTimeThresholds::default())
    }

    #[test]
    fn topic_names_round_trip() {
        for t in Topic::ALL {
            assert_eq!(Topic::from_name(t.name()), Some(t));
        }
        assert_eq!(Topic::from_name("user.attempt"), None);
    }

    #[test]
    fn record_level_rejections_for_every_topic() {
        for t in Topic::ALL {
            let e = parse_default(t, "{not json").unwrap_err();
            assert!(
                e.field.is_none() && e.reason.starts_with("not JSON: "),
                "{e}"
            );
            let e = parse_default(t, "[]").unwrap_err();
            assert_eq!(e.to_string(), "value is not a JSON object");
            assert!(parse_default(t, "").is_err());
        }
    }

    #[test]
    fn event_accessors() {
        let attempt = r#"{"event_id":"a1","user_id":"u1","item_id":"i","session_id":"s",
            "correct":true,"time_taken_ms":1,"timestamp":1000}"#;
        let e = parse_default(Topic::Attempts, attempt).unwrap();
        assert_eq!(
            (e.topic(), e.event_id(), e.user_id(), e.event_time_ms()),
            (Topic::Attempts, "a1", "u1", 1000)
        );
        let session = r#"{"event_id":"s1","session_id":"s","user_id":"u2",
            "session_type":"practice","started_at":1000,"ended_at":61000,
            "items_attempted":0,"correct_count":0}"#;
        let e = parse_default(Topic::Sessions, session).unwrap();
        assert_eq!(
            (e.event_id(), e.user_id(), e.event_time_ms()),
            ("s1", "u2", 61000)
        );
        let training = r#"{"event_id":"t1","user_id":"u3","item_id":"i","algorithm":"bkt",
            "correct":false,"state_before":{"prob_knowledge":0.5},
            "state_after":{"prob_knowledge":0.4},"timestamp":5}"#;
        let e = parse_default(Topic::Training, training).unwrap();
        assert_eq!(
            (e.topic(), e.event_id(), e.user_id(), e.event_time_ms()),
            (Topic::Training, "t1", "u3", 5)
        );
    }

    #[test]
    fn event_time_hint_survives_rejections() {
        let bad_attempt = br#"{"timestamp":"1970-01-01T00:00:01Z","quality":9}"#;
        assert!(parse(Topic::Attempts, bad_attempt, &Default::default()).is_err());
        assert_eq!(event_time_hint(Topic::Attempts, bad_attempt), Some(1000));
        let backwards = br#"{"started_at":5000,"ended_at":2000}"#;
        assert_eq!(event_time_hint(Topic::Sessions, backwards), Some(2000));
        let bad_end = br#"{"started_at":5000,"ended_at":"soon"}"#;
        assert_eq!(event_time_hint(Topic::Sessions, bad_end), Some(5000));
        assert_eq!(
            event_time_hint(Topic::Training, br#"{"timestamp":"never"}"#),
            None
        );
        assert_eq!(event_time_hint(Topic::Training, b"{}"), None);
        assert_eq!(event_time_hint(Topic::Attempts, b"[1]"), None);
        assert_eq!(event_time_hint(Topic::Attempts, b"\xff"), None);
    }
}
