//! The simulated learner behind the demo stream: a hidden ability per topic,
//! the platform's models (SM-2, BKT, IRT) tracking it, and the records one
//! study session produces, written the many ways the contract allows.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use rand::rngs::StdRng;
use rand::seq::index;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::domain::{derived_quality, utc_hour, ResponseTimeCategory, Topic};

pub(super) const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(super) const DAY_MS: i64 = 24 * HOUR_MS;
const TOPICS: [&str; 8] = [
    "algebra",
    "geometry",
    "fractions",
    "probability",
    "statistics",
    "calculus",
    "vocabulary",
    "grammar",
];
const ITEMS_PER_TOPIC: u32 = 25;
/// Client clock offsets (minutes east of UTC) that RFC 3339 timestamps carry.
const OFFSETS_MIN: [i32; 6] = [0, 60, -300, 330, 540, -180];
const ALGORITHMS: [&str; 3] = ["sm2", "bkt", "irt"];

#[derive(Debug, Clone, Copy)]
struct Sm2 {
    easiness: f64,
    interval: i32,
    repetitions: i32,
}

impl Sm2 {
    const NEW: Sm2 = Sm2 {
        easiness: 2.5,
        interval: 0,
        repetitions: 0,
    };

    /// The classic SM-2 update, so training samples look like a real model's.
    fn after(self, quality: i8) -> Sm2 {
        let q = f64::from(5 - quality);
        let easiness = (self.easiness + 0.1 - q * (0.08 + q * 0.02)).max(1.3);
        let (interval, repetitions) = match (quality >= 3, self.repetitions) {
            (false, _) => (1, 0),
            (true, 0) => (1, 1),
            (true, 1) => (6, 2),
            (true, n) => ((f64::from(self.interval) * easiness).round() as i32, n + 1),
        };
        Sm2 {
            easiness,
            interval,
            repetitions,
        }
    }

    fn to_json(self) -> Value {
        json!({"easiness_factor": round4(self.easiness), "interval": self.interval,
            "repetitions": self.repetitions})
    }
}

/// A simulated learner: a hidden true ability per topic, and what the
/// platform's models currently believe about them.
pub(super) struct Learner {
    pub(super) id: String,
    offset_min: i32,
    ability: [f64; TOPICS.len()],
    bkt: [f64; TOPICS.len()],
    irt: [Option<f64>; TOPICS.len()],
    sm2: BTreeMap<(usize, u32), Sm2>,
    next_algorithm: usize,
    /// How many times this learner has replayed the window.
    pub(super) pass: u32,
    pub(super) next_start_ms: i64,
}

struct Answer {
    topic: usize,
    item: u32,
    correct: bool,
    time_taken_ms: i64,
    reported_quality: Option<i8>,
    quality: i8,
}

impl Learner {
    pub(super) fn new(rng: &mut StdRng, n: usize, start_ms: i64) -> Self {
        let base = rng.random_range(-1.0..1.5);
        Learner {
            id: format!("user-{n:04}"),
            offset_min: OFFSETS_MIN[rng.random_range(0..OFFSETS_MIN.len())],
            ability: std::array::from_fn(|_| base + rng.random_range(-0.7..0.7)),
            bkt: [0.3; TOPICS.len()],
            irt: [None; TOPICS.len()],
            sm2: BTreeMap::new(),
            next_algorithm: n % ALGORITHMS.len(),
            pass: 0,
            next_start_ms: start_ms + rng.random_range(0..DAY_MS),
        }
    }

    fn answer(&self, rng: &mut StdRng, topic: usize, item: u32) -> Answer {
        let difficulty = difficulty(item);
        let correct = rng.random_bool(1.0 / (1.0 + (difficulty - self.ability[topic]).exp()));
        // Log-normal around a median that grows with difficulty: mostly 1-40 s.
        let median = 6_500.0 * (0.25 * difficulty).exp();
        let time_taken_ms = (median * (0.7 * std_normal(rng)).exp()).clamp(300.0, 180_000.0) as i64;
        let derived = derived_quality(correct, ResponseTimeCategory::from_ms(time_taken_ms));
        let reported_quality = rng.random_bool(0.4).then(|| match correct {
            true => (derived - rng.random_range(0..=1)).max(3),
            false => rng.random_range(0..=2),
        });
        let quality = reported_quality.unwrap_or(derived);
        Answer {
            topic,
            item,
            correct,
            time_taken_ms,
            reported_quality,
            quality,
        }
    }

