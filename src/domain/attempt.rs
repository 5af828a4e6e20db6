//! `user.attempts`: one answer to one item, validated and enriched with the
//! derived columns of `processed/user_attempts`.

use super::features::{derived_quality, Calendar, ResponseTimeCategory, ResponseTimeThresholds};
use super::fields::Fields;
use super::reject::Rejection;
use super::value::{FloatRange, IntRange};
use serde::{Deserialize, Serialize};

/// A valid attempt with its derived fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub event_id: String,
    pub user_id: String,
    pub item_id: String,
    pub session_id: String,
    /// Knowledge topic of the item.
    pub topic: Option<String>,
    pub correct: bool,
    pub time_taken_ms: i64,
    /// As reported, or derived when the producer left it out.
    pub quality: i8,
    pub quality_derived: bool,
    pub timestamp_ms: i64,
    pub response_time_seconds: f64,
    pub response_time_category: ResponseTimeCategory,
    pub hour_of_day: i8,
    pub day_of_week: i8,
    pub is_weekend: bool,
    pub sm2_easiness_factor_before: Option<f64>,
    pub sm2_interval_before: Option<i32>,
    pub sm2_repetitions_before: Option<i32>,
    pub bkt_prob_knowledge_before: Option<f64>,
    /// IRT ability per knowledge topic, sorted by topic.
    pub irt_ability_before: Vec<(String, f64)>,
    /// Set by the pipeline when a value is a statistical outlier (never by parsing).
    pub anomaly: Option<String>,
}

/// The learner-model state before the attempt; every part is optional.
#[derive(Debug, Default)]
struct AlgorithmState {
    sm2_easiness_factor: Option<f64>,
    sm2_interval: Option<i32>,
    sm2_repetitions: Option<i32>,
    bkt_prob_knowledge: Option<f64>,
    irt_ability: Vec<(String, f64)>,
}

impl AlgorithmState {
    fn parse(mut f: Fields<'_>) -> Result<Self, Rejection> {
        let mut state = Self::default();
        if let Some(mut sm2) = f.opt_object("sm2")? {
            state.sm2_easiness_factor = sm2.opt_float("easiness_factor", FloatRange::Positive)?;
            state.sm2_interval = sm2.opt_int32("interval", 0)?;
            state.sm2_repetitions = sm2.opt_int32("repetitions", 0)?;
        }
        if let Some(mut bkt) = f.opt_object("bkt")? {
            state.bkt_prob_knowledge = bkt.opt_float("prob_knowledge", FloatRange::Probability)?;
        }
        if let Some(mut irt) = f.opt_object("irt")? {
            if let Some(ability) = irt.opt_object("ability")? {
                state.irt_ability = ability.into_floats_by_key(FloatRange::Any)?;
            }
        }
        Ok(state)
    }
}

