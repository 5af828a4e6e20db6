//! Fuzz targets for the event parser (issue 7, point 5), written with bolero:
//! - `cargo test --release --test fuzz_parser` (CI) runs each target on random inputs
//!   for a bounded time (`FUZZ_SECONDS` below; `BOLERO_RANDOM_TEST_TIME_MS` overrides);
//! - `cargo bolero test --release --test fuzz_parser <target>` runs the same targets
//!   under libFuzzer, coverage-guided, for as long as one likes (nightly toolchain).
//!
//! Every target checks the same properties: the parser never panics; a rejection's
//! reason and field stay short whatever the input's size (they are columns of a
//! quarantine row); an accepted event's time is in the contract's range and its file
//! paths stay inside its dataset's folder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bolero::{check, generator::TypeGenerator};
use lakestream::demo::generator::{Generator, GeneratorConfig, Kind};
use lakestream::domain::{self, Event, ResponseTimeThresholds, Topic};
use lakestream::lake::datasets;
use lakestream_topology::sink::{file_paths, FileKey};
use serde_json::{Map, Value};

const FUZZ_SECONDS: u64 = 20;
/// Longest reason a rejection may carry: field path and message plus an echo of at most
/// 64 characters of the offending value.
const MAX_REASON_CHARS: usize = 512;
const MAX_FIELD_CHARS: usize = 256;

/// Runs the parser on `value` as a record of `topic` and checks the properties above;
/// returns whether the record was accepted.
fn check_record(topic: Topic, value: &[u8]) -> bool {
    let thresholds = ResponseTimeThresholds::default();
    let _ = domain::event_time_hint(topic, value);
    match domain::parse(topic, value, &thresholds) {
        Ok(event) => {
            check_event(&event);
            true
        }
        Err(rejection) => {
            assert!(
                rejection.reason.chars().count() <= MAX_REASON_CHARS,
                "reason of {} chars: {:.200}",
                rejection.reason.chars().count(),
                rejection.reason
            );
            if let Some(field) = &rejection.field {
                assert!(
                    field.chars().count() <= MAX_FIELD_CHARS,
                    "field of {} chars",
                    field.chars().count()
                );
            }
            false
        }
    }
}

fn check_event(event: &Event) {
    let ms = event.event_time_ms();
    // Years 0000 through 9999, the span RFC 3339 can write, which the parser applies to
    // both timestamp forms (`src/domain/value.rs`).
    assert!(
        (-62_167_219_200_000..=253_402_300_799_999).contains(&ms),
        "event time {ms}"
    );
    let all = datasets::all();
    let dataset = &all[datasets::processed(event.topic())];
    let key = FileKey {
        dataset: datasets::processed(event.topic()),
        hour_ms: ms - ms.rem_euclid(3_600_000),
        partition: 0,
        first_offset: 0,
        last_offset: 0,
    };
    let paths = file_paths(dataset, &key);
    for path in [paths.data.as_ref(), paths.meta.as_ref()] {
        assert!(path.starts_with(&format!("{}/", dataset.path)), "{path}");
        assert!(
            !path.split('/').any(|part| part == ".." || part.is_empty()),
            "{path}"
        );
    }
}

/// Valid events of each topic from the demo generator, as JSON objects to mutate.
fn bases() -> Vec<(Topic, Map<String, Value>)> {
    let config = GeneratorConfig {
        seed: 5,
        users: 4,
        days: 2,
        invalid_ratio: 0.0,
        duplicate_ratio: 0.0,
        ..Default::default()
    };
    let mut out: Vec<(Topic, Map<String, Value>)> = Vec::new();
    for generated in Generator::new(config).take(400) {
        if generated.kind != Kind::Valid
            || out.iter().filter(|(t, _)| *t == generated.topic).count() >= 8
        {
            continue;
        }
        if let Ok(Value::Object(map)) = serde_json::from_slice(&generated.value) {
            out.push((generated.topic, map));
        }
    }
    assert!(
        Topic::ALL
            .iter()
            .all(|t| out.iter().any(|(topic, _)| topic == t)),
        "a valid base event for every topic"
    );
    out
}

/// Field names of the contract, so mutations hit the checks rather than unknown keys.
const FIELDS: &[&str] = &[
    "event_id",
    "user_id",
    "item_id",
    "session_id",
    "correct",
    "time_taken_ms",
    "timestamp",
    "quality",
    "algorithm_state",
    "sm2",
    "bkt",
    "irt",
    "interval",
    "easiness",
    "repetitions",
    "prob_knowledge",
    "theta",
    "session_type",
    "started_at",
    "ended_at",
    "items_attempted",
    "correct_count",
    "algorithm",
    "state_before",
    "state_after",
    "skills",
    "device",
];

/// Strings that have broken parsers and paths elsewhere.
const NASTY: &[&str] = &[
    "",
    "../../../../etc/passwd",
    "..",
    "/",
    "a/../../b",
    "%2e%2e%2f%2e%2e%2f",
    "year=1970/month=1",
    "\u{0}",
    "\u{202e}evil",
    "C:\\Windows\\system32",
    "2026-11-28T10:00:00Z",
    "2026-11-28T10:00:00+14:00",
    "9999-12-31T23:59:59.999Z",
    "-1",
    "1e400",
    "NaN",
    "sm2",
    "bkt",
    "irt",
    "practice",
];

#[derive(Debug, TypeGenerator)]
enum Text {
    Nasty(u8),
    Any(String),
    /// A long string (up to 16 KiB): the echo in a rejection must stay short.
    Long(u8, u8),
}

