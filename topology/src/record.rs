//! The unit that enters a partition task: one Kafka record, copied out of librdkafka's
//! buffer so it can outlive the poll that produced it.

use bytes::Bytes;
use rdkafka::message::{BorrowedMessage, Message};

/// One consumed Kafka record. `topic` is the index into the topology's topic list, so the
/// hot path carries a byte instead of a string.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SourceRecord {
    pub topic: usize,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Kafka timestamp (create or log-append time), epoch milliseconds.
    pub timestamp_ms: Option<i64>,
}

impl SourceRecord {
    pub fn from_message(topic: usize, msg: &BorrowedMessage<'_>) -> Self {
        SourceRecord {
            topic,
            partition: msg.partition(),
            offset: msg.offset(),
            key: msg.key().map(Bytes::copy_from_slice),
            value: msg.payload().map(Bytes::copy_from_slice),
            timestamp_ms: msg.timestamp().to_millis(),
        }
    }

    /// Bytes this record pins in memory while its window is open.
    pub fn payload_bytes(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len) + self.value.as_ref().map_or(0, Bytes::len)
    }
}