    /// Applies one answer to every model; with `train`, also returns the
    /// `(algorithm, before, after)` sample of the algorithm whose turn it is.
    fn learn(&mut self, a: &Answer, train: bool) -> Option<(&'static str, Value, Value)> {
        let sm2 = self
            .sm2
            .get(&(a.topic, a.item))
            .copied()
            .unwrap_or(Sm2::NEW);
        self.sm2.insert((a.topic, a.item), sm2.after(a.quality));
        let bkt = self.bkt[a.topic];
        self.bkt[a.topic] = bkt_after(bkt, a.correct);
        let theta = self.irt[a.topic].unwrap_or(0.0);
        let expected = 1.0 / (1.0 + (difficulty(a.item) - theta).exp());
        let theta_after = theta + 0.4 * (f64::from(u8::from(a.correct)) - expected);
        self.irt[a.topic] = Some(theta_after);
        self.ability[a.topic] += 0.03; // practice helps a little
        if !train {
            return None;
        }
        let algorithm = ALGORITHMS[self.next_algorithm];
        self.next_algorithm = (self.next_algorithm + 1) % ALGORITHMS.len();
        let topic = TOPICS[a.topic];
        let (before, after) = match algorithm {
            "sm2" => (sm2.to_json(), sm2.after(a.quality).to_json()),
            "bkt" => (
                json!({"prob_knowledge": round4(bkt)}),
                json!({"prob_knowledge": round4(self.bkt[a.topic])}),
            ),
            _ => (
                json!({"ability": round4(theta), "topic": topic}),
                json!({"ability": round4(theta_after), "topic": topic}),
            ),
        };
        Some((algorithm, before, after))
    }

    /// Model state before an answer, each part sometimes left out.
    fn algorithm_state(&self, rng: &mut StdRng, topic: usize, item: u32) -> Value {
        let mut state = json!({});
        if rng.random_bool(0.9) {
            let sm2 = self.sm2.get(&(topic, item)).copied().unwrap_or(Sm2::NEW);
            state["sm2"] = sm2.to_json();
        }
        if rng.random_bool(0.9) {
            state["bkt"] = json!({"prob_knowledge": round4(self.bkt[topic])});
        }
        if rng.random_bool(0.8) {
            let ability: Map<String, Value> = (self.irt.iter().zip(TOPICS))
                .filter_map(|(theta, name)| Some((name.to_owned(), json!(round4((*theta)?)))))
                .collect();
            state["irt"] = json!({ "ability": ability });
        }
        state
    }
}

/// What kind of session comes next, on which topics, with how many items.
struct Plan {
    session_type: &'static str,
    topics: Vec<usize>,
    items: usize,
}

impl Plan {
    fn draw(rng: &mut StdRng) -> Plan {
        let (session_type, max_items, topic_count) = match rng.random_range(0..20) {
            0..12 => ("practice", 20, 1..=2),
            12..17 => ("review", 25, 1..=3),
            _ => ("mock_test", 40, 3..=4),
        };
        let topic_count = rng.random_range(topic_count);
        let topics = index::sample(rng, TOPICS.len(), topic_count).into_vec();
        // A few sessions are abandoned before the first answer.
        let items = match rng.random_bool(0.03) {
            true => 0,
            false => rng.random_range(5..=max_items),
        };
        Plan {
            session_type,
            topics,
            items,
        }
    }
}

/// One simulated record, before the stream gives it an event id.
pub(super) struct Draft {
    pub(super) time_ms: i64,
    pub(super) topic: Topic,
    pub(super) value: Value,
}

impl Learner {
    /// Simulates the session due at `next_start_ms` and schedules the next
    /// one. Every event time stays inside `window` (start, end epoch ms).
    pub(super) fn study(
        &mut self,
        rng: &mut StdRng,
        session_id: &str,
        window: (i64, i64),
    ) -> Vec<Draft> {
        let start = self.next_start_ms;
        let plan = Plan::draw(rng);
        let mut drafts = Vec::with_capacity(2 * plan.items + 1);
        let (mut t, mut attempted, mut correct) = (start + rng.random_range(2_000..60_000), 0, 0);
        for _ in 0..plan.items {
            let topic = plan.topics[rng.random_range(0..plan.topics.len())];
            let item = rng.random_range(0..ITEMS_PER_TOPIC);
            let answer = self.answer(rng, topic, item);
            // Cut a late session short rather than let it spill out of the window.
            if t + answer.time_taken_ms + 20_000 >= window.1 {
                break;
            }
            t += answer.time_taken_ms;
            self.answer_drafts(rng, session_id, &answer, t, &mut drafts);
            attempted += 1;
            correct += i32::from(answer.correct);
            t += rng.random_range(1_000..15_000);
        }
        let ended = (t + rng.random_range(0..30_000)).min(window.1 - 1);
        let mut session = json!({
            "user_id": self.id, "session_id": session_id, "session_type": plan.session_type,
            "started_at": timestamp(rng, start, self.offset_min),
            "ended_at": timestamp(rng, ended, self.offset_min),
            "items_attempted": attempted, "correct_count": correct,
        });
        if rng.random_bool(0.9) {
            session["topics"] = plan.topics.iter().map(|&i| TOPICS[i]).collect();
        }
        if attempted > 0 && rng.random_bool(0.85) {
            session["accuracy"] = json!(f64::from(correct) / f64::from(attempted));
        }
        drafts.push(Draft {
            time_ms: ended,
            topic: Topic::Sessions,
            value: session,
        });
        self.schedule_next(rng, ended, window);
        drafts
    }

