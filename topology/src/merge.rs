//! Merges a task's topic-partitions in timestamp order, the way Kafka Streams picks the
//! next record of a task (`max.task.idle.ms`).
//!
//! Why: a topic read ahead of the others (its fetches are larger, or its records smaller)
//! holds the task's event time back (`window.rs`: the smallest of the topics'), and its
//! rows wait in open windows, holding memory, until the others catch up. Taking the record
//! with the smallest Kafka timestamp among the heads of all topics keeps the topics in
//! step.
//!
//! A topic with nothing buffered holds the others back for at most `max_wait`: after that
//! it counts as idle and the others go on without it until it delivers again. A topic at
//! its end (end-of-partition event) never holds anything back. Until a topic has delivered
//! its first event it holds the others back for up to [`STARTUP_WAIT`]: right after an
//! assignment the first fetch answers of the topics arrive seconds apart, and a topic
//! given up on then has all its first hours arrive late.
//!
//! Neither wait applies while the driver has stopped reading (the instance's read-ahead is
//! full, `source.rs`): a silent topic cannot deliver until some task takes records, so
//! holding this task back would only stall it. With a backlog larger than the read-ahead
//! this is how every run started: the first fetch answers filled the read-ahead with a few
//! topic-partitions' backlogs and every task waited out the startup wait.
//!
//! The startup wait also ends once the driver has handed on `startup_bytes` (a read-ahead's
//! worth) of other records since the merge began: the broker is then serving this topic's
//! partition behind the others (presumably its size-bounded fetch answers fill up before
//! they reach it; not traced), and
//! waiting for it idled half the cores of the benchmark for four seconds while the
//! read-ahead was being taken and refilled (BENCHMARKS.md, round 13). A small backlog never
//! reaches that much, so there only time ends the wait.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use futures::FutureExt;
use tokio::time::Instant;

use crate::record::SourceRecord;
use crate::source::SourceEvent;

/// How long a topic that has delivered nothing yet (no record, no end-of-partition) may
/// hold the others back.
pub const STARTUP_WAIT: Duration = Duration::from_secs(10);
/// How often a held-back merge asks whether the driver has stopped reading.
const STOPPED_CHECK: Duration = Duration::from_millis(50);

/// What a merge sees of the instance's driver (`source.rs`).
pub trait DriverView: Send + Sync {
    /// True while the driver reads nothing (the read-ahead is full): no input can deliver
    /// before some task takes records.
    fn reading_stopped(&self) -> bool;
    /// Record bytes the driver has handed to the instance's tasks so far.
    fn handed_on(&self) -> u64;
}

/// One input of the merge: a topic-partition's events and what is known about it.
struct Input {
    events: BoxStream<'static, SourceEvent>,
    /// The next record of this input, read but not handed on yet.
    head: Option<SourceRecord>,
    /// End-of-partition seen and nothing delivered since.
    at_end: bool,
    /// When this input last ran out of buffered records (None while it has a head).
    empty_since: Option<Instant>,
    /// The input stream ended (the queue was dropped).
    closed: bool,
    /// A record or end-of-partition came: the startup wait is over for this input.
    delivered: bool,
}

impl Input {
    /// True when the merge may not hand on another input's record before this one
    /// delivers or its wait runs out. `startup_over`: an input that never delivered no
    /// longer holds back.
    fn holds_back(&self, now: Instant, max_wait: Duration, startup_over: bool) -> bool {
        self.head.is_none()
            && !self.at_end
            && !self.closed
            && (self.delivered || !startup_over)
            && self
                .empty_since
                .is_none_or(|since| now.duration_since(since) < max_wait)
    }

    fn wants_more(&self) -> bool {
        self.head.is_none() && !self.closed
    }
}

/// The merge's view of the driver and where the startup wait ends.
struct Startup {
    driver: Arc<dyn DriverView>,
    /// The driver's `handed_on` at which inputs that never delivered stop holding back.
    over_at: u64,
}

impl Startup {
    fn over(&self) -> bool {
        self.driver.handed_on() >= self.over_at
    }
}

