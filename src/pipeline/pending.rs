//! State changes of records not yet durable, held per event hour until the runtime says
//! the hour is in the lake (`Processor::stage`). With many hours open (a long
//! `windows.grace`) they were most of the heap: 465 MB for 48 open hours in the benchmark
//! (BENCHMARKS.md, round 10). So an hour's changes can move to a local file when the
//! runtime spills its windows, and come back the next time that hour is touched.
//!
//! The files are scratch like the window spill files: nothing durable depends on them,
//! and the runtime deletes the folder when a partition task starts.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

enum Slot<T> {
    /// `touched`: when a record or a flush last loaded it (see `HourMap::clock`).
    Memory { value: T, touched: u64 },
    /// In `<dir>/<name>-<hour>`.
    Disk(PathBuf),
}

/// Hours that stay in memory once spilling has begun; an hour read back beyond them
/// moves the least recently touched ones out again. Records read behind the others (a
/// lagging topic walks through old hours) brought 129 MB of spilled hours back into
/// memory between two spills in the benchmark (BENCHMARKS.md, round 10).
const RESIDENT_HOURS: usize = 6;

/// Pending changes of one kind, by event hour.
pub struct HourMap<T> {
    name: &'static str,
    hours: BTreeMap<i64, Slot<T>>,
    /// Counts loads, to find the hours touched least recently.
    clock: u64,
    /// Where the last spill went: set once memory is tight.
    dir: Option<PathBuf>,
}

impl<T: Serialize + DeserializeOwned + Default> HourMap<T> {
    pub fn new(name: &'static str) -> Self {
        HourMap {
            name,
            hours: BTreeMap::new(),
            clock: 0,
            dir: None,
        }
    }

    /// Brings the changes of `hours` back into memory (and marks them used).
    pub fn load(&mut self, hours: &[i64]) -> io::Result<()> {
        let mut read_back = false;
        for hour in hours {
            self.clock += 1;
            let Some(slot) = self.hours.get_mut(hour) else {
                continue;
            };
            match slot {
                Slot::Memory { touched, .. } => *touched = self.clock,
                Slot::Disk(path) => {
                    let bytes = fs::read(&*path)?;
                    let value = postcard::from_bytes(&bytes).map_err(|e| {
                        io::Error::other(format!("{} is corrupt: {e}", path.display()))
                    })?;
                    fs::remove_file(&*path)?;
                    *slot = Slot::Memory {
                        value,
                        touched: self.clock,
                    };
                    read_back = true;
                }
            }
        }
        if read_back {
            self.trim(hours)?;
        }
        Ok(())
    }

