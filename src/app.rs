//! Wires one lakestream instance: lake store, metrics, HTTP server, and the stream runtime
//! running the learning-analytics processor.

use std::sync::Arc;

use lakestream_topology::metrics::RuntimeMetrics;
use lakestream_topology::{Instance, LiveStores, RunControl, RuntimeConfig};
use prometheus::Registry;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Settings;
use crate::lake;
use crate::pipeline::{DomainMetrics, LearningFactory, StateRules};
use crate::quality::QualityMetrics;

/// Options of one run that do not belong in the settings file.
pub struct RunOptions {
    pub control: RunControl,
    /// Serve HTTP (off in tests that run several instances in one process).
    pub serve_http: bool,
    /// Where to write the final metrics (Prometheus text) when the run ends.
    pub metrics_file: Option<std::path::PathBuf>,
}

pub fn runtime_config(settings: &Settings) -> RuntimeConfig {
    RuntimeConfig {
        topics: settings.topic_names(),
        grace: settings.windows.grace,
        idle_timeout: settings.windows.idle_timeout,
        flush_interval: settings.windows.flush_interval,
        max_task_idle: settings.windows.max_task_idle,
        memory_budget_bytes: settings.windows.memory_budget_mib << 20,
        read_ahead_bytes: settings.kafka.read_ahead_mib << 20,
        row_group_rows: settings.lake.row_group_rows,
        commit_timeout: settings.kafka.commit_timeout,
        revoke_timeout: settings.kafka.revoke_timeout,
        state_dir: settings.state_dir.clone(),
        dead_letter_topics: settings
            .topic_names()
            .into_iter()
            .map(|t| {
                settings
                    .dead_letters
                    .enabled
                    .then(|| format!("{t}{}", settings.dead_letters.suffix))
            })
            .collect(),
        snapshots_kept: settings.state.snapshots_kept,
        snapshot_every: settings.state.snapshot_every,
        instance: Instance {
            id: instance_id(),
            http_url: None,
        },
        ..RuntimeConfig::default()
    }
}

/// `host-pid`: unique among instances running now, readable in logs and owner files.
fn instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// The address other instances can reach: a wildcard bind is advertised as the host name.
fn advertised(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let host = instance_id();
        let host = host.rsplit_once('-').map_or(host.as_str(), |(h, _)| h);
        format!("{host}:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Runs until `options.control` says stop. Errors are startup errors (bad settings,
/// unreachable lake, topics missing or not co-partitioned).
pub async fn run(settings: Settings, options: RunOptions) -> anyhow::Result<()> {
    let location = settings.lake_location()?;
    let store = lake::store::open(&location, &settings.lake)?;
    lake::config_audit::record(store.as_ref(), &settings)
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot record the configuration in the lake `{location}`: {e:#}")
        })?;
    let registry = Registry::new();
    let runtime_metrics = RuntimeMetrics::new(&registry);
    let factory = LearningFactory {
        topic_names: Arc::new(settings.topic_names()),
        thresholds: settings.response_time_thresholds(),
        quality: settings.quality_rules(),
        quality_metrics: QualityMetrics::new(&registry),
        rules: StateRules {
            dedup_horizon: settings.state.dedup_horizon,
            allowed_lateness: settings.state.allowed_lateness,
        },
        metrics: DomainMetrics::new(&registry),
        pseudonymizer: settings.pseudonymizer()?,
    };
    let live = Arc::new(LiveStores::default());
    let http_stop = CancellationToken::new();
    let mut config = runtime_config(&settings);
    if options.serve_http {
        let http_state = crate::http::AppState {
            registry: registry.clone(),
            live: live.clone(),
            store: store.clone(),
            broker: Some(Arc::new(crate::http::ready::BrokerProbe::new(
                &settings.kafka_client_config(),
                &settings.topic_names()[0],
            )?)),
            status: crate::http::status::StatusSources::start(
                crate::http::status::Identity {
                    instance: config.instance.id.clone(),
                    group: settings.kafka.group_id.clone(),
                    lake: location.to_string(),
                },
                runtime_metrics.recent_flushes.clone(),
                registry.clone(),
                http_stop.clone(),
            ),
        };
        let addr =
            crate::http::serve(settings.http_socket()?, http_state, http_stop.clone()).await?;
        info!(%addr, "serving /metrics, /healthz, /readyz, /state queries and the status page at /");
        config.instance.http_url = Some(format!("http://{}", advertised(addr)));
    }
    if let Some(every) = settings.retention.schedule {
        lake::retention::spawn_schedule(
            store.clone(),
            settings.retention(),
            every,
            http_stop.clone(),
        );
        info!(?every, "scheduled retention on");
    }
    info!(lake = %location, group = %settings.kafka.group_id, "lakestream starting");
    let result = lakestream_topology::run(
        &settings.kafka_client_config(),
        store,
        config,
        factory,
        runtime_metrics,
        live,
        options.control,
    )
    .await;
    http_stop.cancel();
    if let Some(path) = &options.metrics_file {
        write_metrics(&registry, path)?;
    }
    Ok(result?)
}

/// The registry in Prometheus text format, written once at the end of a run: a batch run
/// (`--exit-at-end`) is over before any scrape, and node_exporter's textfile collector or
/// `lakestream bench` read this instead.
fn write_metrics(registry: &Registry, path: &std::path::Path) -> anyhow::Result<()> {
    use prometheus::Encoder;
    let mut text = Vec::new();
    prometheus::TextEncoder::new().encode(&registry.gather(), &mut text)?;
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("cannot write --metrics-file `{}`: {e}", path.display()))
}
