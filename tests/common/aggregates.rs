//! `aggregated/daily_user_stats` recomputed from what a test produced, and compared with the
//! lake row by row. The parsing and arithmetic here are deliberately the test's own: reusing
//! lakestream's domain code would let a shared bug pass unnoticed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Float64Type};
use chrono::{DateTime, NaiveDate};
use lakestream::demo::generator::Kind;
use serde_json::Value;

use super::lake::{self, Row};

pub const DATASET: &str = "aggregated/daily_user_stats";

/// Name, type and nullability of every column, in file order.
const COLUMNS: [(&str, DataType, bool); 10] = [
    ("user_id", DataType::Utf8, false),
    ("date", DataType::Date32, false),
    ("total_attempts", DataType::Int64, false),
    ("correct_attempts", DataType::Int64, false),
    ("accuracy", DataType::Float64, true),
    ("avg_response_time_ms", DataType::Float64, true),
    ("unique_items_attempted", DataType::Int64, false),
    ("total_sessions", DataType::Int64, false),
    ("total_study_time_minutes", DataType::Float64, false),
    ("partition", DataType::Int32, false),
];

/// One expected row, `partition` aside: the Kafka partitioner is not the test's to
/// recompute, so that column is checked against the raw tier instead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub total_attempts: i64,
    pub correct_attempts: i64,
    pub accuracy: Option<f64>,
    pub avg_response_time_ms: Option<f64>,
    pub unique_items_attempted: i64,
    pub total_sessions: i64,
    pub total_study_time_minutes: f64,
}

/// Running sums of one user and day. Durations stay in integer milliseconds until the
/// end, so the expectation carries no rounding of its own.
#[derive(Default)]
struct Sums {
    attempts: i64,
    correct: i64,
    time_taken_ms: i64,
    items: HashSet<String>,
    sessions: i64,
    study_ms: i64,
}

impl Sums {
    fn finish(self) -> Expected {
        let per_attempt = |sum: i64| (self.attempts > 0).then(|| sum as f64 / self.attempts as f64);
        Expected {
            total_attempts: self.attempts,
            correct_attempts: self.correct,
            accuracy: per_attempt(self.correct),
            avg_response_time_ms: per_attempt(self.time_taken_ms),
            unique_items_attempted: self.items.len() as i64,
            total_sessions: self.sessions,
            total_study_time_minutes: self.study_ms as f64 / 60_000.0,
        }
    }
}

type Day = (String, NaiveDate);

/// The rows `daily_user_stats` must hold, keyed by `(user_id, UTC day)`, from the
/// `Kind::Valid` attempts and sessions among `produced` (`(role, key, value, kind)`).
pub fn expected_daily(produced: &[(String, String, Vec<u8>, Kind)]) -> BTreeMap<Day, Expected> {
    let mut seen = HashSet::new();
    let mut days: BTreeMap<Day, Sums> = BTreeMap::new();
    for (role, _, value, kind) in produced {
        if *kind != Kind::Valid || role == "ml.training" {
            continue;
        }
        let event: Value = serde_json::from_slice(value)
            .unwrap_or_else(|e| panic!("a valid {role} record is not JSON: {e}"));
        // Generated valid records are unique, but a hand-built test may resend one as
        // Valid; the lake counts it once, so must the expectation.
        if !seen.insert((role.clone(), text(&event, "event_id").to_string())) {
            continue;
        }
        match role.as_str() {
            "user.attempts" => add_attempt(&mut days, &event),
            "user.sessions" => add_session(&mut days, &event),
            other => panic!("no such role {other}"),
        }
    }
    days.into_iter().map(|(k, s)| (k, s.finish())).collect()
}

fn add_attempt(days: &mut BTreeMap<Day, Sums>, event: &Value) {
    let day = utc_day(timestamp_ms(event, "timestamp"));
    let sums = days
        .entry((text(event, "user_id").to_string(), day))
        .or_default();
    sums.attempts += 1;
    sums.correct += i64::from(flag(event, "correct"));
    sums.time_taken_ms += event["time_taken_ms"]
        .as_i64()
        .unwrap_or_else(|| panic!("time_taken_ms of {event} is not an integer"));
    sums.items.insert(text(event, "item_id").to_string());
}

/// Sessions count on the day they ended, however long before midnight they started.
fn add_session(days: &mut BTreeMap<Day, Sums>, event: &Value) {
    let ended = timestamp_ms(event, "ended_at");
    let started = timestamp_ms(event, "started_at");
    let sums = days
        .entry((text(event, "user_id").to_string(), utc_day(ended)))
        .or_default();
    sums.sessions += 1;
    sums.study_ms += ended - started;
}

fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} of {event} is not a string"))
}

/// The contract's two timestamp forms: RFC 3339 with any offset, or epoch milliseconds.
fn timestamp_ms(event: &Value, field: &str) -> i64 {
    match &event[field] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis()),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{field} of {event} is not a timestamp"))
}

