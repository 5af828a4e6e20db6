//! The partition task: owns partition `p` of every subscribed topic, its windows, its
//! manifest and its processor. One `select!` loop: control messages first (revoke and
//! shutdown must not wait behind a backlog), then the wall-clock tick, then records.
//!
//! Record path: source -> [`Processor::parse`] (event time) -> replay filter (manifest:
//! records the lake already holds stop here) -> [`Processor::route`] (rows; state changes
//! stay pending) -> window -> flush (see `flush.rs`: files, state, snapshot) -> manifest ->
//! Kafka commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, StreamExt};
use object_store::ObjectStore;
use prometheus::IntCounter;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::budget::MemoryBudget;
use crate::commit::OffsetCommitter;
use crate::config::RuntimeConfig;
use crate::continuity::{Continuity, OffsetContinuity};
use crate::manifest::Manifest;
use crate::metrics::{add_duration, time_since, RuntimeMetrics};
use crate::processor::{Dataset, Parsed, Processor, RouteContext};
use crate::record::SourceRecord;
use crate::source::SourceEvent;
use crate::spill::Spill;
use crate::state::{LiveStores, TaskState};
use crate::window::{hour_start, Windows, HOUR_MS};

/// Records between two budget checks: often enough to react within a fraction of the
/// budget, rare enough that the shared lock does not show up on the hot path.
const BUDGET_CHECK_EVERY: usize = 256;
/// Longest a task waits at one budget check for the windows to fit the budget again.
const MAX_BUDGET_HOLD: Duration = Duration::from_secs(1);
/// How often a held task looks at the budget again.
const BUDGET_HOLD_POLL: Duration = Duration::from_millis(20);

/// Quiet time before a task asks the consumer whether it is at the end.
const END_PROBE_QUIET: Duration = Duration::from_secs(1);

/// Everything tasks of one process share.
pub struct TaskContext {
    pub store: Arc<dyn ObjectStore>,
    pub config: Arc<RuntimeConfig>,
    pub metrics: RuntimeMetrics,
    pub budget: Arc<MemoryBudget>,
    pub committer: Arc<dyn OffsetCommitter>,
    /// Wall clock in epoch milliseconds; injected so tests can move time.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// State databases served to interactive queries.
    pub live: Arc<LiveStores>,
    /// The dead-letter producer, when dead letters are enabled.
    pub dead_letters: Option<Arc<crate::dead_letter::DeadLetters>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Revoke,
    Shutdown,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Revoke => "revoke",
            StopReason::Shutdown => "shutdown",
        }
    }
}

pub enum Control {
    /// Flush everything, commit, acknowledge on `done`, and end the task.
    Stop {
        reason: StopReason,
        done: std::sync::mpsc::Sender<()>,
    },
}

pub struct PartitionTask<P: Processor> {
    pub(crate) partition: i32,
    pub(crate) ctx: Arc<TaskContext>,
    pub(crate) processor: P,
    pub(crate) datasets: Arc<Vec<Dataset>>,
    pub(crate) windows: Windows<P::Row>,
    pub(crate) manifest: Manifest,
    /// Opened by `recover`, before the first record.
    pub(crate) state: Option<TaskState>,
    /// Where window rows go past the memory budget; opened by `recover`.
    pub(crate) spill: Option<Spill>,
    /// Something of this task went to the spill folder.
    pub(crate) has_spilled: bool,
    /// Records whose dead letter is already out (recovered from the topic, or sent).
    pub(crate) dead_letters_sent: crate::dead_letter::Sent,
    /// Topics owned by this task, by global topic index; `None` for topics it does not own.
    pub(crate) topic_names: Vec<Option<String>>,
    pub(crate) next_offset: Vec<Option<i64>>,
    pub(crate) continuity: Vec<OffsetContinuity>,
    pub(crate) replay_horizon: Vec<i64>,
    pub(crate) committed: Vec<Option<i64>>,
    pub(crate) last_record: Instant,
    pub(crate) last_flush: Instant,
    /// Per global topic index: at the end of the partition (topics not owned count as done).
    at_end: Vec<bool>,
    end_tx: watch::Sender<bool>,
    records_since_budget_check: usize,
    consumed: Vec<IntCounter>,
    replayed: Vec<IntCounter>,
    redelivered: Vec<IntCounter>,
    gap_records: Vec<IntCounter>,
    /// Durable records skipped since the last report, per topic.
    replay_skipped: Vec<u64>,
    late: Vec<IntCounter>,
}

