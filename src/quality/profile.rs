//! Column profile of one written file: null share, min, max, mean and distinct count per
//! column, stored in the file's sidecar. Distinct counts are exact (a file holds one
//! partition's hour); nested columns get their null share only.

use foldhash::HashSet;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnProfile {
    pub name: String,
    pub null_share: f64,
    pub min: Value,
    pub max: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
}

pub fn profile(batch: &RecordBatch) -> Vec<ColumnProfile> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let mut p = ColumnProfile {
                name: field.name().clone(),
                null_share: if column.is_empty() {
                    0.0
                } else {
                    column.null_count() as f64 / column.len() as f64
                },
                min: Value::Null,
                max: Value::Null,
                mean: None,
                distinct: None,
            };
            describe(column.as_ref(), &mut p);
            p
        })
        .collect()
}

/// Numbers as f64: min, max, mean, distinct (by bit pattern).
fn numbers(values: impl Iterator<Item = f64>, p: &mut ColumnProfile) {
    let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0u64);
    let mut distinct = HashSet::default();
    for v in values {
        min = min.min(v);
        max = max.max(v);
        sum += v;
        n += 1;
        distinct.insert(v.to_bits());
    }
    if n > 0 {
        p.min = json!(min);
        p.max = json!(max);
        p.mean = Some(sum / n as f64);
    }
    p.distinct = Some(distinct.len() as u64);
}

/// Ordered values shown as text (strings, instants, days): min, max, distinct.
fn ordered<T: Ord + std::hash::Hash + Copy>(
    values: impl Iterator<Item = T>,
    show: impl Fn(T) -> Value,
    p: &mut ColumnProfile,
) {
    let mut distinct = HashSet::default();
    let (mut min, mut max) = (None::<T>, None::<T>);
    for v in values {
        min = Some(min.map_or(v, |m| m.min(v)));
        max = Some(max.map_or(v, |m| m.max(v)));
        distinct.insert(v);
    }
    p.min = min.map_or(Value::Null, &show);
    p.max = max.map_or(Value::Null, &show);
    p.distinct = Some(distinct.len() as u64);
}

fn describe(column: &dyn Array, p: &mut ColumnProfile) {
    match column.data_type() {
        DataType::Int8 => numbers(
            column
                .as_primitive::<Int8Type>()
                .iter()
                .flatten()
                .map(f64::from),
            p,
        ),
        DataType::Int16 => numbers(
            column
                .as_primitive::<Int16Type>()
                .iter()
                .flatten()
                .map(f64::from),
            p,
        ),
        DataType::Int32 => numbers(
            column
                .as_primitive::<Int32Type>()
                .iter()
                .flatten()
                .map(f64::from),
            p,
        ),
        DataType::Int64 => numbers(
            column
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .map(|v| v as f64),
            p,
        ),
        DataType::Float64 => numbers(column.as_primitive::<Float64Type>().iter().flatten(), p),
        DataType::Boolean => {
            let values: Vec<bool> = column.as_boolean().iter().flatten().collect();
            ordered(values.iter().copied(), |b| json!(b), p);
            if !values.is_empty() {
                p.mean = Some(values.iter().filter(|b| **b).count() as f64 / values.len() as f64);
            }
        }
        DataType::Utf8 => ordered(column.as_string::<i32>().iter().flatten(), |s| json!(s), p),
        DataType::Timestamp(_, _) => ordered(
            column
                .as_primitive::<TimestampMillisecondType>()
                .iter()
                .flatten(),
            |ms| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map_or(Value::Null, |t| json!(t.to_rfc3339()))
            },
            p,
        ),
        DataType::Date32 => ordered(
            column.as_primitive::<Date32Type>().iter().flatten(),
            |d| {
                chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
                    .map_or(Value::Null, |t| json!(t.date_naive().to_string()))
            },
            p,
        ),
        _ => {}
    }
}

/// Warnings for optional columns whose null share exceeds `limit`.
pub fn null_share_warnings(
    profile: &[ColumnProfile],
    optional: &[&str],
    limit: f64,
) -> Vec<super::window::Warning> {
    profile
        .iter()
        .filter(|c| optional.contains(&c.name.as_str()) && c.null_share > limit)
        .map(|c| super::window::Warning {
            rule: "null_share",
            column: Some(c.name.clone()),
            share: c.null_share,
            limit,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn numbers_strings_and_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, true),
            Field::new("s", DataType::Utf8, false),
            Field::new("b", DataType::Boolean, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(4), None, Some(2), Some(4)])),
                Arc::new(StringArray::from(vec!["b", "a", "c", "a"])),
                Arc::new(BooleanArray::from(vec![true, false, true, true])),
            ],
        )
        .unwrap();
        let p = profile(&batch);
        assert_eq!(p[0].null_share, 0.25);
        assert_eq!(
            (p[0].min.clone(), p[0].max.clone()),
            (json!(2.0), json!(4.0))
        );
        assert_eq!(p[0].mean, Some(10.0 / 3.0));
        assert_eq!(p[0].distinct, Some(2));
        assert_eq!(
            (p[1].min.clone(), p[1].max.clone()),
            (json!("a"), json!("c"))
        );
        assert_eq!(p[1].distinct, Some(3));
        assert_eq!(p[2].mean, Some(0.75));
    }
}
