//! Settings, layered once at startup: built-in defaults < TOML file < environment. The
//! resolved struct is passed down; nothing below reads the environment.
//!
//! Environment names (the seed's names keep working):
//! `KAFKA_BOOTSTRAP_SERVERS`, `LAKESTREAM_GROUP_ID`, `LAKESTREAM_STATE_DIR`,
//! `LAKESTREAM_HTTP_ADDR`, `LAKESTREAM_LOG_FORMAT`, `DATA_LAKE_URL`, `DATA_LAKE_PROVIDER`,
//! `DATA_LAKE_BUCKET`, `DATA_LAKE_BASE_PATH`, `AWS_DEFAULT_REGION`; any other `KAFKA_<NAME>`
//! sets the librdkafka property `<name>` lower-cased with `_` as `.` (`KAFKA_SECURITY_PROTOCOL`
//! -> `security.protocol`); and `LAKESTREAM_<SECTION>__<FIELD>` sets any field of the file
//! (`LAKESTREAM_WINDOWS__GRACE=5m`).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::lake::LakeLocation;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub topics: TopicSettings,
    pub lake: LakeSettings,
    pub windows: WindowSettings,
    pub state: StateSettings,
    pub quality: QualitySettings,
    pub dead_letters: DeadLetterSettings,
    pub retention: RetentionSettings,
    pub privacy: PrivacySettings,
    /// Local state stores (RocksDB) live here.
    pub state_dir: PathBuf,
    /// Address of the HTTP server (metrics, health).
    pub http_addr: String,
    /// `text` (default) or `json` log lines.
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Consumer group shared by all instances.
    pub group_id: String,
    /// Extra librdkafka properties (TLS, SASL, timeouts), passed through unchanged.
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties whose values are read from files at startup, for secrets
    /// mounted by Docker or Kubernetes (`"sasl.password" = "/run/secrets/kafka"`). In the
    /// environment: `LAKESTREAM_KAFKA__SECRET_FILES__SASL_PASSWORD=/run/secrets/kafka`.
    #[serde(default)]
    pub secret_files: BTreeMap<String, PathBuf>,
    /// The values read from `secret_files`: kept out of serialization (so out of the
    /// configuration audit) and out of `Debug`.
    #[serde(skip)]
    pub secrets: Secrets,
    /// Deadline for one offset commit.
    #[serde(with = "humantime_serde")]
    pub commit_timeout: Duration,
    /// Deadline for revoked partitions to flush and commit; keep below `session.timeout.ms`.
    #[serde(with = "humantime_serde")]
    pub revoke_timeout: Duration,
    /// Records (MiB) read from Kafka and not yet taken by their partition tasks, for the
    /// whole instance; one topic-partition may hold half of it before it is paused.
    pub read_ahead_mib: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSettings {
    pub attempts: String,
    pub sessions: String,
    pub training: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSettings {
    /// `file:///…`, `s3://bucket/prefix`, `gs://…`, `az://…`, or a local folder.
    pub url: Option<String>,
    /// Seed-style alternative to `url`: `local`, `s3`, `gcs` or `azure`.
    pub provider: Option<String>,
    pub bucket: Option<String>,
    pub base_path: Option<String>,
    pub region: Option<String>,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// object_store settings of a cloud lake, by their object_store names: server-side
    /// encryption (`aws_server_side_encryption`, `aws_sse_kms_key_id`), endpoints,
    /// client timeouts. Never credentials: those come from the environment or instance
    /// metadata.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Secret values, printed as `<redacted>`.
#[derive(Clone, Default)]
pub struct Secrets(pub BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSettings {
    /// How far the watermark trails the task's event time (see `window.rs`).
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// Quiet time after which a partition closes its windows by wall clock.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Least time between two flushes of a partition while it catches up on a backlog:
    /// hours that close meanwhile go out together ("0s": each hour at once).
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// How long a partition's topic with nothing buffered holds back its other topics, so
    /// that the three are read in step by record timestamp.
    #[serde(with = "humantime_serde")]
    pub max_task_idle: Duration,
    /// Memory for all open windows of the process, in MiB.
    pub memory_budget_mib: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    /// A redelivered `event_id` within this much event time counts as a duplicate.
    #[serde(with = "humantime_serde")]
    pub dedup_horizon: Duration,
    /// How long after a UTC day ends (by watermark) events still change its aggregate.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// State snapshots kept in the lake per partition.
    pub snapshots_kept: u64,
    /// Flushes that publish their state batch as a changelog entry between two snapshots.
    pub snapshot_every: usize,
}

/// How long each lake tier keeps a day partition (`lakestream lake cleanup`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    #[serde(with = "humantime_serde")]
    pub raw: Duration,
    #[serde(with = "humantime_serde")]
    pub processed: Duration,
    #[serde(with = "humantime_serde")]
    pub aggregated: Duration,
    #[serde(with = "humantime_serde")]
    pub quarantine: Duration,
    #[serde(with = "humantime_serde")]
    pub quality: Duration,
    /// How often the service itself deletes expired day partitions; absent: never (use
    /// `lakestream lake cleanup`).
    #[serde(default, with = "humantime_serde")]
    pub schedule: Option<Duration>,
}

/// Learner data protection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// A file holding the HMAC key (at least 32 bytes); when set, `user_id` is
    /// pseudonymized in the processed, aggregated and quality tiers.
    #[serde(default)]
    pub pseudonymize_key_file: Option<PathBuf>,
}

/// Copies of rejected records in `<topic><suffix>` topics (which must exist).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterSettings {
    pub enabled: bool,
    pub suffix: String,
}

