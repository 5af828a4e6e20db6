//! The learning-analytics processor run by every partition task. A Kafka record becomes
//! a raw row, plus one of:
//! - a quarantine row (failed a critical check, with the reason);
//! - nothing more, counted as a duplicate delivery ([`dedup`]);
//! - a processed row, and a change to the user's day in [`daily`].
//!
//! State changes wait in [`dedup`] and [`daily`] until the runtime says the record's hour
//! is durable; then they go to the partition's RocksDB stores in one batch.

pub mod anomaly;
pub mod daily;
pub mod dedup;
pub mod orphans;
mod pending;
pub mod pseudonym;
mod row;

use std::sync::Arc;
use std::time::Duration;

use lakestream_state::{PartitionDb, StateBatch};
use lakestream_topology::dead_letter::DeadLetter;
use lakestream_topology::{
    Dataset, DerivedFile, Parsed, Processor, ProcessorFactory, RouteContext, SourceRecord,
};
use prometheus::{IntCounter, IntCounterVec};

use crate::domain::{self, Event, Rejection, ResponseTimeThresholds, Topic};
use crate::lake::{datasets, encode};
use crate::quality::{self, Outcome, QualityMetrics, QualityRules};
pub use daily::{DailyRow, DailyStats};
pub use row::Row;

pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The processor's state stores (column families).
pub const STORES: &[&str] = &[
    dedup::STORE,
    daily::STORE,
    anomaly::STORE,
    orphans::SESSIONS_STORE,
    orphans::WAITING_STORE,
    orphans::ORPHANS_STORE,
];

/// Domain counters, labelled by topic role.
#[derive(Clone)]
pub struct DomainMetrics {
    pub processed: IntCounterVec,
    pub quarantined: IntCounterVec,
    pub accuracy_mismatches: IntCounter,
    pub duplicates: IntCounterVec,
    pub aggregate_too_late: IntCounter,
    pub anomalies: IntCounter,
    pub without_session: IntCounter,
}