    /// The attempt record and, for some answers, the training sample the
    /// model update produced a moment later.
    fn answer_drafts(
        &mut self,
        rng: &mut StdRng,
        session_id: &str,
        a: &Answer,
        at: i64,
        out: &mut Vec<Draft>,
    ) {
        let item_id = format!("item-{}-{:03}", TOPICS[a.topic], a.item);
        let mut attempt = json!({
            "user_id": self.id, "item_id": item_id, "session_id": session_id,
            "correct": flag(rng, a.correct), "time_taken_ms": a.time_taken_ms,
            "timestamp": timestamp(rng, at, self.offset_min),
        });
        if rng.random_bool(0.9) {
            attempt["topic"] = json!(TOPICS[a.topic]);
        }
        if let Some(q) = a.reported_quality {
            attempt["quality"] = json!(q);
        }
        if rng.random_bool(0.85) {
            attempt["algorithm_state"] = self.algorithm_state(rng, a.topic, a.item);
        }
        if rng.random_bool(0.2) {
            attempt["client"] = json!({"app": "web", "build": 5120}); // unknown to the contract
        }
        out.push(Draft {
            time_ms: at,
            topic: Topic::Attempts,
            value: attempt,
        });
        let Some((algorithm, before, after)) = self.learn(a, rng.random_bool(0.3)) else {
            return;
        };
        let at = at + rng.random_range(20..800);
        let mut sample = json!({
            "user_id": self.id, "item_id": item_id, "algorithm": algorithm,
            "state_before": before, "state_after": after, "correct": flag(rng, a.correct),
            "timestamp": timestamp(rng, at, self.offset_min),
        });
        if rng.random_bool(0.8) {
            sample["model_version"] = json!(format!("{algorithm}-1.4.2"));
        }
        if rng.random_bool(0.7) {
            sample["time_taken_ms"] = json!(a.time_taken_ms);
        }
        out.push(Draft {
            time_ms: at,
            topic: Topic::Training,
            value: sample,
        });
    }

    /// Gaps between sessions are exponential (mean 9 h) and most night-time
    /// starts slip to the morning; past the window the learner starts over.
    fn schedule_next(&mut self, rng: &mut StdRng, ended: i64, (start, end): (i64, i64)) {
        let gap = (-(1.0 - rng.random::<f64>()).ln() * 9.0 * HOUR_MS as f64) as i64;
        let mut next = ended + gap.clamp(20 * MINUTE_MS, 40 * HOUR_MS);
        let hour = i64::from(utc_hour(next));
        if (1..7).contains(&hour) && rng.random_bool(0.85) {
            next += (7 - hour) * HOUR_MS + rng.random_range(0..3 * HOUR_MS);
        }
        if next >= end {
            self.pass += 1;
            next = start + rng.random_range(0..DAY_MS);
        }
        self.next_start_ms = next;
    }
}

fn bkt_after(p: f64, correct: bool) -> f64 {
    let (slip, guess, learn) = (0.1, 0.2, 0.15);
    let posterior = if correct {
        p * (1.0 - slip) / (p * (1.0 - slip) + (1.0 - p) * guess)
    } else {
        p * slip / (p * slip + (1.0 - p) * (1.0 - guess))
    };
    posterior + (1.0 - posterior) * learn
}

/// A fixed spread of item difficulties (in logits, -2..2) without a table.
fn difficulty(item: u32) -> f64 {
    f64::from((item * 7_919) % 41) / 10.0 - 2.0
}

fn std_normal(rng: &mut StdRng) -> f64 {
    let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The contract allows both timestamp forms and any offset; producers differ.
fn timestamp(rng: &mut StdRng, ms: i64, offset_min: i32) -> Value {
    if rng.random_bool(0.3) {
        return json!(ms);
    }
    let offset = FixedOffset::east_opt(offset_min * 60).expect("offsets are within a day");
    let t = DateTime::from_timestamp_millis(ms).expect("window is within chrono's range");
    json!(t
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Millis, rng.random_bool(0.5)))
}

/// The contract's three bool spellings, mostly the JSON one.
fn flag(rng: &mut StdRng, b: bool) -> Value {
    match rng.random_range(0..10) {
        0 => json!(u8::from(b)),
        1 => json!(b.to_string()),
        _ => json!(b),
    }
}
