//! Dead-letter topics: a copy of each rejected record, value untouched, with headers that
//! say why and where it came from, produced exactly once per record across crashes.
//!
//! Exactly once without transactions: letters are produced during the flush (after the
//! data files, before the manifest save) by an idempotent producer, and the manifest
//! records, per dead-letter topic, the offset after the last letter confirmed. A task
//! that takes a partition over reads its dead-letter partition from that offset to the
//! end and skips every record whose source (topic, partition, offset) is already there:
//! those are the letters of a flush that crashed before its manifest save.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Result, RuntimeError};

pub const SOURCE_TOPIC: &str = "lakestream.source.topic";
pub const SOURCE_PARTITION: &str = "lakestream.source.partition";
pub const SOURCE_OFFSET: &str = "lakestream.source.offset";

/// One record to dead-letter, as the processor describes it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Index of the source topic.
    pub source_topic: usize,
    pub source_offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Why (e.g. `lakestream.reason`), added to the source headers.
    pub headers: Vec<(&'static str, String)>,
}

/// `(source topic index, source offset)` of letters already in a dead-letter topic.
pub type Sent = HashSet<(usize, i64)>;

pub struct DeadLetters {
    producer: FutureProducer,
    kafka: ClientConfig,
    /// Per source topic index: its source name and its dead-letter topic, if it has one.
    topics: Vec<(String, Option<String>)>,
    /// Partition count of each dead-letter topic.
    partitions: BTreeMap<String, i32>,
    timeout: Duration,
}

fn kafka_err(context: String) -> impl FnOnce(rdkafka::error::KafkaError) -> RuntimeError {
    move |source| RuntimeError::Kafka { context, source }
}

impl DeadLetters {
    /// Connects an idempotent producer and checks that every dead-letter topic exists.
    /// Blocking (metadata).
    pub fn connect(
        kafka: &ClientConfig,
        topics: Vec<(String, Option<String>)>,
        timeout: Duration,
    ) -> Result<Self> {
        let mut config = kafka.clone();
        config.set("enable.idempotence", "true");
        // Consumer properties would only make the producer log warnings.
        for owned in [
            "group.id",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "auto.offset.reset",
            "enable.partition.eof",
            "partition.assignment.strategy",
            "session.timeout.ms",
            "heartbeat.interval.ms",
        ] {
            config.remove(owned);
        }
        let producer: FutureProducer = config
            .create()
            .map_err(kafka_err("creating the dead-letter producer".into()))?;
        let mut partitions = BTreeMap::new();
        for dlq in topics.iter().filter_map(|(_, d)| d.as_ref()) {
            let metadata = producer
                .client()
                .fetch_metadata(Some(dlq), timeout)
                .map_err(kafka_err(format!("metadata of `{dlq}`")))?;
            let count = metadata
                .topics()
                .iter()
                .find(|t| t.name() == dlq && t.error().is_none())
                .map_or(0, |t| t.partitions().len() as i32);
            if count == 0 {
                return Err(RuntimeError::MissingTopic {
                    topic: dlq.clone(),
                    detail: "dead letters are enabled; create the topic or set dead_letters.enabled = false".into(),
                });
            }
            partitions.insert(dlq.clone(), count);
        }
        Ok(DeadLetters {
            producer,
            kafka: config,
            topics,
            partitions,
            timeout,
        })
    }

    /// The dead-letter topic and partition for source topic `topic`, partition `p`.
    fn target(&self, topic: usize, partition: i32) -> Option<(&str, i32)> {
        let dlq = self.topics.get(topic)?.1.as_deref()?;
        Some((dlq, partition % self.partitions[dlq]))
    }

