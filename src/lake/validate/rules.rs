//! What identifies a row and which day it belongs to, per dataset (CONTRACT section 3).

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Date32Type, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, NaiveDate};

use crate::domain::{event_time_hint, Topic};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
    /// A UTC millisecond timestamp column.
    Timestamp(&'static str),
    /// A Date32 column: the day itself.
    Date(&'static str),
    /// A consumed record (raw and quarantine rows): filed as the processor files it, by the
    /// event time it can read from the value, else by the Kafka timestamp (0 when absent;
    /// see `pipeline::LearningProcessor::fallback_time`). Both are stored in the row, so
    /// every row can be judged, unparsable ones included.
    Record(Topic),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Columns that together identify a row; no identity may be in the dataset twice.
    pub identity: &'static [&'static str],
    pub time: EventTime,
}

const RECORD: &[&str] = &["topic", "partition", "offset"];
const EVENT: &[&str] = &["event_id"];

/// The rules of the dataset at `<tier>/<name>`, `None` for a path that is not a dataset.
pub fn for_dataset(path: &str) -> Option<Rules> {
    let (tier, name) = path.split_once('/')?;
    let rules = match (tier, name) {
        ("raw" | "quarantine", topic) => Rules {
            identity: RECORD,
            time: EventTime::Record(Topic::from_name(topic)?),
        },
        ("processed", "user_attempts" | "ml_training")
        | ("quality", "attempts_without_session") => Rules {
            identity: EVENT,
            time: EventTime::Timestamp("timestamp"),
        },
        ("processed", "user_sessions") => Rules {
            identity: EVENT,
            time: EventTime::Timestamp("ended_at"),
        },
        ("aggregated", "daily_user_stats") => Rules {
            identity: &["user_id", "date"],
            time: EventTime::Date("date"),
        },
        _ => return None,
    };
    Some(rules)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| anyhow::anyhow!("no column `{name}`"))
}

fn day_of_ms(ms: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

impl Rules {
    /// Each row's identity as text (columns joined by `/`).
    pub fn identities(&self, batch: &RecordBatch) -> anyhow::Result<Vec<String>> {
        let options = FormatOptions::default().with_null("null");
        let formatters = self
            .identity
            .iter()
            .map(|name| Ok(ArrayFormatter::try_new(column(batch, name)?, &options)?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((0..batch.num_rows())
            .map(|row| {
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect())
    }

    /// Each row's event day; `None` for a time outside chrono's range.
    pub fn event_days(&self, batch: &RecordBatch) -> anyhow::Result<Vec<Option<NaiveDate>>> {
        let wrong = |name: &str| anyhow::anyhow!("column `{name}` has an unexpected type");
        match self.time {
            EventTime::Timestamp(name) => {
                let times = column(batch, name)?
                    .as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or_else(|| wrong(name))?;
                Ok(times.iter().map(|t| t.and_then(day_of_ms)).collect())
            }
            EventTime::Date(name) => {
                let dates = column(batch, name)?
                    .as_primitive_opt::<Date32Type>()
                    .ok_or_else(|| wrong(name))?;
                Ok((0..dates.len())
                    .map(|i| dates.is_valid(i).then(|| dates.value_as_date(i)).flatten())
                    .collect())
            }
            EventTime::Record(topic) => {
                let values = column(batch, "value")?
                    .as_binary_opt::<i32>()
                    .ok_or_else(|| wrong("value"))?;
                let kafka = column(batch, "kafka_timestamp")?
                    .as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or_else(|| wrong("kafka_timestamp"))?;
                Ok(values
                    .iter()
                    .zip(kafka.iter())
                    .map(|(value, kafka_ms)| {
                        let ms = value
                            .and_then(|v| event_time_hint(topic, v))
                            .or(kafka_ms)
                            .unwrap_or(0);
                        day_of_ms(ms)
                    })
                    .collect())
            }
        }
    }

    /// The column the day comes from, for messages.
    pub fn time_source(&self) -> &'static str {
        match self.time {
            EventTime::Timestamp(name) | EventTime::Date(name) => name,
            EventTime::Record(_) => "the value's event time (else kafka_timestamp)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::datasets;
    use arrow::array::{
        BinaryArray, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
    };
    use std::sync::Arc;

    #[test]
    fn every_dataset_has_rules_whose_columns_exist() {
        for dataset in datasets::all() {
            let rules = for_dataset(&dataset.path)
                .unwrap_or_else(|| panic!("no rules for {}", dataset.path));
            for name in rules.identity {
                assert!(dataset.schema.field_with_name(name).is_ok(), "{name}");
            }
            if let EventTime::Timestamp(name) | EventTime::Date(name) = rules.time {
                assert!(dataset.schema.field_with_name(name).is_ok(), "{name}");
            }
        }
        assert_eq!(for_dataset("raw/no.such.topic"), None);
    }

    #[test]
    fn raw_rows_are_dated_by_their_value_else_their_kafka_timestamp() {
        let schema = datasets::raw_schema();
        let day_ms = 1_795_132_800_000; // 2026-11-20
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["t"; 3])),
                Arc::new(Int32Array::from(vec![0; 3])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(BinaryArray::from(vec![None::<&[u8]>; 3])),
                Arc::new(BinaryArray::from(vec![
                    Some(br#"{"timestamp": "2026-11-19T23:00:00Z"}"#.as_slice()),
                    Some(b"{not json".as_slice()),
                    None,
                ])),
                Arc::new(
                    TimestampMillisecondArray::from(vec![Some(day_ms), Some(day_ms), None])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let rules = for_dataset("raw/user.attempts").unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(
            rules.event_days(&batch).unwrap(),
            vec![day(2026, 11, 19), day(2026, 11, 20), day(1970, 1, 1)]
        );
        assert_eq!(rules.identities(&batch).unwrap()[1], "t/0/2");
    }
}
