//! Consumer-group membership: the rdkafka context that turns assignments into partition
//! tasks and revocations into a blocking hand-off (flush and commit before the partitions
//! are released).
//!
//! Rebalance callbacks run on the thread that reads the consumer's queue (`driver.rs`),
//! never on an async worker, so blocking there stalls nothing else.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::processor::ProcessorFactory;
use crate::record::SourceRecord;
use crate::source::{self, FlowLimits, ReadAhead, TaskInput};
use crate::task::{Control, PartitionTask, StopReason, TaskContext};

pub type GroupConsumer<F> = StreamConsumer<GroupContext<F>>;

struct TaskHandle {
    /// Where the driver thread hands the task its records, one per owned topic.
    inputs: Vec<TaskInput>,
    control: mpsc::UnboundedSender<Control>,
    at_end: watch::Receiver<bool>,
    join: JoinHandle<()>,
}

/// State shared between the rdkafka callbacks and the runtime's main loop.
pub struct GroupContext<F: ProcessorFactory> {
    runtime: tokio::runtime::Handle,
    factory: F,
    task_ctx: Arc<TaskContext>,
    consumer: OnceLock<Weak<GroupConsumer<F>>>,
    tasks: Mutex<HashMap<i32, TaskHandle>>,
    /// One lease per partition, held by its task for its whole life: a task started by a
    /// new assignment waits until the previous task of that partition (still flushing after
    /// a revoke or shutdown) is gone, so two tasks never write one partition's files.
    leases: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<()>>>>,
    /// Set once shutdown begins: assignments that still arrive start no task.
    closing: AtomicBool,
    read_ahead: ReadAhead,
}

impl<F: ProcessorFactory> GroupContext<F> {
    pub fn new(runtime: tokio::runtime::Handle, factory: F, task_ctx: Arc<TaskContext>) -> Self {
        GroupContext {
            runtime,
            factory,
            task_ctx,
            consumer: OnceLock::new(),
            tasks: Mutex::new(HashMap::new()),
            leases: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            read_ahead: ReadAhead::default(),
        }
    }

    pub fn attach(&self, consumer: &Arc<GroupConsumer<F>>) {
        let _ = self.consumer.set(Arc::downgrade(consumer));
    }

    fn topic_index(&self, name: &str) -> Option<usize> {
        self.task_ctx.config.topics.iter().position(|t| t == name)
    }

    /// Partition numbers of `tpl`, each with the owned topics as (name, index).
    fn by_partition(
        &self,
        tpl: &rdkafka::TopicPartitionList,
    ) -> BTreeMap<i32, Vec<(String, usize)>> {
        let mut grouped: BTreeMap<i32, Vec<(String, usize)>> = BTreeMap::new();
        for element in tpl.elements() {
            if let Some(index) = self.topic_index(element.topic()) {
                grouped
                    .entry(element.partition())
                    .or_default()
                    .push((element.topic().to_string(), index));
            }
        }
        grouped
    }

    /// Starts a task for each newly assigned partition. `starts` are the group's committed
    /// offsets of the assignment, where consumption begins (see `TaskInput::set_start`).
    fn start_tasks(&self, tpl: &TopicPartitionList, starts: Option<&TopicPartitionList>) {
        let mut tasks = self.tasks.lock().unwrap();
        for (partition, topics) in self.by_partition(tpl) {
            if tasks.contains_key(&partition) {
                continue;
            }
            let (mut inputs, stream) = source::task_inputs(
                &topics,
                self.task_ctx.config.max_task_idle,
                &self.read_ahead,
                self.flow_limits(),
            );
            for input in &mut inputs {
                let start = starts
                    .and_then(|s| s.find_partition(&input.name, partition))
                    .map(|e| e.offset());
                if let Some(Offset::Offset(offset)) = start {
                    input.set_start(offset);
                }
            }
            let (control, control_rx) = mpsc::unbounded_channel();
            let (end_tx, at_end) = watch::channel(false);
            let processor = self.factory.create(partition);
            let task =
                PartitionTask::new(partition, self.task_ctx.clone(), processor, &topics, end_tx);
            let lease = self
                .leases
                .lock()
                .unwrap()
                .entry(partition)
                .or_default()
                .clone();
            let join = self.runtime.spawn(async move {
                let _lease = lease.lock_owned().await;
                task.run(stream, control_rx).await;
            });
            tasks.insert(
                partition,
                TaskHandle {
                    inputs,
                    control,
                    at_end,
                    join,
                },
            );
        }
        self.task_ctx
            .metrics
            .assigned_partitions
            .set(tasks.len() as i64);
        self.task_ctx.live.set_assigned(tasks.keys().copied());
        info!(partitions = ?tasks.keys().collect::<Vec<_>>(), "partition tasks running");
    }

