//! Crash safety: the real binary is aborted at chosen points of the flush protocol
//! (failpoints) and killed with SIGKILL at random moments while records stream in; after a
//! clean restart the lake must hold every record exactly once (raw), every valid event
//! exactly once (processed), every invalid one exactly once (quarantine), redeliveries
//! nowhere but raw, and daily aggregates equal to those computed from the produced events.
//!
//! The broker is librdkafka's mock cluster in this test process; the lakestream processes
//! reach it over loopback like any broker.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::process::Lakestream;
use common::Topics;
use lakestream::demo::generator::Kind;
use lakestream_topology::mock::MockKafka;
use rand::{Rng, SeedableRng};

struct Fixture {
    kafka: MockKafka,
    topics: Topics,
    lake: tempfile::TempDir,
    group: String,
    produced: common::Produced,
    /// Settings on top of the common test environment.
    settings: Vec<(&'static str, &'static str)>,
}

impl Fixture {
    fn new(events: usize, seed: u64) -> Fixture {
        let (kafka, topics) = common::mock_with_topics("crash", if events == 0 { 1 } else { 2 });
        let produced = common::generate(seed, 20, 2, events);
        Fixture {
            kafka,
            topics,
            lake: tempfile::tempdir().unwrap(),
            group: common::unique("g"),
            produced,
            settings: Vec::new(),
        }
    }

    fn records(&self, range: std::ops::Range<usize>) -> Vec<(String, String, Vec<u8>)> {
        common::records_of(&self.produced[range])
    }

    fn spawn(&self, failpoint: Option<&str>, exit_at_end: bool) -> Lakestream {
        let mut env = common::env(
            self.kafka.bootstrap_servers(),
            &self.topics,
            self.lake.path(),
            &self.group,
        );
        for (name, value) in &self.settings {
            env.insert(name.to_string(), value.to_string());
        }
        let args: &[&str] = if exit_at_end { &["--exit-at-end"] } else { &[] };
        Lakestream::spawn("lakestream", &env, args, failpoint)
    }

    /// Runs an instance until `failpoint` aborts it; `what` says what should have reached it.
    fn crash_at(&self, failpoint: &str, exit_at_end: bool, what: &str) {
        let mut child = self.spawn(Some(failpoint), exit_at_end);
        let status = child.wait(Duration::from_secs(120));
        assert_eq!(
            status.signal(),
            Some(libc_sigabrt()),
            "{what} did not reach failpoint `{failpoint}`: {status:?}"
        );
    }

    fn run_clean_to_end(&self) {
        let mut child = self.spawn(None, true);
        let status = child.wait(Duration::from_secs(120));
        assert!(status.success(), "clean run failed: {status:?}");
    }

    /// Exactly once (duplicates counted, not written) and every daily aggregate equal to
    /// the one computed here from the produced events.
    fn assert_exactly_once(&self) {
        common::checks::assert_exactly_once(self.lake.path(), &self.produced);
        common::aggregates::assert_daily_stats(self.lake.path(), &self.produced);
    }
}

fn crash_at(failpoint: &str) {
    crash_with(failpoint, &[]);
}

