//! `user.sessions`: one finished study session, validated against its own
//! counts and enriched with the derived columns of `processed/user_sessions`.

use super::features::utc_hour;
use super::fields::Fields;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::reject::{echo, RejectKind, Rejection};
use super::value::FloatRange;

/// Reported accuracy may differ from the recomputed one by float noise only.
const ACCURACY_TOLERANCE: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionType {
    Practice,
    Review,
    MockTest,
}

impl SessionType {
    pub const ALL: [Self; 3] = [Self::Practice, Self::Review, Self::MockTest];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Practice => "practice",
            Self::Review => "review",
            Self::MockTest => "mock_test",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A valid session with its derived fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub event_id: String,
    pub session_id: String,
    pub user_id: String,
    pub session_type: SessionType,
    pub started_at_ms: i64,
    /// The session's event time.
    pub ended_at_ms: i64,
    pub items_attempted: i32,
    pub correct_count: i32,
    /// As reported, duplicates included.
    pub topics: Vec<String>,
    pub duration_minutes: f64,
    /// Recomputed from the counts; null when no item was attempted.
    pub accuracy: Option<f64>,
    /// Null when the session lasted no time at all.
    pub items_per_minute: Option<f64>,
    /// Distinct topics.
    pub topics_count: i16,
    pub start_hour: i8,
    /// The reported accuracy when it disagrees with the counts: a data-quality
    /// error that is counted, not a reason to quarantine the session.
    pub reported_accuracy_mismatch: Option<f64>,
    /// Set by the pipeline when a value is a statistical outlier (never by parsing).
    pub anomaly: Option<String>,
}

pub(crate) fn parse(mut f: Fields<'_>) -> Result<Session, Rejection> {
    let event_id = f.non_empty_string("event_id")?;
    let session_id = f.string("session_id")?;
    let user_id = f.string("user_id")?;
    let session_type = parse_session_type(&mut f)?;
    let started_at_ms = f.timestamp("started_at")?;
    let ended_at_ms = f.timestamp("ended_at")?;
    if ended_at_ms < started_at_ms {
        return Err(f
            .reject(
                "ended_at",
                format!("is {} ms before started_at", started_at_ms - ended_at_ms),
            )
            .as_kind(RejectKind::Inconsistent));
    }
    let items_attempted = f.int32("items_attempted", 0)?;
    let correct_count = f.int32("correct_count", 0)?;
    if correct_count > items_attempted {
        return Err(f
            .reject(
                "correct_count",
                format!("{correct_count} exceeds items_attempted {items_attempted}"),
            )
            .as_kind(RejectKind::Inconsistent));
    }
    let topics = f.opt_string_array("topics")?.unwrap_or_default();
    let reported_accuracy = f.opt_float("accuracy", FloatRange::Any)?;

    let duration_minutes = (ended_at_ms - started_at_ms) as f64 / 60_000.0;
    let accuracy =
        (items_attempted > 0).then(|| f64::from(correct_count) / f64::from(items_attempted));
    Ok(Session {
        event_id,
        session_id,
        user_id,
        session_type,
        started_at_ms,
        ended_at_ms,
        items_attempted,
        correct_count,
        topics_count: distinct_count(&topics),
        topics,
        duration_minutes,
        accuracy,
        items_per_minute: (duration_minutes > 0.0)
            .then(|| f64::from(items_attempted) / duration_minutes),
        start_hour: utc_hour(started_at_ms),
        reported_accuracy_mismatch: reported_accuracy.filter(|r| disagrees(*r, accuracy)),
        anomaly: None,
    })
}

fn parse_session_type(f: &mut Fields<'_>) -> Result<SessionType, Rejection> {
    let name = f.string("session_type")?;
    SessionType::from_name(&name).ok_or_else(|| {
        f.reject(
            "session_type",
            format!(
                "expected one of `practice`, `review`, `mock_test`, got {}",
                echo(&Value::String(name))
            ),
        )
    })
}

/// With no items the accuracy is undefined; producers commonly send 0 then,
/// which is not worth an error.
fn disagrees(reported: f64, recomputed: Option<f64>) -> bool {
    let expected = recomputed.unwrap_or(0.0);
    (reported - expected).abs() > ACCURACY_TOLERANCE
}

