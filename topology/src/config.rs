//! Settings of the stream runtime, already validated by the binary's configuration layer.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Subscribed topics; all must have the same partition count.
    pub topics: Vec<String>,
    /// How far the watermark trails the task's event time (see `window.rs`).
    pub grace: Duration,
    /// Wall-clock quiet time after window end + grace before a quiet partition closes it.
    pub idle_timeout: Duration,
    /// Least wall time between two flushes of a task while it catches up: closed hours
    /// wait and go out together, so a backlog costs one flush per interval rather than
    /// one per event hour. Zero flushes every hour as soon as it closes.
    pub flush_interval: Duration,
    /// How long a task's topic with nothing buffered holds back the others (see
    /// `merge.rs`).
    pub max_task_idle: Duration,
    /// Byte budget for all open windows of the process.
    pub memory_budget_bytes: usize,
    /// Record bytes read from Kafka and not yet taken by their tasks, for the whole
    /// instance (see `source.rs`).
    pub read_ahead_bytes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Deadline for one offset commit.
    pub commit_timeout: Duration,
    /// Deadline for revoked tasks to flush and commit; keep it below the session timeout.
    pub revoke_timeout: Duration,
    /// How often a task checks wall-clock conditions (idle close, budget).
    pub tick: Duration,
    /// Ask librdkafka for end-of-partition events. Always on in lakestream; tests turn it
    /// off to show that `--exit-at-end` also works from the consumer's positions alone.
    pub partition_eof_events: bool,
    /// Local RocksDB databases, one per partition task.
    pub state_dir: PathBuf,
    /// State snapshots kept in the lake per partition (the newest is the manifest's).
    pub snapshots_kept: u64,
    /// Published snapshots between two cleanups of older ones.
    pub snapshot_cleanup_every: u32,
    /// Changelog entries on top of a snapshot before the next flush uploads a snapshot
    /// instead: bounds what a restore replays.
    pub snapshot_every: usize,
    /// Per subscribed topic (same order), its dead-letter topic; empty or `None` for none.
    pub dead_letter_topics: Vec<Option<String>>,
    /// Who this instance is, written to the lake for each partition it owns so that an
    /// interactive query can be pointed at the owner.
    pub instance: Instance,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Instance {
    pub id: String,
    /// Base URL of this instance's HTTP server, when it serves one.
    pub http_url: Option<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            topics: Vec::new(),
            grace: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(60),
            flush_interval: Duration::from_secs(5),
            max_task_idle: Duration::from_millis(500),
            memory_budget_bytes: 64 << 20,
            read_ahead_bytes: 64 << 20,
            row_group_rows: 128 * 1024,
            commit_timeout: Duration::from_secs(10),
            revoke_timeout: Duration::from_secs(30),
            tick: Duration::from_secs(1),
            partition_eof_events: true,
            state_dir: PathBuf::from("./lakestream-state"),
            snapshots_kept: 2,
            snapshot_cleanup_every: 16,
            snapshot_every: 64,
            dead_letter_topics: Vec::new(),
            instance: Instance::default(),
        }
    }
}
