//! The contract violations the demo stream injects: one kind per critical
//! check of contract section 5, so every quarantine path gets exercised.

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::json;

use super::learner::MINUTE_MS;
use super::to_bytes;
use crate::domain::Topic;

/// Number of kinds; the stream rotates through them in order.
pub(super) const KINDS: u64 = 9;
const REQUIRED_ATTEMPT_FIELDS: [&str; 7] = [
    "event_id",
    "user_id",
    "item_id",
    "session_id",
    "correct",
    "time_taken_ms",
    "timestamp",
];
const BAD_TIMESTAMPS: [&str; 4] = [
    "yesterday",
    "2026-13-01T10:00:00Z",
    "2026-11-19 10:00",
    "2026-11-19T10:00:00",
];
const BAD_SESSION_TYPES: [&str; 3] = ["cram", "exam", "Practice"];

/// An invalid record of `kind` (`0..KINDS`) whose event time, where it has
/// one, is `t`: not JSON, not an object, a missing required field, quality
/// 9, a negative time, a bad timestamp, a session ending before it started,
/// more correct answers than items, an unknown session type.
pub(super) fn record(
    rng: &mut StdRng,
    kind: u64,
    event_id: &str,
    user_id: &str,
    t: i64,
) -> (Topic, Vec<u8>) {
    let mut attempt = json!({
        "event_id": event_id, "user_id": user_id, "item_id": "item-algebra-007",
        "session_id": "sess-x", "correct": true, "time_taken_ms": 4_000, "timestamp": t,
    });
    let mut session = json!({
        "event_id": event_id, "session_id": "sess-x", "user_id": user_id,
        "session_type": "practice", "started_at": t - 10 * MINUTE_MS, "ended_at": t,
        "items_attempted": 5, "correct_count": 3,
    });
    let pick =
        |rng: &mut StdRng, options: &[&'static str]| options[rng.random_range(0..options.len())];
    match kind {
        0 => {
            let mut bytes = to_bytes(&attempt);
            bytes.truncate(bytes.len() / 2);
            (Topic::Attempts, bytes)
        }
        1 => (Topic::Sessions, to_bytes(&json!([session]))),
        2..6 => {
            match kind {
                2 => {
                    let field = pick(rng, &REQUIRED_ATTEMPT_FIELDS);
                    attempt
                        .as_object_mut()
                        .expect("built as an object")
                        .remove(field);
                }
                3 => attempt["quality"] = json!(9),
                4 => attempt["time_taken_ms"] = json!(-rng.random_range(1..5_000)),
                _ => attempt["timestamp"] = json!(pick(rng, &BAD_TIMESTAMPS)),
            }
            (Topic::Attempts, to_bytes(&attempt))
        }
        _ => {
            match kind {
                6 => session["started_at"] = json!(t + MINUTE_MS),
                7 => session["correct_count"] = json!(rng.random_range(6..=10)),
                _ => session["session_type"] = json!(pick(rng, &BAD_SESSION_TYPES)),
            }
            (Topic::Sessions, to_bytes(&session))
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::domain::{event_time_hint, parse, ResponseTimeThresholds};

    #[test]
    fn each_kind_fails_its_own_check() {
        let expected_field = [
            None,
            None,
            Some("*"),
            Some("quality"),
            Some("time_taken_ms"),
            Some("timestamp"),
            Some("ended_at"),
            Some("correct_count"),
            Some("session_type"),
        ];
        let mut rng = StdRng::seed_from_u64(1);
        for round in 0..20 {
            for (kind, want) in (0..KINDS).zip(expected_field) {
                let t = 1_795_000_000_000 + round;
                let (topic, bytes) = record(&mut rng, kind, "x-1", "user-0001", t);
                let e = parse(topic, &bytes, &ResponseTimeThresholds::default()).unwrap_err();
                match want {
                    Some("*") => assert!(e.reason.contains("required but missing"), "{e}"),
                    want => assert_eq!(e.field.as_deref(), want, "kind {kind}: {e}"),
                }
                if kind >= 3 && kind != 5 {
                    assert_eq!(event_time_hint(topic, &bytes), Some(t), "kind {kind}");
                }
            }
        }
    }
}