fn crash_with(failpoint: &str, settings: &[(&'static str, &'static str)]) {
    let mut fixture = Fixture::new(2500, 7);
    fixture.settings = settings.to_vec();
    common::produce(
        fixture.kafka.bootstrap_servers(),
        &fixture.topics,
        &fixture.records(0..2500),
    );
    fixture.crash_at(failpoint, true, "the run");
    fixture.run_clean_to_end();
    fixture.assert_exactly_once();
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn crash_after_a_file_write_before_the_manifest() {
    crash_at("after-file-write:3");
}

#[test]
fn crash_between_two_files_of_one_flush() {
    crash_at("between-files:2");
}

#[test]
fn crash_after_the_state_write_before_the_snapshot() {
    crash_at("before-snapshot:2");
}

/// The third flush uploaded a changelog entry the manifest does not name: the restart
/// must restore by the manifest (the first flush's snapshot and the second one's entry).
#[test]
fn crash_after_the_changelog_entry_before_the_manifest() {
    crash_at("after-snapshot:3");
}

/// With a snapshot per flush, the uploaded snapshot is the newest one but the manifest
/// still names the previous one: the restart must restore by the manifest, not by `LATEST`.
#[test]
fn crash_after_the_snapshot_before_the_manifest() {
    crash_with(
        "after-snapshot:2",
        &[("LAKESTREAM_STATE__SNAPSHOT_EVERY", "0")],
    );
}

#[test]
fn crash_after_the_manifest_before_the_commit() {
    crash_at("before-commit:2");
}

#[test]
fn crash_during_the_commit() {
    crash_at("during-commit:2");
}

#[test]
fn kill_9_at_random_moments_while_records_stream_in() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("kill -9 test seed: {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let fixture = Fixture::new(6000, seed);
    let bootstrap = fixture.kafka.bootstrap_servers().to_string();
    let topics = fixture.topics.clone();
    let batches: Vec<_> = (0..6)
        .map(|i| fixture.records(i * 1000..(i + 1) * 1000))
        .collect();
    let producer = std::thread::spawn(move || {
        for batch in batches {
            common::produce(&bootstrap, &topics, &batch);
            std::thread::sleep(Duration::from_millis(700));
        }
    });
    for _ in 0..4 {
        let mut child = fixture.spawn(None, false);
        child.wait_until_assigned();
        std::thread::sleep(Duration::from_millis(rng.random_range(50..1500)));
        child.kill_9();
    }
    producer.join().unwrap();
    fixture.run_clean_to_end();
    fixture.assert_exactly_once();
}

/// A wall-clock (idle) flush is not a function of the records: after the crash, replay sees
/// more records of the same hour and closes the window elsewhere. Only the manifest's
/// write-ahead list keeps the crashed flush's file from staying beside the new one.
#[test]
fn crash_during_an_idle_flush_then_more_records_of_the_same_hour() {
    let mut fixture = Fixture::new(0, 1);
    let hour = common::events::FRI_1015;
    let batch = |from: usize| -> Vec<(String, String, Vec<u8>, Kind)> {
        (from..from + 5)
            .map(|i| {
                let (role, key, value) =
                    common::events::attempt(&format!("idle-{i}"), hour + i as i64 * 1000);
                (role, key, value, Kind::Valid)
            })
            .collect()
    };
    fixture.produced = batch(0);
    common::produce(
        fixture.kafka.bootstrap_servers(),
        &fixture.topics,
        &fixture.records(0..5),
    );
    fixture.crash_at("after-file-write:1", false, "the idle flush");
    fixture.produced.extend(batch(5));
    common::produce(
        fixture.kafka.bootstrap_servers(),
        &fixture.topics,
        &fixture.records(5..10),
    );
    fixture.run_clean_to_end();
    fixture.assert_exactly_once();
}

/// Late windows written under the memory budget (a topic that catches up late, no on-time
/// window closing) are a flush like any other: a crash after its first file leaves the
/// lake exact once the partition restarts.
#[test]
fn crash_while_late_windows_are_written_under_the_memory_budget() {
    let mut fixture = Fixture::new(0, 2);
    let start = common::events::FRI_1015 - 15 * 60_000 - 30_123; // 10:00:00 Friday
    let attempts = |prefix: &str, n: i64, at: &dyn Fn(i64) -> i64| -> common::Produced {
        (0..n)
            .map(|i| {
                let (role, key, value) = common::events::attempt(&format!("{prefix}{i}"), at(i));
                (role, key, value, Kind::Valid)
            })
            .collect()
    };
    // Eight hours on time, all written by a clean run to the end.
    fixture.produced = attempts("t", 480, &|i| start + i * 60_000);
    common::produce(
        fixture.kafka.bootstrap_servers(),
        &fixture.topics,
        &fixture.records(0..480),
    );
    fixture.run_clean_to_end();

    // Late attempts for the first four hours: past half of a 1 MiB budget, below all of it
    // (see `tests/mock_pipeline.rs`), with no on-time hour to close and no idle flush.
    fixture
        .produced
        .extend(attempts("l", 1200, &|i| start + (i % 240) * 60_000 + 1));
    common::produce(
        fixture.kafka.bootstrap_servers(),
        &fixture.topics,
        &fixture.records(480..1680),
    );
    fixture.settings = vec![
        ("LAKESTREAM_WINDOWS__MEMORY_BUDGET_MIB", "1"),
        ("LAKESTREAM_WINDOWS__FLUSH_INTERVAL", "2s"),
        ("LAKESTREAM_WINDOWS__IDLE_TIMEOUT", "10m"),
    ];
    fixture.crash_at(
        "after-file-write:1",
        false,
        "a flush of late windows under the budget",
    );
    fixture.settings.clear();
    fixture.run_clean_to_end();
    fixture.assert_exactly_once();
}

/// Window rows spilled to disk are scratch: after a crash right after a spill, and one
/// while spilled windows are being written, the restarted partition replays their records
/// from Kafka and never reads the dead process's spill files; the lake ends exact.
#[test]
fn crashes_around_spilled_windows_lose_and_double_nothing() {
    let mut fixture = Fixture::new(3000, 11);
    common::produce(
        fixture.kafka.bootstrap_servers(),
        &fixture.topics,
        &fixture.records(0..3000),
    );
    // A day of grace keeps every window open, and 3,000 records are about 3 MB of rows.
    fixture.settings = vec![
        ("LAKESTREAM_WINDOWS__MEMORY_BUDGET_MIB", "1"),
        ("LAKESTREAM_WINDOWS__GRACE", "24h"),
    ];
    fixture.crash_at("after-spill:2", false, "a spill under a 1 MiB budget");
    fixture.crash_at(
        "after-file-write:3",
        true,
        "writing spilled windows at the end",
    );
    fixture.run_clean_to_end();
    fixture.assert_exactly_once();
}

/// SIGTERM is the graceful path: open windows are flushed and committed, exit code 0, and
/// the lake is complete without any restart.
#[test]
fn sigterm_flushes_open_windows_and_exits_zero() {
    let fixture = Fixture::new(2000, 3);
    common::produce(
        fixture.kafka.bootstrap_servers(),
        &fixture.topics,
        &fixture.records(0..2000),
    );
    let mut child = fixture.spawn(None, false);
    child.wait_until_assigned();
    // Everything consumed, windows still open (no exit-at-end): the terminate must flush.
    let addr = child.http_addr();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while consumed(&addr) < 2000 {
        assert!(
            std::time::Instant::now() < deadline,
            "2000 records not consumed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.terminate();
    let status = child.wait(Duration::from_secs(60));
    assert!(status.success(), "SIGTERM should end in exit 0: {status:?}");
    fixture.assert_exactly_once();
}

/// `lakestream_records_consumed_total`, summed over topics, from the instance's /metrics.
fn consumed(addr: &str) -> u64 {
    common::http::metric_sum(addr, "lakestream_records_consumed_total")
}
