//! Buffered rows to Arrow batches, one encoder per dataset kind. Columns are built in the
//! schema's order (see `datasets.rs`); a mismatch fails loudly in `RecordBatch::try_new`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, Int8Builder, ListBuilder, MapBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use lakestream_topology::SourceRecord;

use crate::domain::{Attempt, ModelState, Rejection, Session, Training};
use crate::pipeline::orphans::OrphanRow;
use crate::pipeline::DailyRow;

fn utc(builder: TimestampMillisecondBuilder) -> TimestampMillisecondBuilder {
    builder.with_timezone("UTC")
}

fn finish(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(schema, columns)
}

/// Raw and quarantine rows share their first six columns: the record as it came.
struct RecordColumns {
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    key: BinaryBuilder,
    value: BinaryBuilder,
    timestamp: TimestampMillisecondBuilder,
}

impl RecordColumns {
    fn with_capacity(n: usize) -> Self {
        RecordColumns {
            topic: StringBuilder::with_capacity(n, n * 16),
            partition: Int32Builder::with_capacity(n),
            offset: Int64Builder::with_capacity(n),
            key: BinaryBuilder::with_capacity(n, n * 16),
            value: BinaryBuilder::with_capacity(n, n * 256),
            timestamp: utc(TimestampMillisecondBuilder::with_capacity(n)),
        }
    }

    fn push(&mut self, topic: &str, record: &SourceRecord) {
        self.topic.append_value(topic);
        self.partition.append_value(record.partition);
        self.offset.append_value(record.offset);
        self.key.append_option(record.key.as_deref());
        self.value.append_option(record.value.as_deref());
        self.timestamp.append_option(record.timestamp_ms);
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.timestamp.finish()),
        ]
    }
}

pub fn raw<'a>(
    schema: SchemaRef,
    topic_names: &[String],
    rows: impl ExactSizeIterator<Item = &'a SourceRecord>,
) -> Result<RecordBatch, ArrowError> {
    let mut cols = RecordColumns::with_capacity(rows.len());
    for record in rows {
        cols.push(&topic_names[record.topic], record);
    }
    finish(schema, cols.finish())
}

pub fn quarantine<'a>(
    schema: SchemaRef,
    topic_names: &[String],
    rows: impl ExactSizeIterator<Item = (&'a SourceRecord, &'a Rejection)>,
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut cols = RecordColumns::with_capacity(n);
    let mut reason = StringBuilder::with_capacity(n, n * 64);
    let mut field = StringBuilder::with_capacity(n, n * 16);
    let mut check = StringBuilder::with_capacity(n, n * 8);
    for (record, rejection) in rows {
        cols.push(&topic_names[record.topic], record);
        reason.append_value(rejection.to_string());
        field.append_option(rejection.field.as_deref());
        check.append_value(rejection.kind.as_str());
    }
    let mut columns = cols.finish();
    columns.push(Arc::new(reason.finish()));
    columns.push(Arc::new(field.finish()));
    columns.push(Arc::new(check.finish()));
    finish(schema, columns)
}

pub fn attempts<'a>(
    schema: SchemaRef,
    rows: impl ExactSizeIterator<Item = &'a Attempt>,
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let (mut user, mut item, mut session) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut correct = BooleanBuilder::with_capacity(n);
    let mut time_taken = Int64Builder::with_capacity(n);
    let mut quality = Int8Builder::with_capacity(n);
    let mut seconds = Float64Builder::with_capacity(n);
    let mut category = StringBuilder::new();
    let (mut hour, mut weekday) = (Int8Builder::with_capacity(n), Int8Builder::with_capacity(n));
    let mut weekend = BooleanBuilder::with_capacity(n);
    let mut ef = Float64Builder::with_capacity(n);
    let mut interval = Int32Builder::with_capacity(n);
    let mut bkt = Float64Builder::with_capacity(n);
    let mut irt = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
    let (mut event_id, mut topic) = (StringBuilder::new(), StringBuilder::new());
    let mut timestamp = utc(TimestampMillisecondBuilder::with_capacity(n));
    let mut repetitions = Int32Builder::with_capacity(n);
    let mut derived = BooleanBuilder::with_capacity(n);
    let mut anomaly = StringBuilder::new();
    for a in rows {
        user.append_value(&a.user_id);
        item.append_value(&a.item_id);
        session.append_value(&a.session_id);
        correct.append_value(a.correct);
        time_taken.append_value(a.time_taken_ms);
        quality.append_value(a.quality);
        seconds.append_value(a.response_time_seconds);
        category.append_value(a.response_time_category.as_str());
        hour.append_value(a.hour_of_day);
        weekday.append_value(a.day_of_week);
        weekend.append_value(a.is_weekend);
        ef.append_option(a.sm2_easiness_factor_before);
        interval.append_option(a.sm2_interval_before);
        bkt.append_option(a.bkt_prob_knowledge_before);
        if a.irt_ability_before.is_empty() {
            irt.append(false)?;
        } else {
            for (topic, ability) in &a.irt_ability_before {
                irt.keys().append_value(topic);
                irt.values().append_value(*ability);
            }
            irt.append(true)?;
        }
        event_id.append_value(&a.event_id);
        topic.append_option(a.topic.as_deref());
        timestamp.append_value(a.timestamp_ms);
        repetitions.append_option(a.sm2_repetitions_before);
        derived.append_value(a.quality_derived);
        anomaly.append_option(a.anomaly.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(user.finish()),
        Arc::new(item.finish()),
        Arc::new(session.finish()),
        Arc::new(correct.finish()),
        Arc::new(time_taken.finish()),
        Arc::new(quality.finish()),
        Arc::new(seconds.finish()),
        Arc::new(category.finish()),
        Arc::new(hour.finish()),
        Arc::new(weekday.finish()),
        Arc::new(weekend.finish()),
        Arc::new(ef.finish()),
        Arc::new(interval.finish()),
        Arc::new(bkt.finish()),
        Arc::new(irt.finish()),
        Arc::new(event_id.finish()),
        Arc::new(topic.finish()),
        Arc::new(timestamp.finish()),
        Arc::new(repetitions.finish()),
        Arc::new(derived.finish()),
        Arc::new(anomaly.finish()),
    ];
    finish(schema, columns)
}

