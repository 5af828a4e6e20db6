//! Quality as Prometheus metrics: the latest window's scores per dataset and dimension,
//! and warnings counted by rule.

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

use super::window::{Scores, Warning};

#[derive(Clone)]
pub struct QualityMetrics {
    scores: GaugeVec,
    warnings: IntCounterVec,
}

impl QualityMetrics {
    pub fn new(registry: &Registry) -> Self {
        let scores = GaugeVec::new(
            Opts::new(
                "lakestream_quality_score",
                "Quality score (0..1) of the latest window written, per dataset and dimension",
            ),
            &["dataset", "dimension"],
        )
        .expect("valid metric");
        let warnings = IntCounterVec::new(
            Opts::new(
                "lakestream_quality_warnings_total",
                "Windows or files whose share of a problem exceeded its limit, by rule",
            ),
            &["dataset", "rule"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(scores.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(warnings.clone()))
            .expect("metric registered once");
        QualityMetrics { scores, warnings }
    }

    pub fn record(&self, dataset: &str, scores: Option<&Scores>, warnings: &[Warning]) {
        for (dimension, value) in scores.iter().flat_map(|s| s.dimensions()) {
            self.scores
                .with_label_values(&[dataset, dimension])
                .set(value);
        }
        for w in warnings {
            self.warnings.with_label_values(&[dataset, w.rule]).inc();
        }
    }
}
