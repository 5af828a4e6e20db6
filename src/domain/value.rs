//! The contract's value types (section 2) as conversions of one JSON value,
//! each failing with the exact wording of what was expected and what arrived.
//! Ranges are part of the type, so a rejection can state them.

use std::fmt;

use chrono::DateTime;

use super::json::{Json, Object};
use super::reject;

/// A value as a rejection shows it.
fn echo(v: &Json) -> String {
    reject::echo(&v.to_value())
}

/// Epoch milliseconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z:
/// the span RFC 3339 can write, applied to both timestamp forms so they agree.
const MIN_EPOCH_MS: i64 = -62_167_219_200_000;
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// Inclusive bounds of an integer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub min: i64,
    pub max: i64,
}

impl IntRange {
    pub const fn at_least(min: i64) -> Self {
        Self { min, max: i64::MAX }
    }

    pub const fn between(min: i64, max: i64) -> Self {
        Self { min, max }
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.max == i64::MAX {
            write!(f, ">= {}", self.min)
        } else {
            write!(f, "between {} and {}", self.min, self.max)
        }
    }
}

/// Allowed values of a floating-point field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatRange {
    Any,
    Positive,
    Probability,
}

impl FloatRange {
    fn contains(self, x: f64) -> bool {
        match self {
            Self::Any => x.is_finite(),
            Self::Positive => x > 0.0 && x.is_finite(),
            Self::Probability => (0.0..=1.0).contains(&x),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::Any => "a number",
            Self::Positive => "a number > 0",
            Self::Probability => "a number between 0 and 1",
        }
    }
}

pub(super) fn as_string(v: Json) -> Result<String, String> {
    match v {
        Json::String(s) => Ok(s.into_owned()),
        other => Err(format!("expected a string, got {}", echo(&other))),
    }
}

pub(super) fn as_non_empty_string(v: Json) -> Result<String, String> {
    match as_string(v)? {
        s if s.is_empty() => Err("expected a non-empty string, got \"\"".to_owned()),
        s => Ok(s),
    }
}

/// JSON has one number type, so producers that serialise through floats send
/// `5.0`; a zero fractional part is still the integer 5.
fn whole_number(v: &Json) -> Option<i64> {
    let Json::Number(n) = v else {
        return None;
    };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return None;
    }
    let x = n.as_f64()?;
    // The bounds are exact powers of two, so the cast cannot saturate wrongly.
    (x.fract() == 0.0 && x >= -(2f64.powi(63)) && x < 2f64.powi(63)).then_some(x as i64)
}

pub(super) fn as_int(v: &Json, range: IntRange) -> Result<i64, String> {
    match whole_number(v) {
        Some(i) if (range.min..=range.max).contains(&i) => Ok(i),
        _ => Err(format!("expected an integer {range}, got {}", echo(v))),
    }
}

pub(super) fn as_int32(v: &Json, min: i32) -> Result<i32, String> {
    let i = as_int(v, IntRange::between(min.into(), i32::MAX.into()))?;
    Ok(i32::try_from(i).expect("range checked above"))
}

pub(super) fn as_float(v: &Json, range: FloatRange) -> Result<f64, String> {
    let x = match v {
        Json::Number(n) => n.as_f64(),
        _ => None,
    };
    match x {
        Some(x) if range.contains(x) => Ok(x),
        _ => Err(format!("expected {}, got {}", range.expected(), echo(v))),
    }
}

pub(super) fn as_bool(v: &Json) -> Result<bool, String> {
    match v {
        Json::Bool(b) => Ok(*b),
        Json::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Json::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Json::String(s) if s == "true" => Ok(true),
        Json::String(s) if s == "false" => Ok(false),
        other => Err(format!(
            "expected true/false, 0/1 or \"true\"/\"false\", got {}",
            echo(other)
        )),
    }
}

/// An RFC 3339 string with any offset, or integer epoch milliseconds; both
/// become epoch milliseconds in UTC.
pub(super) fn as_timestamp(v: &Json) -> Result<i64, String> {
    let ms = match v {
        Json::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("expected an RFC 3339 timestamp, got {} ({e})", echo(v)))?,
        Json::Number(_) => whole_number(v)
            .ok_or_else(|| format!("expected integer epoch milliseconds, got {}", echo(v)))?,
        other => {
            return Err(format!(
                "expected an RFC 3339 string or integer epoch milliseconds, got {}",
                echo(other)
            ))
        }
    };
    if (MIN_EPOCH_MS..=MAX_EPOCH_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "timestamp {} is outside the years 0000 to 9999",
            echo(v)
        ))
    }
}