/// The contract's three bool spellings: JSON bool, 0/1, "true"/"false".
fn flag(event: &Value, field: &str) -> bool {
    match &event[field] {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{field} of {event} is not a bool"))
}

fn utc_day(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_else(|| panic!("{ms} ms is out of chrono's range"))
        .date_naive()
}

/// `daily_user_stats` in the lake equals [`expected_daily`] of `produced`: the declared
/// schema, one row per user and day in the file of its day and partition, every value, and
/// each user's partition as the raw tier recorded it.
pub fn assert_daily_stats(root: &Path, produced: &[(String, String, Vec<u8>, Kind)]) {
    for file in lake::files(root, DATASET) {
        assert_file_schema(&file);
        assert_floats_finite(&file);
    }
    let landed = landed_daily(root);
    let expected = expected_daily(produced);
    assert_same_keys(&landed, &expected);
    for (key, want) in &expected {
        assert_row(key, &landed[key], want);
    }
    assert_partitions_match_raw(root, &landed);
}

fn assert_file_schema(file: &Path) {
    let schema = lake::schema(file);
    let actual: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable()))
        .collect();
    assert_eq!(
        actual,
        COLUMNS.to_vec(),
        "{}: columns (name, type, nullable) differ from the contract",
        file.display()
    );
}

/// The row reader turns NaN into JSON null, which would pass for an expected null (a 0/0
/// accuracy, say); so the float columns are checked on the Arrow arrays themselves.
fn assert_floats_finite(file: &Path) {
    for batch in lake::read_file(file) {
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if field.data_type() != &DataType::Float64 {
                continue;
            }
            let floats = column.as_primitive::<Float64Type>();
            let bad = floats.iter().flatten().find(|x| !x.is_finite());
            assert!(
                bad.is_none(),
                "{}: {} holds {bad:?}",
                file.display(),
                field.name()
            );
        }
    }
}

/// Lake rows by `(user_id, date)`, each checked to be the only one of its key and to sit
/// in the hive day and `part-YYYYMMDD-pNNNN` file of its own date and partition.
fn landed_daily(root: &Path) -> BTreeMap<Day, Row> {
    let mut landed = BTreeMap::new();
    for row in lake::rows(root, DATASET) {
        let (user, date) = (row.str("user_id").to_string(), row.date("date"));
        assert_eq!(
            row.hive_date(),
            date,
            "user {user} day {date}: hive path {} is another day",
            row.file.display()
        );
        let partition = row.i64("partition");
        let name = format!("part-{}-p{partition:04}.parquet", date.format("%Y%m%d"));
        assert!(
            row.file.file_name().is_some_and(|n| n == name.as_str()),
            "user {user} day {date}: row of partition {partition} is in {}, not {name}",
            row.file.display()
        );
        if let Some(first) = landed.insert((user.clone(), date), row.clone()) {
            panic!(
                "user {user} day {date}: two rows, in {} and {}",
                first.file.display(),
                row.file.display()
            );
        }
    }
    landed
}

fn assert_same_keys(landed: &BTreeMap<Day, Row>, expected: &BTreeMap<Day, Expected>) {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !landed.contains_key(*k))
        .collect();
    let extra: Vec<_> = landed
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "daily_user_stats (user, day) keys differ: {} missing {:?}, {} unexpected {:?}",
        missing.len(),
        first_few(&missing),
        extra.len(),
        first_few(&extra)
    );
}

fn first_few<T: Debug>(keys: &[T]) -> &[T] {
    &keys[..keys.len().min(20)]
}

fn assert_row((user, day): &Day, row: &Row, want: &Expected) {
    let ints = [
        ("total_attempts", want.total_attempts),
        ("correct_attempts", want.correct_attempts),
        ("unique_items_attempted", want.unique_items_attempted),
        ("total_sessions", want.total_sessions),
    ];
    for (column, want) in ints {
        let got = row.values.get(column).and_then(Value::as_i64);
        assert_eq!(
            got,
            Some(want),
            "user {user} day {day}: {column} is {got:?}, expected {want}"
        );
    }
    let floats = [
        ("accuracy", want.accuracy),
        ("avg_response_time_ms", want.avg_response_time_ms),
        (
            "total_study_time_minutes",
            Some(want.total_study_time_minutes),
        ),
    ];
    for (column, want) in floats {
        let got = row.f64(column);
        assert!(
            same_float(got, want),
            "user {user} day {day}: {column} is {got:?}, expected {want:?}"
        );
    }
}

fn same_float(got: Option<f64>, want: Option<f64>) -> bool {
    match (got, want) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    }
}

/// The raw tier records which partition each of a user's records came from; co-partitioned
/// topics put all of them, and so the user's aggregate rows, in that one partition.
fn assert_partitions_match_raw(root: &Path, landed: &BTreeMap<Day, Row>) {
    let mut raw: HashMap<String, BTreeSet<i64>> = HashMap::new();
    for role in ["user.attempts", "user.sessions"] {
        for row in lake::rows(root, &format!("raw/{role}")) {
            if let Some(key) = row.values.get("key").and_then(Value::as_str) {
                raw.entry(key.to_string())
                    .or_default()
                    .insert(row.i64("partition"));
            }
        }
    }
    for ((user, day), row) in landed {
        let partition = row.i64("partition");
        let seen = raw.get(user).cloned().unwrap_or_default();
        assert!(
            seen.contains(&partition),
            "user {user} day {day}: partition is {partition}, but raw has the user's records in {seen:?}"
        );
    }
}