/// Merges `inputs` (one per topic-partition) into one stream ordered by record timestamp
/// as far as the inputs allow. End-of-partition and error events pass straight through.
/// `startup_bytes`: how much the driver may hand on to the instance's tasks before an
/// input that delivered nothing stops holding the others back.
pub fn by_timestamp(
    inputs: Vec<BoxStream<'static, SourceEvent>>,
    max_wait: Duration,
    driver: Arc<dyn DriverView>,
    startup_bytes: u64,
) -> BoxStream<'static, SourceEvent> {
    if inputs.len() == 1 {
        return inputs.into_iter().next().expect("one input");
    }
    // Dated ahead so that the first wait is the startup wait.
    let first_wait_from = Instant::now() + STARTUP_WAIT.saturating_sub(max_wait);
    let inputs: Vec<Input> = inputs
        .into_iter()
        .map(|events| Input {
            events,
            head: None,
            at_end: false,
            empty_since: Some(first_wait_from),
            closed: false,
            delivered: false,
        })
        .collect();
    let startup = Startup {
        over_at: driver.handed_on().saturating_add(startup_bytes),
        driver,
    };
    futures::stream::unfold((inputs, startup), move |(mut inputs, startup)| async move {
        let event = next_event(&mut inputs, max_wait, &startup).await?;
        Some((event, (inputs, startup)))
    })
    .boxed()
}

async fn next_event(
    inputs: &mut [Input],
    max_wait: Duration,
    startup: &Startup,
) -> Option<SourceEvent> {
    loop {
        // Take whatever is ready without waiting, so a decision sees every available head.
        while let Some((i, event)) = poll_inputs(inputs).now_or_never() {
            if let Some(passed) = accept(inputs, i, event) {
                return Some(passed);
            }
        }
        let now = Instant::now();
        let startup_over = startup.over();
        let held = inputs
            .iter()
            .any(|input| input.holds_back(now, max_wait, startup_over));
        if !held || startup.driver.reading_stopped() {
            if let Some(record) = take_oldest(inputs) {
                return Some(SourceEvent::Record(record));
            }
            if inputs.iter().all(|input| input.closed) {
                return None;
            }
        }
        // Wait for an input to deliver, or for the first wait among the holders to run out;
        // look again now and then whether the driver stopped reading meanwhile.
        let deadline = inputs
            .iter()
            .filter(|input| input.holds_back(now, max_wait, startup_over))
            .filter_map(|input| input.empty_since.map(|since| since + max_wait))
            .min()
            .map(|deadline| deadline.min(now + STOPPED_CHECK));
        let (i, event) = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, poll_inputs(inputs)).await {
                Ok(ready) => ready,
                Err(_) => continue,
            },
            None => poll_inputs(inputs).await,
        };
        if let Some(passed) = accept(inputs, i, event) {
            return Some(passed);
        }
    }
}

/// Files one event of input `i`; returns it when it passes straight through.
fn accept(inputs: &mut [Input], i: usize, event: Option<SourceEvent>) -> Option<SourceEvent> {
    let input = &mut inputs[i];
    match event {
        Some(SourceEvent::Record(record)) => {
            input.head = Some(record);
            input.delivered = true;
            input.at_end = false;
            input.empty_since = None;
            None
        }
        Some(SourceEvent::EndOfPartition(topic)) => {
            input.at_end = true;
            input.delivered = true;
            Some(SourceEvent::EndOfPartition(topic))
        }
        Some(error @ SourceEvent::Error(_)) => Some(error),
        None => {
            input.closed = true;
            None
        }
    }
}

/// The buffered head with the smallest timestamp (records without one go first: nothing
/// orders them). Ties go to the earlier input.
fn take_oldest(inputs: &mut [Input]) -> Option<SourceRecord> {
    let i = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, input)| input.head.as_ref().map(|r| (i, r.timestamp_ms)))
        .min_by_key(|(i, ts)| (ts.unwrap_or(i64::MIN), *i))
        .map(|(i, _)| i)?;
    let input = &mut inputs[i];
    input.empty_since = Some(Instant::now());
    input.head.take()
}