impl<P: Processor> PartitionTask<P> {
    pub fn new(
        partition: i32,
        ctx: Arc<TaskContext>,
        processor: P,
        owned_topics: &[(String, usize)],
        end_tx: watch::Sender<bool>,
    ) -> Self {
        let all = &ctx.config.topics;
        let mut topic_names = vec![None; all.len()];
        for (name, index) in owned_topics {
            topic_names[*index] = Some(name.clone());
        }
        let datasets = processor.datasets();
        let counter = |vec: &prometheus::IntCounterVec| -> Vec<IntCounter> {
            all.iter().map(|t| vec.with_label_values(&[t])).collect()
        };
        let m = &ctx.metrics;
        PartitionTask {
            partition,
            windows: Windows::new(
                ctx.config.grace.as_millis() as i64,
                datasets.len(),
                all.len(),
            ),
            manifest: Manifest::new(partition),
            state: None,
            spill: None,
            has_spilled: false,
            dead_letters_sent: Default::default(),
            next_offset: vec![None; all.len()],
            continuity: vec![OffsetContinuity::default(); all.len()],
            replay_horizon: vec![0; all.len()],
            committed: vec![None; all.len()],
            last_record: Instant::now(),
            // The first hour to close goes out at once.
            last_flush: Instant::now()
                .checked_sub(ctx.config.flush_interval)
                .unwrap_or_else(Instant::now),
            at_end: (0..all.len())
                .map(|t| !owned_topics.iter().any(|(_, i)| *i == t))
                .collect(),
            records_since_budget_check: 0,
            consumed: counter(&m.records_consumed),
            replayed: counter(&m.records_replayed_durable),
            redelivered: counter(&m.records_redelivered),
            gap_records: counter(&m.offset_gap_records),
            replay_skipped: vec![0; all.len()],
            late: counter(&m.late_records),
            end_tx,
            topic_names,
            datasets,
            processor,
            ctx,
        }
    }

