//! Hand-written contract events with the outcome each must have, so the lake can be
//! checked row by row against values computed here, not by lakestream.

use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub enum Expect {
    /// A valid event: lands in `processed/<dataset>` on the UTC day of `event_ms`.
    Processed { event_id: String, event_ms: i64 },
    /// An invalid record: lands in `quarantine/<topic>` with a reason naming `mentions`.
    Quarantined { mentions: &'static str },
}

#[derive(Debug, Clone)]
pub struct Case {
    pub role: &'static str,
    pub key: String,
    pub value: Vec<u8>,
    pub expect: Expect,
}

fn valid(role: &'static str, value: Value, event_ms: i64) -> Case {
    let event_id = value["event_id"].as_str().unwrap().to_string();
    let key = value["user_id"].as_str().unwrap().to_string();
    Case {
        role,
        key,
        value: value.to_string().into_bytes(),
        expect: Expect::Processed { event_id, event_ms },
    }
}

fn invalid(role: &'static str, value: &str, mentions: &'static str) -> Case {
    Case {
        role,
        key: "u-bad".into(),
        value: value.as_bytes().to_vec(),
        expect: Expect::Quarantined { mentions },
    }
}

/// 2026-11-27T10:15:30.123Z, a Friday.
pub const FRI_1015: i64 = 1_795_774_530_123;
/// 2026-11-25T23:59:59Z, a Wednesday.
pub const WED_2359: i64 = 1_795_651_199_000;
/// 2026-11-24T08:00:00Z, a Tuesday.
pub const TUE_0800: i64 = 1_795_507_200_000;
/// 2026-11-28T14:00:00Z, a Saturday.
pub const SAT_1400: i64 = 1_795_874_400_000;

pub fn cases() -> Vec<Case> {
    vec![
        valid(
            "user.attempts",
            json!({"event_id": "a1", "user_id": "u1", "item_id": "i1", "session_id": "s1", "topic": "algebra",
                   "correct": "true", "time_taken_ms": 1500, "timestamp": "2026-11-27T12:15:30.123+02:00",
                   "client": "ios",
                   "algorithm_state": {"sm2": {"easiness_factor": 2.5, "interval": 6, "repetitions": 3},
                                       "bkt": {"prob_knowledge": 0.42},
                                       "irt": {"ability": {"geometry": -0.1, "algebra": 0.3}}}}),
            FRI_1015,
        ),
        valid(
            "user.attempts",
            json!({"event_id": "a2", "user_id": "u2", "item_id": "i2", "session_id": "s9",
                   "correct": 0, "time_taken_ms": 20000, "quality": 2, "timestamp": WED_2359}),
            WED_2359,
        ),
        valid(
            "user.attempts",
            json!({"event_id": "a3", "user_id": "u1", "item_id": "i3", "session_id": "s0",
                   "correct": false, "time_taken_ms": 1999, "timestamp": "2026-11-24T08:00:00Z"}),
            TUE_0800,
        ),
        valid(
            "user.attempts",
            json!({"event_id": "a4", "user_id": "u3", "item_id": "i4", "session_id": "s4",
                   "correct": true, "time_taken_ms": 9000, "timestamp": SAT_1400}),
            SAT_1400,
        ),
        valid(
            "user.sessions",
            json!({"event_id": "s1", "session_id": "s1", "user_id": "u1", "session_type": "practice",
                   "started_at": "2026-11-27T09:00:00Z", "ended_at": "2026-11-27T09:30:00Z",
                   "items_attempted": 10, "correct_count": 7, "accuracy": 0.7,
                   "topics": ["algebra", "algebra", "geometry"]}),
            1_795_771_800_000,
        ),
        valid(
            "user.sessions",
            json!({"event_id": "s2", "session_id": "s2", "user_id": "u2", "session_type": "review",
                   "started_at": WED_2359 - 600_000, "ended_at": WED_2359,
                   "items_attempted": 10, "correct_count": 5, "accuracy": 0.9}),
            WED_2359,
        ),
        valid(
            "user.sessions",
            json!({"event_id": "s3", "session_id": "s3", "user_id": "u3", "session_type": "mock_test",
                   "started_at": SAT_1400, "ended_at": SAT_1400, "items_attempted": 0, "correct_count": 0}),
            SAT_1400,
        ),
        valid(
            "ml.training",
            json!({"event_id": "t1", "user_id": "u1", "item_id": "i1", "algorithm": "sm2", "model_version": "v3",
                   "state_before": {"easiness_factor": 2.5, "interval": 6, "repetitions": 3},
                   "state_after": {"easiness_factor": 2.6, "interval": 15, "repetitions": 4},
                   "correct": 1, "time_taken_ms": 1500, "timestamp": FRI_1015}),
            FRI_1015,
        ),
        valid(
            "ml.training",
            json!({"event_id": "t2", "user_id": "u2", "item_id": "i2", "algorithm": "irt",
                   "state_before": {"ability": 0.1, "topic": "algebra"},
                   "state_after": {"ability": 0.05, "topic": "algebra"},
                   "correct": "false", "timestamp": "2026-11-25T23:59:59Z"}),
            WED_2359,
        ),
        invalid("user.attempts", "{not json", "JSON"),
        invalid("user.attempts", "[1, 2]", "object"),
        invalid(
            "user.attempts",
            r#"{"event_id":"b1","item_id":"i","session_id":"s","correct":true,"time_taken_ms":5,"timestamp":1795774530123}"#,
            "user_id",
        ),
        invalid(
            "user.attempts",
            r#"{"event_id":"b2","user_id":"u","item_id":"i","session_id":"s","correct":true,"time_taken_ms":5,"quality":9,"timestamp":1795774530123}"#,
            "quality",
        ),
        invalid(
            "user.attempts",
            r#"{"event_id":"b3","user_id":"u","item_id":"i","session_id":"s","correct":true,"time_taken_ms":-5,"timestamp":1795774530123}"#,
            "time_taken_ms",
        ),
        invalid(
            "user.attempts",
            r#"{"event_id":"b4","user_id":"u","item_id":"i","session_id":"s","correct":true,"time_taken_ms":5,"timestamp":"yesterday"}"#,
            "timestamp",
        ),
        invalid(
            "user.sessions",
            r#"{"event_id":"b5","session_id":"x","user_id":"u","session_type":"practice","started_at":1795774530123,"ended_at":1795774000000,"items_attempted":1,"correct_count":1}"#,
            "ended_at",
        ),
        invalid(
            "user.sessions",
            r#"{"event_id":"b6","session_id":"x","user_id":"u","session_type":"practice","started_at":1795774000000,"ended_at":1795774530123,"items_attempted":1,"correct_count":2}"#,
            "correct_count",
        ),
        invalid(
            "user.sessions",
            r#"{"event_id":"b7","session_id":"x","user_id":"u","session_type":"cram","started_at":1795774000000,"ended_at":1795774530123,"items_attempted":1,"correct_count":1}"#,
            "session_type",
        ),
        invalid(
            "ml.training",
            r#"{"event_id":"b8","user_id":"u","item_id":"i","algorithm":"dkt","state_before":{},"state_after":{},"correct":true,"timestamp":1795774530123}"#,
            "algorithm",
        ),
    ]
}

/// `(role, key, value)` triples ready for [`super::produce`].
pub fn records(cases: &[Case]) -> Vec<(String, String, Vec<u8>)> {
    cases
        .iter()
        .map(|c| (c.role.to_string(), c.key.clone(), c.value.clone()))
        .collect()
}

/// A valid attempt of user `u1` at `ts_ms`.
pub fn attempt(event_id: &str, ts_ms: i64) -> (String, String, Vec<u8>) {
    let value = json!({"event_id": event_id, "user_id": "u1", "item_id": "i1", "session_id": "s1",
                       "correct": true, "time_taken_ms": 3000, "timestamp": ts_ms});
    (
        "user.attempts".into(),
        "u1".into(),
        value.to_string().into_bytes(),
    )
}
