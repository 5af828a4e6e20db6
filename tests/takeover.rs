//! State moves with its partition (issue 3). Instances of one consumer group - the real
//! binary, each with a state directory of its own - on librdkafka's mock cluster, which
//! reassigns the partitions of a member killed with -9 (tansu 0.6 may not; its graceful
//! handover is in `tansu_e2e.rs`).
//!
//! Deduplication shows that state was restored: redeliveries of events processed by an
//! earlier owner must not reach the processed tier again. The daily aggregates show that it
//! was restored exactly: every row must equal the one computed here from the produced
//! events.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::process::Lakestream;
use common::{aggregates, checks, lake, Produced, Topics};
use lakestream::demo::generator::Kind;
use lakestream_topology::mock::MockKafka;

struct Cluster {
    kafka: MockKafka,
    topics: Topics,
    lake: tempfile::TempDir,
    group: String,
}

impl Cluster {
    fn new(prefix: &str) -> Cluster {
        let (kafka, topics) = common::mock_with_topics(prefix, 2);
        Cluster {
            kafka,
            topics,
            lake: tempfile::tempdir().unwrap(),
            group: common::unique("g"),
        }
    }

    fn env(&self, state_dir: &Path) -> HashMap<String, String> {
        let env = common::env(
            self.kafka.bootstrap_servers(),
            &self.topics,
            self.lake.path(),
            &self.group,
        );
        common::with_state_dir(env, state_dir)
    }

    fn produce(&self, records: &[(String, String, Vec<u8>, Kind)]) {
        common::produce(
            self.kafka.bootstrap_servers(),
            &self.topics,
            &common::records_of(records),
        );
    }

    fn read_json(&self, path: &str) -> Option<serde_json::Value> {
        let body = std::fs::read(self.lake.path().join(path)).ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// The pid in the owner record of `partition` (instance ids are `host-pid`).
    fn owner_pid(&self, partition: i32) -> Option<u32> {
        let owner = self.read_json(&format!("_lakestream/owners/partition={partition:05}.json"))?;
        owner["instance"].as_str()?.rsplit('-').next()?.parse().ok()
    }

    fn has_published_state(&self, partition: i32) -> bool {
        self.read_json(&format!(
            "_lakestream/manifests/partition={partition:05}.json"
        ))
        .is_some_and(|m| m.get("state").is_some())
    }

    /// Rows in processed: once it holds every valid event, every window with state is
    /// written. (Raw can trail: records without a readable event time wait in the current
    /// hour's window until shutdown.)
    fn processed_rows(&self) -> usize {
        ["user_attempts", "user_sessions", "ml_training"]
            .iter()
            .map(|d| lake::rows(self.lake.path(), &format!("processed/{d}")).len())
            .sum()
    }

    fn assert_lake(&self, produced: &Produced) {
        let duplicates = checks::assert_exactly_once_counted(self.lake.path(), produced);
        assert!(duplicates > 0, "the data set redelivers some events");
        aggregates::assert_daily_stats(self.lake.path(), produced);
    }
}

fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Earlier valid records sent again, as a retrying producer would.
fn redeliveries(of: &[(String, String, Vec<u8>, Kind)], every: usize) -> Produced {
    of.iter()
        .filter(|r| matches!(r.3, Kind::Valid))
        .step_by(every)
        .map(|(role, key, value, _)| (role.clone(), key.clone(), value.clone(), Kind::Duplicate))
        .collect()
}

fn restored_from_snapshot(instance: &Lakestream, partition: i32) -> bool {
    !instance
        .lines(&[
            &format!("partition={partition}"),
            "state restored from the lake",
        ])
        .is_empty()
}

#[test]
fn kill_9_then_takeover_then_an_empty_state_dir_restores_exactly() {
    let cluster = Cluster::new("takeover");
    let mut produced = common::generate(21, 30, 3, 6000);
    let held_back = produced.split_off(4500);
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );

    // Two instances share the two partitions and publish state for both.
    cluster.produce(&produced[..3000]);
    let mut a = Lakestream::spawn("a", &cluster.env(dir_a.path()), &[], None);
    a.wait_until_assigned();
    let mut b = Lakestream::spawn("b", &cluster.env(dir_b.path()), &[], None);
    wait_until(
        Duration::from_secs(60),
        "one partition on each instance",
        || {
            let owners = [cluster.owner_pid(0), cluster.owner_pid(1)];
            owners.contains(&Some(a.id())) && owners.contains(&Some(b.id()))
        },
    );
    let a_partition = (0..2)
        .find(|p| cluster.owner_pid(*p) == Some(a.id()))
        .unwrap();
    wait_until(Duration::from_secs(60), "state published for both", || {
        cluster.has_published_state(0) && cluster.has_published_state(1)
    });

    // a dies mid-stream; b takes its partition over and restores its state.
    cluster.produce(&produced[3000..3700]);
    a.kill_9();
    cluster.produce(&produced[3700..]);
    wait_until(Duration::from_secs(60), "b restores a's partition", || {
        restored_from_snapshot(&b, a_partition)
    });
    let valid = produced
        .iter()
        .filter(|p| matches!(p.3, Kind::Valid))
        .count();
    wait_until(
        Duration::from_secs(90),
        "b writes every valid event",
        || cluster.processed_rows() == valid,
    );
    b.terminate();
    assert!(b.wait(Duration::from_secs(60)).success());
    cluster.assert_lake(&produced);

    // A new instance with an empty state directory takes both partitions over: it must
    // restore both, recognise redeliveries of events processed long ago, and fold the new
    // events into the restored daily aggregates.
    let mut more = held_back;
    more.extend(redeliveries(&produced, 40));
    cluster.produce(&more);
    produced.extend(more);
    let mut c = Lakestream::spawn("c", &cluster.env(dir_c.path()), &["--exit-at-end"], None);
    assert!(c.wait(Duration::from_secs(120)).success());
    for partition in 0..2 {
        assert!(
            restored_from_snapshot(&c, partition),
            "partition {partition} was not restored from its snapshot"
        );
    }
    // Flushes after a partition's first publish upload changelog entries, not snapshots:
    // the exact lake above shows that a restore applied them on top of the snapshot.
    let replayed: Vec<u64> = [&b, &c]
        .iter()
        .flat_map(|i| i.lines(&["state restored from the lake"]))
        .filter_map(|line| {
            let rest = &line[line.find("changelog=")? + "changelog=".len()..];
            rest.split(|ch: char| !ch.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        replayed.iter().any(|n| *n > 0),
        "no restore replayed a changelog entry: {replayed:?}"
    );
    cluster.assert_lake(&produced);

    // Restarted on the same disk, its local copy is current: nothing is downloaded.
    let again = redeliveries(&produced[..3000], 25);
    cluster.produce(&again);
    produced.extend(again);
    let mut c2 = Lakestream::spawn("c2", &cluster.env(dir_c.path()), &["--exit-at-end"], None);
    assert!(c2.wait(Duration::from_secs(120)).success());
    assert_eq!(c2.lines(&["local state is current"]).len(), 2);
    assert!(c2.lines(&["state restored from the lake"]).is_empty());
    cluster.assert_lake(&produced);
}
