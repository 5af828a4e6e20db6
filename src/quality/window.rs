//! The quality of one topic's window, from the outcomes on its raw rows: counts, the five
//! scores and the warnings. The same rows always give the same report, so a window
//! replayed after a crash is reported exactly as it would have been.
//!
//! Scores, each in [0, 1], with N the window's records of the topic:
//! - completeness = 1 - (records missing a required field) / N
//! - validity     = 1 - (malformed records + records with a field of the wrong type or
//!   out of range) / N
//! - consistency  = 1 - (records whose fields contradict each other) / N
//! - accuracy     = 1 - (processed records failing an error-level business rule) /
//!   (processed records)
//! - timeliness   = (valid records that reached Kafka within `quality.timeliness` of their
//!   event time) / (valid records)
//! - overall      = the mean of the five.
//!
//! An empty denominator scores 1: nothing was wrong.

use std::collections::BTreeMap;

use lakestream_topology::SourceRecord;
use serde::Serialize;

use super::{Outcome, QualityRules};
use crate::domain::RejectKind;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowCounts {
    pub records: u64,
    pub processed: u64,
    pub duplicates: u64,
    /// Quarantined records by the kind of check they failed.
    pub quarantined: BTreeMap<&'static str, u64>,
    pub rule_errors: u64,
    /// Processed records with an outlier value (info level).
    pub anomalies: u64,
    /// Valid records (processed or duplicate) with a Kafka timestamp.
    pub timed: u64,
    pub timely: u64,
    pub skewed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    pub completeness: f64,
    pub accuracy: f64,
    pub consistency: f64,
    pub timeliness: f64,
    pub validity: f64,
    pub overall: f64,
}

impl Scores {
    pub fn dimensions(&self) -> [(&'static str, f64); 6] {
        [
            ("completeness", self.completeness),
            ("accuracy", self.accuracy),
            ("consistency", self.consistency),
            ("timeliness", self.timeliness),
            ("validity", self.validity),
            ("overall", self.overall),
        ]
    }
}

/// A window-level share over its configured limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub rule: &'static str,
    /// The column it concerns, for column rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub share: f64,
    pub limit: f64,
}

