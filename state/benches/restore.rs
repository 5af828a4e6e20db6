//! Restore time of a partition's state store with 1 million entries (issue 3), against a
//! baseline measured in the same run: copying the same files on the same disk.
//!
//! `cargo bench -p lakestream-state --bench restore [-- <entries>]`

use std::time::Instant;

use lakestream_state::{PartitionDb, Snapshots};
use object_store::local::LocalFileSystem;

fn main() {
    let entries: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let lake = work.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let store = LocalFileSystem::new_with_prefix(&lake).unwrap();
    let snapshots = Snapshots::new(&store, "_lakestream/state/partition=00000");

    let db = PartitionDb::open(work.path(), 0, &["seen"]).unwrap();
    let started = Instant::now();
    for chunk in (0..entries).collect::<Vec<_>>().chunks(10_000) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|i| (format!("event-{i:012}").into_bytes(), *i))
            .collect();
        db.put_all("seen", &batch).unwrap();
    }
    let load_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (snapshot, uploaded) = runtime
        .block_on(snapshots.upload(&db, &work.path().join("checkpoint"), serde_json::json!({})))
        .unwrap();
    let upload_s = started.elapsed().as_secs_f64();

    let target = work.path().join("restored");
    let started = Instant::now();
    let (_, restored) = runtime
        .block_on(snapshots.restore(&target, snapshot.generation))
        .unwrap();
    let copy = PartitionDb::open_at(&target, &["seen"]).unwrap();
    let probe: Option<i64> = copy
        .get("seen", format!("event-{:012}", entries - 1).as_bytes())
        .unwrap();
    let restore_s = started.elapsed().as_secs_f64();
    assert_eq!(probe, Some(entries - 1), "the restored store answers");

    let baseline_dir = work.path().join("baseline");
    std::fs::create_dir_all(&baseline_dir).unwrap();
    let started = Instant::now();
    for entry in std::fs::read_dir(&target).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), baseline_dir.join(entry.file_name())).unwrap();
    }
    let baseline_s = started.elapsed().as_secs_f64();

    println!("entries                 {entries}");
    println!(
        "snapshot size           {:.1} MiB in {} files",
        restored.bytes as f64 / 1048576.0,
        restored.files
    );
    println!("load (batched puts)     {load_s:.2} s");
    println!(
        "upload                  {upload_s:.2} s ({} files)",
        uploaded.files
    );
    println!(
        "restore + open          {restore_s:.2} s ({:.0} MiB/s)",
        restored.bytes as f64 / 1048576.0 / restore_s
    );
    println!("baseline file copy      {baseline_s:.2} s");
    println!(
        "restore / baseline      {:.2}x",
        restore_s / baseline_s.max(1e-9)
    );
}
