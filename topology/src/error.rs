//! Errors of the stream runtime. Bad records never appear here: they are values routed to
//! quarantine by the processor. These are failures of the machinery, each saying what to do.

use thiserror::Error;

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum RuntimeError {
    /// Transient or permanent object-store failure; flushes retry these with backoff.
    #[error("object store failed at `{path}`: {source}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot read manifest `{path}`: {reason}; fix or delete it (the partition then replays from the committed Kafka offset)")]
    Manifest { path: String, reason: String },
    #[error("Parquet encoding of `{path}` failed: {reason}")]
    Encode { path: String, reason: String },
    #[error("Kafka: {context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "topics are not co-partitioned: {detail}; every topic must have the same partition count"
    )]
    NotCoPartitioned { detail: String },
    #[error("topic `{topic}` does not exist on the cluster ({detail})")]
    MissingTopic { topic: String, detail: String },
    #[error("state of partition {partition}: {reason}")]
    State { partition: i32, reason: String },
    #[error(
        "spilled window rows of partition {partition}: {source}; a restart replays them from Kafka"
    )]
    Spill {
        partition: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Config(String),
}
