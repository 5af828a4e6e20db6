//! Shared test harness: unique names per test, settings that point at a broker and a fresh
//! lake, a producer, an in-process pipeline run, and a lake reader that parses hive paths
//! itself (independent of lakestream's writer).

#![allow(dead_code)]

pub mod aggregates;
pub mod checks;
pub mod events;
pub mod evidence;
pub mod fault_proxy;
pub mod http;
pub mod lake;
pub mod lake_cmd;
pub mod process;
pub mod s3;
pub mod tansu;
pub mod tls;
pub mod tools;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lakestream::app::{self, RunOptions};
use lakestream::config::Settings;
use lakestream::demo::generator::{Generator, GeneratorConfig, Kind};
use lakestream_topology::mock::MockKafka;
use lakestream_topology::RunControl;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Topic names of one test, in contract order (attempts, sessions, training).
#[derive(Clone, Debug)]
pub struct Topics {
    pub names: [String; 3],
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        let p = unique(prefix);
        Topics {
            names: [
                format!("{p}.user.attempts"),
                format!("{p}.user.sessions"),
                format!("{p}.ml.training"),
            ],
        }
    }

    pub fn for_role(&self, role: &str) -> &str {
        match role {
            "user.attempts" => &self.names[0],
            "user.sessions" => &self.names[1],
            "ml.training" => &self.names[2],
            other => panic!("no such role {other}"),
        }
    }
}

/// Environment for one lakestream instance of a test.
pub fn env(bootstrap: &str, topics: &Topics, lake: &Path, group: &str) -> HashMap<String, String> {
    [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.to_string()),
        ("DATA_LAKE_URL", format!("file://{}", lake.display())),
        ("LAKESTREAM_GROUP_ID", group.to_string()),
        ("LAKESTREAM_HTTP_ADDR", "127.0.0.1:0".to_string()),
        (
            "LAKESTREAM_STATE_DIR",
            lake.join("_state").display().to_string(),
        ),
        ("LAKESTREAM_TOPICS__ATTEMPTS", topics.names[0].clone()),
        ("LAKESTREAM_TOPICS__SESSIONS", topics.names[1].clone()),
        ("LAKESTREAM_TOPICS__TRAINING", topics.names[2].clone()),
        ("LAKESTREAM_WINDOWS__IDLE_TIMEOUT", "2s".to_string()),
        ("KAFKA_SESSION_TIMEOUT_MS", "6000".to_string()),
        ("KAFKA_HEARTBEAT_INTERVAL_MS", "500".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Settings of an instance in a fresh group, with `overrides` (environment names) on top
/// of the common test environment.
pub fn settings_with(
    bootstrap: &str,
    topics: &Topics,
    lake: &Path,
    overrides: &[(&str, &str)],
) -> Settings {
    let mut env = env(bootstrap, topics, lake, &unique("g"));
    for (name, value) in overrides {
        env.insert(name.to_string(), value.to_string());
    }
    settings(&env)
}

pub fn settings(env: &HashMap<String, String>) -> Settings {
    lakestream::telemetry::init(lakestream::config::LogFormat::Text);
    Settings::load(None, env).expect("test settings are valid")
}

/// Produces `(role, key, value)` records and waits until all are acknowledged.
pub fn produce(bootstrap: &str, topics: &Topics, records: &[(String, String, Vec<u8>)]) {
    produce_with(bootstrap, topics, records, &[]);
}

/// Produces every record in a record batch of its own. For tansu 0.6.0, which loses the
/// rest of a batch when a consumer resumes inside it (README, "Known issues"): with one
/// record per batch, every committed offset is a batch boundary.
pub fn produce_unbatched(bootstrap: &str, topics: &Topics, records: &[(String, String, Vec<u8>)]) {
    produce_with(bootstrap, topics, records, &[("batch.num.messages", "1")]);
}

/// [`produce`] with extra librdkafka properties (TLS, batching).
pub fn produce_with(
    bootstrap: &str,
    topics: &Topics,
    records: &[(String, String, Vec<u8>)],
    extra: &[(&str, &str)],
) {
    produce_stamped(bootstrap, topics, records, None, extra);
}

/// [`produce`] with each record's Kafka timestamp set to its publication time (see
/// [`generate_published`]), as the platform's producers and the demo stamp them. Without
/// it every record is stamped with the wall clock at its send, so hundreds share one
/// millisecond and the tasks' timestamp merge (`merge.rs`) cannot tell their order.
pub fn produce_published(
    bootstrap: &str,
    topics: &Topics,
    records: &[(String, String, Vec<u8>)],
    published_ms: &[i64],
) {
    assert_eq!(records.len(), published_ms.len(), "a time per record");
    produce_stamped(bootstrap, topics, records, Some(published_ms), &[]);
}

fn produce_stamped(
    bootstrap: &str,
    topics: &Topics,
    records: &[(String, String, Vec<u8>)],
    published_ms: Option<&[i64]>,
    extra: &[(&str, &str)],
) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "2")
        .set("enable.idempotence", "true");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().expect("producer");
    for (i, (role, key, value)) in records.iter().enumerate() {
        let mut record = BaseRecord::to(topics.for_role(role))
            .key(key.as_str())
            .payload(value.as_slice());
        if let Some(published) = published_ms {
            record = record.timestamp(published[i]);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("all records acknowledged");
}

/// Runs one in-process instance until every assigned partition is consumed.
pub async fn run_to_end(settings: Settings) {
    run_to_end_with(settings, None).await;
}

/// Like [`run_to_end`]; returns the final metrics (Prometheus text).
pub async fn run_to_end_metrics(settings: Settings) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.prom");
    run_to_end_with(settings, Some(path.clone())).await;
    std::fs::read_to_string(path).unwrap()
}

async fn run_to_end_with(settings: Settings, metrics_file: Option<std::path::PathBuf>) {
    let (_tx, exit_at_end) = watch::channel(true);
    let control = RunControl {
        shutdown: CancellationToken::new(),
        exit_at_end,
    };
    let run = app::run(
        settings,
        RunOptions {
            control,
            serve_http: false,
            metrics_file,
        },
    );
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("pipeline reached the end within 2 minutes")
        .expect("pipeline ran cleanly");
}

/// Starts an instance in the background; returns its stop token and join handle.
pub fn start(
    settings: Settings,
    exit_at_end: watch::Receiver<bool>,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    start_writing_metrics(settings, exit_at_end, None)
}

/// [`start`], writing the run's final metrics to `metrics_file` when it ends.
pub fn start_writing_metrics(
    settings: Settings,
    exit_at_end: watch::Receiver<bool>,
    metrics_file: Option<std::path::PathBuf>,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let shutdown = CancellationToken::new();
    let control = RunControl {
        shutdown: shutdown.clone(),
        exit_at_end,
    };
    let handle = tokio::spawn(app::run(
        settings,
        RunOptions {
            control,
            serve_http: false,
            metrics_file,
        },
    ));
    (shutdown, handle)
}

/// Waits for instances started with [`start`] to end cleanly, each within two minutes.
pub async fn finish<const N: usize>(
    instances: [(&str, tokio::task::JoinHandle<anyhow::Result<()>>); N],
) {
    for (name, handle) in instances {
        tokio::time::timeout(Duration::from_secs(120), handle)
            .await
            .unwrap_or_else(|_| panic!("instance {name} did not finish"))
            .unwrap()
            .unwrap_or_else(|e| panic!("instance {name} failed: {e:#}"));
    }
}

/// Polls `check` every 100 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produced records with what they are: `(role, key, value, kind)`.
pub type Produced = Vec<(String, String, Vec<u8>, Kind)>;

/// `n` generated contract events, about 1% invalid and 2% redeliveries of earlier valid
/// events (marked [`Kind::Duplicate`]).
pub fn generate(seed: u64, users: usize, days: u32, n: usize) -> Produced {
    generate_published(seed, users, days, n).0
}

/// [`generate`], with each record's publication time: the generator's simulated clock
/// when it was made (for [`produce_published`]).
pub fn generate_published(seed: u64, users: usize, days: u32, n: usize) -> (Produced, Vec<i64>) {
    let config = GeneratorConfig {
        seed,
        users,
        days,
        duplicate_ratio: 0.02,
        ..Default::default()
    };
    let mut generator = Generator::new(config);
    let (mut produced, mut published) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let g = generator.next().expect("the generator never ends");
        published.push(generator.clock_ms());
        produced.push((g.topic.name().to_string(), g.key, g.value, g.kind));
    }
    (produced, published)
}