pub fn sessions<'a>(
    schema: SchemaRef,
    rows: impl ExactSizeIterator<Item = &'a Session>,
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let (mut session, mut user) = (StringBuilder::new(), StringBuilder::new());
    let mut duration = Float64Builder::with_capacity(n);
    let (mut items, mut correct) = (
        Int32Builder::with_capacity(n),
        Int32Builder::with_capacity(n),
    );
    let (mut accuracy, mut per_minute) = (
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
    );
    let mut topics_count = Int16Builder::with_capacity(n);
    let mut session_type = StringBuilder::new();
    let mut start_hour = Int8Builder::with_capacity(n);
    let mut event_id = StringBuilder::new();
    let mut started = utc(TimestampMillisecondBuilder::with_capacity(n));
    let mut ended = utc(TimestampMillisecondBuilder::with_capacity(n));
    let mut topics = ListBuilder::new(StringBuilder::new());
    let mut mismatch = Float64Builder::with_capacity(n);
    let mut anomaly = StringBuilder::new();
    for s in rows {
        session.append_value(&s.session_id);
        user.append_value(&s.user_id);
        duration.append_value(s.duration_minutes);
        items.append_value(s.items_attempted);
        correct.append_value(s.correct_count);
        accuracy.append_option(s.accuracy);
        per_minute.append_option(s.items_per_minute);
        topics_count.append_value(s.topics_count);
        session_type.append_value(s.session_type.as_str());
        start_hour.append_value(s.start_hour);
        event_id.append_value(&s.event_id);
        started.append_value(s.started_at_ms);
        ended.append_value(s.ended_at_ms);
        for t in &s.topics {
            topics.values().append_value(t);
        }
        topics.append(true);
        mismatch.append_option(s.reported_accuracy_mismatch);
        anomaly.append_option(s.anomaly.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(session.finish()),
        Arc::new(user.finish()),
        Arc::new(duration.finish()),
        Arc::new(items.finish()),
        Arc::new(correct.finish()),
        Arc::new(accuracy.finish()),
        Arc::new(per_minute.finish()),
        Arc::new(topics_count.finish()),
        Arc::new(session_type.finish()),
        Arc::new(start_hour.finish()),
        Arc::new(event_id.finish()),
        Arc::new(started.finish()),
        Arc::new(ended.finish()),
        Arc::new(topics.finish()),
        Arc::new(mismatch.finish()),
        Arc::new(anomaly.finish()),
    ];
    finish(schema, columns)
}

/// The five model-state columns of one side (before or after).
#[derive(Default)]
struct StateColumns {
    ef: Float64Builder,
    interval: Int32Builder,
    repetitions: Int32Builder,
    bkt: Float64Builder,
    irt: Float64Builder,
}

impl StateColumns {
    fn push(&mut self, s: &ModelState) {
        self.ef.append_option(s.sm2_easiness_factor);
        self.interval.append_option(s.sm2_interval);
        self.repetitions.append_option(s.sm2_repetitions);
        self.bkt.append_option(s.bkt_prob_knowledge);
        self.irt.append_option(s.irt_ability);
    }