    /// Past [`RESIDENT_HOURS`] in memory, moves the least recently touched hours (never
    /// one of `keep`) back to disk.
    fn trim(&mut self, keep: &[i64]) -> io::Result<()> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let mut resident: Vec<(u64, i64)> = self
            .hours
            .iter()
            .filter_map(|(hour, slot)| match slot {
                Slot::Memory { touched, .. } if !keep.contains(hour) => Some((*touched, *hour)),
                _ => None,
            })
            .collect();
        let limit = RESIDENT_HOURS.saturating_sub(keep.len());
        if resident.len() <= limit {
            return Ok(());
        }
        resident.sort_unstable();
        let out = resident.len() - limit;
        for (_, hour) in &resident[..out] {
            self.spill_hour(*hour, &dir)?;
        }
        Ok(())
    }

    /// The changes of `hour`, if they are in memory (see [`HourMap::load`]).
    pub fn get(&self, hour: i64) -> Option<&T> {
        match self.hours.get(&hour)? {
            Slot::Memory { value, .. } => Some(value),
            Slot::Disk(_) => None,
        }
    }

    /// The changes of `hour`, loaded or created.
    pub fn entry(&mut self, hour: i64) -> io::Result<&mut T> {
        self.load(&[hour])?;
        let touched = self.clock;
        let slot = self.hours.entry(hour).or_insert_with(|| Slot::Memory {
            value: T::default(),
            touched,
        });
        match slot {
            Slot::Memory { value, .. } => Ok(value),
            Slot::Disk(_) => unreachable!("loaded above"),
        }
    }

    /// Every hour with changes, in memory or not, in order.
    pub fn hours(&self) -> impl Iterator<Item = i64> + '_ {
        self.hours.keys().copied()
    }

    pub fn first_hour(&self) -> Option<i64> {
        self.hours.keys().next().copied()
    }

    /// Drops the changes of `hour` (staged, or never to be).
    pub fn remove(&mut self, hour: i64) {
        if let Some(Slot::Disk(path)) = self.hours.remove(&hour) {
            // Scratch: a file left behind goes with the folder when the next task starts.
            let _ = fs::remove_file(path);
        }
    }

    /// Moves every hour held in memory to a file in `dir`; returns the bytes written.
    pub fn spill(&mut self, dir: &Path) -> io::Result<u64> {
        self.dir = Some(dir.to_path_buf());
        let resident: Vec<i64> = self
            .hours
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Memory { .. }))
            .map(|(hour, _)| *hour)
            .collect();
        let mut written = 0;
        for hour in resident {
            written += self.spill_hour(hour, dir)?;
        }
        Ok(written)
    }

    fn spill_hour(&mut self, hour: i64, dir: &Path) -> io::Result<u64> {
        let Some(slot) = self.hours.get_mut(&hour) else {
            return Ok(0);
        };
        let Slot::Memory { value, .. } = slot else {
            return Ok(0);
        };
        let bytes = postcard::to_allocvec(value)
            .map_err(|e| io::Error::other(format!("cannot encode pending changes: {e}")))?;
        let path = dir.join(format!("{}-{hour}", self.name));
        fs::write(&path, &bytes)?;
        *slot = Slot::Disk(path);
        Ok(bytes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn spilled_hours_come_back_when_touched() {
        let dir = tempfile::tempdir().unwrap();
        let mut map: HourMap<HashSet<String>> = HourMap::new("ids");
        map.entry(1).unwrap().insert("a".into());
        map.entry(2).unwrap().insert("b".into());
        assert!(map.spill(dir.path()).unwrap() > 0);
        assert_eq!(map.get(1), None, "on disk");
        assert_eq!(map.hours().collect::<Vec<_>>(), [1, 2], "still known");
        map.entry(1).unwrap().insert("c".into());
        let one: HashSet<String> = ["a", "c"].map(String::from).into();
        assert_eq!(map.get(1), Some(&one));
        map.load(&[2]).unwrap();
        assert_eq!(map.get(2), Some(&["b".to_string()].into()));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "loaded hours leave no file behind"
        );
    }

    #[test]
    fn once_spilled_only_the_hours_touched_last_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut map: HourMap<Vec<i64>> = HourMap::new("waits");
        let hours: Vec<i64> = (0..20).collect();
        for hour in &hours {
            map.entry(*hour).unwrap().push(*hour);
        }
        map.spill(dir.path()).unwrap();
        for hour in &hours {
            map.entry(*hour).unwrap().push(-hour);
        }
        let resident: Vec<i64> = hours
            .iter()
            .copied()
            .filter(|h| map.get(*h).is_some())
            .collect();
        assert_eq!(
            resident,
            (14..20).collect::<Vec<_>>(),
            "the last six touched"
        );
        map.load(&hours).unwrap();
        for hour in &hours {
            assert_eq!(map.get(*hour), Some(&vec![*hour, -hour]), "nothing lost");
        }
    }

    #[test]
    fn a_removed_hour_takes_its_file_along() {
        let dir = tempfile::tempdir().unwrap();
        let mut map: HourMap<Vec<u32>> = HourMap::new("waits");
        map.entry(5).unwrap().push(1);
        map.spill(dir.path()).unwrap();
        map.remove(5);
        assert_eq!(map.first_hour(), None);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
