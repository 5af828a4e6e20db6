//! The lake's datasets and their Arrow schemas (CONTRACT section 3). Processed columns
//! start with the seed's "Data Schemas", in its order and with its names; lakestream's own
//! columns follow. `year`/`month`/`day` are not stored in the files: they come from the
//! hive path, as pyarrow writes them.
//!
//! Types are the narrowest that hold the contract's ranges (hours and weekdays in Int8,
//! counts in Int32); event times are UTC millisecond timestamps.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use lakestream_topology::Dataset;

use crate::domain::Topic;

/// Dataset indices, fixed so the processor can route by number.
pub fn raw(topic: Topic) -> usize {
    topic as usize
}
pub fn processed(topic: Topic) -> usize {
    3 + topic as usize
}
pub fn quarantine(topic: Topic) -> usize {
    6 + topic as usize
}

/// `aggregated/daily_user_stats`: derived from state, one file per partition and day.
pub const AGGREGATED_DAILY: usize = 9;

/// `quality/attempts_without_session`: attempts flagged by the session rule, derived from
/// state like the daily aggregates.
pub const ATTEMPTS_WITHOUT_SESSION: usize = 10;

/// Columns of a processed dataset that come from optional input fields: a window where
/// most of them are null is worth a warning (a producer may have stopped sending them).
pub fn optional_columns(dataset: usize) -> &'static [&'static str] {
    match dataset {
        3 => &[
            "topic",
            "sm2_easiness_factor_before",
            "bkt_prob_knowledge_before",
            "irt_ability_before",
        ],
        5 => &["model_version", "time_taken_ms"],
        _ => &[],
    }
}

/// The dataset name of a topic under `processed/`.
pub fn processed_name(topic: Topic) -> &'static str {
    match topic {
        Topic::Attempts => "user_attempts",
        Topic::Sessions => "user_sessions",
        Topic::Training => "ml_training",
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn f(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

pub fn raw_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("topic", DataType::Utf8, false),
        f("partition", DataType::Int32, false),
        f("offset", DataType::Int64, false),
        f("key", DataType::Binary, true),
        f("value", DataType::Binary, true),
        f("kafka_timestamp", ts(), true),
    ]))
}

pub fn quarantine_schema() -> SchemaRef {
    let mut fields: Vec<Field> = raw_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(f("reason", DataType::Utf8, false));
    fields.push(f("field", DataType::Utf8, true));
    // Which kind of critical check failed: malformed, missing, invalid, inconsistent.
    fields.push(f("check", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// `topic -> ability` of the IRT model. The seed's `irt_ability_<topic>_before` columns
/// become one map: a column per topic would give every file its own schema, and the
/// contract's single-glob read needs one.
pub fn irt_map_type() -> DataType {
    let entries = Fields::from(vec![
        f("key", DataType::Utf8, false),
        f("value", DataType::Float64, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

pub fn attempts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("user_id", DataType::Utf8, false),
        f("item_id", DataType::Utf8, false),
        f("session_id", DataType::Utf8, false),
        f("correct", DataType::Boolean, false),
        f("time_taken_ms", DataType::Int64, false),
        f("quality", DataType::Int8, false),
        f("response_time_seconds", DataType::Float64, false),
        f("response_time_category", DataType::Utf8, false),
        f("hour_of_day", DataType::Int8, false),
        f("day_of_week", DataType::Int8, false),
        f("is_weekend", DataType::Boolean, false),
        f("sm2_easiness_factor_before", DataType::Float64, true),
        f("sm2_interval_before", DataType::Int32, true),
        f("bkt_prob_knowledge_before", DataType::Float64, true),
        f("irt_ability_before", irt_map_type(), true),
        f("event_id", DataType::Utf8, false),
        f("topic", DataType::Utf8, true),
        f("timestamp", ts(), false),
        f("sm2_repetitions_before", DataType::Int32, true),
        f("quality_derived", DataType::Boolean, false),
        f("anomaly", DataType::Utf8, true),
    ]))
}

pub fn sessions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("session_id", DataType::Utf8, false),
        f("user_id", DataType::Utf8, false),
        f("duration_minutes", DataType::Float64, false),
        f("items_attempted", DataType::Int32, false),
        f("correct_count", DataType::Int32, false),
        f("accuracy", DataType::Float64, true),
        f("items_per_minute", DataType::Float64, true),
        f("topics_count", DataType::Int16, false),
        f("session_type", DataType::Utf8, false),
        f("start_hour", DataType::Int8, false),
        f("event_id", DataType::Utf8, false),
        f("started_at", ts(), false),
        f("ended_at", ts(), false),
        f(
            "topics",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        f("reported_accuracy_mismatch", DataType::Float64, true),
        f("anomaly", DataType::Utf8, true),
    ]))
}

