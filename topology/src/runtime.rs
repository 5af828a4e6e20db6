//! Entry point of the stream runtime: joins the group, checks co-partitioning, drives the
//! consumer's main queue on a thread of its own, and shuts down in order (tasks flush and
//! commit, then the member leaves the group).

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::Consumer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::budget::MemoryBudget;
use crate::commit::{KafkaCommitter, OffsetCommitter, Offsets};
use crate::config::RuntimeConfig;
use crate::error::{Result, RuntimeError};
use crate::group::{GroupConsumer, GroupContext};
use crate::metrics::RuntimeMetrics;
use crate::processor::ProcessorFactory;
use crate::state::LiveStores;
use crate::task::TaskContext;
use futures::future::BoxFuture;

/// How a run ends.
#[derive(Clone)]
pub struct RunControl {
    /// Cancelled on SIGTERM/SIGINT (or by a test): flush, commit, leave.
    pub shutdown: CancellationToken,
    /// When true, the run ends once every assigned partition has reached its end.
    pub exit_at_end: watch::Receiver<bool>,
}

/// Default prefetch of the instance (`queued.max.messages.kbytes`): with one consumer queue
/// librdkafka's limit covers all partitions together; each task's own read-ahead is bounded
/// by pausing (`kafka.buffer_per_partition_kib`, see `source.rs`).
const PREFETCH_KIB: &str = "16384";

/// Default size of one fetch answer (`fetch.max.bytes`), for all partitions an instance
/// reads from a broker. librdkafka would lower it to the prefetch limit; against tansu one
/// answer per ~270 ms round trip, and 1 MB answers held the rate at 26k events/s
/// (BENCHMARKS.md, round 5).
const FETCH_MAX_BYTES: &str = "4194304";

/// Properties lakestream owns: offsets are stored by the flush protocol only, and the range
/// assignor keeps partition p of every topic on one member.
fn consumer_config(kafka: &ClientConfig, partition_eof: bool) -> Result<ClientConfig> {
    let mut config = kafka.clone();
    if let Some(strategy) = config.get("partition.assignment.strategy") {
        if strategy != "range" {
            return Err(RuntimeError::Config(format!(
                "partition.assignment.strategy={strategy} is not supported: lakestream needs `range` so that partition p of every topic lands on the same instance"
            )));
        }
    }
    for (key, value) in [
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        (
            "enable.partition.eof",
            if partition_eof { "true" } else { "false" },
        ),
        ("partition.assignment.strategy", "range"),
    ] {
        config.set(key, value);
    }
    if config.get("auto.offset.reset").is_none() {
        config.set("auto.offset.reset", "earliest");
    }
    for (key, value) in [
        ("queued.max.messages.kbytes", PREFETCH_KIB),
        ("fetch.max.bytes", FETCH_MAX_BYTES),
    ] {
        if config.get(key).is_none() {
            config.set(key, value);
        }
    }
    Ok(config)
}

