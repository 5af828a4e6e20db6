//! Which files of a day are merged together: consecutive files (in path order, so rows stay
//! in hour order) packed into groups of at most the target size.

use super::super::scope::DataFile;

/// Groups of two or more files to merge. Files already at the target size stay as they
/// are: merging them would rewrite much to gain little.
pub fn groups(day_files: Vec<DataFile>, target_size: u64) -> Vec<Vec<DataFile>> {
    let mut out = Vec::new();
    let mut group: Vec<DataFile> = Vec::new();
    let mut size = 0;
    for file in day_files.into_iter().filter(|f| f.meta.size < target_size) {
        if !group.is_empty() && size + file.meta.size > target_size {
            out.push(std::mem::take(&mut group));
            size = 0;
        }
        size += file.meta.size;
        group.push(file);
    }
    out.push(group);
    out.retain(|g| g.len() > 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::partition::DayPartition;

    fn file(name: &str, size: u64) -> DataFile {
        let path = format!("raw/t/year=2026/month=1/day=1/{name}.parquet");
        DataFile {
            partition: DayPartition::of(&path).unwrap(),
            meta: object_store::ObjectMeta {
                location: path.into(),
                last_modified: chrono::Utc::now(),
                size,
                e_tag: None,
                version: None,
            },
        }
    }

    fn names(groups: &[Vec<DataFile>]) -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|f| f.path().rsplit('/').next().unwrap().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn packs_up_to_the_target_and_leaves_big_and_lonely_files() {
        let files = vec![
            file("a", 40),
            file("b", 50),
            file("big", 100),
            file("c", 30),
            file("d", 60),
            file("e", 10),
        ];
        let expected: Vec<Vec<String>> = [
            vec!["a.parquet", "b.parquet"],
            vec!["c.parquet", "d.parquet", "e.parquet"],
        ]
        .iter()
        .map(|g| g.iter().map(|n| n.to_string()).collect())
        .collect();
        assert_eq!(
            names(&groups(files, 100)),
            expected,
            "a+b+c would exceed 100; `big` is at the target already"
        );
        assert_eq!(groups(vec![file("a", 1)], 100).len(), 0);
    }
}
