//! Wires one lakestream instance: lake store, metrics, HTTP server, and the stream runtime
//! running the learning-analytics processor.

use std::sync::Arc;

use lakestream_topology::metrics::RuntimeMetrics;
use lakestream_topology::{RunControl, RuntimeConfig};
use prometheus::Registry;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Settings;
use crate::domain::ResponseTimeThresholds;
use crate::lake;
use crate::pipeline::{DomainMetrics, LearningFactory};

/// Options of one run that do not belong in the settings file.
pub struct RunOptions {
    pub control: RunControl,
    /// Serve HTTP (off in tests that run several instances in one process).
    pub serve_http: bool,
}

pub fn runtime_config(settings: &Settings) -> RuntimeConfig {
    RuntimeConfig {
        topics: settings.topic_names(),
        grace: settings.windows.grace,
        idle_timeout: settings.windows.idle_timeout,
        memory_budget_bytes: settings.windows.memory_budget_mib << 20,
        row_group_rows: settings.lake.row_group_rows,
        commit_timeout: settings.kafka.commit_timeout,
        revoke_timeout: settings.kafka.revoke_timeout,
        ..RuntimeConfig::default()
    }
}

/// Runs until `options.control` says stop. Errors are startup errors (bad settings,
/// unreachable lake, topics missing or not co-partitioned).
pub async fn run(settings: Settings, options: RunOptions) -> anyhow::Result<()> {
    let location = settings.lake_location()?;
    let store = lake::store::open(&location, settings.lake.region.as_deref())?;
    let registry = Registry::new();
    let runtime_metrics = RuntimeMetrics::new(&registry);
    let factory = LearningFactory {
        topic_names: Arc::new(settings.topic_names()),
        thresholds: ResponseTimeThresholds::default(),
        metrics: DomainMetrics::new(&registry),
    };
    let http_stop = CancellationToken::new();
    if options.serve_http {
        let addr = crate::http::serve(settings.http_socket()?, registry.clone(), http_stop.clone())
            .await?;
        info!(%addr, "serving /metrics and /healthz");
    }
    info!(lake = %location, group = %settings.kafka.group_id, "lakestream starting");
    let result = lakestream_topology::run(
        &settings.kafka_client_config(),
        store,
        runtime_config(&settings),
        factory,
        runtime_metrics,
        options.control,
    )
    .await;
    http_stop.cancel();
    Ok(result?)
}
