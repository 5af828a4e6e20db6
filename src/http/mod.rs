//! The HTTP surface (axum): the status page ([`status`]), Prometheus metrics, health
//! probes ([`ready`]), and interactive queries of the live state ([`query`]).

mod query;
pub mod ready;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use lakestream_topology::LiveStores;
use object_store::ObjectStore;
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// What the handlers read: metrics, the state this instance serves, and the lake (where
/// partition owners announce themselves).
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub live: Arc<LiveStores>,
    pub store: Arc<dyn ObjectStore>,
    /// Checks the broker for `/readyz`; `None` skips that check.
    pub broker: ready::SharedProbe,
    pub status: Arc<status::StatusSources>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(status::page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready::readyz))
        .route("/state/users/{user_id}/daily/{date}", get(query::daily))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_string())],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Binds `addr` (failing fast if it is taken) and serves until `stop` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    stop: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (LAKESTREAM_HTTP_ADDR): {e}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let app = router(state);
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::error!(%error, "HTTP server failed");
        }
    });
    Ok(bound)
}
