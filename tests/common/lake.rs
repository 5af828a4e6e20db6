//! Reads a local lake the way an outside reader would: walks the folders, parses the hive
//! `key=value` segments itself, and decodes each Parquet file with the parquet crate.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

/// One row, as JSON values, with the file and hive values it came from.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: PathBuf,
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub values: Map<String, Value>,
}

impl Row {
    pub fn str(&self, column: &str) -> &str {
        self.values
            .get(column)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{column} is not a string: {:?}", self.values.get(column)))
    }
    pub fn i64(&self, column: &str) -> i64 {
        self.values
            .get(column)
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{column} is not an integer"))
    }
    pub fn f64(&self, column: &str) -> Option<f64> {
        self.values.get(column).and_then(Value::as_f64)
    }
    pub fn bool(&self, column: &str) -> bool {
        self.values
            .get(column)
            .and_then(Value::as_bool)
            .unwrap_or_else(|| panic!("{column} is not a bool"))
    }
    pub fn is_null(&self, column: &str) -> bool {
        self.values.get(column).is_none_or(Value::is_null)
    }
    /// A Date32 column. Rows keep dates as the ISO text the arrow formatter prints (what
    /// existing callers see); days since the epoch are accepted too.
    pub fn date(&self, column: &str) -> NaiveDate {
        match self.values.get(column) {
            Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .unwrap_or_else(|e| panic!("{column} = {s:?} is not a date: {e}")),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|days| NaiveDate::from_epoch_days(i32::try_from(days).ok()?))
                .unwrap_or_else(|| panic!("{column} = {n} is not a day number")),
            other => panic!("{column} is not a date: {other:?}"),
        }
    }
    /// The day the hive `year=/month=/day=` segments of the row's path name.
    pub fn hive_date(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day).unwrap_or_else(|| {
            panic!(
                "{} has no valid hive date: {}-{}-{}",
                self.file.display(),
                self.year,
                self.month,
                self.day
            )
        })
    }
}

/// Every file under `dir` (at any depth) that `keep` accepts, sorted.
pub fn walk(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if keep(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// All `*.parquet` files under `root/dataset`, sorted.
pub fn files(root: &Path, dataset: &str) -> Vec<PathBuf> {
    walk(&root.join(dataset), |path| {
        path.extension().is_some_and(|e| e == "parquet")
    })
}

fn hive_value(path: &Path, key: &str) -> i64 {
    path.components()
        .filter_map(|c| c.as_os_str().to_str())
        .find_map(|seg| {
            seg.strip_prefix(&format!("{key}="))
                .map(|v| v.parse().expect("numeric hive value"))
        })
        .unwrap_or_else(|| panic!("{} has no {key}= segment", path.display()))
}

/// The Arrow schema a file declares, even when it holds no rows.
pub fn schema(path: &Path) -> SchemaRef {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .schema()
        .clone()
}

pub fn read_file(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}

fn value_at(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(row)),
        DataType::Boolean => Value::from(array.as_boolean().value(row)),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Timestamp(_, _) => {
            let ints = cast(&array.slice(row, 1), &DataType::Int64).unwrap();
            Value::from(ints.as_primitive::<arrow::datatypes::Int64Type>().value(0))
        }
        DataType::Float64 => Value::from(
            array
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(row),
        ),
        DataType::Binary => {
            Value::from(String::from_utf8_lossy(array.as_binary::<i32>().value(row)).into_owned())
        }
        _ => {
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default()).unwrap();
            Value::from(formatter.value(row).to_string())
        }
    }
}

pub fn rows(root: &Path, dataset: &str) -> Vec<Row> {
    let mut out = Vec::new();
    for file in files(root, dataset) {
        let (year, month, day) = (
            hive_value(&file, "year") as i32,
            hive_value(&file, "month") as u32,
            hive_value(&file, "day") as u32,
        );
        for batch in read_file(&file) {
            for r in 0..batch.num_rows() {
                let mut values = Map::new();
                for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                    values.insert(field.name().clone(), value_at(column.as_ref(), r));
                }
                out.push(Row {
                    file: file.clone(),
                    year,
                    month,
                    day,
                    values,
                });
            }
        }
    }
    out
}

/// The UTC calendar day of an epoch-millisecond timestamp.
pub fn ymd(ms: i64) -> (i32, u32, u32) {
    use chrono::Datelike;
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).unwrap();
    (t.year(), t.month(), t.day())
}

/// `(topic, partition, offset)` of raw rows: the identity of a consumed record.
pub fn record_keys(rows: &[Row]) -> std::collections::HashSet<(String, i64, i64)> {
    rows.iter()
        .map(|r| {
            (
                r.str("topic").to_string(),
                r.i64("partition"),
                r.i64("offset"),
            )
        })
        .collect()
}