/// Rules and thresholds of the data-quality checks (README, "Data quality").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySettings {
    /// Upper bounds (exclusive) of the response-time categories `very_fast`, `fast`,
    /// `normal` and `slow`; above the last is `very_slow`.
    #[serde(with = "humantime_serde")]
    pub very_fast_below: Duration,
    #[serde(with = "humantime_serde")]
    pub fast_below: Duration,
    #[serde(with = "humantime_serde")]
    pub normal_below: Duration,
    #[serde(with = "humantime_serde")]
    pub slow_below: Duration,
    /// A valid record is timely when it reached Kafka within this long of its event time.
    #[serde(with = "humantime_serde")]
    pub timeliness: Duration,
    /// Event time this far from the Kafka timestamp, either way, is skewed.
    #[serde(with = "humantime_serde")]
    pub skew: Duration,
    /// Warning limits, as shares in [0, 1].
    pub max_skewed_share: f64,
    pub max_duplicate_share: f64,
    pub max_null_share: f64,
    /// Robust z-score (log scale) above which a value is an outlier.
    pub anomaly_sensitivity: f64,
    /// Values of a metric needed before outliers are flagged.
    pub anomaly_min_samples: u64,
    /// Event-time history outliers are judged against.
    #[serde(with = "humantime_serde")]
    pub anomaly_horizon: Duration,
    /// Record values larger than this are quarantined unparsed (oversized input must not
    /// cost a JSON parse); Kafka's own default message limit is about 1 MiB.
    pub max_record_bytes: usize,
    /// How long, in event time, an attempt waits for its session before it is flagged as
    /// an attempt without a session.
    #[serde(with = "humantime_serde")]
    pub session_wait: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kafka: KafkaSettings {
                bootstrap_servers: "localhost:9092".into(),
                group_id: "lakestream".into(),
                properties: BTreeMap::new(),
                secret_files: BTreeMap::new(),
                secrets: Secrets::default(),
                commit_timeout: Duration::from_secs(10),
                revoke_timeout: Duration::from_secs(30),
                read_ahead_mib: 32,
            },
            topics: TopicSettings {
                attempts: "user.attempts".into(),
                sessions: "user.sessions".into(),
                training: "ml.training".into(),
            },
            lake: LakeSettings {
                url: None,
                provider: None,
                bucket: None,
                base_path: None,
                region: None,
                row_group_rows: 128 * 1024,
                options: BTreeMap::new(),
            },
            windows: WindowSettings {
                grace: Duration::from_secs(600),
                idle_timeout: Duration::from_secs(60),
                flush_interval: Duration::from_secs(5),
                max_task_idle: Duration::from_millis(500),
                memory_budget_mib: 64,
            },
            dead_letters: DeadLetterSettings {
                enabled: false,
                suffix: ".dlq".into(),
            },
            retention: RetentionSettings {
                raw: Duration::from_secs(90 * 86_400),
                processed: Duration::from_secs(365 * 86_400),
                aggregated: Duration::from_secs(1095 * 86_400),
                quarantine: Duration::from_secs(90 * 86_400),
                quality: Duration::from_secs(365 * 86_400),
                schedule: None,
            },
            quality: QualitySettings {
                very_fast_below: Duration::from_secs(2),
                fast_below: Duration::from_secs(5),
                normal_below: Duration::from_secs(15),
                slow_below: Duration::from_secs(30),
                timeliness: Duration::from_secs(3600),
                skew: Duration::from_secs(24 * 3600),
                max_skewed_share: 0.01,
                max_duplicate_share: 0.05,
                max_null_share: 0.5,
                anomaly_sensitivity: 6.0,
                anomaly_min_samples: 500,
                anomaly_horizon: Duration::from_secs(7 * 86_400),
                max_record_bytes: 1024 * 1024,
                session_wait: Duration::from_secs(2 * 3600),
            },
            state: StateSettings {
                dedup_horizon: Duration::from_secs(7 * 86_400),
                allowed_lateness: Duration::from_secs(2 * 86_400),
                snapshots_kept: 2,
                snapshot_every: 64,
            },
            privacy: PrivacySettings::default(),
            state_dir: PathBuf::from("./lakestream-state"),
            http_addr: "0.0.0.0:8080".into(),
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Named variables and the setting each one fills.
const NAMED: &[(&str, &[&str])] = &[
    ("KAFKA_BOOTSTRAP_SERVERS", &["kafka", "bootstrap_servers"]),
    ("LAKESTREAM_GROUP_ID", &["kafka", "group_id"]),
    ("LAKESTREAM_STATE_DIR", &["state_dir"]),
    ("LAKESTREAM_HTTP_ADDR", &["http_addr"]),
    ("LAKESTREAM_LOG_FORMAT", &["log_format"]),
    ("DATA_LAKE_URL", &["lake", "url"]),
    ("DATA_LAKE_PROVIDER", &["lake", "provider"]),
    ("DATA_LAKE_BUCKET", &["lake", "bucket"]),
    ("DATA_LAKE_BASE_PATH", &["lake", "base_path"]),
    ("AWS_DEFAULT_REGION", &["lake", "region"]),
];