pub(super) fn as_string_array(v: Json) -> Result<Vec<String>, String> {
    let Json::Array(items) = v else {
        return Err(format!("expected an array of strings, got {}", echo(&v)));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Json::String(s) => out.push(s.into_owned()),
            other => {
                return Err(format!(
                    "expected an array of strings, got {} at index {i}",
                    echo(&other)
                ))
            }
        }
    }
    Ok(out)
}

pub(super) fn as_object<'a>(v: Json<'a>) -> Result<Object<'a>, String> {
    match v {
        Json::Object(object) => Ok(object),
        other => Err(format!("expected an object, got {}", echo(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json's `json!`, as the `Json` a record decodes to.
    macro_rules! json {
        ($($v:tt)+) => {
            Json::from(serde_json::json!($($v)+))
        };
    }

    #[test]
    fn integers_accept_whole_floats_and_check_ranges() {
        let r = IntRange::between(0, 5);
        assert_eq!(as_int(&json!(5), r), Ok(5));
        assert_eq!(as_int(&json!(5.0), r), Ok(5));
        assert_eq!(as_int(&json!(-0.0), r), Ok(0));
        let cases = [
            (json!(9), "expected an integer between 0 and 5, got 9"),
            (json!(2.5), "expected an integer between 0 and 5, got 2.5"),
            (json!("3"), "expected an integer between 0 and 5, got \"3\""),
        ];
        for (v, want) in cases {
            assert_eq!(as_int(&v, r).unwrap_err(), want);
        }
        let huge = json!(u64::MAX);
        let non_negative = IntRange::at_least(0);
        assert!(as_int(&huge, non_negative)
            .unwrap_err()
            .contains(">= 0, got 18446744073709551615"));
        assert_eq!(
            as_int(&json!(-5), non_negative).unwrap_err(),
            "expected an integer >= 0, got -5"
        );
        assert_eq!(
            as_int32(&json!(3_000_000_000u64), 0).unwrap_err(),
            "expected an integer between 0 and 2147483647, got 3000000000"
        );
    }

    #[test]
    fn floats() {
        assert_eq!(as_float(&json!(2), FloatRange::Positive), Ok(2.0));
        assert_eq!(as_float(&json!(-1.5), FloatRange::Any), Ok(-1.5));
        assert_eq!(as_float(&json!(1), FloatRange::Probability), Ok(1.0));
        let zero = as_float(&json!(0), FloatRange::Positive).unwrap_err();
        assert_eq!(zero, "expected a number > 0, got 0");
        let big = as_float(&json!(1.5), FloatRange::Probability).unwrap_err();
        assert_eq!(big, "expected a number between 0 and 1, got 1.5");
        assert!(as_float(&json!("0.5"), FloatRange::Any).is_err());
    }

    #[test]
    fn every_bool_form() {
        let ok = [
            (json!(true), true),
            (json!(false), false),
            (json!(1), true),
            (json!(0), false),
            (json!("true"), true),
            (json!("false"), false),
        ];
        for (v, want) in ok {
            assert_eq!(as_bool(&v), Ok(want), "{v:?}");
        }
        for v in [json!(2), json!(1.0), json!("yes"), json!("TRUE"), json!([])] {
            let e = as_bool(&v).unwrap_err();
            assert!(
                e.starts_with("expected true/false, 0/1 or \"true\"/\"false\", got"),
                "{e}"
            );
        }
    }

    #[test]
    fn timestamps_in_both_forms_and_any_offset() {
        let utc = 1_795_774_530_123; // 2026-11-27T10:15:30.123Z
        for text in [
            "2026-11-27T10:15:30.123Z",
            "2026-11-27T10:15:30.123+00:00",
            "2026-11-27T12:15:30.123+02:00",
            "2026-11-27T04:45:30.123-05:30",
        ] {
            assert_eq!(as_timestamp(&json!(text)), Ok(utc), "{text}");
        }
        assert_eq!(as_timestamp(&json!(utc)), Ok(utc));
        assert_eq!(as_timestamp(&json!(-1000)), Ok(-1000));
    }

    #[test]
    fn bad_timestamps_say_what_arrived() {
        let e = as_timestamp(&json!("2026-13-01T00:00:00Z")).unwrap_err();
        assert!(
            e.starts_with("expected an RFC 3339 timestamp, got \"2026-13-01T00:00:00Z\" ("),
            "{e}"
        );
        assert!(as_timestamp(&json!("2026-11-27")).is_err());
        let e = as_timestamp(&json!(1.5)).unwrap_err();
        assert_eq!(e, "expected integer epoch milliseconds, got 1.5");
        let e = as_timestamp(&json!(true)).unwrap_err();
        assert_eq!(
            e,
            "expected an RFC 3339 string or integer epoch milliseconds, got true"
        );
        let e = as_timestamp(&json!(i64::MAX)).unwrap_err();
        assert_eq!(
            e,
            format!("timestamp {} is outside the years 0000 to 9999", i64::MAX)
        );
    }
}
