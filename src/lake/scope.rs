//! Which day partitions a command looks at (`--days N`), and the data files in them.

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::partition::{is_data_file, DayPartition};

/// `--days N`: today (UTC) and the N - 1 days before it; `None` means every day.
#[derive(Debug, Clone, Copy)]
pub struct Days {
    pub last: Option<u32>,
    pub today: NaiveDate,
}

impl Days {
    pub fn all(today: NaiveDate) -> Days {
        Days { last: None, today }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.last
            .is_none_or(|n| (self.today - day).num_days() < i64::from(n))
    }
}

/// A data file in a day partition.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub partition: DayPartition,
    pub meta: ObjectMeta,
}

impl DataFile {
    pub fn path(&self) -> &str {
        self.meta.location.as_ref()
    }
}

/// Every object under `prefix` (the whole lake for `None`), in path order.
pub async fn list(
    store: &dyn ObjectStore,
    prefix: Option<&str>,
) -> anyhow::Result<Vec<ObjectMeta>> {
    let prefix = prefix.map(Path::from);
    let mut objects: Vec<ObjectMeta> = store.list(prefix.as_ref()).try_collect().await?;
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(objects)
}

/// The data files among `objects` whose day is in `days`.
pub fn data_files(objects: &[ObjectMeta], days: &Days) -> Vec<DataFile> {
    objects
        .iter()
        .filter(|m| is_data_file(m.location.as_ref()))
        .filter_map(|meta| {
            let partition = DayPartition::of(meta.location.as_ref())?;
            days.contains(partition.day).then(|| DataFile {
                partition,
                meta: meta.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_n_days_include_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let days = Days {
            last: Some(2),
            today,
        };
        assert!(days.contains(today));
        assert!(days.contains(today.pred_opt().unwrap()));
        assert!(!days.contains(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()));
        assert!(Days::all(today).contains(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()));
    }
}