fn set_path(root: &mut Map<String, Value>, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut node = root;
    for p in parents {
        node = node
            .entry(p.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("section is a table");
    }
    node.insert(last.to_string(), value);
}

/// Numbers and booleans of generic `LAKESTREAM_<SECTION>__<FIELD>` variables keep their
/// type; the named variables and librdkafka properties are strings by definition.
fn typed(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_string()),
    }
}

/// Turns environment variables into a nested value shaped like [`Settings`].
fn env_layer(env: &HashMap<String, String>) -> Value {
    let mut root = Map::new();
    let mut names: Vec<&String> = env.keys().collect();
    names.sort();
    for name in names {
        let value = Value::String(env[name].clone());
        if let Some((_, path)) = NAMED.iter().find(|(n, _)| n == name) {
            set_path(&mut root, path, value);
        } else if let Some(prop) = name.strip_prefix("KAFKA_") {
            let prop = prop.to_ascii_lowercase().replace('_', ".");
            set_path(&mut root, &["kafka", "properties", &prop], value);
        } else if let Some(rest) = name.strip_prefix("LAKESTREAM_") {
            if rest.contains("__") {
                let value = typed(&env[name]);
                let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                set_path(&mut root, &path, value);
            }
        }
    }
    Value::Object(root)
}

/// Reads each secret file once. Keys may use `_` for `.` (librdkafka property names have
/// no underscores), so the environment can name them; one trailing newline is dropped, as
/// `echo secret > file` leaves one.
fn read_secret_files(files: &BTreeMap<String, PathBuf>) -> Result<Secrets, ConfigError> {
    let mut secrets = BTreeMap::new();
    for (key, path) in files {
        let property = key.replace('_', ".");
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "kafka.secret_files.{key}: cannot read `{}`: {e}",
                path.display()
            ))
        })?;
        let value = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        if value.is_empty() {
            return Err(ConfigError(format!(
                "kafka.secret_files.{key}: `{}` is empty",
                path.display()
            )));
        }
        secrets.insert(property, value.to_string());
    }
    Ok(Secrets(secrets))
}

impl Settings {
    /// Loads defaults, then `file` (if any), then `env`, and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "config file `{}` does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Serialized::defaults(env_layer(env)));
        let mut settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        settings.kafka.secrets = read_secret_files(&settings.kafka.secret_files)?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn topic_names(&self) -> Vec<String> {
        vec![
            self.topics.attempts.clone(),
            self.topics.sessions.clone(),
            self.topics.training.clone(),
        ]
    }

