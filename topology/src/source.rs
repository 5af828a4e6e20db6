//! What a partition task reads: the records of its topic-partitions merged into one stream,
//! plus end-of-partition markers.
//!
//! Records come off the consumer's one queue (the driver thread in `runtime.rs` reads it)
//! and are handed to the owning task's [`TaskInput`], one per topic-partition. Why one
//! queue and not librdkafka's split partition queues: librdkafka's prefetch limit
//! (`queued.max.messages.kbytes`) then bounds the instance as a whole instead of each of
//! its partitions, so a broker that ignores the per-partition fetch limit (tansu 0.6.0
//! does) cannot fill 144 queues with whole backlogs.
//!
//! What was handed on and not yet taken by the tasks is the instance's read-ahead, bounded
//! by [`FlowLimits`]: past its limit the driver stops reading the queue (librdkafka then
//! stops fetching once its own queue is full), so nothing fetched is thrown away. One
//! topic-partition may hold at most half of it: past that, it is paused until its task has
//! caught up (Kafka Streams' `buffered.records.per.partition`), so that a stalled task
//! cannot take the whole read-ahead and stop the others.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use rdkafka::error::KafkaError;
use tokio::sync::mpsc;

use crate::merge::DriverView;
use crate::record::SourceRecord;

#[derive(Debug)]
pub enum SourceEvent {
    Record(SourceRecord),
    /// The topic (by index) has no more records for now.
    EndOfPartition(usize),
    Error(KafkaError),
}

/// Bounds of the read-ahead, in record bytes handed to the tasks and not taken yet.
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// The driver stops reading above this, for the whole instance...
    pub stop_reading_above: usize,
    /// ...and reads again below this.
    pub read_below: usize,
    /// A topic-partition holding more than this is paused...
    pub pause_above: usize,
    /// ...and resumed when its task has taken all but this.
    pub resume_below: usize,
}

impl FlowLimits {
    pub fn for_read_ahead(bytes: usize) -> Self {
        FlowLimits {
            stop_reading_above: bytes,
            read_below: bytes / 4 * 3,
            // A last resort for a task that stopped taking records, not a pacing tool:
            // every resume starts a fetch inside a record batch, where tansu 0.6.0 skips
            // the rest of the batch (README, known issues). With an eighth of the limit,
            // tasks held by the window budget were paused 46 times in the benchmark.
            pause_above: bytes / 2,
            resume_below: bytes / 16,
        }
    }
}

/// Record bytes handed on to all tasks of the instance and not taken yet.
#[derive(Debug, Clone, Default)]
pub struct ReadAhead {
    bytes: Arc<AtomicUsize>,
    /// The driver's word that it reads nothing until the tasks have taken records.
    stopped: Arc<AtomicBool>,
    /// Record bytes handed on since the instance started (see `merge.rs`, startup wait).
    handed_on: Arc<AtomicU64>,
}

impl ReadAhead {
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    pub fn reading_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub fn set_reading_stopped(&self, stopped: bool) {
        self.stopped.store(stopped, Ordering::Release);
    }
}

impl DriverView for ReadAhead {
    fn reading_stopped(&self) -> bool {
        ReadAhead::reading_stopped(self)
    }

    fn handed_on(&self) -> u64 {
        self.handed_on.load(Ordering::Acquire)
    }
}

/// The sending end of one topic-partition of a task.
pub struct TaskInput {
    /// Topic name and index into the topology's topic list.
    pub name: String,
    pub topic: usize,
    events: mpsc::UnboundedSender<SourceEvent>,
    /// Record bytes handed on and not yet taken by the task.
    waiting: Arc<AtomicUsize>,
    read_ahead: ReadAhead,
    paused: bool,
    /// Next offset this input will see: one past the last record handed on, or where the
    /// group's consumption starts before any record came.
    next_offset: Option<i64>,
}

