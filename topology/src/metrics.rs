//! Runtime metrics, named by one rule: `lakestream_` prefix, base units, `_total` counters,
//! labels from small fixed sets (topic, dataset, partition). Updated per batch or per flush.

use prometheus::{
    exponential_buckets, Counter, CounterVec, GaugeVec, Histogram, HistogramOpts, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct RuntimeMetrics {
    pub records_consumed: IntCounterVec,
    pub records_replayed_durable: IntCounterVec,
    pub records_redelivered: IntCounterVec,
    pub offset_gap_records: IntCounterVec,
    pub late_records: IntCounterVec,
    pub rows_written: IntCounterVec,
    pub files_written: IntCounterVec,
    pub bytes_written: IntCounterVec,
    pub flushes: IntCounterVec,
    pub flush_seconds: Histogram,
    pub commit_seconds: Histogram,
    pub commit_failures: IntCounter,
    pub write_failures: IntCounter,
    pub open_windows: IntGaugeVec,
    pub buffered_records: IntGaugeVec,
    pub consumed_lag: IntGaugeVec,
    pub durable_lag: IntGaugeVec,
    pub event_time_lag: GaugeVec,
    pub buffered_bytes: IntGauge,
    pub buffered_bytes_peak: IntGauge,
    pub spilled_bytes: IntCounter,
    pub rebalances: IntCounterVec,
    pub assigned_partitions: IntGauge,
    pub paused_partitions: IntGauge,
    pub partition_pauses: IntCounter,
    pub read_ahead_bytes: IntGauge,
    pub read_ahead_bytes_peak: IntGauge,
    pub read_ahead_full_seconds: Counter,
    pub state_restores: IntCounterVec,
    pub state_restore_seconds: Histogram,
    pub state_restore_bytes: IntCounter,
    pub state_snapshot_seconds: Histogram,
    pub state_changelog_seconds: Histogram,
    pub state_snapshot_bytes: IntCounter,
    pub state_store_bytes: IntGaugeVec,
    pub state_failures: IntCounter,
    pub dead_letters: IntCounterVec,
    /// Seconds spent per stage of a record's way; where the time goes (`lakestream bench`).
    pub stages: StageTimes,
    /// Not a Prometheus metric: the last flushes, for the status page.
    pub recent_flushes: crate::recent::RecentFlushes,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn histogram(registry: &Registry, name: &str, help: &str) -> Histogram {
    let opts = HistogramOpts::new(name, help)
        .buckets(exponential_buckets(0.001, 2.5, 12).expect("buckets"));
    let h = Histogram::with_opts(opts).expect("valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("metric registered once");
    h
}

impl RuntimeMetrics {
    /// One file written to `dataset`.
    pub fn count_file(&self, dataset: &str, rows: usize, bytes: u64) {
        self.rows_written
            .with_label_values(&[dataset])
            .inc_by(rows as u64);
        self.files_written.with_label_values(&[dataset]).inc();
        self.bytes_written
            .with_label_values(&[dataset])
            .inc_by(bytes);
    }

    pub fn new(registry: &Registry) -> Self {
        let commit_failures = IntCounter::new(
            "lakestream_commit_failures_total",
            "Kafka offset commits that failed or timed out (the manifest still holds the truth)",
        )
        .expect("valid metric");
        let write_failures = IntCounter::new(
            "lakestream_write_failures_total",
            "Flushes that failed and were retried",
        )
        .expect("valid metric");
        let open_windows = IntGaugeVec::new(
            Opts::new(
                "lakestream_open_windows",
                "Event-time windows open per partition task",
            ),
            &["partition"],
        )
        .expect("valid metric");
        let lag = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["topic", "partition"])
                .expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let consumed_lag = lag(
            "lakestream_consumed_lag_records",
            "High watermark minus the next offset the partition task will read",
        );
        let durable_lag = lag(
            "lakestream_durable_lag_records",
            "High watermark minus the committed offset: records not yet durable in the lake",
        );
        let event_time_lag = GaugeVec::new(
            Opts::new(
                "lakestream_event_time_lag_seconds",
                "Wall clock minus the partition task's event-time watermark",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(event_time_lag.clone()))
            .expect("metric registered once");
        let buffered_bytes = IntGauge::new(
            "lakestream_buffered_bytes",
            "Bytes held by open windows of this process",
        )
        .expect("valid metric");
        let buffered_bytes_peak = IntGauge::new(
            "lakestream_buffered_bytes_peak",
            "Most bytes the open windows of this process held at once since it started",
        )
        .expect("valid metric");
        registry
            .register(Box::new(buffered_bytes_peak.clone()))
            .expect("metric registered once");
        let spilled_bytes = counter(
            registry,
            "lakestream_spilled_bytes_total",
            "Bytes of window rows moved to local disk while the open windows were over the memory budget",
        );
        let assigned_partitions = IntGauge::new(
            "lakestream_assigned_partitions",
            "Partition tasks owned by this instance",
        )
        .expect("valid metric");
        for m in [commit_failures.clone(), write_failures.clone()] {
            registry
                .register(Box::new(m))
                .expect("metric registered once");
        }
        registry
            .register(Box::new(open_windows.clone()))
            .expect("metric registered once");
        let buffered_records = IntGaugeVec::new(
            Opts::new(
                "lakestream_buffered_records",
                "Records held in open event-time windows per partition task, not yet in the lake",
            ),
            &["partition"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(buffered_records.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(buffered_bytes.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(assigned_partitions.clone()))
            .expect("metric registered once");
        RuntimeMetrics {
            records_consumed: counter_vec(
                registry,
                "lakestream_records_consumed_total",
                "Kafka records consumed",
                &["topic"],
            ),
            records_replayed_durable: counter_vec(
                registry,
                "lakestream_records_replayed_durable_total",
                "Replayed records skipped because the lake already holds them",
                &["topic"],
            ),
            records_redelivered: counter_vec(
                registry,
                "lakestream_records_redelivered_total",
                "Records delivered again at an offset the task had already consumed (dropped)",
                &["topic"],
            ),
            offset_gap_records: counter_vec(
                registry,
                "lakestream_offset_gap_records_total",
                "Offsets skipped by the consumer (transaction markers, compaction, retention, or a broker fault)",
                &["topic"],
            ),
            late_records: counter_vec(
                registry,
                "lakestream_late_records_total",
                "Records whose event hour was already closed (written as a late file)",
                &["topic"],
            ),
            rows_written: counter_vec(
                registry,
                "lakestream_rows_written_total",
                "Rows written to the lake",
                &["dataset"],
            ),
            files_written: counter_vec(
                registry,
                "lakestream_files_written_total",
                "Parquet files written",
                &["dataset"],
            ),
            bytes_written: counter_vec(
                registry,
                "lakestream_bytes_written_total",
                "Parquet bytes written",
                &["dataset"],
            ),
            flushes: counter_vec(
                registry,
                "lakestream_flushes_total",
                "Flushes by reason",
                &["reason"],
            ),
            flush_seconds: histogram(
                registry,
                "lakestream_flush_duration_seconds",
                "Time to write and record one flush",
            ),
            commit_seconds: histogram(
                registry,
                "lakestream_commit_duration_seconds",
                "Time of one Kafka offset commit",
            ),
            commit_failures,
            write_failures,
            open_windows,
            buffered_records,
            consumed_lag,
            durable_lag,
            event_time_lag,
            buffered_bytes,
            buffered_bytes_peak,
            spilled_bytes,
            rebalances: counter_vec(
                registry,
                "lakestream_rebalances_total",
                "Group rebalance events",
                &["kind"],
            ),
            assigned_partitions,
            paused_partitions: gauge(
                registry,
                "lakestream_paused_partitions",
                "Topic-partitions whose fetching is paused because their partition task holds half of kafka.read_ahead_mib",
            ),
            read_ahead_bytes: gauge(
                registry,
                "lakestream_read_ahead_bytes",
                "Record bytes read from Kafka and not yet taken by their partition tasks",
            ),
            read_ahead_bytes_peak: gauge(
                registry,
                "lakestream_read_ahead_bytes_peak",
                "The most lakestream_read_ahead_bytes has been since the start",
            ),
            read_ahead_full_seconds: {
                let c = Counter::new(
                    "lakestream_read_ahead_full_seconds_total",
                    "Seconds the instance stopped reading Kafka because kafka.read_ahead_mib of records waited for their partition tasks",
                )
                .expect("valid metric");
                registry
                    .register(Box::new(c.clone()))
                    .expect("metric registered once");
                c
            },
            partition_pauses: counter(
                registry,
                "lakestream_partition_pauses_total",
                "Times a topic-partition's fetching was paused because its partition task held half of kafka.read_ahead_mib",
            ),
            state_restores: counter_vec(
                registry,
                "lakestream_state_restores_total",
                "Partition state openings by source: empty, local (current copy), snapshot",
                &["source"],
            ),
            state_restore_seconds: histogram(
                registry,
                "lakestream_state_restore_duration_seconds",
                "Time to download and open a partition's state snapshot",
            ),
            state_restore_bytes: counter(
                registry,
                "lakestream_state_restore_bytes_total",
                "Bytes of state snapshots downloaded",
            ),
            state_snapshot_seconds: histogram(
                registry,
                "lakestream_state_snapshot_duration_seconds",
                "Time to checkpoint and upload a partition's state",
            ),
            state_changelog_seconds: histogram(
                registry,
                "lakestream_state_changelog_duration_seconds",
                "Time to upload a flush's state batches as changelog entries",
            ),
            state_snapshot_bytes: counter(
                registry,
                "lakestream_state_snapshot_bytes_total",
                "Bytes of state uploaded (snapshots' new table files and per-snapshot files, changelog entries)",
            ),
            state_store_bytes: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "lakestream_state_store_bytes",
                        "Size of a partition's state store (table files and memtables)",
                    ),
                    &["partition"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(g.clone()))
                    .expect("metric registered once");
                g
            },
            dead_letters: counter_vec(
                registry,
                "lakestream_dead_letters_total",
                "Rejected records copied to their dead-letter topic",
                &["topic"],
            ),
            state_failures: counter(
                registry,
                "lakestream_state_failures_total",
                "State store reads that failed and were retried",
            ),
            recent_flushes: Default::default(),
            stages: StageTimes::new(registry),
        }
    }
}

/// `lakestream_stage_seconds_total{stage}`, one counter per stage, resolved once so the
/// per-record stages cost an atomic add.
#[derive(Clone)]
pub struct StageTimes {
    /// JSON decode, normalization, validation and derived fields (`Processor::parse`).
    pub parse: Counter,
    /// Deduplication, state reads and anomaly checks (`Processor::route`), and the
    /// task's bookkeeping between parsing and routing (offsets, replay and lateness).
    pub route: Counter,
    /// Adding rows to event-time windows.
    pub window: Counter,
    /// Rows to Arrow batches and Parquet bytes.
    pub encode: Counter,
    /// Parquet files and sidecars to the object store.
    pub put: Counter,
    /// State batches, derived day files and snapshots.
    pub state: Counter,
    /// Manifest saves.
    pub manifest: Counter,
    /// Offset commits to the group.
    pub commit: Counter,
    /// Held back while the open windows were over the memory budget (backpressure).
    pub budget_wait: Counter,
    /// Window rows moved to local disk past the memory budget.
    pub spill: Counter,
}

impl StageTimes {
    fn new(registry: &Registry) -> Self {
        let vec = CounterVec::new(
            Opts::new(
                "lakestream_stage_seconds_total",
                "Time spent per processing stage, summed over partition tasks",
            ),
            &["stage"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(vec.clone()))
            .expect("metric registered once");
        let stage = |name: &str| vec.with_label_values(&[name]);
        StageTimes {
            parse: stage("parse"),
            route: stage("route"),
            window: stage("window"),
            encode: stage("encode"),
            put: stage("put"),
            state: stage("state"),
            manifest: stage("manifest"),
            commit: stage("commit"),
            budget_wait: stage("budget_wait"),
            spill: stage("spill"),
        }
    }
}

/// Adds the time since `started` to `counter`.
pub fn time_since(counter: &Counter, started: std::time::Instant) {
    add_duration(counter, started.elapsed());
}

pub fn add_duration(counter: &Counter, took: std::time::Duration) {
    counter.inc_by(took.as_secs_f64());
}
