//! Data quality, continuously, per partition and hourly window (issue 4).
//!
//! Four levels, as in the seed:
//! - **critical**: schema and required fields; the record goes to quarantine (the domain's
//!   [`Rejection`](crate::domain::Rejection), classified by [`RejectKind`]);
//! - **error**: business rules; the record is processed, flagged and counted (a session
//!   whose reported accuracy disagrees with its counts);
//! - **warning**: a window-level share over its limit (null share of optional fields,
//!   duplicate deliveries, skewed timestamps);
//! - **info**: volume and statistical outliers ([`anomaly`]).
//!
//! Every processed record's outcome rides on its raw row ([`Outcome`]), so the quality of
//! a window is a function of the rows written for it ([`window`]) and is stored in the
//! sidecar of the window's raw file; [`profile`] describes the columns of each processed
//! file in its own sidecar.

pub mod anomaly;
pub mod metrics;
pub mod profile;
pub mod rules;
pub mod window;

use crate::domain::RejectKind;
pub use metrics::QualityMetrics;
pub use rules::QualityRules;

/// What became of one consumed record, kept with its raw row.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    Processed {
        event_time_ms: i64,
        /// An error-level business rule failed (the record is processed anyway).
        rule_error: bool,
        /// A value of the record is a statistical outlier (info level).
        anomaly: bool,
    },
    Duplicate {
        event_time_ms: i64,
    },
    Quarantined(RejectKind),
}
