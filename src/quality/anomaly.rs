//! Outliers on a stream, with robust statistics that fit in state: a log-scale histogram
//! (sketch) per metric and event hour, summed over a sliding horizon. A value is an
//! outlier when its robust z-score in log space, (ln(1+x) - median) / (IQR / 1.349),
//! exceeds the sensitivity. Log space because response times and durations are
//! heavy-tailed: a slow answer is common, one a hundred times slower than usual is not.
//! The IQR is floored so that a metric with nearly constant values does not turn every
//! small difference into an outlier.

use serde::{Deserialize, Serialize};

/// Buckets per unit of ln(1+x): about 6% relative resolution.
const SCALE: f64 = 16.0;
/// Floor of the interquartile range in log space (a factor of about 1.3): a metric whose
/// values barely vary (one session per user and hour, say) must not make every small
/// difference an outlier.
const MIN_IQR: f64 = 0.25;
/// ln(1+x) up to 20 (x about 5e8) has its own bucket; beyond goes to the last one.
pub const BUCKETS: usize = 320;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyRules {
    /// Robust z-score above which a value is an outlier.
    pub sensitivity: f64,
    /// Values needed in the horizon before anything is flagged.
    pub min_samples: u64,
    /// Event-time span of the history a value is compared with, in milliseconds.
    pub horizon_ms: i64,
}

impl Default for AnomalyRules {
    fn default() -> Self {
        AnomalyRules {
            sensitivity: 6.0,
            min_samples: 500,
            horizon_ms: 7 * 24 * 3_600_000,
        }
    }
}

/// Counts of values per log-scale bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    counts: Vec<u64>,
    n: u64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            counts: vec![0; BUCKETS],
            n: 0,
        }
    }
}

fn log_of(x: f64) -> f64 {
    (1.0 + x.max(0.0)).ln()
}

fn bucket_of(x: f64) -> usize {
    ((log_of(x) * SCALE) as usize).min(BUCKETS - 1)
}

impl Sketch {
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn add(&mut self, x: f64) {
        self.counts[bucket_of(x)] += 1;
        self.n += 1;
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.n += other.n;
    }

    /// Removes `other`, which must have been merged in before.
    pub fn subtract(&mut self, other: &Sketch) {
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c = c.saturating_sub(*o);
        }
        self.n = self.n.saturating_sub(other.n);
    }

    /// The q-quantile in log space (bucket centre).
    fn quantile(&self, q: f64) -> f64 {
        let rank = (q * self.n as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return (b as f64 + 0.5) / SCALE;
            }
        }
        (BUCKETS as f64 - 0.5) / SCALE
    }

    /// Robust z-score of `x` against this sketch; `None` until it holds `min_samples`.
    pub fn robust_z(&self, x: f64, min_samples: u64) -> Option<f64> {
        if self.n < min_samples {
            return None;
        }
        let median = self.quantile(0.5);
        let iqr = (self.quantile(0.75) - self.quantile(0.25)).max(MIN_IQR);
        Some((log_of(x) - median) / (iqr / 1.349))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Log-normal values like response times: median about 8 s, a long right tail.
    fn response_times(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                // Box-Muller: a standard normal from two uniforms.
                let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
                let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
                (8000f64.ln() + 0.8 * z).exp()
            })
            .collect()
    }

    #[test]
    fn ordinary_values_pass_and_far_ones_are_flagged() {
        let mut sketch = Sketch::default();
        for x in response_times(5000, 1) {
            sketch.add(x);
        }
        let rules = AnomalyRules::default();
        let flagged = response_times(20_000, 2)
            .into_iter()
            .filter(|x| sketch.robust_z(*x, rules.min_samples).unwrap().abs() > rules.sensitivity)
            .count();
        assert_eq!(flagged, 0, "a log-normal workload has no outliers at z > 6");
        let z = sketch.robust_z(36_000_000.0, rules.min_samples).unwrap();
        assert!(z > rules.sensitivity, "ten hours for one answer: z = {z}");
        assert!(
            sketch.robust_z(0.0, 1).unwrap() < -rules.sensitivity,
            "an instant answer"
        );
    }

    #[test]
    fn nothing_is_flagged_before_enough_samples_and_subtract_undoes_merge() {
        let mut a = Sketch::default();
        a.add(5.0);
        assert_eq!(a.robust_z(1e9, 2), None);
        let mut b = Sketch::default();
        b.add(7.0);
        let before = a.clone();
        a.merge(&b);
        assert_eq!(a.len(), 2);
        a.subtract(&b);
        assert_eq!(a, before);
    }
}
