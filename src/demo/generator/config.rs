//! What the demo stream should look like: seed, population, time window and
//! the shares of invalid and redelivered records, checked before use.

use super::learner::DAY_MS;

/// 2026-11-20T00:00:00Z: a fixed anchor keeps default streams reproducible.
pub(super) const ANCHOR_MS: i64 = 1_795_132_800_000;
/// 9999-12-31T23:59:59.999Z, the last instant an RFC 3339 timestamp can name.
const LATEST_MS: i64 = 253_402_300_799_999;

/// Parameters of a [`Generator`](super::Generator) stream.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Same seed, same stream.
    pub seed: u64,
    pub users: usize,
    /// First instant (epoch ms, UTC) of the simulated window.
    pub start_ms: i64,
    /// Length of the window; all event times fall inside it.
    pub days: u32,
    /// Share of records that are invalid.
    pub invalid_ratio: f64,
    /// Share of records that are exact copies of an earlier valid record.
    pub duplicate_ratio: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            users: 50,
            start_ms: ANCHOR_MS - 3 * DAY_MS,
            days: 3,
            invalid_ratio: 0.01,
            duplicate_ratio: 0.01,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid generator config: {0}")]
pub struct GeneratorConfigError(&'static str);

impl GeneratorConfig {
    pub fn validate(&self) -> Result<(), GeneratorConfigError> {
        if self.users == 0 || self.days == 0 {
            return Err(GeneratorConfigError("users and days must be at least 1"));
        }
        let end_ms = self.start_ms.checked_add(i64::from(self.days) * DAY_MS);
        if self.start_ms < 0 || end_ms.is_none_or(|end| end > LATEST_MS) {
            return Err(GeneratorConfigError(
                "the window must lie between 1970 and 9999",
            ));
        }
        let (i, d) = (self.invalid_ratio, self.duplicate_ratio);
        if !(i >= 0.0 && d >= 0.0 && i + d < 1.0) {
            return Err(GeneratorConfigError(
                "invalid_ratio and duplicate_ratio must be >= 0 and sum to less than 1",
            ));
        }
        if d > 1.0 - i - d {
            return Err(GeneratorConfigError(
                "duplicate_ratio exceeds the share of valid records, each redelivered at most once",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_refused() {
        let ok = GeneratorConfig::default();
        assert!(ok.validate().is_ok());
        let with = |change: fn(&mut GeneratorConfig)| {
            let mut cfg = ok.clone();
            change(&mut cfg);
            cfg
        };
        for bad in [
            with(|c| c.users = 0),
            with(|c| c.days = 0),
            with(|c| c.start_ms = -1),
            with(|c| c.start_ms = i64::MAX - 1),
            with(|c| c.invalid_ratio = -0.1),
            with(|c| c.duplicate_ratio = f64::NAN),
            with(|c| (c.invalid_ratio, c.duplicate_ratio) = (0.5, 0.5)),
            with(|c| c.duplicate_ratio = 0.6),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
