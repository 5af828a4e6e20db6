//! A record value decoded for reading field by field. Keys and strings stay borrowed from
//! the record's bytes (a string is copied only when it moves into an event) and an object
//! is a short vector of entries. `serde_json::Value` gives every key its own `String` and
//! every object a `BTreeMap`: building and emptying those was 9.5% of the benchmark's CPU
//! (BENCHMARKS.md, round 9), for objects of about ten keys that are each read once.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One JSON value; numbers keep serde_json's representation, so conversions match it.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// An object's entries in arrival order. A repeated key keeps its first place and its
/// last value, as `serde_json::Map` does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Object<'a> {
    fn insert(&mut self, key: Cow<'a, str>, value: Json<'a>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn remove(&mut self, key: &str) -> Option<Json<'a>> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(at).1)
    }

    /// The entries, sorted by key (keys are unique).
    pub fn into_sorted(self) -> Vec<(Cow<'a, str>, Json<'a>)> {
        let mut entries = self.0;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }
}

impl Json<'_> {
    /// The same value as serde_json's: for echoing a value in a rejection.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(object) => Value::Object(
                object
                    .0
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

impl From<Value> for Json<'static> {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(b),
            Value::Number(n) => Json::Number(n),
            Value::String(s) => Json::String(Cow::Owned(s)),
            Value::Array(items) => Json::Array(items.into_iter().map(Json::from).collect()),
            Value::Object(map) => Json::Object(Object(
                map.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Json::from(v)))
                    .collect(),
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(i.into()))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(u.into()))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Json<'de>, E> {
        // As serde_json's `Value`: a float it cannot hold as a number becomes null.
        Ok(Number::from_f64(x).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut object = Object(Vec::with_capacity(map.size_hint().unwrap_or(12)));
        while let Some(Key(key)) = map.next_key()? {
            object.insert(key, map.next_value()?);
        }
        Ok(Json::Object(object))
    }
}

/// An object key, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever serde_json's `Value` makes of a text, `Json` makes the same.
    #[test]
    fn decodes_as_serde_json_does() {
        for text in [
            r#"{"a": 1, "b": -2, "c": 2.5, "d": -0.0, "e": 18446744073709551615}"#,
            r#"{"too big": 1e400}"#,
            r#"{"s": "plain", "t": "esc\"aped\u00e9", "n": null, "x": [1, "two", {"k": false}]}"#,
            r#"{"dup": 1, "other": true, "dup": 2}"#,
            r#"{"nested": {"deep": {"deeper": [[], {}]}}, "\u0061": "escaped key"}"#,
            r#"[1, 2, 3]"#,
            r#""just a string""#,
        ] {
            let theirs: Result<Value, _> = serde_json::from_str(text);
            let ours: Result<Json, _> = serde_json::from_str(text);
            match (theirs, ours) {
                (Ok(theirs), Ok(ours)) => assert_eq!(ours.to_value(), theirs, "{text}"),
                (theirs, ours) => assert_eq!(
                    theirs.map_err(|e| e.to_string()).err(),
                    ours.map_err(|e| e.to_string()).err(),
                    "{text}"
                ),
            }
        }
    }

    #[test]
    fn keys_and_strings_without_escapes_are_borrowed() {
        let text = r#"{"plain": "value", "esc\"key": "esc\"value"}"#;
        let Json::Object(object) = serde_json::from_str::<Json>(text).unwrap() else {
            panic!("an object");
        };
        let entries = object.into_sorted();
        assert!(matches!(entries[0].0, Cow::Owned(_)), "{:?}", entries[0]);
        assert!(matches!(entries[0].1, Json::String(Cow::Owned(_))));
        assert!(matches!(entries[1].0, Cow::Borrowed("plain")));
        assert!(matches!(entries[1].1, Json::String(Cow::Borrowed("value"))));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_once() {
        let mut object = match serde_json::from_str::<Json>(r#"{"k": 1, "j": 0, "k": 2}"#) {
            Ok(Json::Object(object)) => object,
            other => panic!("{other:?}"),
        };
        assert_eq!(object.get("k"), Some(&Json::Number(2.into())));
        assert_eq!(object.remove("k"), Some(Json::Number(2.into())));
        assert_eq!(object.remove("k"), None);
        assert_eq!(object.into_sorted().len(), 1);
    }

    #[test]
    fn malformed_text_fails_as_serde_json_does() {
        for text in [r#"{"a": "#, r#"{"a" 1}"#, "{\"a\": \"\u{1}\"}", "", "nul"] {
            let theirs = serde_json::from_str::<Value>(text).unwrap_err().to_string();
            let ours = serde_json::from_str::<Json>(text).unwrap_err().to_string();
            assert_eq!(ours, theirs, "{text:?}");
        }
    }
}