    fn finish_into(mut self, columns: &mut Vec<ArrayRef>) {
        columns.push(Arc::new(self.ef.finish()));
        columns.push(Arc::new(self.interval.finish()));
        columns.push(Arc::new(self.repetitions.finish()));
        columns.push(Arc::new(self.bkt.finish()));
        columns.push(Arc::new(self.irt.finish()));
    }
}

pub fn training<'a>(
    schema: SchemaRef,
    rows: impl ExactSizeIterator<Item = &'a Training>,
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let (mut event_id, mut user, mut item) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut algorithm, mut version) = (StringBuilder::new(), StringBuilder::new());
    let mut correct = BooleanBuilder::with_capacity(n);
    let mut time_taken = Int64Builder::with_capacity(n);
    let mut timestamp = utc(TimestampMillisecondBuilder::with_capacity(n));
    let (mut hour, mut weekday) = (Int8Builder::with_capacity(n), Int8Builder::with_capacity(n));
    let mut weekend = BooleanBuilder::with_capacity(n);
    let (mut before, mut after) = (StateColumns::default(), StateColumns::default());
    let mut irt_topic = StringBuilder::new();
    for t in rows {
        event_id.append_value(&t.event_id);
        user.append_value(&t.user_id);
        item.append_value(&t.item_id);
        algorithm.append_value(t.algorithm.as_str());
        version.append_option(t.model_version.as_deref());
        correct.append_value(t.correct);
        time_taken.append_option(t.time_taken_ms);
        timestamp.append_value(t.timestamp_ms);
        hour.append_value(t.hour_of_day);
        weekday.append_value(t.day_of_week);
        weekend.append_value(t.is_weekend);
        before.push(&t.before);
        after.push(&t.after);
        irt_topic.append_option(
            t.before
                .irt_topic
                .as_deref()
                .or(t.after.irt_topic.as_deref()),
        );
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(user.finish()),
        Arc::new(item.finish()),
        Arc::new(algorithm.finish()),
        Arc::new(version.finish()),
        Arc::new(correct.finish()),
        Arc::new(time_taken.finish()),
        Arc::new(timestamp.finish()),
        Arc::new(hour.finish()),
        Arc::new(weekday.finish()),
        Arc::new(weekend.finish()),
    ];
    before.finish_into(&mut columns);
    after.finish_into(&mut columns);
    columns.push(Arc::new(irt_topic.finish()));
    finish(schema, columns)
}

pub fn orphans<'a>(
    schema: SchemaRef,
    rows: impl Iterator<Item = &'a OrphanRow>,
) -> Result<RecordBatch, ArrowError> {
    let (mut event, mut user, mut session) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut time = utc(TimestampMillisecondBuilder::new());
    let mut partition = Int32Builder::new();
    for r in rows {
        event.append_value(&r.attempt.event_id);
        user.append_value(&r.attempt.user_id);
        session.append_value(&r.attempt.session_id);
        time.append_value(r.attempt.event_time_ms);
        partition.append_value(r.partition);
    }
    finish(
        schema,
        vec![
            Arc::new(event.finish()),
            Arc::new(user.finish()),
            Arc::new(session.finish()),
            Arc::new(time.finish()),
            Arc::new(partition.finish()),
        ],
    )
}

pub fn daily<'a>(
    schema: SchemaRef,
    rows: impl Iterator<Item = &'a DailyRow>,
) -> Result<RecordBatch, ArrowError> {
    let mut user = StringBuilder::new();
    let mut date = Date32Builder::new();
    let (mut total, mut correct) = (Int64Builder::new(), Int64Builder::new());
    let (mut accuracy, mut avg_ms) = (Float64Builder::new(), Float64Builder::new());
    let (mut items, mut sessions) = (Int64Builder::new(), Int64Builder::new());
    let mut study = Float64Builder::new();
    let mut partition = Int32Builder::new();
    for r in rows {
        let s = &r.stats;
        user.append_value(&r.user_id);
        date.append_value(r.day_ms.div_euclid(86_400_000) as i32);
        total.append_value(s.total_attempts);
        correct.append_value(s.correct_attempts);
        accuracy.append_option(s.accuracy());
        avg_ms.append_option(s.avg_response_time_ms());
        items.append_value(s.items.len() as i64);
        sessions.append_value(s.total_sessions);
        study.append_value(s.study_time_minutes());
        partition.append_value(r.partition);
    }
    finish(
        schema,
        vec![
            Arc::new(user.finish()),
            Arc::new(date.finish()),
            Arc::new(total.finish()),
            Arc::new(correct.finish()),
            Arc::new(accuracy.finish()),
            Arc::new(avg_ms.finish()),
            Arc::new(items.finish()),
            Arc::new(sessions.finish()),
            Arc::new(study.finish()),
            Arc::new(partition.finish()),
        ],
    )
}
