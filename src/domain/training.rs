//! `ml.training`: one learner-model update, i.e. a training sample pairing
//! the model state before and after an observed outcome.

use super::features::Calendar;
use super::fields::Fields;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::reject::{echo, Rejection};
use super::value::{FloatRange, IntRange};

/// The learner model that produced the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    Sm2,
    Bkt,
    Irt,
}

impl Algorithm {
    pub const ALL: [Self; 3] = [Self::Sm2, Self::Bkt, Self::Irt];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sm2 => "sm2",
            Self::Bkt => "bkt",
            Self::Irt => "irt",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// One side of an update. Only the named algorithm's parameters are set, so
/// the three algorithms can share one flat table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    pub sm2_easiness_factor: Option<f64>,
    pub sm2_interval: Option<i32>,
    pub sm2_repetitions: Option<i32>,
    pub bkt_prob_knowledge: Option<f64>,
    pub irt_ability: Option<f64>,
    pub irt_topic: Option<String>,
}

impl ModelState {
    /// The parameters `algorithm` needs are required; anything else in the
    /// object is ignored like any unknown field.
    fn parse(mut f: Fields<'_>, algorithm: Algorithm) -> Result<Self, Rejection> {
        let mut state = Self::default();
        match algorithm {
            Algorithm::Sm2 => {
                state.sm2_easiness_factor = Some(f.float("easiness_factor", FloatRange::Positive)?);
                state.sm2_interval = Some(f.int32("interval", 0)?);
                state.sm2_repetitions = Some(f.int32("repetitions", 0)?);
            }
            Algorithm::Bkt => {
                state.bkt_prob_knowledge =
                    Some(f.float("prob_knowledge", FloatRange::Probability)?);
            }
            Algorithm::Irt => {
                state.irt_ability = Some(f.float("ability", FloatRange::Any)?);
                state.irt_topic = Some(f.string("topic")?);
            }
        }
        Ok(state)
    }
}

/// A valid training sample with its calendar fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub event_id: String,
    pub user_id: String,
    pub item_id: String,
    pub algorithm: Algorithm,
    pub model_version: Option<String>,
    /// The observed outcome the model learned from.
    pub correct: bool,
    pub time_taken_ms: Option<i64>,
    pub timestamp_ms: i64,
    pub hour_of_day: i8,
    pub day_of_week: i8,
    pub is_weekend: bool,
    pub before: ModelState,
    pub after: ModelState,
}

pub(crate) fn parse(mut f: Fields<'_>) -> Result<Training, Rejection> {
    let event_id = f.non_empty_string("event_id")?;
    let user_id = f.string("user_id")?;
    let item_id = f.string("item_id")?;
    let algorithm = parse_algorithm(&mut f)?;
    let model_version = f.opt_string("model_version")?;
    let before = ModelState::parse(f.object("state_before")?, algorithm)?;
    let after = ModelState::parse(f.object("state_after")?, algorithm)?;
    let correct = f.boolean("correct")?;
    let time_taken_ms = f.opt_int("time_taken_ms", IntRange::at_least(0))?;
    let timestamp_ms = f.timestamp("timestamp")?;
    let calendar = Calendar::from_epoch_ms(timestamp_ms);
    Ok(Training {
        event_id,
        user_id,
        item_id,
        algorithm,
        model_version,
        correct,
        time_taken_ms,
        timestamp_ms,
        hour_of_day: calendar.hour_of_day,
        day_of_week: calendar.day_of_week,
        is_weekend: calendar.is_weekend,
        before,
        after,
    })
}

fn parse_algorithm(f: &mut Fields<'_>) -> Result<Algorithm, Rejection> {
    let name = f.string("algorithm")?;
    Algorithm::from_name(&name).ok_or_else(|| {
        f.reject(
            "algorithm",
            format!(
                "expected one of `sm2`, `bkt`, `irt`, got {}",
                echo(&Value::String(name))
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn sample(algorithm: &str, before: Value, after: Value) -> Value {
        json!({
            "event_id": "t1", "user_id": "u1", "item_id": "i1", "algorithm": algorithm,
            "state_before": before, "state_after": after, "correct": 1,
            "timestamp": "2026-11-23T00:00:00.250-01:00", "model_version": "v3", "noise": true
        })
    }

    fn run(v: &Value) -> Result<Training, Rejection> {
        parse(Fields::from_json(&serde_json::to_vec(v).unwrap())?)
    }

    #[test]
    fn sm2_sample() {
        let v = sample(
            "sm2",
            json!({"easiness_factor": 2.5, "interval": 1, "repetitions": 1, "extra": 0}),
            json!({"easiness_factor": 2.6, "interval": 6, "repetitions": 2}),
        );
        let t = run(&v).unwrap();
        assert_eq!(t.algorithm, Algorithm::Sm2);
        assert_eq!(t.before.sm2_interval, Some(1));
        assert_eq!(t.after.sm2_easiness_factor, Some(2.6));
        assert_eq!(t.after.bkt_prob_knowledge, None);
        assert_eq!(
            (t.correct, t.time_taken_ms, t.model_version.as_deref()),
            (true, None, Some("v3"))
        );
        // 2026-11-23T01:00:00.250Z, a Monday.
        assert_eq!((t.hour_of_day, t.day_of_week, t.is_weekend), (1, 0, false));
    }

    #[test]
    fn bkt_and_irt_samples() {
        let t = run(&sample(
            "bkt",
            json!({"prob_knowledge": 0.2}),
            json!({"prob_knowledge": 0.35}),
        ))
        .unwrap();
        assert_eq!(
            (t.before.bkt_prob_knowledge, t.after.bkt_prob_knowledge),
            (Some(0.2), Some(0.35))
        );
        let v = sample(
            "irt",
            json!({"ability": -0.5, "topic": "algebra"}),
            json!({"ability": -0.3, "topic": "algebra"}),
        );
        let t = run(&v).unwrap();
        assert_eq!(t.after.irt_ability, Some(-0.3));
        assert_eq!(t.before.irt_topic.as_deref(), Some("algebra"));
        assert_eq!(t.before.sm2_easiness_factor, None);
    }

    #[test]
    fn rejections() {
        let bkt = json!({"prob_knowledge": 0.2});
        let cases = [
            (
                sample("dkt", bkt.clone(), bkt.clone()),
                "field `algorithm`: expected one of `sm2`, `bkt`, `irt`, got \"dkt\"",
            ),
            (
                sample("sm2", bkt.clone(), bkt.clone()),
                "field `state_before.easiness_factor`: is required but missing",
            ),
            (
                sample("bkt", bkt.clone(), json!({"prob_knowledge": -0.1})),
                "field `state_after.prob_knowledge`: expected a number between 0 and 1, got -0.1",
            ),
            (
                sample("irt", json!({"ability": 1, "topic": 2}), bkt.clone()),
                "field `state_before.topic`: expected a string, got 2",
            ),
            (
                sample("bkt", bkt.clone(), json!(null)),
                "field `state_after`: is required but null",
            ),
            (
                sample("bkt", json!("0.2"), bkt.clone()),
                "field `state_before`: expected an object, got \"0.2\"",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(run(&v).unwrap_err().to_string(), want);
        }
        let mut v = sample("bkt", bkt.clone(), bkt);
        v["time_taken_ms"] = json!(-1);
        let e = run(&v).unwrap_err().to_string();
        assert_eq!(e, "field `time_taken_ms`: expected an integer >= 0, got -1");
    }
}