pub(crate) fn parse(
    mut f: Fields<'_>,
    thresholds: &ResponseTimeThresholds,
) -> Result<Attempt, Rejection> {
    let event_id = f.non_empty_string("event_id")?;
    let user_id = f.non_empty_string("user_id")?;
    let item_id = f.non_empty_string("item_id")?;
    let session_id = f.string("session_id")?;
    let topic = f.opt_string("topic")?;
    let correct = f.boolean("correct")?;
    let time_taken_ms = f.int("time_taken_ms", IntRange::at_least(0))?;
    let reported_quality = f.opt_int("quality", IntRange::between(0, 5))?;
    let timestamp_ms = f.timestamp("timestamp")?;
    let state = match f.opt_object("algorithm_state")? {
        Some(state) => AlgorithmState::parse(state)?,
        None => AlgorithmState::default(),
    };

    let category = thresholds.categorize(time_taken_ms);
    let quality = match reported_quality {
        Some(q) => q as i8, // range-checked to 0..=5
        None => derived_quality(correct, category),
    };
    let calendar = Calendar::from_epoch_ms(timestamp_ms);
    Ok(Attempt {
        event_id,
        user_id,
        item_id,
        session_id,
        topic,
        correct,
        time_taken_ms,
        quality,
        quality_derived: reported_quality.is_none(),
        timestamp_ms,
        response_time_seconds: time_taken_ms as f64 / 1000.0,
        response_time_category: category,
        hour_of_day: calendar.hour_of_day,
        day_of_week: calendar.day_of_week,
        is_weekend: calendar.is_weekend,
        sm2_easiness_factor_before: state.sm2_easiness_factor,
        sm2_interval_before: state.sm2_interval,
        sm2_repetitions_before: state.sm2_repetitions,
        bkt_prob_knowledge_before: state.bkt_prob_knowledge,
        irt_ability_before: state.irt_ability,
        anomaly: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn base() -> Value {
        json!({
            "event_id": "e1", "user_id": "u1", "item_id": "i1", "session_id": "s1",
            "correct": true, "time_taken_ms": 4200, "timestamp": "2026-11-21T18:30:00Z"
        })
    }

    fn with(changes: Value) -> Value {
        let mut v = base();
        for (k, x) in changes.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn run(v: &Value) -> Result<Attempt, Rejection> {
        let bytes = serde_json::to_vec(v).unwrap();
        let f = Fields::from_json(&bytes)?;
        parse(f, &ResponseTimeThresholds::default())
    }

    fn rejected(v: Value) -> String {
        run(&v).unwrap_err().to_string()
    }

    #[test]
    fn minimal_attempt_gets_every_derived_field() {
        let a = run(&base()).unwrap();
        assert_eq!((a.quality, a.quality_derived), (5, true));
        assert_eq!(a.response_time_seconds, 4.2);
        assert_eq!(a.response_time_category, ResponseTimeCategory::Fast);
        assert_eq!((a.hour_of_day, a.day_of_week, a.is_weekend), (18, 5, true));
        assert_eq!(a.timestamp_ms, 1_795_285_800_000);
        assert_eq!(a.topic, None);
        assert_eq!(a.sm2_easiness_factor_before, None);
        assert!(a.irt_ability_before.is_empty());
    }

    #[test]
    fn reported_quality_wins_and_loose_types_are_read() {
        let v = with(json!({
            "quality": 2.0, "correct": "false", "timestamp": 1_795_285_800_000i64,
            "topic": "fractions", "unknown": {"x": [1, 2]}
        }));
        let a = run(&v).unwrap();
        assert_eq!((a.quality, a.quality_derived, a.correct), (2, false, false));
        assert_eq!(a.topic.as_deref(), Some("fractions"));
        assert_eq!(a.timestamp_ms, 1_795_285_800_000);
    }

    #[test]
    fn derived_quality_follows_category_boundaries() {
        let cases = [
            (true, 1_999, 5),
            (true, 14_999, 4),
            (true, 15_000, 3),
            (false, 1_999, 0),
            (false, 2_000, 1),
        ];
        for (correct, ms, want) in cases {
            let a = run(&with(json!({"correct": correct, "time_taken_ms": ms}))).unwrap();
            assert_eq!(a.quality, want, "{correct} {ms}");
        }
    }

    #[test]
    fn algorithm_state_is_read_and_irt_sorted() {
        let v = with(json!({"algorithm_state": {
            "sm2": {"easiness_factor": 2.5, "interval": 6, "repetitions": 2},
            "bkt": {"prob_knowledge": 0.4},
            "irt": {"ability": {"zeta": 0.1, "algebra": -0.3, "geometry": 1}}
        }}));
        let a = run(&v).unwrap();
        assert_eq!(a.sm2_easiness_factor_before, Some(2.5));
        assert_eq!(
            (a.sm2_interval_before, a.sm2_repetitions_before),
            (Some(6), Some(2))
        );
        assert_eq!(a.bkt_prob_knowledge_before, Some(0.4));
        let topics: Vec<_> = a
            .irt_ability_before
            .iter()
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(topics, ["algebra", "geometry", "zeta"]);
    }

    #[test]
    fn partial_algorithm_state_leaves_the_rest_null() {
        let v = with(json!({"algorithm_state": {"sm2": {"interval": 1}, "irt": {}}}));
        let a = run(&v).unwrap();
        assert_eq!(a.sm2_interval_before, Some(1));
        assert_eq!(
            (a.sm2_easiness_factor_before, a.bkt_prob_knowledge_before),
            (None, None)
        );
    }

    #[test]
    fn every_field_rejection_names_field_and_value() {
        let cases = [
            (
                json!({"user_id": ""}),
                "field `user_id`: expected a non-empty string, got \"\"",
            ),
            (
                json!({"item_id": null}),
                "field `item_id`: is required but null",
            ),
            (
                json!({"correct": "yes"}),
                "field `correct`: expected true/false, 0/1 or \"true\"/\"false\", got \"yes\"",
            ),
            (
                json!({"time_taken_ms": -5}),
                "field `time_taken_ms`: expected an integer >= 0, got -5",
            ),
            (
                json!({"quality": 9}),
                "field `quality`: expected an integer between 0 and 5, got 9",
            ),
            (
                json!({"topic": 7}),
                "field `topic`: expected a string, got 7",
            ),
            (
                json!({"algorithm_state": [1]}),
                "field `algorithm_state`: expected an object, got [1]",
            ),
        ];
        for (change, want) in cases {
            assert_eq!(rejected(with(change)), want);
        }
        let mut v = base();
        v.as_object_mut().unwrap().remove("session_id");
        assert_eq!(rejected(v), "field `session_id`: is required but missing");
        let bad_time = rejected(with(json!({"timestamp": "27/11/2026"})));
        assert!(bad_time
            .starts_with("field `timestamp`: expected an RFC 3339 timestamp, got \"27/11/2026\""));
    }

    #[test]
    fn algorithm_state_rejections_name_the_path() {
        let non_negative = "expected an integer between 0 and 2147483647";
        let cases = [
            (
                json!({"sm2": {"interval": "6"}}),
                "sm2.interval",
                format!("{non_negative}, got \"6\""),
            ),
            (
                json!({"sm2": {"repetitions": -1}}),
                "sm2.repetitions",
                format!("{non_negative}, got -1"),
            ),
            (
                json!({"sm2": {"easiness_factor": 0}}),
                "sm2.easiness_factor",
                "expected a number > 0, got 0".into(),
            ),
            (
                json!({"bkt": {"prob_knowledge": 1.2}}),
                "bkt.prob_knowledge",
                "expected a number between 0 and 1, got 1.2".into(),
            ),
            (
                json!({"irt": {"ability": {"algebra": "high"}}}),
                "irt.ability.algebra",
                "expected a number, got \"high\"".into(),
            ),
            (
                json!({"bkt": 0.3}),
                "bkt",
                "expected an object, got 0.3".into(),
            ),
        ];
        for (state, path, reason) in cases {
            let e = run(&with(json!({ "algorithm_state": state }))).unwrap_err();
            assert_eq!(e.field, Some(format!("algorithm_state.{path}")));
            assert_eq!(e.reason, reason);
        }
    }
}