    /// Letters of source partition `partition` already in the dead-letter topics, read
    /// from `from` (per dead-letter topic; the beginning when absent) to the end.
    /// Blocking.
    pub fn already_sent(&self, partition: i32, from: &BTreeMap<String, i64>) -> Result<Sent> {
        let mut sent = Sent::new();
        let mut config = self.kafka.clone();
        config
            .remove("enable.idempotence")
            .set("group.id", "lakestream-dead-letter-scan")
            .set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config
            .create()
            .map_err(kafka_err("creating the dead-letter reader".into()))?;
        let wanted: BTreeMap<&str, i32> = (0..self.topics.len())
            .filter_map(|t| self.target(t, partition))
            .collect();
        for (dlq, p) in wanted {
            let (low, high) = consumer
                .fetch_watermarks(dlq, p, self.timeout)
                .map_err(kafka_err(format!("watermarks of `{dlq}`/{p}")))?;
            let start = from.get(dlq).copied().unwrap_or(low).max(low);
            if start >= high {
                continue;
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(dlq, p, Offset::Offset(start))
                .map_err(kafka_err(format!("assigning `{dlq}`/{p}")))?;
            consumer
                .assign(&tpl)
                .map_err(kafka_err(format!("assigning `{dlq}`/{p}")))?;
            let deadline = std::time::Instant::now() + self.timeout;
            let mut next = start;
            while next < high {
                if std::time::Instant::now() > deadline {
                    return Err(RuntimeError::Timeout(format!(
                        "reading dead letters of `{dlq}`/{p} from {start} to {high}"
                    )));
                }
                let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                    continue;
                };
                let message = message.map_err(kafka_err(format!("reading `{dlq}`/{p}")))?;
                next = message.offset() + 1;
                if let Some(source) = self.source_of(&message, partition) {
                    sent.insert(source);
                }
            }
        }
        Ok(sent)
    }

    /// The source of a letter, when it came from source partition `partition`.
    fn source_of(&self, message: &impl Message, partition: i32) -> Option<(usize, i64)> {
        let headers = message.headers()?;
        let value = |name: &str| -> Option<String> {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        if value(SOURCE_PARTITION)?.parse::<i32>().ok()? != partition {
            return None;
        }
        let topic = value(SOURCE_TOPIC)?;
        let index = self.topics.iter().position(|(name, _)| *name == topic)?;
        Some((index, value(SOURCE_OFFSET)?.parse().ok()?))
    }

    /// Produces `letters` of source partition `partition` and waits for every delivery.
    /// Returns, per dead-letter topic, the offset after the last letter delivered, and the
    /// sources now sent (also on failure, for the ones that made it).
    pub async fn send(
        &self,
        partition: i32,
        letters: &[DeadLetter],
    ) -> (BTreeMap<String, i64>, Sent, Option<RuntimeError>) {
        let mut pending = Vec::with_capacity(letters.len());
        for letter in letters {
            let Some((dlq, p)) = self.target(letter.source_topic, partition) else {
                continue;
            };
            let mut headers = OwnedHeaders::new()
                .insert(Header {
                    key: SOURCE_TOPIC,
                    value: Some(self.topics[letter.source_topic].0.as_bytes()),
                })
                .insert(Header {
                    key: SOURCE_PARTITION,
                    value: Some(partition.to_string().as_bytes()),
                })
                .insert(Header {
                    key: SOURCE_OFFSET,
                    value: Some(letter.source_offset.to_string().as_bytes()),
                });
            for (key, value) in &letter.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(dlq).partition(p).headers(headers);
            if let Some(key) = letter.key.as_deref() {
                record = record.key(key);
            }
            if let Some(value) = letter.value.as_deref() {
                record = record.payload(value);
            }
            let delivery = self.producer.send(record, self.timeout);
            pending.push(async move {
                (
                    letter.source_topic,
                    letter.source_offset,
                    dlq.to_string(),
                    delivery.await,
                )
            });
        }
        // Polled together: the producer batches them like any other burst.
        let results = futures::future::join_all(pending).await;
        let (mut ends, mut sent, mut error) = (BTreeMap::new(), Sent::new(), None);
        for (topic, offset, dlq, result) in results {
            match result {
                Ok(delivered) => {
                    let end = ends.entry(dlq).or_insert(0);
                    *end = (*end).max(delivered.offset + 1);
                    sent.insert((topic, offset));
                }
                Err((source, _)) => {
                    error.get_or_insert(RuntimeError::Kafka {
                        context: format!("dead letter to `{dlq}`"),
                        source,
                    });
                }
            }
        }
        (ends, sent, error)
    }
}