/// The `(role, key, value)` part of produced records, for [`produce`].
pub fn records_of(produced: &[(String, String, Vec<u8>, Kind)]) -> Vec<(String, String, Vec<u8>)> {
    produced
        .iter()
        .map(|(r, k, v, _)| (r.clone(), k.clone(), v.clone()))
        .collect()
}

/// A mock cluster with this test's three topics.
pub fn mock_with_topics(prefix: &str, partitions: i32) -> (MockKafka, Topics) {
    let kafka = MockKafka::start(1).unwrap();
    let topics = Topics::new(prefix);
    for name in &topics.names {
        kafka.create_topic(name, partitions).unwrap();
    }
    (kafka, topics)
}

/// Points an instance's environment at a state directory of its own.
pub fn with_state_dir(mut env: HashMap<String, String>, dir: &Path) -> HashMap<String, String> {
    env.insert("LAKESTREAM_STATE_DIR".into(), dir.display().to_string());
    env
}

/// Settings of a fresh instance in a group of its own.
pub fn fresh_settings(bootstrap: &str, topics: &Topics, lake: &Path) -> Settings {
    settings(&env(bootstrap, topics, lake, &unique("g")))
}

/// Produces the contract cases, runs one instance to the end, and returns the lake.
pub async fn land_contract_cases(
    bootstrap: &str,
    topics: &Topics,
) -> (tempfile::TempDir, Vec<events::Case>) {
    let lake = tempfile::tempdir().unwrap();
    let cases = events::cases();
    produce(bootstrap, topics, &events::records(&cases));
    run_to_end(fresh_settings(bootstrap, topics, lake.path())).await;
    (lake, cases)
}