impl TaskInput {
    /// Hands `record` to the task. True when the topic-partition should now be paused.
    pub fn deliver(&mut self, record: SourceRecord, limits: FlowLimits) -> bool {
        let bytes = record.payload_bytes();
        self.next_offset = Some(record.offset + 1);
        let waiting = self.waiting.fetch_add(bytes, Ordering::AcqRel) + bytes;
        self.read_ahead.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.read_ahead
            .handed_on
            .fetch_add(bytes as u64, Ordering::AcqRel);
        // A closed channel means the task is stopping: the record was not taken, so it is
        // not committed either, and the partition's next owner reads it again.
        if self.events.send(SourceEvent::Record(record)).is_err() {
            self.waiting.fetch_sub(bytes, Ordering::AcqRel);
            self.read_ahead.bytes.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        if !self.paused && waiting > limits.pause_above {
            self.paused = true;
            return true;
        }
        false
    }

    /// True when this input is paused and its task has caught up enough to resume it.
    pub fn take_resume(&mut self, limits: FlowLimits) -> bool {
        if self.paused && self.waiting.load(Ordering::Acquire) < limits.resume_below {
            self.paused = false;
            return true;
        }
        false
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Where consumption of this topic-partition starts, before any record came.
    pub fn set_start(&mut self, offset: i64) {
        self.next_offset.get_or_insert(offset);
    }

    /// Tells the task this topic-partition is at its end when everything below
    /// `high_watermark` was handed on. `low_watermark` stands in for the position of an
    /// input that saw no record and whose start is unknown (consumption then starts at
    /// the beginning). Returns whether it told.
    pub fn end_if_caught_up(&self, high_watermark: i64, low_watermark: Option<i64>) -> bool {
        let Some(position) = self.next_offset.or(low_watermark) else {
            return false;
        };
        if position < high_watermark {
            return false;
        }
        let _ = self.events.send(SourceEvent::EndOfPartition(self.topic));
        true
    }
}

/// Creates the inputs of a task owning `topics` (name, index) and the merged stream its
/// task reads (timestamp order, see `merge.rs`; a topic that sent nothing yet stops
/// holding the others back once the driver handed on a read-ahead's worth, `limits`).
pub fn task_inputs(
    topics: &[(String, usize)],
    max_task_idle: Duration,
    read_ahead: &ReadAhead,
    limits: FlowLimits,
) -> (Vec<TaskInput>, BoxStream<'static, SourceEvent>) {
    let mut inputs = Vec::with_capacity(topics.len());
    let mut streams = Vec::with_capacity(topics.len());
    for (name, topic) in topics {
        let (events, rx) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        inputs.push(TaskInput {
            name: name.clone(),
            topic: *topic,
            events,
            waiting: waiting.clone(),
            read_ahead: read_ahead.clone(),
            paused: false,
            next_offset: None,
        });
        let receiving = Receiving {
            events: rx,
            waiting,
            read_ahead: read_ahead.clone(),
        };
        streams.push(
            stream::unfold(receiving, |mut receiving| async move {
                let event = receiving.events.recv().await?;
                if let SourceEvent::Record(record) = &event {
                    receiving.taken(record.payload_bytes());
                }
                Some((event, receiving))
            })
            .boxed(),
        );
    }
    let merged = crate::merge::by_timestamp(
        streams,
        max_task_idle,
        Arc::new(read_ahead.clone()),
        limits.stop_reading_above as u64,
    );
    (inputs, merged)
}

/// The task's end of an input.
struct Receiving {
    events: mpsc::UnboundedReceiver<SourceEvent>,
    waiting: Arc<AtomicUsize>,
    read_ahead: ReadAhead,
}

impl Receiving {
    fn taken(&self, bytes: usize) {
        self.waiting.fetch_sub(bytes, Ordering::AcqRel);
        self.read_ahead.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl Drop for Receiving {
    /// A stopping task gives back what it never took, or the instance's read-ahead would
    /// stay full and the driver would stop reading for good.
    fn drop(&mut self) {
        self.events.close();
        while let Ok(event) = self.events.try_recv() {
            if let SourceEvent::Record(record) = event {
                self.taken(record.payload_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(offset: i64, bytes: usize) -> SourceRecord {
        SourceRecord {
            topic: 0,
            partition: 3,
            offset,
            key: None,
            value: Some(Bytes::from(vec![b'x'; bytes])),
            timestamp_ms: Some(offset),
        }
    }

    #[tokio::test]
    async fn an_input_pauses_past_its_share_once_and_resumes_when_its_task_caught_up() {
        // Pause above 1,000 bytes, resume below 125.
        let limits = FlowLimits::for_read_ahead(2000);
        let read_ahead = ReadAhead::default();
        let (mut inputs, mut stream) =
            task_inputs(&[("t".into(), 0)], Duration::ZERO, &read_ahead, limits);
        let input = &mut inputs[0];
        let pauses: Vec<bool> = (0..5)
            .map(|o| input.deliver(record(o, 300), limits))
            .collect();
        assert_eq!(
            pauses,
            [false, false, false, true, false],
            "1,200 bytes > 1,000"
        );
        assert_eq!(read_ahead.bytes(), 1500);
        assert!(!input.take_resume(limits), "nothing taken yet");
        for _ in 0..4 {
            stream.next().await.unwrap();
        }
        assert!(!input.take_resume(limits), "300 bytes left");
        stream.next().await.unwrap();
        assert!(input.take_resume(limits), "none left");
        assert!(
            !input.paused() && !input.take_resume(limits),
            "resumed once"
        );
        assert_eq!(read_ahead.bytes(), 0);
    }

    #[tokio::test]
    async fn a_stopped_driver_ends_the_wait_for_a_topic_that_sent_nothing_yet() {
        let limits = FlowLimits::for_read_ahead(1000);
        let read_ahead = ReadAhead::default();
        let topics = [("a".into(), 0), ("b".into(), 1)];
        let (mut inputs, mut stream) =
            task_inputs(&topics, Duration::from_millis(100), &read_ahead, limits);
        inputs[0].deliver(record(0, 600), limits);
        let early = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
        assert!(early.is_err(), "topic b may still deliver: wait for it");
        // The driver stopped reading: the read-ahead was full (see driver.rs).
        read_ahead.set_reading_stopped(true);
        let started = std::time::Instant::now();
        let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the driver reads nothing more, so b cannot deliver: go on without it");
        assert!(matches!(first, Some(SourceEvent::Record(r)) if r.offset == 0));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_read_ahead_handed_to_other_tasks_ends_the_wait_for_a_topic_that_sent_nothing() {
        let limits = FlowLimits::for_read_ahead(1000);
        let read_ahead = ReadAhead::default();
        let topics = [("a".into(), 0), ("b".into(), 1)];
        let wait = Duration::from_millis(100);
        let (mut waiting, mut stream) = task_inputs(&topics, wait, &read_ahead, limits);
        let (mut other, mut other_stream) = task_inputs(&topics, wait, &read_ahead, limits);
        waiting[0].deliver(record(0, 10), limits);
        other[0].deliver(record(0, 400), limits);
        other[1].deliver(record(0, 400), limits);
        // The other task takes its records, so the driver keeps reading.
        for _ in 0..2 {
            other_stream.next().await.unwrap();
        }
        let early = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
        assert!(
            early.is_err(),
            "810 of 1,000 bytes handed on: b may still come"
        );
        other[0].deliver(record(1, 190), limits);
        let first = tokio::time::timeout(Duration::from_secs(1), stream.next())
            .await
            .expect("a read-ahead's worth came from elsewhere first: go on without b");
        assert!(matches!(first, Some(SourceEvent::Record(r)) if r.offset == 0));
        assert!(!read_ahead.reading_stopped());
    }

    #[tokio::test]
    async fn a_stopped_task_gives_back_its_read_ahead() {
        let limits = FlowLimits::for_read_ahead(1 << 20);
        let read_ahead = ReadAhead::default();
        let (mut inputs, mut stream) =
            task_inputs(&[("a".into(), 0)], Duration::ZERO, &read_ahead, limits);
        for offset in 0..3 {
            inputs[0].deliver(record(offset, 100), limits);
        }
        stream.next().await.unwrap();
        assert_eq!(read_ahead.bytes(), 200, "one taken");
        drop(stream);
        assert_eq!(
            read_ahead.bytes(),
            0,
            "what the task never took is given back"
        );
        assert!(!inputs[0].deliver(record(3, 100), limits));
        assert_eq!(
            read_ahead.bytes(),
            0,
            "nothing counts after the task stopped"
        );
    }

    #[tokio::test]
    async fn the_end_is_told_only_when_everything_up_to_the_watermark_was_handed_on() {
        let limits = FlowLimits::for_read_ahead(1 << 20);
        let (mut inputs, mut stream) = task_inputs(
            &[("t".into(), 0)],
            Duration::ZERO,
            &ReadAhead::default(),
            limits,
        );
        let input = &mut inputs[0];
        assert!(!input.end_if_caught_up(10, None), "position unknown");
        assert!(!input.end_if_caught_up(10, Some(0)), "from the beginning");
        assert!(input.end_if_caught_up(0, Some(0)), "an empty partition");
        input.set_start(7);
        assert!(!input.end_if_caught_up(10, Some(0)), "starts at 7 of 10");
        input.deliver(record(9, 1), limits);
        assert!(input.end_if_caught_up(10, Some(0)));
        let mut told = Vec::new();
        for _ in 0..3 {
            told.push(match stream.next().await {
                Some(SourceEvent::Record(r)) => format!("record {}", r.offset),
                Some(SourceEvent::EndOfPartition(t)) => format!("end of {t}"),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(told, ["end of 0", "record 9", "end of 0"]);
    }
}
