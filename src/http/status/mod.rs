//! `GET /`: the status page a person reads at a glance (owned partitions with their lag,
//! watermark and open windows, recent flushes, quality, an hour of throughput and lag).

mod chart;
pub mod history;
mod metrics;
mod page;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Html;
use lakestream_topology::recent::RecentFlushes;
use prometheus::Registry;

pub use page::Identity;

use super::AppState;

/// What the page is made of, besides the registry.
pub struct StatusSources {
    pub identity: Identity,
    pub started: Instant,
    pub recent: RecentFlushes,
    pub history: history::History,
}

impl StatusSources {
    /// Starts sampling `registry` for the chart until `stop`.
    pub fn start(
        identity: Identity,
        recent: RecentFlushes,
        registry: Registry,
        stop: tokio_util::sync::CancellationToken,
    ) -> Arc<StatusSources> {
        let history = history::History::default();
        history.spawn_sampler(registry, stop);
        Arc::new(StatusSources {
            identity,
            started: Instant::now(),
            recent,
            history,
        })
    }
}

pub async fn page(State(state): State<AppState>) -> Html<String> {
    let sources = &state.status;
    let metrics = metrics::Gathered::from(&state.registry);
    let view = page::View {
        identity: &sources.identity,
        uptime_seconds: sources.started.elapsed().as_secs(),
        now: chrono::Utc::now(),
        metrics: &metrics,
        flushes: &sources.recent.newest_first(),
        history: &sources.history.points(),
    };
    Html(page::render(&view).into_string())
}
