//! A lake object's place in the hive layout: `<tier>/<dataset>/year=/month=/day=/<file>`.

use chrono::NaiveDate;

/// The tiers, each with its own retention.
pub const TIERS: &[&str] = &["raw", "processed", "aggregated", "quarantine", "quality"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayPartition {
    pub tier: String,
    pub dataset: String,
    pub day: NaiveDate,
}

impl DayPartition {
    /// `None` for paths outside the layout (`_lakestream/`, stray objects).
    pub fn of(path: &str) -> Option<DayPartition> {
        let parts: Vec<&str> = path.split('/').collect();
        let [tier, dataset, year, month, day, _file] = parts.as_slice() else {
            return None;
        };
        if !TIERS.contains(tier) {
            return None;
        }
        let number = |part: &str, key: &str| part.strip_prefix(key)?.parse::<u32>().ok();
        let day = NaiveDate::from_ymd_opt(
            number(year, "year=")? as i32,
            number(month, "month=")?,
            number(day, "day=")?,
        )?;
        Some(DayPartition {
            tier: tier.to_string(),
            dataset: dataset.to_string(),
            day,
        })
    }

    /// The folder holding the day's files (hive values unpadded, as the writer names them).
    pub fn prefix(&self) -> String {
        format!(
            "{}/{}/year={}/month={}/day={}",
            self.tier,
            self.dataset,
            chrono::Datelike::year(&self.day),
            chrono::Datelike::month(&self.day),
            chrono::Datelike::day(&self.day)
        )
    }

    /// `<tier>/<dataset>`.
    pub fn dataset_path(&self) -> String {
        format!("{}/{}", self.tier, self.dataset)
    }
}

/// Data files; sidecars and temporary names start with `_` or `.`.
pub fn is_data_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".parquet") && !name.starts_with(['_', '.'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_paths_parse_and_round_trip() {
        let path = "raw/user.attempts/year=2026/month=11/day=7/part-2026110710-p0003-o1-9.parquet";
        let p = DayPartition::of(path).unwrap();
        assert_eq!(p.tier, "raw");
        assert_eq!(p.dataset, "user.attempts");
        assert_eq!(p.day, NaiveDate::from_ymd_opt(2026, 11, 7).unwrap());
        assert!(path.starts_with(&p.prefix()));
        assert!(is_data_file(path));
        assert!(!is_data_file(
            "raw/x/year=2026/month=11/day=07/_part-1.meta.json"
        ));
    }

    #[test]
    fn paths_outside_the_layout_are_not_partitions() {
        for path in [
            "_lakestream/manifests/partition=00001.json",
            "raw/user.attempts/part.parquet",
            "raw/user.attempts/year=2026/month=13/day=01/a.parquet",
            "elsewhere/x/year=2026/month=1/day=1/a.parquet",
        ] {
            assert_eq!(DayPartition::of(path), None, "{path}");
        }
    }
}