/// Fails unless every topic exists and all have the same partition count.
pub fn check_co_partitioned<C: rdkafka::consumer::ConsumerContext>(
    consumer: &impl Consumer<C>,
    topics: &[String],
    timeout: Duration,
) -> Result<i32> {
    let mut counts = Vec::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|source| RuntimeError::Kafka {
                context: format!("metadata of `{topic}`"),
                source,
            })?;
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        let count = match found {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                t.partitions().len() as i32
            }
            Some(t) => {
                return Err(RuntimeError::MissingTopic {
                    topic: topic.clone(),
                    detail: format!("broker says {:?}", t.error()),
                })
            }
            None => {
                return Err(RuntimeError::MissingTopic {
                    topic: topic.clone(),
                    detail: "not in metadata".into(),
                })
            }
        };
        counts.push((topic.clone(), count));
    }
    let first = counts.first().map(|(_, c)| *c).unwrap_or(0);
    if counts.iter().any(|(_, c)| *c != first) {
        let detail = counts
            .iter()
            .map(|(t, c)| format!("{t}: {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RuntimeError::NotCoPartitioned { detail });
    }
    Ok(first)
}

/// Runs the consumer group until `control` says stop.
pub async fn run<F: ProcessorFactory>(
    kafka: &ClientConfig,
    store: Arc<dyn ObjectStore>,
    config: RuntimeConfig,
    factory: F,
    metrics: RuntimeMetrics,
    live: Arc<LiveStores>,
    control: RunControl,
) -> Result<()> {
    let config = Arc::new(config);
    let consumer_cfg = consumer_config(kafka, config.partition_eof_events)?;
    let budget = Arc::new(MemoryBudget::new(config.memory_budget_bytes));
    // The committer needs the consumer and the consumer's context needs the committer:
    // the slot is filled right after the consumer exists.
    let dead_letters = if config.dead_letter_topics.iter().any(Option::is_some) {
        let topics: Vec<(String, Option<String>)> = config
            .topics
            .iter()
            .cloned()
            .zip(
                config
                    .dead_letter_topics
                    .iter()
                    .cloned()
                    .chain(std::iter::repeat(None)),
            )
            .collect();
        let (kafka, timeout) = (kafka.clone(), config.commit_timeout);
        let connected = tokio::task::spawn_blocking(move || {
            crate::dead_letter::DeadLetters::connect(&kafka, topics, timeout)
        })
        .await
        .expect("dead-letter setup thread")?;
        Some(Arc::new(connected))
    } else {
        None
    };
    let committer_slot = Arc::new(std::sync::OnceLock::new());
    let task_ctx = Arc::new(TaskContext {
        store,
        config: config.clone(),
        metrics,
        budget,
        committer: Arc::new(LateCommitter(committer_slot.clone())),
        clock: Arc::new(|| chrono::Utc::now().timestamp_millis()),
        live: live.clone(),
        dead_letters,
    });
    let context = GroupContext::new(tokio::runtime::Handle::current(), factory, task_ctx);
    let consumer: Arc<GroupConsumer<F>> = Arc::new(
        GroupConsumer::from_config_and_context(&consumer_cfg, context).map_err(|source| {
            RuntimeError::Kafka {
                context: "creating the consumer".into(),
                source,
            }
        })?,
    );
    let _ = committer_slot.set(Arc::new(KafkaCommitter::new(
        &consumer,
        config.commit_timeout,
    )));
    consumer.context().attach(&consumer);

    let partitions = {
        let (consumer, topics) = (consumer.clone(), config.topics.clone());
        tokio::task::spawn_blocking(move || {
            check_co_partitioned(consumer.as_ref(), &topics, Duration::from_secs(15))
        })
        .await
        .expect("metadata thread")?
    };
    live.set_partition_count(partitions);
    info!(topics = ?config.topics, partitions, "topics are co-partitioned; joining the group");
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| RuntimeError::Kafka {
            context: "subscribe".into(),
            source,
        })?;

    let driver_stop = CancellationToken::new();
    let driver = crate::driver::spawn(consumer.clone(), driver_stop.clone());
    wait_for_stop(&consumer, control).await;

    info!("stopping: flushing open windows and committing");
    let ctx_consumer = consumer.clone();
    tokio::task::spawn_blocking(move || ctx_consumer.context().shut_down())
        .await
        .expect("stop thread");
    consumer.unsubscribe();
    driver_stop.cancel();
    let _ = tokio::task::spawn_blocking(move || driver.join()).await;
    // Leaving the group (rd_kafka_consumer_close) blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .expect("close thread");
    info!("stopped");
    Ok(())
}

async fn wait_for_stop<F: ProcessorFactory>(
    consumer: &Arc<GroupConsumer<F>>,
    mut control: RunControl,
) {
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = control.shutdown.cancelled() => return,
            _ = poll.tick() => {
                if *control.exit_at_end.borrow_and_update() && consumer.context().all_at_end() {
                    info!(tasks = consumer.context().task_count(), "every assigned partition is at its end");
                    return;
                }
            }
        }
    }
}

/// Committer whose consumer is known only after the consumer (which owns the tasks'
/// context) has been built.
struct LateCommitter(Arc<std::sync::OnceLock<Arc<dyn OffsetCommitter>>>);

impl OffsetCommitter for LateCommitter {
    fn at_end(&self, topic: &str, partition: i32, consumed: Option<i64>) -> Option<bool> {
        self.0.get()?.at_end(topic, partition, consumed)
    }

    fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.get()?.high_watermark(topic, partition)
    }

    fn commit(&self, offsets: Offsets) -> BoxFuture<'static, Result<()>> {
        match self.0.get() {
            Some(inner) => inner.commit(offsets),
            None => Box::pin(async {
                Err(RuntimeError::Config(
                    "commit before the consumer exists".into(),
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefetch_has_a_default_that_a_user_setting_overrides() {
        let defaults = consumer_config(&ClientConfig::new(), true).unwrap();
        assert_eq!(defaults.get("fetch.max.bytes"), Some(FETCH_MAX_BYTES));
        assert_eq!(
            defaults.get("queued.max.messages.kbytes"),
            Some(PREFETCH_KIB)
        );
        let mut own = ClientConfig::new();
        own.set("fetch.max.bytes", "1048576")
            .set("queued.max.messages.kbytes", "64");
        let own = consumer_config(&own, true).unwrap();
        assert_eq!(own.get("fetch.max.bytes"), Some("1048576"));
        assert_eq!(own.get("queued.max.messages.kbytes"), Some("64"));
        assert_eq!(own.get("enable.auto.commit"), Some("false"));
    }

    #[test]
    fn an_assignor_other_than_range_is_refused_with_its_name() {
        let mut own = ClientConfig::new();
        own.set("partition.assignment.strategy", "cooperative-sticky");
        let error = consumer_config(&own, true).unwrap_err().to_string();
        assert!(error.contains("cooperative-sticky"), "{error}");
    }
}
