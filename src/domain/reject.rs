//! Why a record cannot be processed: the value that sends it to quarantine.
//!
//! A rejection is data, not a failure of the pipeline, so it carries only what
//! an analyst reading the quarantine tier needs: which field, what was expected
//! and what arrived.

use serde::{Deserialize, Serialize};
use std::fmt;

use serde_json::Value;

/// Longest echo of an offending value, so a multi-megabyte blob cannot bloat
/// the quarantine row that explains it.
const ECHO_MAX_CHARS: usize = 64;

/// Which kind of critical check failed; each counts against one quality dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectKind {
    /// Not JSON, not an object, or no value at all (validity).
    Malformed,
    /// A required field missing or null (completeness).
    Missing,
    /// A field of the wrong type or out of its range (validity).
    Invalid,
    /// Fields that contradict each other, e.g. `ended_at` before `started_at`
    /// (consistency).
    Inconsistent,
}

impl RejectKind {
    pub const ALL: [RejectKind; 4] = [
        RejectKind::Malformed,
        RejectKind::Missing,
        RejectKind::Invalid,
        RejectKind::Inconsistent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Malformed => "malformed",
            RejectKind::Missing => "missing",
            RejectKind::Invalid => "invalid",
            RejectKind::Inconsistent => "inconsistent",
        }
    }
}

/// A record that failed a critical check of the contract (section 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub kind: RejectKind,
    /// Dotted path of the offending field (`algorithm_state.sm2.interval`);
    /// `None` when the record as a whole is unusable.
    pub field: Option<String>,
    /// What was wrong, including the value that arrived.
    pub reason: String,
}

impl Rejection {
    /// A field of the wrong type or out of range.
    pub fn of_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            kind: RejectKind::Invalid,
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    pub fn of_record(reason: impl Into<String>) -> Self {
        Self {
            kind: RejectKind::Malformed,
            field: None,
            reason: reason.into(),
        }
    }

    /// The same rejection, classified as `kind`.
    pub fn as_kind(mut self, kind: RejectKind) -> Self {
        self.kind = kind;
        self
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for Rejection {}

/// The JSON text of `value`, cut to [`ECHO_MAX_CHARS`] characters.
pub(crate) fn echo(value: &Value) -> String {
    truncate(value.to_string())
}

fn truncate(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(ECHO_MAX_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_names_the_field() {
        let r = Rejection::of_field("time_taken_ms", "expected an integer >= 0, got -5");
        assert_eq!(
            r.to_string(),
            "field `time_taken_ms`: expected an integer >= 0, got -5"
        );
    }

    #[test]
    fn display_without_field_is_the_reason() {
        let r = Rejection::of_record("value is not a JSON object");
        assert_eq!(r.to_string(), "value is not a JSON object");
    }

    #[test]
    fn echo_keeps_short_values_and_quotes_strings() {
        assert_eq!(echo(&json!(-5)), "-5");
        assert_eq!(echo(&json!("abc")), "\"abc\"");
    }

    #[test]
    fn echo_truncates_long_values_on_a_char_boundary() {
        let long = "é".repeat(200);
        let shown = echo(&json!(long));
        assert_eq!(shown.chars().count(), ECHO_MAX_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