fn share_of(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl WindowCounts {
    pub fn of<'a>(
        rows: impl Iterator<Item = (&'a SourceRecord, &'a Outcome)>,
        rules: &QualityRules,
    ) -> Self {
        let mut c = WindowCounts::default();
        let (timely_ms, skew_ms) = (
            rules.timeliness.as_millis() as i64,
            rules.skew.as_millis() as i64,
        );
        for (record, outcome) in rows {
            c.records += 1;
            let event_time_ms = match *outcome {
                Outcome::Processed {
                    event_time_ms,
                    rule_error,
                    anomaly,
                } => {
                    c.processed += 1;
                    c.rule_errors += u64::from(rule_error);
                    c.anomalies += u64::from(anomaly);
                    event_time_ms
                }
                Outcome::Duplicate { event_time_ms } => {
                    c.duplicates += 1;
                    event_time_ms
                }
                Outcome::Quarantined(kind) => {
                    *c.quarantined.entry(kind.as_str()).or_default() += 1;
                    continue;
                }
            };
            if let Some(kafka_ms) = record.timestamp_ms {
                let delay = kafka_ms - event_time_ms;
                c.timed += 1;
                c.timely += u64::from(delay <= timely_ms);
                c.skewed += u64::from(delay.abs() > skew_ms);
            }
        }
        c
    }

    fn quarantined_as(&self, kinds: &[RejectKind]) -> u64 {
        kinds
            .iter()
            .map(|k| self.quarantined.get(k.as_str()).copied().unwrap_or(0))
            .sum()
    }

    pub fn scores(&self) -> Scores {
        let n = self.records;
        let completeness = 1.0 - share_of(self.quarantined_as(&[RejectKind::Missing]), n);
        let validity = 1.0
            - share_of(
                self.quarantined_as(&[RejectKind::Malformed, RejectKind::Invalid]),
                n,
            );
        let consistency = 1.0 - share_of(self.quarantined_as(&[RejectKind::Inconsistent]), n);
        let accuracy = 1.0 - share_of(self.rule_errors, self.processed);
        let timeliness = if self.timed == 0 {
            1.0
        } else {
            share_of(self.timely, self.timed)
        };
        let overall = (completeness + accuracy + consistency + timeliness + validity) / 5.0;
        Scores {
            completeness,
            accuracy,
            consistency,
            timeliness,
            validity,
            overall,
        }
    }

    pub fn warnings(&self, rules: &QualityRules) -> Vec<Warning> {
        let mut out = Vec::new();
        let duplicates = share_of(self.duplicates, self.records);
        if duplicates > rules.max_duplicate_share {
            out.push(Warning {
                rule: "duplicate_share",
                column: None,
                share: duplicates,
                limit: rules.max_duplicate_share,
            });
        }
        let skewed = share_of(self.skewed, self.timed);
        if skewed > rules.max_skewed_share {
            out.push(Warning {
                rule: "skewed_timestamp_share",
                column: None,
                share: skewed,
                limit: rules.max_skewed_share,
            });
        }
        out
    }

    /// The window's report as stored in the raw file's sidecar.
    pub fn report(&self, dataset: &str, rules: &QualityRules) -> serde_json::Value {
        let warnings = self.warnings(rules);
        let critical: u64 = self.quarantined.values().sum();
        serde_json::json!({
            "dataset": dataset,
            "levels": {
                "critical": critical,
                "error": self.rule_errors,
                "warning": warnings.len(),
            },
            "counts": self,
            "scores": self.scores(),
            "warnings": warnings,
            "info": { "records": self.records, "anomalies": self.anomalies },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const T: i64 = 1_795_132_800_000;

    fn record(kafka_ms: Option<i64>) -> SourceRecord {
        SourceRecord {
            topic: 0,
            partition: 0,
            offset: 0,
            key: None,
            value: Some(Bytes::from_static(b"{}")),
            timestamp_ms: kafka_ms,
        }
    }

    #[test]
    fn a_clean_window_scores_one_everywhere() {
        let rows: Vec<_> = (0..10)
            .map(|i| {
                (
                    record(Some(T + i * 1000 + 50)),
                    Outcome::Processed {
                        event_time_ms: T + i * 1000,
                        rule_error: false,
                        anomaly: false,
                    },
                )
            })
            .collect();
        let c = WindowCounts::of(rows.iter().map(|(r, o)| (r, o)), &QualityRules::default());
        assert_eq!(c.scores().overall, 1.0);
        assert!(c.warnings(&QualityRules::default()).is_empty());
    }

    #[test]
    fn each_problem_lowers_its_own_dimension() {
        let ok = Outcome::Processed {
            event_time_ms: T,
            rule_error: false,
            anomaly: false,
        };
        let mut rows = vec![(record(Some(T)), ok); 12];
        rows.push((record(Some(T)), Outcome::Quarantined(RejectKind::Missing)));
        rows.push((record(None), Outcome::Quarantined(RejectKind::Malformed)));
        rows.push((record(None), Outcome::Quarantined(RejectKind::Invalid)));
        rows.push((record(None), Outcome::Quarantined(RejectKind::Inconsistent)));
        rows.push((
            record(Some(T)),
            Outcome::Processed {
                event_time_ms: T,
                rule_error: true,
                anomaly: true,
            },
        ));
        // Reached Kafka two days after the event: late and skewed.
        rows.push((
            record(Some(T + 2 * 86_400_000)),
            Outcome::Duplicate { event_time_ms: T },
        ));
        let rules = QualityRules::default();
        let c = WindowCounts::of(rows.iter().map(|(r, o)| (r, o)), &rules);
        assert_eq!(c.records, 18);
        let s = c.scores();
        assert_eq!(s.completeness, 1.0 - 1.0 / 18.0);
        assert_eq!(s.validity, 1.0 - 2.0 / 18.0);
        assert_eq!(s.consistency, 1.0 - 1.0 / 18.0);
        assert_eq!(s.accuracy, 1.0 - 1.0 / 13.0);
        assert_eq!(s.timeliness, 13.0 / 14.0);
        let rules_hit: Vec<_> = c.warnings(&rules).iter().map(|w| w.rule).collect();
        assert_eq!(rules_hit, ["duplicate_share", "skewed_timestamp_share"]);
        let report = c.report("processed/user_attempts", &rules);
        assert_eq!(report["levels"]["critical"], 4);
        assert_eq!(report["levels"]["error"], 1);
    }
}
