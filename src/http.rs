//! The HTTP surface (axum): Prometheus metrics and health probes.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct AppState {
    registry: Registry,
}

pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(AppState { registry })
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
    registry: Registry,
    stop: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (LAKESTREAM_HTTP_ADDR): {e}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let app = router(registry);
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::error!(%error, "HTTP server failed");
        }
    });
    Ok(bound)
}