pub fn training_schema() -> SchemaRef {
    let mut fields = vec![
        f("event_id", DataType::Utf8, false),
        f("user_id", DataType::Utf8, false),
        f("item_id", DataType::Utf8, false),
        f("algorithm", DataType::Utf8, false),
        f("model_version", DataType::Utf8, true),
        f("correct", DataType::Boolean, false),
        f("time_taken_ms", DataType::Int64, true),
        f("timestamp", ts(), false),
        f("hour_of_day", DataType::Int8, false),
        f("day_of_week", DataType::Int8, false),
        f("is_weekend", DataType::Boolean, false),
    ];
    for side in ["before", "after"] {
        fields.push(f(
            &format!("sm2_easiness_factor_{side}"),
            DataType::Float64,
            true,
        ));
        fields.push(f(&format!("sm2_interval_{side}"), DataType::Int32, true));
        fields.push(f(&format!("sm2_repetitions_{side}"), DataType::Int32, true));
        fields.push(f(
            &format!("bkt_prob_knowledge_{side}"),
            DataType::Float64,
            true,
        ));
        fields.push(f(&format!("irt_ability_{side}"), DataType::Float64, true));
    }
    fields.push(f("irt_topic", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// The seed's Daily Aggregations, then the partition that owns the user.
pub fn daily_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("user_id", DataType::Utf8, false),
        f("date", DataType::Date32, false),
        f("total_attempts", DataType::Int64, false),
        f("correct_attempts", DataType::Int64, false),
        f("accuracy", DataType::Float64, true),
        f("avg_response_time_ms", DataType::Float64, true),
        f("unique_items_attempted", DataType::Int64, false),
        f("total_sessions", DataType::Int64, false),
        f("total_study_time_minutes", DataType::Float64, false),
        f("partition", DataType::Int32, false),
    ]))
}

/// Attempts whose session never arrived (see `pipeline/orphans.rs`).
pub fn orphans_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("event_id", DataType::Utf8, false),
        f("user_id", DataType::Utf8, false),
        f("session_id", DataType::Utf8, false),
        f("timestamp", ts(), false),
        f("partition", DataType::Int32, false),
    ]))
}

/// All datasets, indexed as [`raw`], [`processed`], [`quarantine`] and
/// [`AGGREGATED_DAILY`] say.
pub fn all() -> Vec<Dataset> {
    let mut out = Vec::with_capacity(11);
    for topic in Topic::ALL {
        out.push(Dataset {
            path: format!("raw/{}", topic.name()),
            schema: raw_schema(),
            plain_columns: vec!["key", "value", "offset"],
        });
    }
    for topic in Topic::ALL {
        let schema = match topic {
            Topic::Attempts => attempts_schema(),
            Topic::Sessions => sessions_schema(),
            Topic::Training => training_schema(),
        };
        out.push(Dataset {
            path: format!("processed/{}", processed_name(topic)),
            schema,
            plain_columns: vec!["event_id"],
        });
    }
    for topic in Topic::ALL {
        out.push(Dataset {
            path: format!("quarantine/{}", topic.name()),
            schema: quarantine_schema(),
            plain_columns: vec!["key", "value", "offset"],
        });
    }
    out.push(Dataset {
        path: "aggregated/daily_user_stats".into(),
        schema: daily_schema(),
        plain_columns: vec!["user_id"],
    });
    out.push(Dataset {
        path: "quality/attempts_without_session".into(),
        schema: orphans_schema(),
        plain_columns: vec!["event_id"],
    });
    debug_assert_eq!(out.len(), ATTEMPTS_WITHOUT_SESSION + 1);
    out
}

/// The dataset stored under `<tier>/<name>`, with its index in [`all`].
pub fn by_path(path: &str) -> Option<(usize, Dataset)> {
    all().into_iter().enumerate().find(|(_, d)| d.path == path)
}
