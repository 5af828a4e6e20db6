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

/// Counts of values per log-scale bucket, held only from the first to the last bucket
/// with a value: one metric's hour of values spans a few dozen of the 320 buckets, and a
/// task keeps a sketch per metric and hour for the whole horizon (dense, those were 30 MB
/// of the benchmark's heap, BENCHMARKS.md round 9). Trimmed at both ends, so two sketches
/// of the same values compare equal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    /// `counts[i]` is bucket `lo + i`. State written before sketches were trimmed has
    /// all buckets and no `lo`.
    counts: Vec<u64>,
    n: u64,
    #[serde(default)]
    lo: usize,
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

    /// Widens the held range to buckets `lo..end`.
    fn cover(&mut self, lo: usize, end: usize) {
        if self.counts.is_empty() {
            self.lo = lo;
            self.counts.resize(end - lo, 0);
            return;
        }
        if lo < self.lo {
            self.counts
                .splice(0..0, std::iter::repeat_n(0, self.lo - lo));
            self.lo = lo;
        }
        if end > self.lo + self.counts.len() {
            self.counts.resize(end - self.lo, 0);
        }
    }

    pub fn add(&mut self, x: f64) {
        let b = bucket_of(x);
        self.cover(b, b + 1);
        self.counts[b - self.lo] += 1;
        self.n += 1;
    }

    pub fn merge(&mut self, other: &Sketch) {
        if other.counts.is_empty() {
            self.n += other.n;
            return;
        }
        self.cover(other.lo, other.lo + other.counts.len());
        let at = other.lo - self.lo;
        for (c, o) in self.counts[at..].iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.n += other.n;
    }

    /// Removes `other`, which must have been merged in before.
    pub fn subtract(&mut self, other: &Sketch) {
        for (i, o) in other.counts.iter().enumerate() {
            if let Some(c) = (other.lo + i)
                .checked_sub(self.lo)
                .and_then(|at| self.counts.get_mut(at))
            {
                *c = c.saturating_sub(*o);
            }
        }
        self.n = self.n.saturating_sub(other.n);
        let end = self
            .counts
            .iter()
            .rposition(|c| *c > 0)
            .map_or(0, |i| i + 1);
        self.counts.truncate(end);
        let start = self.counts.iter().position(|c| *c > 0).unwrap_or(0);
        self.counts.drain(..start);
        self.lo = if self.counts.is_empty() {
            0
        } else {
            self.lo + start
        };
    }

    /// The q-quantile in log space (bucket centre).
    fn quantile(&self, q: f64) -> f64 {
        let rank = (q * self.n as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return ((self.lo + i) as f64 + 0.5) / SCALE;
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

    #[test]
    fn a_sketch_holds_only_the_buckets_its_values_span() {
        let values = response_times(5000, 3);
        let mut sketch = Sketch::default();
        for x in &values {
            sketch.add(*x);
        }
        let lowest = values.iter().copied().fold(f64::MAX, f64::min);
        let highest = values.iter().copied().fold(0.0, f64::max);
        let span = sketch.counts.len();
        assert_eq!(span, bucket_of(highest) - bucket_of(lowest) + 1);
        assert!(
            span < BUCKETS / 3,
            "{span} buckets held for one metric's values"
        );

        // Removing the outer values trims the range, back to what the rest alone gives.
        let mut inner = Sketch::default();
        inner.add(8000.0);
        let mut outer = Sketch::default();
        outer.add(1.0);
        outer.add(1e8);
        let mut all = inner.clone();
        all.merge(&outer);
        assert!(all.counts.len() > span);
        all.subtract(&outer);
        assert_eq!(all, inner);
        all.subtract(&inner);
        assert_eq!(all, Sketch::default());
    }

    #[test]
    fn sketches_stored_with_every_bucket_still_read() {
        let mut trimmed = Sketch::default();
        for x in response_times(2000, 4) {
            trimmed.add(x);
        }
        let mut dense = vec![0u64; BUCKETS];
        dense[trimmed.lo..trimmed.lo + trimmed.counts.len()].copy_from_slice(&trimmed.counts);
        let stored = serde_json::json!({"counts": dense, "n": trimmed.n}).to_string();
        let old: Sketch = serde_json::from_str(&stored).unwrap();
        for x in [10.0, 8000.0, 1e6] {
            assert_eq!(old.robust_z(x, 1), trimmed.robust_z(x, 1));
        }
        let mut merged = old.clone();
        merged.merge(&trimmed);
        assert_eq!(merged.len(), 2 * trimmed.len());
        assert_eq!(merged.robust_z(8000.0, 1), trimmed.robust_z(8000.0, 1));
    }
}