fn distinct_count(topics: &[String]) -> i16 {
    let mut seen: Vec<&str> = topics.iter().map(String::as_str).collect();
    seen.sort_unstable();
    seen.dedup();
    i16::try_from(seen.len()).unwrap_or(i16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn base() -> Value {
        json!({
            "event_id": "e1", "session_id": "s1", "user_id": "u1", "session_type": "review",
            "started_at": "2026-11-20T09:00:00+01:00", "ended_at": "2026-11-20T08:30:00Z",
            "items_attempted": 10, "correct_count": 7,
            "topics": ["algebra", "geometry", "algebra"], "accuracy": 0.7
        })
    }

    fn with(changes: Value) -> Value {
        let mut v = base();
        for (k, x) in changes.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn run(v: &Value) -> Result<Session, Rejection> {
        parse(Fields::from_json(&serde_json::to_vec(v).unwrap())?)
    }

    #[test]
    fn derived_fields() {
        let s = run(&base()).unwrap();
        assert_eq!(s.session_type, SessionType::Review);
        assert_eq!(s.ended_at_ms - s.started_at_ms, 30 * 60_000);
        assert_eq!(s.duration_minutes, 30.0);
        assert_eq!(s.accuracy, Some(0.7));
        assert_eq!(s.items_per_minute, Some(10.0 / 30.0));
        assert_eq!(s.topics_count, 2);
        assert_eq!(s.topics.len(), 3);
        assert_eq!(s.start_hour, 8);
        assert_eq!(s.reported_accuracy_mismatch, None);
    }

    #[test]
    fn zero_items_and_zero_duration_give_nulls() {
        let v = with(
            json!({"items_attempted": 0, "correct_count": 0, "accuracy": 0,
            "ended_at": "2026-11-20T08:00:00Z", "topics": null}),
        );
        let s = run(&v).unwrap();
        assert_eq!((s.accuracy, s.items_per_minute), (None, None));
        assert_eq!((s.duration_minutes, s.topics_count), (0.0, 0));
        assert_eq!(s.reported_accuracy_mismatch, None);
    }

    #[test]
    fn accuracy_mismatch_is_flagged_not_rejected() {
        let s = run(&with(json!({"accuracy": 0.75}))).unwrap();
        assert_eq!(s.accuracy, Some(0.7));
        assert_eq!(s.reported_accuracy_mismatch, Some(0.75));
        let close = run(&with(
            json!({"correct_count": 1, "items_attempted": 3, "accuracy": 0.3333334}),
        ));
        assert_eq!(close.unwrap().reported_accuracy_mismatch, None);
        let absent = run(&with(json!({"accuracy": null}))).unwrap();
        assert_eq!(absent.reported_accuracy_mismatch, None);
    }

    #[test]
    fn every_session_type() {
        for t in SessionType::ALL {
            let s = run(&with(json!({"session_type": t.as_str()}))).unwrap();
            assert_eq!(s.session_type, t);
        }
    }

    #[test]
    fn rejections() {
        let non_negative = "expected an integer between 0 and 2147483647";
        let cases = [
            (
                json!({"session_type": "cram"}),
                "session_type",
                "expected one of `practice`, `review`, `mock_test`, got \"cram\"".into(),
            ),
            (
                json!({"ended_at": "2026-11-20T07:59:59Z"}),
                "ended_at",
                "is 1000 ms before started_at".into(),
            ),
            (
                json!({"correct_count": 11}),
                "correct_count",
                "11 exceeds items_attempted 10".into(),
            ),
            (
                json!({"items_attempted": -1}),
                "items_attempted",
                format!("{non_negative}, got -1"),
            ),
            (
                json!({"correct_count": -2}),
                "correct_count",
                format!("{non_negative}, got -2"),
            ),
            (
                json!({"topics": "algebra"}),
                "topics",
                "expected an array of strings, got \"algebra\"".into(),
            ),
            (
                json!({"accuracy": "70%"}),
                "accuracy",
                "expected a number, got \"70%\"".into(),
            ),
            (
                json!({"started_at": null}),
                "started_at",
                "is required but null".into(),
            ),
        ];
        for (change, field, reason) in cases {
            let e = run(&with(change)).unwrap_err();
            assert_eq!((e.field.as_deref(), e.reason), (Some(field), reason));
        }
    }
}
