//! Reading one JSON object field by field, with the dotted path of each
//! field for rejections (`algorithm_state.sm2.interval`).
//!
//! [`Fields`] owns the decoded object (see `json.rs`) and *removes* each field as
//! it is read; a key is therefore read at most once. Keys never read are dropped
//! with the object, which is how unknown fields are ignored. `null` counts as
//! absent.

use super::json::{Json, Object};
use super::reject::{RejectKind, Rejection};
use super::value::{
    as_bool, as_float, as_int, as_int32, as_non_empty_string, as_object, as_string,
    as_string_array, as_timestamp, FloatRange, IntRange,
};

/// `parent.key`, sized up front: a nested object's path is built for every attempt (four
/// per `algorithm_state`), and `format!` grew each one in steps (1.3% of the benchmark's
/// CPU, BENCHMARKS.md round 13).
fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        return key.to_owned();
    }
    let mut path = String::with_capacity(parent.len() + 1 + key.len());
    path.push_str(parent);
    path.push('.');
    path.push_str(key);
    path
}

/// One JSON object being read field by field; `path` prefixes field names in
/// rejections so nested parts are named in full (`algorithm_state.sm2.interval`).
#[derive(Debug)]
pub struct Fields<'a> {
    map: Object<'a>,
    path: String,
}