impl Text {
    fn render(&self) -> String {
        match self {
            Text::Nasty(i) => NASTY[*i as usize % NASTY.len()].to_string(),
            Text::Any(s) => s.clone(),
            Text::Long(c, n) => char::from(b'a' + c % 26)
                .to_string()
                .repeat(*n as usize * 64),
        }
    }
}

#[derive(Debug, TypeGenerator)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Small(i16),
    Float(f64),
    Text(Text),
    Array(Vec<Json>),
    Object(Vec<(Key, Json)>),
}

#[derive(Debug, TypeGenerator)]
enum Key {
    Contract(u8),
    Any(Text),
}

impl Key {
    fn render(&self) -> String {
        match self {
            Key::Contract(i) => FIELDS[*i as usize % FIELDS.len()].to_string(),
            Key::Any(text) => text.render(),
        }
    }
}

impl Json {
    fn render(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::Small(i) => Value::from(*i),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Text(t) => Value::String(t.render()),
            Json::Array(items) => Value::Array(items.iter().map(Json::render).collect()),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.render(), v.render()))
                    .collect(),
            ),
        }
    }
}

/// One change to a valid event's JSON object.
#[derive(Debug, TypeGenerator)]
enum Edit {
    Set(Key, Json),
    Remove(Key),
    /// Replaces a field of a nested object (`algorithm_state.sm2`, `state_after`, ...).
    SetNested(Key, Key, Json),
}

/// What happens to the serialized bytes afterwards.
#[derive(Debug, TypeGenerator)]
enum Bytes {
    Keep,
    Truncate(u16),
    Insert(u16, u8),
    /// Wraps the document in `depth` arrays.
    Nest(u16),
}

#[derive(Debug, TypeGenerator)]
struct Mutant {
    base: u8,
    /// Parse as another topic than the base event's.
    other_topic: Option<u8>,
    edits: Vec<Edit>,
    bytes: Bytes,
}

fn apply(map: &mut Map<String, Value>, edit: &Edit) {
    match edit {
        Edit::Set(key, value) => {
            map.insert(key.render(), value.render());
        }
        Edit::Remove(key) => {
            map.remove(&key.render());
        }
        Edit::SetNested(outer, inner, value) => {
            if let Some(Value::Object(nested)) = map.get_mut(&outer.render()) {
                nested.insert(inner.render(), value.render());
            }
        }
    }
}

fn serialize(map: Map<String, Value>, bytes: &Bytes) -> Vec<u8> {
    let mut out = serde_json::to_vec(&Value::Object(map)).unwrap();
    match bytes {
        Bytes::Keep => {}
        Bytes::Truncate(at) => out.truncate(*at as usize % (out.len() + 1)),
        Bytes::Insert(at, byte) => out.insert(*at as usize % (out.len() + 1), *byte),
        Bytes::Nest(depth) => {
            let depth = *depth as usize % 4096;
            let mut nested = "[".repeat(depth).into_bytes();
            nested.extend_from_slice(&out);
            nested.extend_from_slice("]".repeat(depth).as_bytes());
            out = nested;
        }
    }
    out
}

#[test]
fn fuzz_arbitrary_bytes() {
    check!()
        .with_test_time(Duration::from_secs(FUZZ_SECONDS))
        .for_each(|bytes: &[u8]| {
            for topic in Topic::ALL {
                check_record(topic, bytes);
            }
        });
}

#[test]
fn fuzz_mutated_contract_events() {
    let bases = bases();
    let (runs, accepted) = (AtomicU64::new(0), AtomicU64::new(0));
    check!()
        .with_type::<Mutant>()
        .with_test_time(Duration::from_secs(FUZZ_SECONDS))
        .for_each(|mutant| {
            let (topic, base) = &bases[mutant.base as usize % bases.len()];
            let topic = mutant
                .other_topic
                .map_or(*topic, |t| Topic::ALL[t as usize % 3]);
            let mut map = base.clone();
            // A few edits at a time: with many, nearly every mutant fails its first check.
            for edit in mutant.edits.iter().take(3) {
                apply(&mut map, edit);
            }
            runs.fetch_add(1, Ordering::Relaxed);
            if check_record(topic, &serialize(map, &mutant.bytes)) {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
        });
    // Mutants that all fail the first check would leave the later checks unexercised.
    let (runs, accepted) = (runs.into_inner(), accepted.into_inner());
    eprintln!("{accepted} of {runs} mutants accepted");
    assert!(
        runs >= 1000 && accepted * 50 >= runs,
        "{accepted} of {runs} mutants accepted"
    );
}

/// Named hostile inputs, each with the rejection it must get.
#[test]
fn hostile_inputs_are_rejected_with_a_reason() {
    let thresholds = ResponseTimeThresholds::default();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        "{{\"event_id\":\"e\",\"x\":{}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    // An 8 MiB offending value: the reason echoes only its first characters.
    let huge_value = format!("{{\"event_id\":[\"{}\"]}}", "x".repeat(8 << 20));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("deep array", deep.into_bytes(), "recursion limit"),
        ("deep object", deep_object.into_bytes(), "recursion limit"),
        (
            "invalid UTF-8",
            b"{\"event_id\":\"\xff\xfe\"}".to_vec(),
            "not JSON",
        ),
        ("huge value", huge_value.into_bytes(), "event_id"),
        (
            "number overflow",
            b"{\"timestamp\":1e400}".to_vec(),
            "not JSON",
        ),
    ];
    for (name, value, expected) in cases {
        for topic in Topic::ALL {
            check_record(topic, &value);
            let rejection = domain::parse(topic, &value, &thresholds).unwrap_err();
            assert!(
                rejection.to_string().contains(expected),
                "{name} on {topic:?}: {rejection}"
            );
        }
    }
}