impl DomainMetrics {
    pub fn new(registry: &prometheus::Registry) -> Self {
        let processed = IntCounterVec::new(
            prometheus::Opts::new(
                "lakestream_records_processed_total",
                "Valid events routed to the processed tier",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let quarantined = IntCounterVec::new(
            prometheus::Opts::new(
                "lakestream_records_quarantined_total",
                "Records that failed a critical check",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let accuracy_mismatches = IntCounter::new(
            "lakestream_session_accuracy_mismatches_total",
            "Sessions whose reported accuracy disagreed with their counts (recomputed)",
        )
        .expect("valid metric");
        let duplicates = IntCounterVec::new(
            prometheus::Opts::new(
                "lakestream_records_duplicate_total",
                "Redeliveries of an event_id already processed within the deduplication horizon",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let aggregate_too_late = IntCounter::new(
            "lakestream_aggregate_late_events_total",
            "Valid events later than the allowed lateness: processed, but not in daily_user_stats",
        )
        .expect("valid metric");
        let anomalies = IntCounter::new(
            "lakestream_anomalies_total",
            "Values flagged as statistical outliers (info level; the record is processed)",
        )
        .expect("valid metric");
        let without_session = IntCounter::new(
            "lakestream_attempts_without_session_total",
            "Attempts whose session did not arrive within quality.session_wait (error level; processed and flagged)",
        )
        .expect("valid metric");
        registry
            .register(Box::new(without_session.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(anomalies.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(duplicates.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(aggregate_too_late.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(processed.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(quarantined.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(accuracy_mismatches.clone()))
            .expect("metric registered once");
        DomainMetrics {
            processed,
            quarantined,
            accuracy_mismatches,
            duplicates,
            aggregate_too_late,
            anomalies,
            without_session,
        }
    }
}

/// How long state remembers, in event time.
#[derive(Debug, Clone, Copy)]
pub struct StateRules {
    /// A redelivered `event_id` within this much event time is a duplicate.
    pub dedup_horizon: Duration,
    /// A day's aggregate stops changing this long after the day ended (by watermark).
    pub allowed_lateness: Duration,
}

impl Default for StateRules {
    fn default() -> Self {
        StateRules {
            dedup_horizon: Duration::from_secs(7 * 86_400),
            allowed_lateness: Duration::from_secs(2 * 86_400),
        }
    }
}

/// Builds one [`LearningProcessor`] per partition task.
pub struct LearningFactory {
    pub topic_names: Arc<Vec<String>>,
    pub thresholds: ResponseTimeThresholds,
    pub rules: StateRules,
    pub quality: QualityRules,
    pub metrics: DomainMetrics,
    pub quality_metrics: QualityMetrics,
    /// Replaces `user_id` in the processed, aggregated and quality tiers when set.
    pub pseudonymizer: Option<pseudonym::Pseudonymizer>,
}

impl ProcessorFactory for LearningFactory {
    type Processor = LearningProcessor;

    fn create(&self, partition: i32) -> LearningProcessor {
        let per_topic = |v: &IntCounterVec| Topic::ALL.map(|t| v.with_label_values(&[t.name()]));
        LearningProcessor {
            partition,
            topic_names: self.topic_names.clone(),
            datasets: Arc::new(datasets::all()),
            thresholds: self.thresholds,
            quality: self.quality,
            quality_metrics: self.quality_metrics.clone(),
            db: None,
            dedup: dedup::Dedup::new(self.rules.dedup_horizon.as_millis() as i64),
            anomalies: anomaly::Anomalies::new(self.quality.anomaly),
            daily: daily::Daily::new(self.rules.allowed_lateness.as_millis() as i64),
            orphans: orphans::Orphans::new(
                self.quality.session_wait.as_millis() as i64,
                self.rules.allowed_lateness.as_millis() as i64,
            ),
            processed: per_topic(&self.metrics.processed),
            quarantined: per_topic(&self.metrics.quarantined),
            duplicates: per_topic(&self.metrics.duplicates),
            accuracy_mismatches: self.metrics.accuracy_mismatches.clone(),
            aggregate_too_late: self.metrics.aggregate_too_late.clone(),
            anomalies_found: self.metrics.anomalies.clone(),
            without_session: self.metrics.without_session.clone(),
            pseudonymizer: self.pseudonymizer.clone(),
        }
    }
}

pub struct LearningProcessor {
    partition: i32,
    /// Configured topic names, in [`Topic::ALL`] order (the runtime's topic index).
    topic_names: Arc<Vec<String>>,
    datasets: Arc<Vec<Dataset>>,
    thresholds: ResponseTimeThresholds,
    quality: QualityRules,
    quality_metrics: QualityMetrics,
    db: Option<Arc<PartitionDb>>,
    dedup: dedup::Dedup,
    daily: daily::Daily,
    anomalies: anomaly::Anomalies,
    orphans: orphans::Orphans,
    processed: [IntCounter; 3],
    quarantined: [IntCounter; 3],
    duplicates: [IntCounter; 3],
    accuracy_mismatches: IntCounter,
    aggregate_too_late: IntCounter,
    anomalies_found: IntCounter,
    without_session: IntCounter,
    pseudonymizer: Option<pseudonym::Pseudonymizer>,
}

impl LearningProcessor {
    /// Where a rejected record goes in time: its own event time when it can be read, else
    /// the Kafka timestamp (which does not move the watermark).
    fn fallback_time(topic: Topic, record: &SourceRecord) -> (i64, bool) {
        let hint = record
            .value
            .as_deref()
            .and_then(|v| domain::event_time_hint(topic, v));
        match hint {
            Some(ms) => (ms, true),
            None => (record.timestamp_ms.unwrap_or(0), false),
        }
    }

    /// Brings the pending state changes of `hour` back from disk (see `pending.rs`).
    fn load_pending(&mut self, hour: i64) -> anyhow::Result<()> {
        self.dedup.load(hour)?;
        self.daily.load(hour)?;
        self.orphans.load(hour)?;
        Ok(())
    }

    /// The partition's database; a handle, so the stores can be borrowed mutably beside it.
    fn db(&self) -> anyhow::Result<Arc<PartitionDb>> {
        self.db
            .clone()
            .ok_or_else(|| anyhow::anyhow!("state used before the runtime attached it"))
    }

    /// A valid event's rows: processed and counted in its day, unless it is a redelivery.
    fn route_valid(
        &mut self,
        record: &SourceRecord,
        event: Event,
        ctx: RouteContext,
    ) -> anyhow::Result<Vec<(usize, Row)>> {
        let t = record.topic;
        let topic = event.topic();
        let event_time_ms = event.event_time_ms();
        let hour = event_time_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let db = self.db()?;
        // Everything that can fail comes before the first change: a retried record must
        // not find its own id pending and count itself as a duplicate.
        self.load_pending(hour)?;
        let Some(first) = self
            .dedup
            .is_first_delivery(&db, t, hour, event.event_id())?
        else {
            self.duplicates[t].inc();
            let outcome = Outcome::Duplicate { event_time_ms };
            return Ok(vec![(datasets::raw(topic), Row::raw(record, outcome))]);
        };
        let mut event = event;
        let anomaly = self.outliers(&db, &mut event, hour)?;
        // Nothing below fails (the hour's pending changes are loaded).
        self.dedup.remember(hour, first)?;
        self.processed[t].inc();
        self.anomalies.count_event(t, hour, event.user_id());
        let mut rule_error = false;
        let applied = match &event {
            Event::Attempt(a) => {
                self.orphans.attempt(a, hour, ctx.watermark_ms)?;
                self.daily.attempt(a, hour, ctx.watermark_ms)?
            }
            Event::Session(s) => {
                self.orphans.session(s, hour, ctx.watermark_ms)?;
                if s.reported_accuracy_mismatch.is_some() {
                    self.accuracy_mismatches.inc();
                    rule_error = true;
                }
                self.daily.session(s, hour, ctx.watermark_ms)?
            }
            Event::Training(_) => daily::Applied::NotAggregated,
        };
        if applied == daily::Applied::TooLate {
            self.aggregate_too_late.inc();
        }
        let outcome = Outcome::Processed {
            event_time_ms,
            rule_error,
            anomaly,
        };
        Ok(vec![
            (datasets::raw(topic), Row::raw(record, outcome)),
            (datasets::processed(topic), Row::from_event(event)),
        ])
    }
}

impl LearningProcessor {
    /// Users of a window with far more events than users usually have in an hour, judged
    /// against the partition's history (anomalous volume, info level).
    fn busy_users(&self, topic: usize, rows: &[Row]) -> serde_json::Value {
        let mut per_user: std::collections::BTreeMap<&[u8], u64> = Default::default();
        for (record, outcome) in rows.iter().filter_map(Row::as_raw_outcome) {
            if let (Outcome::Processed { .. }, Some(key)) = (outcome, record.key.as_deref()) {
                *per_user.entry(key).or_default() += 1;
            }
        }
        let busy: Vec<_> = per_user
            .into_iter()
            .filter_map(|(user, events)| {
                let z = self
                    .anomalies
                    .judge_volume(anomaly::USER_HOUR[topic], events as f64)?;
                self.anomalies_found.inc();
                Some(serde_json::json!({
                    "user_id": String::from_utf8_lossy(user),
                    "events": events,
                    "robust_z": (z * 10.0).round() / 10.0,
                }))
            })
            .collect();
        serde_json::Value::Array(busy)
    }

    /// Scores the event's metrics against their history and notes outliers on the event
    /// (its `anomaly` column). Returns whether any was found.
    fn outliers(&mut self, db: &PartitionDb, event: &mut Event, hour: i64) -> anyhow::Result<bool> {
        let mut found = Vec::new();
        let mut check = |metric: &'static str, x: Option<f64>| -> anyhow::Result<()> {
            if let Some(x) = x {
                if let Some(z) = self.anomalies.observe(db, metric, hour, x)? {
                    found.push(format!("{metric}: robust z {z:.1}"));
                }
            }
            Ok(())
        };
        match event {
            Event::Attempt(a) => check("response_time_ms", Some(a.time_taken_ms as f64))?,
            Event::Session(s) => {
                check("session_duration_minutes", Some(s.duration_minutes))?;
                // A session without items has no pace to judge.
                check(
                    "items_per_minute",
                    s.items_per_minute.filter(|_| s.items_attempted > 0),
                )?;
            }
            Event::Training(_) => {}
        }
        if found.is_empty() {
            return Ok(false);
        }
        self.anomalies_found.inc_by(found.len() as u64);
        let note = Some(found.join("; "));
        match event {
            Event::Attempt(a) => a.anomaly = note,
            Event::Session(s) => s.anomaly = note,
            Event::Training(_) => {}
        }
        Ok(true)
    }
}

impl Processor for LearningProcessor {
    type Row = Row;
    type Parsed = Result<Event, Rejection>;

    fn datasets(&self) -> Arc<Vec<Dataset>> {
        self.datasets.clone()
    }

    fn stores(&self) -> &'static [&'static str] {
        STORES
    }

    fn attach(&mut self, db: Arc<PartitionDb>) {
        self.db = Some(db);
    }

    fn parse(&self, record: &SourceRecord) -> Parsed<Self::Parsed> {
        let topic = Topic::ALL[record.topic];
        let limit = self.quality.max_record_bytes;
        let oversized = record.value.as_ref().is_some_and(|v| v.len() > limit);
        let value = match record.value.as_deref() {
            Some(value) if oversized => Err(Rejection::of_record(format!(
                "record value is {} bytes; at most {limit} are accepted (quality.max_record_bytes)",
                value.len()
            ))),
            Some(value) => domain::parse(topic, value, &self.thresholds),
            None => Err(Rejection::of_record(
                "record has no value (a tombstone); expected a JSON object",
            )),
        };
        let (event_time_ms, advances_watermark) = match &value {
            Ok(event) => (event.event_time_ms(), true),
            // Reading a time out of an oversized value would cost the parse the limit saves.
            Err(_) if oversized => (record.timestamp_ms.unwrap_or(0), false),
            Err(_) => Self::fallback_time(topic, record),
        };
        Parsed {
            event_time_ms,
            advances_watermark,
            value,
        }
    }

    fn route(
        &mut self,
        record: &SourceRecord,
        parsed: Parsed<Self::Parsed>,
        ctx: RouteContext,
    ) -> anyhow::Result<Vec<(usize, Row)>> {
        let topic = Topic::ALL[record.topic];
        match parsed.value {
            Ok(event) => self.route_valid(record, event, ctx),
            Err(rejection) => {
                self.quarantined[record.topic].inc();
                let outcome = Outcome::Quarantined(rejection.kind);
                let raw = (datasets::raw(topic), Row::raw(record, outcome));
                let row = Row::Quarantine(Box::new((record.clone(), rejection)));
                Ok(vec![raw, (datasets::quarantine(topic), row)])
            }
        }
    }

    fn stage(
        &mut self,
        hours: &[i64],
        watermark_ms: Option<i64>,
        batch: &mut StateBatch<'_>,
    ) -> anyhow::Result<Vec<i64>> {
        let db = self.db()?;
        self.dedup.stage(hours, watermark_ms, batch)?;
        self.anomalies.stage(&db, hours, watermark_ms, batch)?;
        let (orphan_days, flagged) = self.orphans.stage(&db, hours, watermark_ms, batch)?;
        self.without_session.inc_by(flagged);
        let mut days = self.daily.stage(&db, hours, watermark_ms, batch)?;
        days.extend(orphan_days);
        days.sort_unstable();
        days.dedup();
        Ok(days)
    }

    fn spill_pending(&mut self, dir: &std::path::Path) -> anyhow::Result<u64> {
        Ok(self.dedup.spill(dir)? + self.daily.spill(dir)? + self.orphans.spill(dir)?)
    }

    fn forget(&mut self, hours: &[i64]) {
        self.dedup.forget(hours);
        self.daily.forget(hours);
        self.anomalies.forget(hours);
        self.orphans.forget(hours);
    }

    fn dead_letters(&self, dataset: usize, rows: &[Row]) -> Vec<DeadLetter> {
        if !(6..=8).contains(&dataset) {
            return Vec::new();
        }
        rows.iter()
            .filter_map(Row::as_quarantine)
            .map(|(record, rejection)| {
                let mut headers = vec![
                    ("lakestream.reason", rejection.to_string()),
                    ("lakestream.check", rejection.kind.as_str().to_string()),
                ];
                if let Some(field) = &rejection.field {
                    headers.push(("lakestream.field", field.clone()));
                }
                DeadLetter {
                    source_topic: record.topic,
                    source_offset: record.offset,
                    key: record.key.clone(),
                    value: record.value.clone(),
                    headers,
                }
            })
            .collect()
    }

    fn describe(
        &self,
        dataset: usize,
        rows: &[Row],
        batch: &arrow::record_batch::RecordBatch,
    ) -> serde_json::Value {
        match dataset {
            // A topic's raw rows are all its records of the window: its quality report.
            0..=2 => {
                let name = &self.datasets[datasets::processed(Topic::ALL[dataset])].path;
                let counts = quality::window::WindowCounts::of(
                    rows.iter().filter_map(Row::as_raw_outcome),
                    &self.quality,
                );
                let warnings = counts.warnings(&self.quality);
                self.quality_metrics
                    .record(name, Some(&counts.scores()), &warnings);
                let mut report = counts.report(name, &self.quality);
                report["info"]["busy_users"] = self.busy_users(dataset, rows);
                report
            }
            3..=5 => {
                let profile = quality::profile::profile(batch);
                let warnings = quality::profile::null_share_warnings(
                    &profile,
                    datasets::optional_columns(dataset),
                    self.quality.max_null_share,
                );
                self.quality_metrics
                    .record(&self.datasets[dataset].path, None, &warnings);
                serde_json::json!({ "profile": profile, "warnings": warnings })
            }
            _ => serde_json::Value::Null,
        }
    }

    fn derived(&self, days: &[i64]) -> anyhow::Result<Vec<DerivedFile<Row>>> {
        let db = self.db()?;
        let mut files = Vec::new();
        // A day without rows has no file to write: its state expired, or the day changed
        // in the other dataset only. An empty file would hide the rows already written.
        for day in days {
            let rows = daily::Daily::rows(&db, *day, self.partition)?;
            if !rows.is_empty() {
                files.push(DerivedFile {
                    dataset: datasets::AGGREGATED_DAILY,
                    day_ms: *day,
                    rows: rows.into_iter().map(|r| Row::Daily(Box::new(r))).collect(),
                });
            }
            let rows = orphans::Orphans::rows(&db, *day, self.partition)?;
            if !rows.is_empty() {
                files.push(DerivedFile {
                    dataset: datasets::ATTEMPTS_WITHOUT_SESSION,
                    day_ms: *day,
                    rows: rows.into_iter().map(|r| Row::Orphan(Box::new(r))).collect(),
                });
            }
        }
        Ok(files)
    }

    fn row_bytes(row: &Row) -> usize {
        row.approx_bytes()
    }

    fn encode(
        &self,
        dataset: usize,
        rows: &[Row],
    ) -> anyhow::Result<arrow::record_batch::RecordBatch> {
        let schema = self.datasets[dataset].schema.clone();
        let names = &self.topic_names;
        let batch = match dataset {
            0..=2 => encode::raw(
                schema,
                names,
                rows.iter()
                    .filter_map(Row::as_raw)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )?,
            3 => encode::attempts(
                schema,
                rows.iter()
                    .filter_map(Row::as_attempt)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )?,
            4 => encode::sessions(
                schema,
                rows.iter()
                    .filter_map(Row::as_session)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )?,
            5 => encode::training(
                schema,
                rows.iter()
                    .filter_map(Row::as_training)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )?,
            6..=8 => encode::quarantine(
                schema,
                names,
                rows.iter()
                    .filter_map(Row::as_quarantine)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )?,
            datasets::AGGREGATED_DAILY => {
                encode::daily(schema, rows.iter().filter_map(Row::as_daily))?
            }
            datasets::ATTEMPTS_WITHOUT_SESSION => {
                encode::orphans(schema, rows.iter().filter_map(Row::as_orphan))?
            }
            other => anyhow::bail!("unknown dataset index {other}"),
        };
        anyhow::ensure!(
            batch.num_rows() == rows.len(),
            "rows of another kind were buffered in dataset {dataset}"
        );
        // Raw (0..=2) and quarantine (6..=8) keep records as they came.
        match &self.pseudonymizer {
            Some(p) if !matches!(dataset, 0..=2 | 6..=8) => p.apply(batch),
            _ => Ok(batch),
        }
    }
}