impl<'a> Fields<'a> {
    /// Parses a record value; the only place the bytes are decoded.
    pub fn from_json(bytes: &'a [u8]) -> Result<Self, Rejection> {
        // One UTF-8 check of the whole value costs less than serde_json's check of each
        // string in it (1.5% of the benchmark's CPU, BENCHMARKS.md round 14).
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Rejection::of_record(format!("not JSON: not UTF-8 text ({e})")))?;
        match serde_json::from_str(text) {
            Ok(Json::Object(map)) => Ok(Self::new(map)),
            Ok(_) => Err(Rejection::of_record("value is not a JSON object")),
            Err(e) => Err(Rejection::of_record(format!("not JSON: {e}"))),
        }
    }

    pub fn new(map: Object<'a>) -> Self {
        Self {
            map,
            path: String::new(),
        }
    }

    pub fn path_of(&self, key: &str) -> String {
        join_path(&self.path, key)
    }

    pub fn reject(&self, key: &str, reason: impl Into<String>) -> Rejection {
        Rejection::of_field(self.path_of(key), reason)
    }

    fn required<T>(
        &mut self,
        key: &str,
        conv: impl FnOnce(Json<'a>) -> Result<T, String>,
    ) -> Result<T, Rejection> {
        match self.map.remove(key) {
            None => Err(self
                .reject(key, "is required but missing")
                .as_kind(RejectKind::Missing)),
            Some(Json::Null) => Err(self
                .reject(key, "is required but null")
                .as_kind(RejectKind::Missing)),
            Some(v) => conv(v).map_err(|reason| self.reject(key, reason)),
        }
    }

    fn optional<T>(
        &mut self,
        key: &str,
        conv: impl FnOnce(Json<'a>) -> Result<T, String>,
    ) -> Result<Option<T>, Rejection> {
        match self.map.remove(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => conv(v).map(Some).map_err(|reason| self.reject(key, reason)),
        }
    }

    pub fn string(&mut self, key: &str) -> Result<String, Rejection> {
        self.required(key, as_string)
    }

    pub fn non_empty_string(&mut self, key: &str) -> Result<String, Rejection> {
        self.required(key, as_non_empty_string)
    }

    pub fn opt_string(&mut self, key: &str) -> Result<Option<String>, Rejection> {
        self.optional(key, as_string)
    }

    pub fn int(&mut self, key: &str, range: IntRange) -> Result<i64, Rejection> {
        self.required(key, |v| as_int(&v, range))
    }

    pub fn opt_int(&mut self, key: &str, range: IntRange) -> Result<Option<i64>, Rejection> {
        self.optional(key, |v| as_int(&v, range))
    }

    /// A count or interval that must fit the 32-bit column it lands in.
    pub fn int32(&mut self, key: &str, min: i32) -> Result<i32, Rejection> {
        self.required(key, |v| as_int32(&v, min))
    }

    pub fn opt_int32(&mut self, key: &str, min: i32) -> Result<Option<i32>, Rejection> {
        self.optional(key, |v| as_int32(&v, min))
    }

    pub fn float(&mut self, key: &str, range: FloatRange) -> Result<f64, Rejection> {
        self.required(key, |v| as_float(&v, range))
    }

    pub fn opt_float(&mut self, key: &str, range: FloatRange) -> Result<Option<f64>, Rejection> {
        self.optional(key, |v| as_float(&v, range))
    }

    pub fn boolean(&mut self, key: &str) -> Result<bool, Rejection> {
        self.required(key, |v| as_bool(&v))
    }

    /// Epoch milliseconds (UTC) of a timestamp field.
    pub fn timestamp(&mut self, key: &str) -> Result<i64, Rejection> {
        self.required(key, |v| as_timestamp(&v))
    }

    pub fn opt_string_array(&mut self, key: &str) -> Result<Option<Vec<String>>, Rejection> {
        self.optional(key, as_string_array)
    }

    pub fn object(&mut self, key: &str) -> Result<Fields<'a>, Rejection> {
        let path = self.path_of(key);
        self.required(key, as_object)
            .map(|map| Fields { map, path })
    }

    pub fn opt_object(&mut self, key: &str) -> Result<Option<Fields<'a>>, Rejection> {
        let map = self.optional(key, as_object)?;
        Ok(map.map(|map| Fields {
            map,
            path: self.path_of(key),
        }))
    }

    /// Every entry of an object whose keys are data (e.g. topic -> ability),
    /// sorted by key so the result does not depend on the order of arrival; the
    /// first invalid value in key order is the one rejected.
    pub fn into_floats_by_key(self, range: FloatRange) -> Result<Vec<(String, f64)>, Rejection> {
        let entries = self.map.into_sorted();
        let mut out = Vec::with_capacity(entries.len());
        for (key, v) in entries {
            match as_float(&v, range) {
                Ok(x) => out.push((key.into_owned(), x)),
                Err(reason) => {
                    return Err(Rejection::of_field(join_path(&self.path, &key), reason))
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn fields(v: Value) -> Fields<'static> {
        match Json::from(v) {
            Json::Object(map) => Fields::new(map),
            _ => unreachable!("tests pass objects"),
        }
    }

    fn reason(r: Rejection) -> String {
        r.to_string()
    }

    #[test]
    fn record_level_rejections() {
        let not_json = reason(Fields::from_json(b"{\"a\": ").unwrap_err());
        assert!(
            not_json.starts_with("not JSON: EOF while parsing"),
            "{not_json}"
        );
        let not_text = reason(Fields::from_json(b"{\"a\": \"\xff\"}").unwrap_err());
        assert!(
            not_text.starts_with(
                "not JSON: not UTF-8 text (invalid utf-8 sequence of 1 bytes from index 7)"
            ),
            "{not_text}"
        );
        for bytes in [&b"[1, 2]"[..], b"\"text\"", b"null", b"3"] {
            let r = Fields::from_json(bytes).unwrap_err();
            assert_eq!(r, Rejection::of_record("value is not a JSON object"));
        }
    }

    #[test]
    fn missing_null_and_unknown_fields() {
        let mut f = fields(json!({"a": null, "extra": {"deep": [1]}}));
        assert_eq!(
            reason(f.string("a").unwrap_err()),
            "field `a`: is required but null"
        );
        assert_eq!(
            reason(f.string("b").unwrap_err()),
            "field `b`: is required but missing"
        );
        assert_eq!(f.opt_string("a"), Ok(None));
        assert_eq!(f.opt_int("b", IntRange::at_least(0)), Ok(None));
    }

    #[test]
    fn strings() {
        let mut f = fields(json!({"s": "x", "e": "", "n": 5, "e2": ""}));
        assert_eq!(f.non_empty_string("s").unwrap(), "x");
        assert_eq!(f.string("e").unwrap(), "");
        let empty = reason(f.non_empty_string("e2").unwrap_err());
        assert_eq!(empty, "field `e2`: expected a non-empty string, got \"\"");
        let wrong = reason(f.opt_string("n").unwrap_err());
        assert_eq!(wrong, "field `n`: expected a string, got 5");
    }

    #[test]
    fn nested_objects_name_the_full_path() {
        let mut f = fields(json!({"a": {"b": {"c": -1}}, "s": [1]}));
        let mut b = f.object("a").unwrap().object("b").unwrap();
        let e = b.int32("c", 0).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("a.b.c"));
        assert_eq!(
            reason(f.opt_object("s").unwrap_err()),
            "field `s`: expected an object, got [1]"
        );
    }

    #[test]
    fn string_arrays_and_keyed_floats() {
        let mut f = fields(json!({"t": ["x", "y"], "bad": ["x", 2], "m": {"b": 0.5, "a": -1}}));
        assert_eq!(
            f.opt_string_array("t").unwrap(),
            Some(vec!["x".into(), "y".into()])
        );
        let e = reason(f.opt_string_array("bad").unwrap_err());
        assert_eq!(
            e,
            "field `bad`: expected an array of strings, got 2 at index 1"
        );
        let m = f
            .object("m")
            .unwrap()
            .into_floats_by_key(FloatRange::Any)
            .unwrap();
        assert_eq!(m, vec![("a".into(), -1.0), ("b".into(), 0.5)]);
    }
}
