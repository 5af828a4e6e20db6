//! Window rows moved to local disk while their window stays open: what keeps the memory
//! bounded when many event-time hours are open at once (a long `windows.grace`, a backlog
//! read out of order). Writing such a window early to the lake instead would split its hour
//! into several files, and it did so again and again: with a 24 h grace the benchmark spent
//! 95% of its time waiting on the budget and split 667 hours (BENCHMARKS.md, round 9).
//!
//! One file per window hour and dataset, appended in chunks of `[u32 length][postcard
//! rows]`, read back whole when that file of the lake is written. Spill files are scratch:
//! nothing durable points at them, since the offsets of their records are not committed
//! before their window is in the lake. A task deletes its partition's spill folder when
//! it starts, so what a crash left behind is never read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The spill folder of one partition task.
#[derive(Debug)]
pub struct Spill {
    dir: PathBuf,
}

impl Spill {
    /// The folder of `partition` under `state_dir`, emptied: spill files outlive no task.
    pub fn open(state_dir: &Path, partition: i32) -> io::Result<Spill> {
        let dir = state_dir
            .join("spill")
            .join(format!("partition={partition:05}"));
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::create_dir_all(&dir)?;
        Ok(Spill { dir })
    }

    /// The processor's scratch folder for its pending state changes
    /// ([`crate::Processor::spill_pending`]), emptied with the rest.
    pub fn pending_dir(&self) -> io::Result<PathBuf> {
        let dir = self.dir.join("pending");
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn path(&self, hour_ms: i64, dataset: usize) -> PathBuf {
        self.dir.join(format!("{hour_ms}-{dataset}.rows"))
    }

    /// Appends `rows` to the spill file of `(hour_ms, dataset)`; returns the bytes written.
    pub fn append<R: Serialize>(
        &self,
        hour_ms: i64,
        dataset: usize,
        rows: &[R],
    ) -> io::Result<u64> {
        // Room for the length, filled in once the rows are encoded.
        let mut chunk = postcard::to_extend(rows, vec![0u8; 4])
            .map_err(|e| io::Error::other(format!("cannot encode spilled rows: {e}")))?;
        let len = u32::try_from(chunk.len() - 4)
            .map_err(|_| io::Error::other("a spill chunk is over 4 GiB"))?;
        chunk[..4].copy_from_slice(&len.to_le_bytes());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(hour_ms, dataset))?;
        file.write_all(&chunk)?;
        Ok(chunk.len() as u64)
    }

    /// Every row spilled for `(hour_ms, dataset)`, in the order they were appended.
    pub fn read<R: DeserializeOwned>(&self, hour_ms: i64, dataset: usize) -> io::Result<Vec<R>> {
        let path = self.path(hour_ms, dataset);
        let mut file = BufReader::new(File::open(&path)?);
        let (mut rows, mut chunk) = (Vec::new(), Vec::new());
        loop {
            let mut len = [0u8; 4];
            match file.read_exact(&mut len) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(rows),
                other => other?,
            }
            chunk.resize(u32::from_le_bytes(len) as usize, 0);
            file.read_exact(&mut chunk)?;
            let part: Vec<R> = postcard::from_bytes(&chunk).map_err(|e| {
                io::Error::other(format!("spill file {} is corrupt: {e}", path.display()))
            })?;
            rows.extend(part);
        }
    }

    /// Deletes the spill files of `hour_ms` (its window is in the lake).
    pub fn remove(&self, hour_ms: i64, datasets: usize) -> io::Result<()> {
        for dataset in 0..datasets {
            match fs::remove_file(self.path(hour_ms, dataset)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_in_order_and_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::open(dir.path(), 3).unwrap();
        spill.append(7, 0, &["a".to_string(), "b".into()]).unwrap();
        spill.append(7, 1, &["other".to_string()]).unwrap();
        spill.append(7, 0, &["c".to_string()]).unwrap();
        let rows: Vec<String> = spill.read(7, 0).unwrap();
        assert_eq!(rows, ["a", "b", "c"]);
        let rows: Vec<String> = spill.read(7, 1).unwrap();
        assert_eq!(rows, ["other"]);
        spill.remove(7, 2).unwrap();
        assert!(spill.read::<String>(7, 0).is_err(), "the file is gone");
    }

    #[test]
    fn a_new_task_starts_with_an_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::open(dir.path(), 0).unwrap();
        spill.append(1, 0, &[1u32, 2]).unwrap();
        let spill = Spill::open(dir.path(), 0).unwrap();
        assert!(
            spill.read::<u32>(1, 0).is_err(),
            "rows of the crashed task are not read"
        );
    }

    #[test]
    fn a_torn_chunk_is_an_error_not_fewer_rows() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::open(dir.path(), 0).unwrap();
        spill.append(1, 0, &[1u64, 2, 3]).unwrap();
        let path = spill.path(1, 0);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(spill.read::<u64>(1, 0).is_err());
    }
}
