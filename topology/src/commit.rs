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

pub trait OffsetCommitter: Send + Sync + 'static {
    fn commit(&self, offsets: Offsets) -> BoxFuture<'static, Result<()>>;
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