    pub fn lake_location(&self) -> Result<LakeLocation, ConfigError> {
        LakeLocation::resolve(&self.lake).map_err(ConfigError)
    }

    pub fn http_socket(&self) -> Result<SocketAddr, ConfigError> {
        self.http_addr.parse().map_err(|e| {
            ConfigError(format!(
                "http_addr (LAKESTREAM_HTTP_ADDR) `{}` is not host:port: {e}",
                self.http_addr
            ))
        })
    }

    /// The response-time categories as the domain reads them.
    pub fn response_time_thresholds(&self) -> crate::domain::ResponseTimeThresholds {
        let q = &self.quality;
        crate::domain::ResponseTimeThresholds {
            very_fast_below_ms: q.very_fast_below.as_millis() as i64,
            fast_below_ms: q.fast_below.as_millis() as i64,
            normal_below_ms: q.normal_below.as_millis() as i64,
            slow_below_ms: q.slow_below.as_millis() as i64,
        }
    }

    /// The key file read and checked; `None` when pseudonymization is off. The key is
    /// never part of an error message.
    pub fn pseudonymizer(
        &self,
    ) -> Result<Option<crate::pipeline::pseudonym::Pseudonymizer>, ConfigError> {
        let Some(path) = &self.privacy.pseudonymize_key_file else {
            return Ok(None);
        };
        let key = std::fs::read(path).map_err(|e| {
            ConfigError(format!(
                "privacy.pseudonymize_key_file `{}` cannot be read: {e}",
                path.display()
            ))
        })?;
        crate::pipeline::pseudonym::Pseudonymizer::new(&key)
            .map(Some)
            .map_err(|e| {
                ConfigError(format!(
                    "privacy.pseudonymize_key_file `{}`: {e}",
                    path.display()
                ))
            })
    }

    /// Retention per lake tier, by tier name.
    pub fn retention(&self) -> crate::lake::retention::Retention {
        let r = &self.retention;
        [
            ("raw", r.raw),
            ("processed", r.processed),
            ("aggregated", r.aggregated),
            ("quarantine", r.quarantine),
            ("quality", r.quality),
        ]
        .into_iter()
        .map(|(tier, keep)| (tier.to_string(), keep))
        .collect()
    }

    pub fn quality_rules(&self) -> crate::quality::QualityRules {
        let q = &self.quality;
        crate::quality::QualityRules {
            timeliness: q.timeliness,
            skew: q.skew,
            max_skewed_share: q.max_skewed_share,
            max_duplicate_share: q.max_duplicate_share,
            max_null_share: q.max_null_share,
            anomaly: crate::quality::anomaly::AnomalyRules {
                sensitivity: q.anomaly_sensitivity,
                min_samples: q.anomaly_min_samples,
                horizon_ms: q.anomaly_horizon.as_millis() as i64,
            },
            session_wait: q.session_wait,
            max_record_bytes: q.max_record_bytes,
        }
    }

