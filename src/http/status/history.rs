//! The last hour of throughput and lag, sampled from the registry every
//! [`SAMPLE_EVERY`], for the status page's chart. Prometheus keeps the long history; this
//! is what a person opening the page without a dashboard sees.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use super::metrics::Gathered;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const KEPT: usize = 360; // one hour of samples

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: f64,
    pub consumed_total: f64,
    pub consumed_lag: f64,
    pub durable_lag: f64,
}

/// One point of the chart: throughput since the previous sample, and lag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: f64,
    pub records_per_second: f64,
    pub consumed_lag: f64,
    pub durable_lag: f64,
}

#[derive(Debug, Clone, Default)]
pub struct History(Arc<Mutex<VecDeque<Sample>>>);

impl History {
    pub fn record(&self, sample: Sample) {
        let mut kept = self.0.lock().expect("history lock");
        kept.push_back(sample);
        while kept.len() > KEPT {
            kept.pop_front();
        }
    }

    pub fn points(&self) -> Vec<Point> {
        let kept = self.0.lock().expect("history lock");
        kept.iter()
            .zip(kept.iter().skip(1))
            .map(|(before, after)| Point {
                at: after.at,
                records_per_second: (after.consumed_total - before.consumed_total).max(0.0)
                    / (after.at - before.at).max(1e-3),
                consumed_lag: after.consumed_lag,
                durable_lag: after.durable_lag,
            })
            .collect()
    }

    /// Samples `registry` now and then every [`SAMPLE_EVERY`] until `stop`.
    pub fn spawn_sampler(&self, registry: Registry, stop: CancellationToken) {
        let history = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => history.record(sample(&registry)),
                }
            }
        });
    }
}

fn sample(registry: &Registry) -> Sample {
    let g = Gathered::from(registry);
    Sample {
        at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        consumed_total: g.sum("lakestream_records_consumed_total"),
        consumed_lag: g.sum("lakestream_consumed_lag_records"),
        durable_lag: g.sum("lakestream_durable_lag_records"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_is_the_rate_between_samples_and_the_hour_is_bounded() {
        let history = History::default();
        for i in 0..(KEPT + 10) {
            history.record(Sample {
                at: i as f64 * 10.0,
                consumed_total: i as f64 * 500.0,
                consumed_lag: 7.0,
                durable_lag: 9.0,
            });
        }
        let points = history.points();
        assert_eq!(points.len(), KEPT - 1);
        assert!(points.iter().all(|p| p.records_per_second == 50.0));
        assert_eq!(points.last().unwrap().at, (KEPT + 9) as f64 * 10.0);
    }
}
