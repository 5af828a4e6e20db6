//! Reads the instance's own Prometheus registry, so the status page shows exactly what a
//! scrape would: one source of truth, no second set of counters to drift.

use std::collections::BTreeMap;

use prometheus::proto::MetricType;
use prometheus::Registry;

/// A metric's label values by label name.
pub type Labels = BTreeMap<String, String>;

/// Counter and gauge values by metric name; histograms are left out.
#[derive(Debug, Default)]
pub struct Gathered(BTreeMap<String, Vec<(Labels, f64)>>);

impl Gathered {
    pub fn from(registry: &Registry) -> Gathered {
        let mut out = BTreeMap::new();
        for family in registry.gather() {
            let kind = family.get_field_type();
            let series = family
                .get_metric()
                .iter()
                .filter_map(|m| {
                    let value = match kind {
                        MetricType::COUNTER => m.get_counter().get_value(),
                        MetricType::GAUGE => m.get_gauge().get_value(),
                        _ => return None,
                    };
                    let labels = m
                        .get_label()
                        .iter()
                        .map(|l| (l.name().to_string(), l.value().to_string()))
                        .collect();
                    Some((labels, value))
                })
                .collect();
            out.insert(family.name().to_string(), series);
        }
        Gathered(out)
    }

    pub fn series(&self, name: &str) -> &[(Labels, f64)] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// The sum over every series of `name` (0 when it has none yet).
    pub fn sum(&self, name: &str) -> f64 {
        self.series(name).iter().map(|(_, v)| v).sum()
    }

    /// Sums of `name` grouped by the value of `label`.
    pub fn by(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (labels, value) in self.series(name) {
            let key = labels.get(label).cloned().unwrap_or_default();
            *out.entry(key).or_insert(0.0) += value;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{IntCounterVec, Opts};

    #[test]
    fn sums_and_groups_counters() {
        let registry = Registry::new();
        let c = IntCounterVec::new(Opts::new("x_total", "x"), &["topic", "partition"]).unwrap();
        registry.register(Box::new(c.clone())).unwrap();
        c.with_label_values(&["a", "0"]).inc_by(2);
        c.with_label_values(&["a", "1"]).inc_by(3);
        c.with_label_values(&["b", "0"]).inc_by(5);
        let g = Gathered::from(&registry);
        assert_eq!(g.sum("x_total"), 10.0);
        assert_eq!(g.by("x_total", "topic")["a"], 5.0);
        assert_eq!(g.sum("missing_total"), 0.0);
    }
}