    fn validate_quality(&self) -> Result<(), ConfigError> {
        let q = &self.quality;
        if !self.response_time_thresholds().is_ascending() {
            return Err(ConfigError(format!(
                "quality.very_fast_below < fast_below < normal_below < slow_below must hold, got {:?} {:?} {:?} {:?}",
                q.very_fast_below, q.fast_below, q.normal_below, q.slow_below
            )));
        }
        for (name, share) in [
            ("quality.max_skewed_share", q.max_skewed_share),
            ("quality.max_duplicate_share", q.max_duplicate_share),
            ("quality.max_null_share", q.max_null_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(ConfigError(format!(
                    "{name} is {share}; give a share between 0 and 1"
                )));
            }
        }
        if !(q.anomaly_sensitivity.is_finite() && q.anomaly_sensitivity >= 2.0) {
            return Err(ConfigError(format!(
                "quality.anomaly_sensitivity is {}; use a robust z-score of at least 2 (default 6)",
                q.anomaly_sensitivity
            )));
        }
        if q.anomaly_min_samples < 30 {
            return Err(ConfigError(format!(
                "quality.anomaly_min_samples is {}; quantiles of fewer than 30 values flag noise, use at least 30",
                q.anomaly_min_samples
            )));
        }
        if q.anomaly_horizon < Duration::from_secs(3600) {
            return Err(ConfigError(
                "quality.anomaly_horizon must be at least 1h".into(),
            ));
        }
        if q.session_wait < Duration::from_secs(60) || q.session_wait > self.state.dedup_horizon {
            return Err(ConfigError(format!(
                "quality.session_wait is {:?}; give at least 1m and at most state.dedup_horizon ({:?}); sessions longer than it flag their attempts",
                q.session_wait, self.state.dedup_horizon
            )));
        }
        if q.timeliness.is_zero() || q.skew.is_zero() {
            return Err(ConfigError(
                "quality.timeliness and quality.skew must be longer than 0s".into(),
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |msg: String| Err(ConfigError(msg));
        if self.kafka.bootstrap_servers.trim().is_empty() {
            return fail("kafka.bootstrap_servers (KAFKA_BOOTSTRAP_SERVERS) is empty".into());
        }
        if self.kafka.group_id.trim().is_empty() {
            return fail("kafka.group_id (LAKESTREAM_GROUP_ID) is empty".into());
        }
        let topics = self.topic_names();
        if topics.iter().any(|t| t.trim().is_empty()) {
            return fail(
                "topics.attempts, topics.sessions and topics.training must all be set".into(),
            );
        }
        if topics[0] == topics[1] || topics[1] == topics[2] || topics[0] == topics[2] {
            return fail(format!(
                "topics must be three different topics, got {topics:?}"
            ));
        }
        let owned = [
            "enable.auto.commit",
            "enable.auto.offset.store",
            "group.id",
            "bootstrap.servers",
        ];
        for key in self
            .kafka
            .properties
            .keys()
            .chain(self.kafka.secrets.0.keys())
        {
            if owned.contains(&key.as_str()) {
                return fail(format!(
                    "kafka property `{key}` is managed by lakestream; remove it (use kafka.group_id / kafka.bootstrap_servers for those)"
                ));
            }
        }
        if let Some(key) = self
            .kafka
            .secrets
            .0
            .keys()
            .find(|k| self.kafka.properties.contains_key(*k))
        {
            return fail(format!(
                "kafka property `{key}` is set both directly and in kafka.secret_files; keep one"
            ));
        }
        if self.quality.max_record_bytes < 1024 {
            return fail(format!(
                "quality.max_record_bytes is {}; give at least 1024",
                self.quality.max_record_bytes
            ));
        }
        if self.windows.grace > Duration::from_secs(48 * 3600) {
            return fail(format!(
                "windows.grace is {:?}; at most 48h is supported",
                self.windows.grace
            ));
        }
        if self.windows.idle_timeout < Duration::from_secs(1) {
            return fail("windows.idle_timeout must be at least 1s".into());
        }
        if self.windows.flush_interval > Duration::from_secs(600) {
            return fail(format!(
                "windows.flush_interval is {:?}; at most 10m is supported (closed hours wait in memory that long)",
                self.windows.flush_interval
            ));
        }
        if self.windows.max_task_idle > Duration::from_secs(60) {
            return fail(format!(
                "windows.max_task_idle is {:?}; at most 60s is supported (a silent topic would stall its partition that long)",
                self.windows.max_task_idle
            ));
        }
        if !(1..=4096).contains(&self.kafka.read_ahead_mib) {
            return fail(format!(
                "kafka.read_ahead_mib is {}; give 1 to 4096 (MiB of records read ahead of the partition tasks)",
                self.kafka.read_ahead_mib
            ));
        }
        if self.windows.memory_budget_mib < 1 {
            return fail(format!(
                "windows.memory_budget_mib is {}; give it at least 1",
                self.windows.memory_budget_mib
            ));
        }
        self.pseudonymizer()?;
        if self.lake.row_group_rows < 1024 {
            return fail(format!(
                "lake.row_group_rows is {}; use at least 1024",
                self.lake.row_group_rows
            ));
        }
        self.validate_quality()?;
        for (tier, keep) in self.retention() {
            if keep < Duration::from_secs(86_400) {
                return fail(format!(
                    "retention.{tier} is {keep:?}; a tier keeps whole days, give at least 1d"
                ));
            }
        }
        if let Some(every) = self.retention.schedule {
            if every < Duration::from_secs(1) {
                return fail(format!(
                    "retention.schedule is {every:?}; give an interval like 6h, or leave it out to keep retention off"
                ));
            }
        }
        if self.dead_letters.enabled && self.dead_letters.suffix.is_empty() {
            return fail(
                "dead_letters.suffix is empty; dead letters would go back to their own topic"
                    .into(),
            );
        }
        if self.state.dedup_horizon < Duration::from_secs(3600) {
            return fail(format!(
                "state.dedup_horizon is {:?}; redeliveries arrive within the same event hour at least, so use 1h or more",
                self.state.dedup_horizon
            ));
        }
        if self.state.allowed_lateness < self.windows.grace {
            return fail(format!(
                "state.allowed_lateness ({:?}) is shorter than windows.grace ({:?}); events the windows still accept must still count in their day",
                self.state.allowed_lateness, self.windows.grace
            ));
        }
        if self.state.snapshots_kept < 2 {
            return fail(format!(
                "state.snapshots_kept is {}; keep at least 2 (the newest may not be published yet when a flush crashes)",
                self.state.snapshots_kept
            ));
        }
        if self.state.snapshot_every > 10_000 {
            return fail(format!(
                "state.snapshot_every is {}; at most 10000 (a restore replays up to that many changelog entries)",
                self.state.snapshot_every
            ));
        }
        self.http_socket()?;
        let location = self.lake_location()?;
        crate::lake::store::check_options(&location, &self.lake.options).map_err(ConfigError)?;
        Ok(())
    }

    /// The librdkafka configuration of the consumer.
    pub fn kafka_client_config(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.kafka.bootstrap_servers);
        config.set("group.id", &self.kafka.group_id);
        for (key, value) in self.kafka.properties.iter().chain(&self.kafka.secrets.0) {
            config.set(key, value);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let s = Settings::load(None, &HashMap::new()).unwrap();
        assert_eq!(s.kafka.group_id, "lakestream");
        assert_eq!(s.state_dir, PathBuf::from("./lakestream-state"));
        assert_eq!(s.http_addr, "0.0.0.0:8080");
        assert_eq!(s.windows.grace, Duration::from_secs(600));
        assert_eq!(
            s.lake_location().unwrap(),
            LakeLocation::Local(PathBuf::from("./data-lake"))
        );
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lakestream.toml");
        std::fs::write(
            &file,
            "state_dir = \"/from/file\"\n[kafka]\ngroup_id = \"file-group\"\n[windows]\ngrace = \"5m\"\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&file),
            &env(&[
                ("LAKESTREAM_GROUP_ID", "env-group"),
                ("KAFKA_SECURITY_PROTOCOL", "SSL"),
                ("LAKESTREAM_WINDOWS__IDLE_TIMEOUT", "2m"),
                ("DATA_LAKE_URL", "s3://bucket/prefix"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.kafka.group_id, "env-group");
        assert_eq!(s.state_dir, PathBuf::from("/from/file"));
        assert_eq!(s.windows.grace, Duration::from_secs(300));
        assert_eq!(s.windows.idle_timeout, Duration::from_secs(120));
        assert_eq!(s.kafka.properties["security.protocol"], "SSL");
        assert!(matches!(s.lake_location().unwrap(), LakeLocation::Url(_)));
    }

    #[test]
    fn bad_settings_fail_with_the_setting_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("LAKESTREAM_HTTP_ADDR", "nowhere")],
                "LAKESTREAM_HTTP_ADDR",
            ),
            (
                &[("KAFKA_ENABLE_AUTO_COMMIT", "true")],
                "enable.auto.commit",
            ),
            (&[("LAKESTREAM_WINDOWS__GRACE", "ten minutes")], "grace"),
            (
                &[
                    ("LAKESTREAM_WINDOWS__GRACE", "49h"),
                    ("LAKESTREAM_STATE__ALLOWED_LATENESS", "3d"),
                ],
                "at most 48h is supported",
            ),
            (
                &[("LAKESTREAM_WINDOWS__MEMORY_BUDGET_MIB", "0")],
                "memory_budget_mib",
            ),
            (
                &[("LAKESTREAM_KAFKA__READ_AHEAD_MIB", "0")],
                "kafka.read_ahead_mib is 0; give 1 to 4096",
            ),
            (&[("DATA_LAKE_URL", "ftp://x/y")], "ftp"),
            (
                &[("LAKESTREAM_TOPICS__SESSIONS", "user.attempts")],
                "three different topics",
            ),
            (&[("LAKESTREAM_LOG_FORMAT", "xml")], "log_format"),
            (
                &[("LAKESTREAM_STATE__DEDUP_HORIZON", "10m")],
                "state.dedup_horizon",
            ),
            (
                &[("LAKESTREAM_STATE__ALLOWED_LATENESS", "1m")],
                "state.allowed_lateness",
            ),
            (
                &[("LAKESTREAM_STATE__SNAPSHOTS_KEPT", "1")],
                "state.snapshots_kept",
            ),
            (
                &[("LAKESTREAM_STATE__SNAPSHOT_EVERY", "20000")],
                "state.snapshot_every",
            ),
            (
                &[("LAKESTREAM_QUALITY__FAST_BELOW", "1s")],
                "quality.very_fast_below < fast_below",
            ),
            (
                &[("LAKESTREAM_QUALITY__MAX_NULL_SHARE", "1.5")],
                "quality.max_null_share",
            ),
            (
                &[("LAKESTREAM_QUALITY__ANOMALY_SENSITIVITY", "0.5")],
                "quality.anomaly_sensitivity",
            ),
            (
                &[("LAKESTREAM_QUALITY__SESSION_WAIT", "10s")],
                "quality.session_wait",
            ),
            (&[("LAKESTREAM_RETENTION__RAW", "1h")], "retention.raw"),
            (
                &[(
                    "LAKESTREAM_PRIVACY__PSEUDONYMIZE_KEY_FILE",
                    "/nonexistent/key",
                )],
                "privacy.pseudonymize_key_file",
            ),
            (
                &[("LAKESTREAM_RETENTION__SCHEDULE", "0s")],
                "retention.schedule",
            ),
            (
                &[(
                    "LAKESTREAM_KAFKA__SECRET_FILES__SASL_PASSWORD",
                    "/nonexistent/secret",
                )],
                "kafka.secret_files.sasl_password: cannot read `/nonexistent/secret`",
            ),
            (
                &[("LAKESTREAM_QUALITY__MAX_RECORD_BYTES", "10")],
                "quality.max_record_bytes",
            ),
            (
                &[
                    ("DATA_LAKE_URL", "s3://bucket/p"),
                    ("LAKESTREAM_LAKE__OPTIONS__AWS_SECRET_ACCESS_KEY", "x"),
                ],
                "lake.options.aws_secret_access_key is a credential",
            ),
        ];
        for (vars, expected) in cases {
            let err = Settings::load(None, &env(vars)).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{vars:?}: `{err}` should mention `{expected}`"
            );
        }
    }

    /// Windows open across two days of event time are supported: past the memory budget
    /// their rows go to disk (`topology/src/spill.rs`).
    #[test]
    fn a_grace_of_up_to_48_hours_is_accepted() {
        let s = Settings::load(None, &env(&[("LAKESTREAM_WINDOWS__GRACE", "48h")])).unwrap();
        assert_eq!(s.windows.grace, Duration::from_secs(48 * 3600));
    }

    #[test]
    fn the_shipped_example_file_loads() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/lakestream.example.toml");
        let s = Settings::load(Some(&example), &HashMap::new()).unwrap();
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.kafka.properties["session.timeout.ms"], "45000");
    }

    #[test]
    fn a_secret_file_conflicting_with_a_property_or_owned_by_lakestream_fails() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "pw\n").unwrap();
        let secret = secret.display().to_string();
        let both = Settings::load(
            None,
            &env(&[
                ("KAFKA_SASL_PASSWORD", "inline"),
                ("LAKESTREAM_KAFKA__SECRET_FILES__SASL_PASSWORD", &secret),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(both.contains("`sasl.password` is set both"), "{both}");
        let owned = Settings::load(
            None,
            &env(&[("LAKESTREAM_KAFKA__SECRET_FILES__GROUP_ID", &secret)]),
        )
        .unwrap_err()
        .to_string();
        assert!(owned.contains("`group.id` is managed"), "{owned}");
        std::fs::write(dir.path().join("empty"), "").unwrap();
        let empty = Settings::load(
            None,
            &env(&[(
                "LAKESTREAM_KAFKA__SECRET_FILES__SASL_PASSWORD",
                &dir.path().join("empty").display().to_string(),
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(empty.contains("is empty"), "{empty}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[windows]\ngrcae = \"5m\"\n").unwrap();
        let err = Settings::load(Some(&file), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("grcae"), "{err}");
    }
}
