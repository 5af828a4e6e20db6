//! The learning-analytics processor run by every partition task: a Kafka record becomes a
//! raw row, plus a processed row (valid event) or a quarantine row (failed a critical
//! check, with the reason). Deduplication and daily aggregates slot in here (next issue),
//! between parsing and routing.

mod row;

use std::sync::Arc;

use lakestream_topology::{Dataset, Processor, ProcessorFactory, Routed, SourceRecord};
use prometheus::{IntCounter, IntCounterVec};

use crate::domain::{self, Event, Rejection, ResponseTimeThresholds, Topic};
use crate::lake::{datasets, encode};
pub use row::Row;

/// Domain counters, labelled by topic role.
#[derive(Clone)]
pub struct DomainMetrics {
    pub processed: IntCounterVec,
    pub quarantined: IntCounterVec,
    pub accuracy_mismatches: IntCounter,
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
        }
    }
}

/// Builds one [`LearningProcessor`] per partition task.
pub struct LearningFactory {
    pub topic_names: Arc<Vec<String>>,
    pub thresholds: ResponseTimeThresholds,
    pub metrics: DomainMetrics,
}

impl ProcessorFactory for LearningFactory {
    type Processor = LearningProcessor;

    fn create(&self, _partition: i32) -> LearningProcessor {
        let per_topic = |v: &IntCounterVec| Topic::ALL.map(|t| v.with_label_values(&[t.name()]));
        LearningProcessor {
            topic_names: self.topic_names.clone(),
            datasets: Arc::new(datasets::all()),
            thresholds: self.thresholds,
            processed: per_topic(&self.metrics.processed),
            quarantined: per_topic(&self.metrics.quarantined),
            accuracy_mismatches: self.metrics.accuracy_mismatches.clone(),
        }
    }
}

pub struct LearningProcessor {
    /// Configured topic names, in [`Topic::ALL`] order (the runtime's topic index).
    topic_names: Arc<Vec<String>>,
    datasets: Arc<Vec<Dataset>>,
    thresholds: ResponseTimeThresholds,
    processed: [IntCounter; 3],
    quarantined: [IntCounter; 3],
    accuracy_mismatches: IntCounter,
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
}

impl Processor for LearningProcessor {
    type Row = Row;

    fn datasets(&self) -> Arc<Vec<Dataset>> {
        self.datasets.clone()
    }

    fn process(&mut self, record: &SourceRecord) -> Routed<Row> {
        let topic = Topic::ALL[record.topic];
        let raw = (datasets::raw(topic), Row::Raw(record.clone()));
        let parsed = match record.value.as_deref() {
            Some(value) => domain::parse(topic, value, &self.thresholds),
            None => Err(Rejection::of_record(
                "record has no value (a tombstone); expected a JSON object",
            )),
        };
        match parsed {
            Ok(event) => {
                self.processed[record.topic].inc();
                if let Event::Session(s) = &event {
                    if s.reported_accuracy_mismatch.is_some() {
                        self.accuracy_mismatches.inc();
                    }
                }
                let event_time_ms = event.event_time_ms();
                let row = Row::from_event(event);
                Routed {
                    event_time_ms,
                    advances_watermark: true,
                    rows: vec![raw, (datasets::processed(topic), row)],
                }
            }
            Err(rejection) => {
                self.quarantined[record.topic].inc();
                let (event_time_ms, advances_watermark) = Self::fallback_time(topic, record);
                let row = Row::Quarantine(Box::new((record.clone(), rejection)));
                Routed {
                    event_time_ms,
                    advances_watermark,
                    rows: vec![raw, (datasets::quarantine(topic), row)],
                }
            }
        }
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
            other => anyhow::bail!("unknown dataset index {other}"),
        };
        anyhow::ensure!(
            batch.num_rows() == rows.len(),
            "rows of another kind were buffered in dataset {dataset}"
        );
        Ok(batch)
    }
}
