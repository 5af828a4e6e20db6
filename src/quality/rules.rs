//! Thresholds of the warning level and of the timeliness dimension, from the settings
//! (`[quality]`, README).

use std::time::Duration;

use super::anomaly::AnomalyRules;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityRules {
    /// A record is timely when it reached Kafka within this long after its event time.
    pub timeliness: Duration,
    /// A timestamp further than this from its record's Kafka timestamp, either way, is
    /// skewed (clock trouble at the producer).
    pub skew: Duration,
    /// Warn when more than this share of a window's records is skewed.
    pub max_skewed_share: f64,
    /// Warn when more than this share of a window's records is a duplicate delivery.
    pub max_duplicate_share: f64,
    /// Warn when an optional column of a processed file is null in more than this share.
    pub max_null_share: f64,
    /// Outliers: sensitivity, samples needed, history kept.
    pub anomaly: AnomalyRules,
    /// An attempt whose session has not arrived this long (event time) after it is
    /// flagged (error level).
    pub session_wait: Duration,
    /// Record values larger than this are quarantined without being parsed.
    pub max_record_bytes: usize,
}

impl Default for QualityRules {
    fn default() -> Self {
        QualityRules {
            timeliness: Duration::from_secs(3600),
            skew: Duration::from_secs(24 * 3600),
            max_skewed_share: 0.01,
            max_duplicate_share: 0.05,
            max_null_share: 0.5,
            anomaly: AnomalyRules::default(),
            session_wait: Duration::from_secs(2 * 3600),
            max_record_bytes: 1024 * 1024,
        }
    }
}
