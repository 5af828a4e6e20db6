//! Produces generated events into Kafka at a steady rate, keyed by `user_id` so the three
//! topics stay co-partitioned.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::generator::{Generator, GeneratorConfig, Kind};
use super::DemoOptions;

#[derive(Debug, Default, Clone)]
pub struct Produced {
    pub valid: usize,
    pub invalid: usize,
    pub duplicate: usize,
    /// Bytes of the record values, for MB/s figures.
    pub value_bytes: u64,
}

impl Produced {
    pub fn total(&self) -> usize {
        self.valid + self.invalid + self.duplicate
    }
}

pub fn produce(bootstrap: &str, options: &DemoOptions) -> anyhow::Result<Produced> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", options.linger_ms.to_string())
        // Large compressed batches: the mock cluster caps each partition's log by bytes.
        .set("compression.type", "zstd")
        .set("batch.size", "1000000")
        .set("enable.idempotence", "true")
        .create()?;
    let generator = Generator::new(GeneratorConfig {
        seed: options.seed,
        users: options.users,
        days: options.days,
        ..GeneratorConfig::default()
    });
    let mut produced = Produced::default();
    let started = Instant::now();
    let mut generator = generator;
    for i in 0..options.events {
        let event = generator.next().expect("the generator never ends");
        // Stamped with the simulated time of publication, so the quality report's
        // timeliness means what it would in production, even for a simulated past.
        let mut record = BaseRecord::to(event.topic.name())
            .key(&event.key)
            .payload(&event.value)
            .timestamp(generator.clock_ms());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, returned))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => anyhow::bail!("producing to {}: {e}", event.topic.name()),
            }
        }
        produced.value_bytes += event.value.len() as u64;
        match event.kind {
            Kind::Valid => produced.valid += 1,
            Kind::Invalid => produced.invalid += 1,
            Kind::Duplicate => produced.duplicate += 1,
        }
        // Pacing in chunks: sleeping per event would cost more than the sleep itself.
        if options.rate > 0 && i % 256 == 255 {
            let due = Duration::from_secs_f64((i + 1) as f64 / options.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(produced)
}
