//! What a partition task reads: the records of its topic-partitions merged into one stream,
//! plus end-of-partition markers. Built from rdkafka's split partition queues, so each task
//! pulls its own partitions and a slow task never blocks another.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;

use crate::record::SourceRecord;

#[derive(Debug)]
pub enum SourceEvent {
    Record(SourceRecord),
    /// The topic (by index) has no more records for now.
    EndOfPartition(usize),
    Error(KafkaError),
}

/// Splits `partition` of every topic in `topics` (name, index) off the consumer's main queue
/// and merges them in timestamp order (see `merge.rs`). Returns `None` if librdkafka does
/// not know one of the partitions.
pub fn split<C>(
    consumer: &Arc<StreamConsumer<C>>,
    topics: &[(String, usize)],
    partition: i32,
    max_task_idle: Duration,
) -> Option<BoxStream<'static, SourceEvent>>
where
    C: ConsumerContext + 'static,
{
    let mut streams = Vec::with_capacity(topics.len());
    for (name, index) in topics {
        let queue = consumer.split_partition_queue(name, partition)?;
        let index = *index;
        streams.push(
            stream::unfold(queue, move |queue| async move {
                let event = match queue.recv().await {
                    Ok(msg) => SourceEvent::Record(SourceRecord::from_message(index, &msg)),
                    Err(KafkaError::PartitionEOF(_)) => SourceEvent::EndOfPartition(index),
                    Err(e) => SourceEvent::Error(e),
                };
                Some((event, queue))
            })
            .boxed(),
        );
    }
    Some(crate::merge::by_timestamp(streams, max_task_idle))
}
