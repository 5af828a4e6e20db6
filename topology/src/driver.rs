//! The thread that reads the consumer's one queue. It serves rebalance callbacks (which
//! block while revoked tasks flush), hands each record to its partition task's input, and
//! keeps the read-ahead within [`FlowLimits`] (see `source.rs`).

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::TopicPartitionList;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::group::GroupConsumer;
use crate::processor::ProcessorFactory;
use crate::record::SourceRecord;

/// How often the driver looks for paused partitions whose tasks have caught up, and for
/// room in the read-ahead while it is full.
const CHECK_EVERY: Duration = Duration::from_millis(10);

/// While the read-ahead is full the driver still takes one event this often: rebalance
/// callbacks are served only by reading the queue, and librdkafka leaves the group when
/// it is not read for `max.poll.interval.ms`.
const POLL_WHILE_FULL: Duration = Duration::from_millis(100);

pub fn spawn<F: ProcessorFactory>(
    consumer: std::sync::Arc<GroupConsumer<F>>,
    stop: CancellationToken,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("lakestream-group".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("driver runtime");
            rt.block_on(drive(&consumer, stop));
        })
        .expect("spawn driver thread")
}

async fn drive<F: ProcessorFactory>(consumer: &GroupConsumer<F>, stop: CancellationToken) {
    let context = consumer.context();
    let metrics = context.metrics();
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut full = false;
    let mut full_since = Instant::now();
    let mut last_read = Instant::now();
    loop {
        let limits = context.flow_limits();
        let read_ahead = context.read_ahead();
        metrics.read_ahead_bytes.set(read_ahead as i64);
        metrics
            .read_ahead_bytes_peak
            .set(metrics.read_ahead_bytes_peak.get().max(read_ahead as i64));
        let was_full = full;
        full = if full {
            read_ahead >= limits.read_below
        } else {
            read_ahead > limits.stop_reading_above
        };
        if was_full != full {
            context.set_reading_stopped(full);
        }
        match (was_full, full) {
            (false, true) => full_since = Instant::now(),
            (true, false) => metrics
                .read_ahead_full_seconds
                .inc_by(full_since.elapsed().as_secs_f64()),
            _ => {}
        }
        if full && last_read.elapsed() < POLL_WHILE_FULL {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = check.tick() => resume_caught_up(consumer),
            }
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = check.tick() => resume_caught_up(consumer),
            received = consumer.recv() => {
                last_read = Instant::now();
                hand_on(consumer, received);
            }
        }
    }
}

fn hand_on<F: ProcessorFactory>(
    consumer: &GroupConsumer<F>,
    received: Result<BorrowedMessage<'_>, KafkaError>,
) {
    let context = consumer.context();
    match received {
        Ok(msg) => {
            let Some(topic) = context.topic_of(msg.topic()) else {
                return;
            };
            let record = SourceRecord::from_message(topic, &msg);
            drop(msg);
            if let Some(pause) = context.deliver(record) {
                flow(consumer, &[pause], true);
            }
        }
        Err(KafkaError::PartitionEOF(partition)) => context.end_of_partition(partition),
        Err(error) => warn!(%error, "consumer error"),
    }
}

fn resume_caught_up<F: ProcessorFactory>(consumer: &GroupConsumer<F>) {
    let resume = consumer.context().resumable();
    if !resume.is_empty() {
        flow(consumer, &resume, false);
    }
}

/// Pauses (or resumes) fetching `partitions` (topic, partition). Pausing also drops what
/// librdkafka fetched of them and did not hand on; a resume fetches again from the last
/// record handed on, so nothing is skipped.
fn flow<F: ProcessorFactory>(
    consumer: &GroupConsumer<F>,
    partitions: &[(String, i32)],
    pause: bool,
) {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition(topic, *partition);
    }
    let done = if pause {
        consumer.pause(&tpl)
    } else {
        consumer.resume(&tpl)
    };
    match done {
        Ok(()) if pause => consumer
            .context()
            .metrics()
            .partition_pauses
            .inc_by(partitions.len() as u64),
        Ok(()) => {}
        Err(error) => warn!(%error, pause, ?partitions, "could not pause or resume partitions"),
    }
    consumer.context().paused_partitions_changed();
}