/// Resolves with the next event of the first input that has no head and delivers one.
fn poll_inputs(
    inputs: &mut [Input],
) -> impl std::future::Future<Output = (usize, Option<SourceEvent>)> + '_ {
    futures::future::poll_fn(move |cx| {
        for (i, input) in inputs.iter_mut().enumerate() {
            if !input.wants_more() {
                continue;
            }
            if let Poll::Ready(event) = Pin::new(&mut input.events).poll_next(cx) {
                return Poll::Ready((i, event));
            }
        }
        Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use tokio::sync::mpsc;

    fn channel() -> (
        mpsc::UnboundedSender<SourceEvent>,
        BoxStream<'static, SourceEvent>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let events = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        (tx, events.boxed())
    }

    fn record(topic: usize, offset: i64, ts: i64) -> SourceEvent {
        SourceEvent::Record(SourceRecord {
            topic,
            partition: 0,
            offset,
            key: None,
            value: None,
            timestamp_ms: Some(ts),
        })
    }

    /// A driver whose state the test sets.
    #[derive(Default)]
    struct Driver {
        stopped: AtomicBool,
        handed_on: AtomicU64,
    }

    impl DriverView for Driver {
        fn reading_stopped(&self) -> bool {
            self.stopped.load(Ordering::Relaxed)
        }

        fn handed_on(&self) -> u64 {
            self.handed_on.load(Ordering::Relaxed)
        }
    }

    /// A driver that keeps reading; with [`NEVER`], only time ends the startup wait.
    fn reading() -> Arc<Driver> {
        Arc::default()
    }

    const NEVER: u64 = u64::MAX;

    fn id(event: &SourceEvent) -> (usize, i64) {
        match event {
            SourceEvent::Record(r) => (r.topic, r.offset),
            SourceEvent::EndOfPartition(t) => (*t, -1),
            SourceEvent::Error(_) => (usize::MAX, -1),
        }
    }

    #[tokio::test]
    async fn interleaves_topics_by_timestamp() {
        let a = stream::iter(vec![record(0, 0, 10), record(0, 1, 30), record(0, 2, 50)]);
        let b = stream::iter(vec![record(1, 0, 20), record(1, 1, 40)]);
        let merged: Vec<_> = by_timestamp(
            vec![a.boxed(), b.boxed()],
            Duration::from_secs(5),
            reading(),
            NEVER,
        )
        .map(|e| id(&e))
        .collect()
        .await;
        assert_eq!(merged, vec![(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]);
    }

    #[tokio::test]
    async fn an_empty_topic_holds_the_others_back_only_for_the_wait() {
        let (tx_a, a) = channel();
        let (tx_b, b) = channel();
        let mut merged = by_timestamp(vec![a, b], Duration::from_millis(500), reading(), NEVER);
        tx_b.send(record(1, 0, 5)).unwrap();
        tx_a.send(record(0, 0, 10)).unwrap();
        assert_eq!(id(&merged.next().await.unwrap()), (1, 0));
        let started = Instant::now();
        let first = merged.next().await.unwrap();
        assert_eq!(id(&first), (0, 0));
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "the record must wait for the silent topic"
        );
        // The silent topic is idle now: the next record of the other one goes on at once.
        tx_a.send(record(0, 1, 20)).unwrap();
        let started = Instant::now();
        assert_eq!(id(&merged.next().await.unwrap()), (0, 1));
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_topic_that_delivered_nothing_yet_holds_the_others_back_longer() {
        let (tx_a, a) = channel();
        let (tx_b, b) = channel();
        let mut merged = by_timestamp(vec![a, b], Duration::from_millis(100), reading(), NEVER);
        tx_a.send(record(0, 0, 10)).unwrap();
        let early = tokio::time::timeout(Duration::from_secs(1), merged.next()).await;
        assert!(
            early.is_err(),
            "handed on before the silent topic's first fetch"
        );
        tx_b.send(SourceEvent::EndOfPartition(1)).unwrap();
        assert_eq!(id(&merged.next().await.unwrap()), (1, -1));
        assert_eq!(id(&merged.next().await.unwrap()), (0, 0));
    }

    #[tokio::test]
    async fn a_silent_topic_holds_nothing_back_while_the_driver_reads_nothing() {
        let driver = reading();
        let (tx_a, a) = channel();
        let (_tx_b, b) = channel();
        let mut merged = by_timestamp(
            vec![a, b],
            Duration::from_millis(100),
            driver.clone(),
            NEVER,
        );
        tx_a.send(record(0, 0, 10)).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(500), merged.next()).await;
        assert!(early.is_err(), "held for the silent topic's first fetch");
        driver.stopped.store(true, Ordering::Relaxed);
        let started = Instant::now();
        assert_eq!(id(&merged.next().await.unwrap()), (0, 0));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no startup wait while nothing can arrive"
        );
    }

    #[tokio::test]
    async fn a_read_ahead_of_other_records_ends_the_startup_wait_but_not_the_idle_wait() {
        let driver = reading();
        driver.handed_on.store(5_000, Ordering::Relaxed);
        let (tx_a, a) = channel();
        let (tx_b, b) = channel();
        let (_tx_c, c) = channel();
        let wait = Duration::from_millis(300);
        let mut merged = by_timestamp(vec![a, b, c], wait, driver.clone(), 1_000);
        tx_a.send(record(0, 0, 10)).unwrap();
        tx_b.send(record(1, 0, 20)).unwrap();
        driver.handed_on.store(5_999, Ordering::Relaxed);
        let early = tokio::time::timeout(Duration::from_millis(500), merged.next()).await;
        assert!(
            early.is_err(),
            "999 bytes since the start: c may still come"
        );
        driver.handed_on.store(6_000, Ordering::Relaxed);
        let started = Instant::now();
        assert_eq!(id(&merged.next().await.unwrap()), (0, 0));
        assert!(started.elapsed() < Duration::from_millis(250));
        // b delivered before, so it holds the others back for the idle wait as ever.
        assert_eq!(id(&merged.next().await.unwrap()), (1, 0));
        tx_a.send(record(0, 1, 30)).unwrap();
        let started = Instant::now();
        assert_eq!(id(&merged.next().await.unwrap()), (0, 1));
        assert!(
            started.elapsed() >= wait / 2,
            "a topic that delivered waits out max_wait"
        );
    }

    #[tokio::test]
    async fn a_topic_at_its_end_holds_nothing_back() {
        let (tx_a, a) = channel();
        let (tx_b, b) = channel();
        let mut merged = by_timestamp(vec![a, b], Duration::from_secs(60), reading(), NEVER);
        tx_b.send(SourceEvent::EndOfPartition(1)).unwrap();
        assert_eq!(id(&merged.next().await.unwrap()), (1, -1));
        tx_a.send(record(0, 0, 10)).unwrap();
        let started = Instant::now();
        assert_eq!(id(&merged.next().await.unwrap()), (0, 0));
        assert!(started.elapsed() < Duration::from_secs(1));
        // A record on the ended topic makes it count again, and older records go first.
        tx_b.send(record(1, 0, 5)).unwrap();
        tx_b.send(SourceEvent::EndOfPartition(1)).unwrap();
        tx_a.send(record(0, 1, 7)).unwrap();
        assert_eq!(id(&merged.next().await.unwrap()), (1, 0));
        assert_eq!(id(&merged.next().await.unwrap()), (1, -1));
        assert_eq!(id(&merged.next().await.unwrap()), (0, 1));
    }

    #[tokio::test]
    async fn ends_when_every_input_ends_without_losing_a_record() {
        let a = stream::iter((0..100).map(|o| record(0, o, o * 3)));
        let b = stream::iter((0..50).map(|o| record(1, o, o * 7)));
        let c = stream::iter(Vec::<SourceEvent>::new());
        let merged: Vec<_> = by_timestamp(
            vec![a.boxed(), b.boxed(), c.boxed()],
            Duration::from_millis(10),
            reading(),
            NEVER,
        )
        .map(|e| id(&e))
        .collect()
        .await;
        assert_eq!(merged.len(), 150);
        for topic in 0..2 {
            let offsets: Vec<i64> = merged
                .iter()
                .filter(|(t, _)| *t == topic)
                .map(|(_, o)| *o)
                .collect();
            assert!(
                offsets.windows(2).all(|w| w[0] + 1 == w[1]),
                "order within a topic kept"
            );
        }
    }
}
