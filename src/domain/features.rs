//! Derived features shared by the event types (contract section 4): the
//! response-time category, UTC calendar fields and the derived SM-2 quality.

use serde::{Deserialize, Serialize};

/// How fast an answer came, in the contract's five buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResponseTimeCategory {
    VeryFast,
    Fast,
    Normal,
    Slow,
    VerySlow,
}

impl ResponseTimeCategory {
    pub const ALL: [Self; 5] = [
        Self::VeryFast,
        Self::Fast,
        Self::Normal,
        Self::Slow,
        Self::VerySlow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VeryFast => "very_fast",
            Self::Fast => "fast",
            Self::Normal => "normal",
            Self::Slow => "slow",
            Self::VerySlow => "very_slow",
        }
    }

    /// Category under the contract's default thresholds.
    pub fn from_ms(ms: i64) -> Self {
        ResponseTimeThresholds::DEFAULT.categorize(ms)
    }
}

/// Upper bounds (exclusive) of the first four categories, in milliseconds.
/// Kept as data rather than constants so a deployment can tune them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseTimeThresholds {
    pub very_fast_below_ms: i64,
    pub fast_below_ms: i64,
    pub normal_below_ms: i64,
    pub slow_below_ms: i64,
}

impl ResponseTimeThresholds {
    pub const DEFAULT: Self = Self {
        very_fast_below_ms: 2_000,
        fast_below_ms: 5_000,
        normal_below_ms: 15_000,
        slow_below_ms: 30_000,
    };

    /// Whether each bound is above the previous one; anything else would make
    /// a category unreachable, which a configuration check should refuse.
    pub fn is_ascending(&self) -> bool {
        self.very_fast_below_ms < self.fast_below_ms
            && self.fast_below_ms < self.normal_below_ms
            && self.normal_below_ms < self.slow_below_ms
    }

    pub fn categorize(&self, ms: i64) -> ResponseTimeCategory {
        use ResponseTimeCategory::*;
        if ms < self.very_fast_below_ms {
            VeryFast
        } else if ms < self.fast_below_ms {
            Fast
        } else if ms < self.normal_below_ms {
            Normal
        } else if ms < self.slow_below_ms {
            Slow
        } else {
            VerySlow
        }
    }
}

impl Default for ResponseTimeThresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// UTC calendar position of an event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// 0..=23.
    pub hour_of_day: i8,
    /// 0 = Monday .. 6 = Sunday.
    pub day_of_week: i8,
    pub is_weekend: bool,
}

impl Calendar {
    /// Plain arithmetic instead of chrono: this runs for every event, and UTC
    /// has no leap seconds in epoch time, so days are exactly 86 400 000 ms.
    pub fn from_epoch_ms(ms: i64) -> Self {
        let days = ms.div_euclid(MS_PER_DAY);
        // 1970-01-01 was a Thursday, day 3 when Monday is 0.
        let day_of_week = (days + 3).rem_euclid(7) as i8;
        Self {
            hour_of_day: utc_hour(ms),
            day_of_week,
            is_weekend: day_of_week >= 5,
        }
    }
}

/// Hour of day (0..=23, UTC) of epoch milliseconds.
pub fn utc_hour(ms: i64) -> i8 {
    (ms.rem_euclid(MS_PER_DAY) / MS_PER_HOUR) as i8
}

/// SM-2 response quality inferred from the outcome and speed, for attempts
/// that do not report one: fast right answers suggest recall was easy, a very
/// fast wrong answer suggests a blind guess.
pub fn derived_quality(correct: bool, category: ResponseTimeCategory) -> i8 {
    use ResponseTimeCategory::*;
    match (correct, category) {
        (true, VeryFast | Fast) => 5,
        (true, Normal) => 4,
        (true, Slow | VerySlow) => 3,
        (false, VeryFast) => 0,
        (false, _) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Datelike, Timelike};
    use ResponseTimeCategory::*;

    #[test]
    fn categories_at_every_boundary() {
        let cases = [
            (0, VeryFast),
            (1_999, VeryFast),
            (2_000, Fast),
            (4_999, Fast),
            (5_000, Normal),
            (14_999, Normal),
            (15_000, Slow),
            (29_999, Slow),
            (30_000, VerySlow),
            (i64::MAX, VerySlow),
        ];
        for (ms, want) in cases {
            assert_eq!(ResponseTimeCategory::from_ms(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn category_names_match_the_contract() {
        let names: Vec<_> = ResponseTimeCategory::ALL.map(|c| c.as_str()).into();
        assert_eq!(names, ["very_fast", "fast", "normal", "slow", "very_slow"]);
    }

    #[test]
    fn thresholds_can_be_tuned_and_checked() {
        let t = ResponseTimeThresholds {
            very_fast_below_ms: 1_000,
            ..Default::default()
        };
        assert_eq!(t.categorize(1_500), Fast);
        assert!(t.is_ascending());
        let broken = ResponseTimeThresholds {
            fast_below_ms: 1_000,
            ..Default::default()
        };
        assert!(!broken.is_ascending());
    }

    #[test]
    fn derived_quality_table() {
        let table = [(true, [5, 5, 4, 3, 3]), (false, [0, 1, 1, 1, 1])];
        for (correct, qualities) in table {
            for (category, want) in ResponseTimeCategory::ALL.into_iter().zip(qualities) {
                assert_eq!(
                    derived_quality(correct, category),
                    want,
                    "{correct} {category:?}"
                );
            }
        }
    }

    #[test]
    fn weekdays_and_weekends_in_utc() {
        // 2026-11-20 is a Friday; Saturday and Sunday follow.
        let friday_midnight = 1_795_132_800_000;
        let day = MS_PER_DAY;
        let fri = Calendar::from_epoch_ms(friday_midnight + 23 * MS_PER_HOUR);
        assert_eq!(
            (fri.day_of_week, fri.hour_of_day, fri.is_weekend),
            (4, 23, false)
        );
        let sat = Calendar::from_epoch_ms(friday_midnight + day);
        assert_eq!(
            (sat.day_of_week, sat.hour_of_day, sat.is_weekend),
            (5, 0, true)
        );
        let sun = Calendar::from_epoch_ms(friday_midnight + 2 * day + 1);
        assert_eq!((sun.day_of_week, sun.is_weekend), (6, true));
        let mon = Calendar::from_epoch_ms(friday_midnight + 3 * day);
        assert_eq!((mon.day_of_week, mon.is_weekend), (0, false));
    }

    #[test]
    fn calendar_agrees_with_chrono_before_and_after_the_epoch() {
        let mut ms = -62_167_219_200_000; // year 0
        while ms < 253_402_300_799_999 {
            let t = DateTime::from_timestamp_millis(ms).unwrap();
            let c = Calendar::from_epoch_ms(ms);
            assert_eq!(c.hour_of_day as u32, t.hour(), "{t}");
            assert_eq!(
                c.day_of_week as u32,
                t.weekday().num_days_from_monday(),
                "{t}"
            );
            ms += 7_777_777_777_777 / 1000; // an irregular stride through all hours
        }
    }
}