    /// Stops every task for good: the process is leaving the group.
    pub fn shut_down(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.stop_tasks(None, StopReason::Shutdown);
    }

    /// Stops the tasks of `partitions` (all when `None`), waiting for each to flush and
    /// commit, up to the revoke deadline. A task that misses it is aborted: its records
    /// were not committed, so the next owner replays them.
    pub fn stop_tasks(&self, partitions: Option<Vec<i32>>, reason: StopReason) {
        let handles: Vec<(i32, TaskHandle)> = {
            let mut tasks = self.tasks.lock().unwrap();
            let keys: Vec<i32> = partitions.unwrap_or_else(|| tasks.keys().copied().collect());
            keys.into_iter()
                .filter_map(|p| tasks.remove(&p).map(|h| (p, h)))
                .collect()
        };
        let deadline = std::time::Instant::now() + self.task_ctx.config.revoke_timeout;
        let mut waiting = Vec::new();
        for (partition, handle) in handles {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let _ = handle.control.send(Control::Stop {
                reason,
                done: done_tx,
            });
            waiting.push((partition, handle, done_rx));
        }
        for (partition, handle, done_rx) in waiting {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                warn!(partition, "task did not flush before the deadline; aborting it (its records will be replayed)");
                handle.join.abort();
            }
        }
        {
            let tasks = self.tasks.lock().unwrap();
            self.task_ctx
                .metrics
                .assigned_partitions
                .set(tasks.len() as i64);
            self.task_ctx.live.set_assigned(tasks.keys().copied());
        }
        self.paused_partitions_changed();
    }

    /// Blocks until no task holds the lease of any of `partitions`, up to the revoke
    /// deadline. Polls: this runs inside librdkafka's callback, where async waits cannot.
    fn wait_released(&self, partitions: &[i32]) {
        let deadline = std::time::Instant::now() + self.task_ctx.config.revoke_timeout;
        let leases: Vec<_> = {
            let leases = self.leases.lock().unwrap();
            partitions
                .iter()
                .filter_map(|p| leases.get(p).cloned())
                .collect()
        };
        for lease in leases {
            while lease.try_lock().is_err() {
                if std::time::Instant::now() > deadline {
                    warn!("a stopping task still holds its partition at the revoke deadline");
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }

    /// True when tasks run and every one of them has reached the end of its partitions.
    pub fn all_at_end(&self) -> bool {
        let tasks = self.tasks.lock().unwrap();
        !tasks.is_empty() && tasks.values().all(|h| *h.at_end.borrow())
    }

    pub fn task_count(&self) -> usize {
        self.tasks.lock().unwrap().len()
    }

    pub fn metrics(&self) -> &crate::metrics::RuntimeMetrics {
        &self.task_ctx.metrics
    }

    pub fn flow_limits(&self) -> FlowLimits {
        FlowLimits::for_read_ahead(self.task_ctx.config.read_ahead_bytes)
    }

    /// Record bytes handed to the tasks and not taken yet.
    pub fn read_ahead(&self) -> usize {
        self.read_ahead.bytes()
    }

    /// The driver tells the tasks it reads nothing until they have taken records: their
    /// merges then stop waiting for topics that have nothing buffered (`merge.rs`).
    pub fn set_reading_stopped(&self, stopped: bool) {
        self.read_ahead.set_reading_stopped(stopped);
    }

    /// Hands a record from the consumer's queue to the task owning its partition. Returns
    /// the topic-partition to pause when that task has enough of it waiting.
    pub fn deliver(&self, record: SourceRecord) -> Option<(String, i32)> {
        let limits = self.flow_limits();
        let mut tasks = self.tasks.lock().unwrap();
        let partition = record.partition;
        let Some(handle) = tasks.get_mut(&partition) else {
            // A task that stopped (revoke, shutdown) committed only what it took, so the
            // partition's next owner reads this record again.
            debug!(
                partition,
                offset = record.offset,
                "record for a partition without a task; it will be read again by its owner"
            );
            return None;
        };
        let input = handle.inputs.iter_mut().find(|i| i.topic == record.topic)?;
        input
            .deliver(record, limits)
            .then(|| (input.name.clone(), partition))
    }

    /// Paused topic-partitions whose tasks have caught up: to be resumed.
    pub fn resumable(&self) -> Vec<(String, i32)> {
        let limits = self.flow_limits();
        let mut tasks = self.tasks.lock().unwrap();
        let mut resume = Vec::new();
        for (partition, handle) in tasks.iter_mut() {
            for input in &mut handle.inputs {
                if input.take_resume(limits) {
                    resume.push((input.name.clone(), *partition));
                }
            }
        }
        resume
    }

    /// Publishes how many topic-partitions are paused for their tasks now.
    pub fn paused_partitions_changed(&self) {
        let tasks = self.tasks.lock().unwrap();
        let paused = tasks
            .values()
            .flat_map(|h| &h.inputs)
            .filter(|i| i.paused())
            .count();
        self.task_ctx.metrics.paused_partitions.set(paused as i64);
    }

    /// librdkafka's end-of-partition event names the partition but not the topic (rust
    /// rdkafka drops it): each topic of that partition whose records were all handed on,
    /// by the last fetch's high watermark, is told its end.
    pub fn end_of_partition(&self, partition: i32) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        let tasks = self.tasks.lock().unwrap();
        let Some(handle) = tasks.get(&partition) else {
            return;
        };
        for input in &handle.inputs {
            if let Some((low, high)) =
                crate::commit::cached_watermarks(consumer.as_ref(), &input.name, partition)
            {
                input.end_if_caught_up(high, low);
            }
        }
    }

    pub fn topic_of(&self, name: &str) -> Option<usize> {
        self.topic_index(name)
    }
}

impl<F: ProcessorFactory> ClientContext for GroupContext<F> {
    fn error(&self, error: KafkaError, reason: &str) {
        // End-of-partition arrives here too; it is a signal the tasks read from their queues.
        if matches!(
            error,
            KafkaError::PartitionEOF(_)
                | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        ) {
            return;
        }
        error!(%error, reason, "librdkafka error");
    }
}

impl<F: ProcessorFactory> ConsumerContext for GroupContext<F> {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.task_ctx
                .metrics
                .rebalances
                .with_label_values(&["revoke"])
                .inc();
            let partitions: Vec<i32> = self.by_partition(tpl).into_keys().collect();
            info!(
                ?partitions,
                "partitions revoked: flushing and committing before release"
            );
            self.stop_tasks(Some(partitions.clone()), StopReason::Revoke);
            // A task a shutdown is already stopping is no longer in the map: wait for it
            // too, or the next owner could start while it still writes.
            self.wait_released(&partitions);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.task_ctx
                    .metrics
                    .rebalances
                    .with_label_values(&["assign"])
                    .inc();
                // librdkafka keeps a partition paused across ownerships: one this member
                // paused for an earlier task of it would never be fetched again. Resuming
                // a partition that is not paused does nothing.
                if let Err(error) = consumer.resume(tpl) {
                    warn!(%error, "could not resume the assigned partitions");
                }
                let starts = consumer
                    .committed_offsets((*tpl).clone(), self.task_ctx.config.commit_timeout)
                    .inspect_err(|error| warn!(%error, "committed offsets of the assignment unknown; end-of-partition waits for a record"))
                    .ok();
                self.start_tasks(tpl, starts.as_ref());
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => error!(%error, "rebalance error"),
        }
    }
}
