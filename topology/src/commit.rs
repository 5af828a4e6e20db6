//! Kafka offset commits, run off the async workers: librdkafka's synchronous commit has no
//! timeout of its own, so it runs on a blocking thread under our deadline.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Result, RuntimeError};
use crate::failpoint;

/// `(topic, partition, next offset to consume)`.
pub type Offsets = Vec<(String, i32, i64)>;

/// What a partition task asks of the group's consumer.
pub trait OffsetCommitter: Send + Sync + 'static {
    fn commit(&self, offsets: Offsets) -> BoxFuture<'static, Result<()>>;

    /// Whether everything fetched of `topic`/`partition` up to the broker's high
    /// watermark has been delivered; `None` when the consumer cannot tell yet. The
    /// fallback for a topic whose end-of-partition event could not be placed (see
    /// `GroupContext::end_of_partition`). `consumed` is the task's own next offset.
    fn at_end(&self, topic: &str, partition: i32, consumed: Option<i64>) -> Option<bool>;

    /// The partition's end (high watermark) from the consumer's last fetch; `None` before
    /// the first fetch answer.
    fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64>;
}

pub struct KafkaCommitter<C: ConsumerContext + 'static> {
    /// Weak: the consumer's own context holds this committer.
    consumer: Weak<StreamConsumer<C>>,
    timeout: Duration,
}

impl<C: ConsumerContext + 'static> KafkaCommitter<C> {
    pub fn new(consumer: &Arc<StreamConsumer<C>>, timeout: Duration) -> Self {
        KafkaCommitter {
            consumer: Arc::downgrade(consumer),
            timeout,
        }
    }
}

impl<C: ConsumerContext + 'static> OffsetCommitter for KafkaCommitter<C> {
    fn at_end(&self, topic: &str, partition: i32, consumed: Option<i64>) -> Option<bool> {
        at_end_of(
            self.consumer.upgrade()?.as_ref(),
            topic,
            partition,
            consumed,
        )
    }

    fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        cached_high_watermark(self.consumer.upgrade()?.as_ref(), topic, partition)
    }

    fn commit(&self, offsets: Offsets) -> BoxFuture<'static, Result<()>> {
        let consumer = self.consumer.upgrade();
        let timeout = self.timeout;
        Box::pin(async move {
            let Some(consumer) = consumer else {
                return Err(RuntimeError::Timeout("consumer already closed".into()));
            };
            let mut tpl = TopicPartitionList::new();
            for (topic, partition, offset) in &offsets {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                    .map_err(|source| RuntimeError::Kafka {
                        context: format!("offset list for {topic}/{partition}"),
                        source,
                    })?;
            }
            let blocking = tokio::task::spawn_blocking(move || {
                // The crash must land while the request is in flight, so it fires from
                // another thread a moment after the commit starts.
                if failpoint::armed_for(failpoint::points::DURING_COMMIT) {
                    std::thread::spawn(|| {
                        std::thread::sleep(Duration::from_millis(1));
                        failpoint::hit(failpoint::points::DURING_COMMIT);
                    });
                }
                consumer.commit(&tpl, CommitMode::Sync)
            });
            match tokio::time::timeout(timeout, blocking).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(source))) => Err(RuntimeError::Kafka {
                    context: "offset commit".into(),
                    source,
                }),
                Ok(Err(join)) => Err(RuntimeError::Timeout(format!(
                    "commit thread failed: {join}"
                ))),
                Err(_) => Err(RuntimeError::Timeout(format!(
                    "offset commit took longer than {timeout:?}"
                ))),
            }
        })
    }
}

impl<C: ConsumerContext + 'static> KafkaCommitter<C> {
    fn position(consumer: &StreamConsumer<C>, topic: &str, partition: i32) -> Option<i64> {
        let positions = consumer.position().ok()?;
        let offset = positions.find_partition(topic, partition)?.offset();
        match offset {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    }
}

pub(crate) fn at_end_of<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    topic: &str,
    partition: i32,
    consumed: Option<i64>,
) -> Option<bool> {
    let high = cached_high_watermark(consumer, topic, partition)?;
    // The consumer's position counts records handed to the task's input that the task
    // has not taken yet: the task's own offset comes first.
    let position = consumed.or_else(|| KafkaCommitter::position(consumer, topic, partition))?;
    Some(position >= high)
}

/// The high watermark from the last fetch response, without a network round trip (rust
/// rdkafka only exposes the querying variant). Fetch responses carry the true end, where
/// some brokers' ListOffsets answers lag it.
fn cached_high_watermark<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    cached_watermarks(consumer, topic, partition).map(|(_, high)| high)
}

/// Low (`None` while unknown) and high watermark of the last fetch response, see
/// [`cached_high_watermark`].
pub(crate) fn cached_watermarks<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(Option<i64>, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1_i64, -1_i64);
    // SAFETY: the client handle is valid while `consumer` is borrowed; the out-pointers
    // point at live locals.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(((low >= 0).then_some(low), high))
}