    #[tracing::instrument(name = "partition_task", skip_all, fields(partition = self.partition))]
    pub async fn run(
        mut self,
        mut source: BoxStream<'static, SourceEvent>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        self.recover().await;
        let mut tick = tokio::time::interval(self.ctx.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                ctl = control.recv() => match ctl {
                    Some(Control::Stop { reason, done }) => {
                        drop(source);
                        self.stop(reason).await;
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                // Before the records: a task with a backlog always has a record ready, and
                // the tick (budget, flush interval) must not starve behind it.
                _ = tick.tick() => self.on_tick().await,
                event = source.next() => match event {
                    Some(SourceEvent::Record(record)) => self.on_record(record).await,
                    Some(SourceEvent::EndOfPartition(topic)) => self.on_end(topic),
                    Some(SourceEvent::Error(error)) => warn!(%error, "consumer error on partition queue"),
                    None => return,
                },
            }
        }
    }

    async fn on_record(&mut self, record: SourceRecord) {
        let t = record.topic;
        if !self.check_continuity(&record) {
            return;
        }
        self.consumed[t].inc();
        self.records_since_budget_check += 1;
        if self.records_since_budget_check >= BUDGET_CHECK_EVERY {
            self.records_since_budget_check = 0;
            self.enforce_budget().await;
            self.hold_while_over_budget().await;
        }
        // Three clock reads per record, each ending one stage and starting the next: the
        // reads were 2% of the benchmark's CPU (BENCHMARKS.md, round 14).
        let started = Instant::now();
        self.last_record = started;
        if self.at_end[t] {
            self.at_end[t] = false;
            self.windows.set_idle(t, false);
            self.end_tx.send_replace(false);
        }
        let parsed = self.processor.parse(&record);
        let parsed_at = Instant::now();
        add_duration(&self.ctx.metrics.stages.parse, parsed_at - started);
        let route_ctx = RouteContext {
            watermark_ms: self.windows.state_watermark_ms(),
        };
        let before = self.windows.max_event_ms();
        if parsed.advances_watermark {
            self.windows.observe(t, parsed.event_time_ms);
        }
        self.next_offset[t] =
            Some(self.next_offset[t].map_or(record.offset + 1, |n| n.max(record.offset + 1)));
        let hour = hour_start(parsed.event_time_ms);
        if record.offset < self.replay_horizon[t] {
            let topic = self.topic_names[t].as_deref().unwrap_or_default();
            if self.manifest.is_durable(topic, hour, record.offset) {
                self.replayed[t].inc();
                self.replay_skipped[t] += 1;
                return;
            }
        } else if self.replay_skipped[t] > 0 {
            info!(
                topic = self.topic_names[t].as_deref().unwrap_or_default(),
                skipped = self.replay_skipped[t],
                "replay caught up with the lake: records it already held were skipped"
            );
            self.replay_skipped[t] = 0;
        }
        if self
            .windows
            .watermark_ms()
            .is_some_and(|w| hour + HOUR_MS <= w)
        {
            self.late[t].inc();
        }
        let rows = self.route(&record, parsed, route_ctx).await;
        let routed = Instant::now();
        add_duration(&self.ctx.metrics.stages.route, routed - parsed_at);
        for (dataset, row) in rows {
            let bytes = P::row_bytes(&row);
            self.windows
                .add(hour, t, record.offset, dataset, row, bytes);
        }
        time_since(&self.ctx.metrics.stages.window, routed);
        if self.windows.max_event_ms() != before
            && self.windows.regular_close_due()
            && self.flush_interval_passed()
        {
            let hours = self.windows.due_hours();
            self.flush_until_done(hours, "watermark").await;
        }
    }

    /// Closed hours wait until a flush interval has passed since the last flush (see
    /// `RuntimeConfig::flush_interval`); the tick picks them up when no record does.
    fn flush_interval_passed(&self) -> bool {
        self.last_flush.elapsed() >= self.ctx.config.flush_interval
    }

    /// Routes one record, retrying while the state store fails: the record must not be
    /// skipped, and consumption pauses meanwhile.
    async fn route(
        &mut self,
        record: &SourceRecord,
        mut parsed: Parsed<P::Parsed>,
        ctx: RouteContext,
    ) -> Vec<(usize, P::Row)> {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.processor.route(record, parsed, ctx) {
                Ok(rows) => return rows,
                Err(error) => {
                    self.ctx.metrics.state_failures.inc();
                    tracing::error!(
                        error = format!("{error:#}"),
                        "state store failed; retrying the record"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    parsed = self.processor.parse(record);
                }
            }
        }
    }

    /// False for a record this task already holds (see `continuity.rs`).
    fn check_continuity(&mut self, record: &SourceRecord) -> bool {
        let t = record.topic;
        let topic = self.topic_names[t].as_deref().unwrap_or_default();
        match self.continuity[t].observe(record.offset) {
            Continuity::Next => true,
            Continuity::Redelivered { first } => {
                if first {
                    warn!(
                        topic,
                        offset = record.offset,
                        "an offset this task already consumed was delivered again; dropping it (counted in lakestream_records_redelivered_total)"
                    );
                }
                self.redelivered[t].inc();
                false
            }
            Continuity::Gap { from, to } => {
                // One missing offset is what a transaction's commit marker leaves behind.
                if to - from > 1 {
                    warn!(
                        topic,
                        from,
                        to,
                        "offsets were skipped by the consumer; those records are not in the lake unless they were transaction markers or compacted away"
                    );
                } else {
                    tracing::debug!(
                        topic,
                        offset = from,
                        "one offset skipped (a transaction marker?)"
                    );
                }
                self.gap_records[t].inc_by((to - from) as u64);
                true
            }
        }
    }

    fn on_end(&mut self, topic: usize) {
        self.at_end[topic] = true;
        self.windows.set_idle(topic, true);
        if self.at_end.iter().all(|e| *e) {
            self.end_tx.send_replace(true);
        }
    }

    /// Reports this task's buffered bytes; past half the process's budget writes this
    /// task's closed hours, past the whole budget moves this task's window rows to disk
    /// (`spill.rs`). Returns whether it flushed.
    async fn enforce_budget(&mut self) -> bool {
        self.report_budget();
        // Closed hours waiting for the flush interval are the cheapest memory to free:
        // they are complete, so writing them adds no file. Late windows go too, at most
        // once per flush interval (each write is a file): when a lagging topic catches up,
        // all its records are late and no on-time window closes for a while, and late
        // windows alone grew to four times the budget in the benchmark.
        let due = if self.ctx.budget.closed_should_go()
            && (self.windows.regular_close_due() || self.flush_interval_passed())
        {
            self.windows.due_hours()
        } else {
            Vec::new()
        };
        if !due.is_empty() {
            self.flush_until_done(due, "memory").await;
            self.report_budget();
            return true;
        }
        if !self.ctx.budget.over_limit() || self.windows.bytes() == 0 {
            return false;
        }
        // Every task over the limit moves all it holds, not only the one with the largest
        // window: tasks check the budget every few hundred records, and one window at a
        // time freed memory more slowly than the others filled it.
        match self.spill_windows() {
            Ok(()) => {
                self.report_budget();
                false
            }
            Err(error) => {
                warn!(%error, "cannot spill window rows to disk; writing the largest window early");
                match self.windows.largest() {
                    Some((hour, _)) if self.ctx.budget.should_write_early(self.partition) => {
                        self.flush_until_done(vec![hour], "memory").await;
                        self.report_budget();
                        true
                    }
                    _ => false,
                }
            }
        }
    }

    fn report_budget(&self) {
        let largest = self.windows.largest().map_or(0, |(_, b)| b);
        self.ctx
            .budget
            .report(self.partition, self.windows.bytes(), largest);
    }

    /// Moves the rows of every open window from memory to this task's spill files, and
    /// has the processor do the same with its state changes of open hours.
    fn spill_windows(&mut self) -> std::io::Result<()> {
        let Some(spill) = self.spill.as_ref() else {
            return Ok(());
        };
        let started = Instant::now();
        self.has_spilled = true;
        let mut bytes = 0;
        for (hour, dataset) in self.windows.in_memory() {
            bytes += spill.append(hour, dataset, self.windows.rows_of(hour, dataset))?;
            self.windows.mark_spilled(hour, dataset);
        }
        bytes += self
            .processor
            .spill_pending(&spill.pending_dir()?)
            .map_err(std::io::Error::other)?;
        self.ctx.metrics.spilled_bytes.inc_by(bytes);
        time_since(&self.ctx.metrics.stages.spill, started);
        crate::failpoint::hit(crate::failpoint::points::AFTER_SPILL);
        Ok(())
    }

    /// Past the budget, waits for the other tasks to spill their windows instead of
    /// buffering more: before this wait, the tasks that were not writing kept consuming
    /// and the windows reached 2.3 times the budget (BENCHMARKS.md, round 5). Re-checks
    /// the budget as it waits, since this task may have to spill again itself. The wait is
    /// capped so that control messages (a revocation) are never held up for long; the next
    /// budget check waits again.
    async fn hold_while_over_budget(&mut self) {
        if !self.ctx.budget.over_limit() {
            return;
        }
        let started = Instant::now();
        while self.ctx.budget.over_limit() && started.elapsed() < MAX_BUDGET_HOLD {
            tokio::time::sleep(BUDGET_HOLD_POLL).await;
            self.enforce_budget().await;
        }
        time_since(&self.ctx.metrics.stages.budget_wait, started);
    }

    /// Marks the task at its end when the consumer says every owned partition is fully
    /// delivered and nothing arrived for a moment (see [`OffsetCommitter::at_end`]).
    fn probe_end(&mut self) {
        if *self.end_tx.borrow() || self.last_record.elapsed() < END_PROBE_QUIET {
            return;
        }
        // A topic whose end event did arrive is done; the others ask the consumer.
        let all = self
            .topic_names
            .iter()
            .enumerate()
            .all(|(t, name)| match name {
                None => true,
                Some(_) if self.at_end[t] => true,
                // Before any record of this run, the manifest's offset is the position:
                // everything below it is durable already.
                Some(name) => {
                    let position =
                        self.next_offset[t].or_else(|| self.manifest.offsets.get(name).copied());
                    self.ctx.committer.at_end(name, self.partition, position) == Some(true)
                }
            });
        if all {
            self.at_end.iter_mut().for_each(|e| *e = true);
            (0..self.at_end.len()).for_each(|t| self.windows.set_idle(t, true));
            self.end_tx.send_replace(true);
        }
    }

    async fn on_tick(&mut self) {
        self.probe_end();
        self.report_lag();
        let cfg = self.ctx.config.clone();
        let partition = self.partition.to_string();
        let metrics = &self.ctx.metrics;
        metrics
            .open_windows
            .with_label_values(&[&partition])
            .set(self.windows.len() as i64);
        metrics
            .buffered_records
            .with_label_values(&[&partition])
            .set(self.windows.rows() as i64);
        if self.enforce_budget().await {
            return;
        }
        let quiet = self.last_record.elapsed() >= cfg.idle_timeout;
        let mut hours = Vec::new();
        if quiet {
            hours = self
                .windows
                .idle_hours((self.ctx.clock)(), cfg.idle_timeout.as_millis() as i64);
        }
        let closed_waiting = self.windows.regular_close_due() && self.flush_interval_passed();
        if quiet || closed_waiting || self.last_flush.elapsed() >= cfg.idle_timeout {
            hours.extend(self.windows.due_hours());
        }
        hours.sort_unstable();
        hours.dedup();
        if !hours.is_empty() {
            let reason = if quiet {
                "idle"
            } else if closed_waiting {
                "watermark"
            } else {
                "late"
            };
            self.flush_until_done(hours, reason).await;
        } else if self.windows.is_empty() && self.offsets_advanced() {
            // Replayed records that were already durable move the offsets without opening a
            // window; record that progress too.
            self.flush_until_done(Vec::new(), "progress").await;
        }
    }

    /// The three lag signals of every owned topic, side by side (README, "Lag"): what is
    /// left to read, what is left to make durable, and how far event time trails the
    /// clock. An idle partition reports 0, never nothing.
    fn report_lag(&self) {
        let m = &self.ctx.metrics;
        let partition = self.partition.to_string();
        let event_lag_s = self
            .windows
            .watermark_ms()
            .map_or(0.0, |w| (((self.ctx.clock)() - w) as f64 / 1000.0).max(0.0));
        for (t, name) in self.topic_names.iter().enumerate() {
            let Some(name) = name else { continue };
            let durable = self.manifest.offsets.get(name).copied();
            let position = self.next_offset[t].or(durable);
            // What the group holds: external lag exporters and autoscalers read the same.
            let committed = self.committed[t].or(durable);
            // Unknown until the first fetch answer, a moment after assignment: a made-up 0
            // would tell an autoscaler that nothing is left.
            let Some(high) = self.ctx.committer.high_watermark(name, self.partition) else {
                continue;
            };
            // Nothing read or committed yet: everything up to the end is left.
            let left = |from: Option<i64>| (high - from.unwrap_or(0)).max(0);
            let labels = [name.as_str(), partition.as_str()];
            m.consumed_lag
                .with_label_values(&labels)
                .set(left(position));
            m.durable_lag
                .with_label_values(&labels)
                .set(left(committed));
            m.event_time_lag.with_label_values(&labels).set(event_lag_s);
        }
    }

    /// Another instance reports this partition from now on.
    fn forget_lag(&self) {
        let m = &self.ctx.metrics;
        let partition = self.partition.to_string();
        for name in self.topic_names.iter().flatten() {
            let labels = [name.as_str(), partition.as_str()];
            let _ = m.consumed_lag.remove_label_values(&labels);
            let _ = m.durable_lag.remove_label_values(&labels);
            let _ = m.event_time_lag.remove_label_values(&labels);
        }
    }

    async fn stop(&mut self, reason: StopReason) {
        let hours = self.windows.all_hours();
        info!(
            reason = reason.as_str(),
            windows = hours.len(),
            "stopping partition task"
        );
        self.flush_all_until_done(reason.as_str()).await;
        self.ctx.budget.forget(self.partition);
        self.forget_lag();
        // The next owner (maybe this process again) reopens the database; release it.
        self.ctx.live.remove(self.partition);
        self.state = None;
        let partition = self.partition.to_string();
        let metrics = &self.ctx.metrics;
        metrics.open_windows.with_label_values(&[&partition]).set(0);
        metrics
            .buffered_records
            .with_label_values(&[&partition])
            .set(0);
    }
}
