//! `GET /readyz`: ready when the broker answers and every partition the group assigned
//! here has its state restored; otherwise 503 with the reason in the body.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;

use super::AppState;

/// Asks the cluster for one topic's metadata: a real round trip to a broker.
pub struct BrokerProbe {
    client: BaseConsumer,
    topic: String,
}

/// How long a probe waits for the broker; a readiness check must answer quickly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl BrokerProbe {
    /// A client of its own (never subscribed, so never a group member).
    pub fn new(config: &rdkafka::ClientConfig, topic: &str) -> anyhow::Result<Self> {
        Ok(BrokerProbe {
            client: config.create()?,
            topic: topic.to_string(),
        })
    }

    fn check(&self) -> Result<(), String> {
        self.client
            .fetch_metadata(Some(&self.topic), PROBE_TIMEOUT)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let broker = match state.broker.clone() {
        Some(probe) => tokio::task::spawn_blocking(move || probe.check())
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
        None => Ok(()),
    };
    let assigned = state.live.assigned();
    let restored = state.live.owned();
    let restoring: Vec<i32> = assigned
        .iter()
        .filter(|p| !restored.contains(p))
        .copied()
        .collect();
    let mut reasons = Vec::new();
    if let Err(e) = &broker {
        reasons.push(format!("broker unreachable: {e}"));
    }
    if !restoring.is_empty() {
        reasons.push(format!(
            "partitions {restoring:?} are restoring their state"
        ));
    }
    let ready = reasons.is_empty();
    let body = json!({
        "ready": ready,
        "reasons": reasons,
        "broker": if broker.is_ok() { "reachable" } else { "unreachable" },
        "assigned": assigned,
        "restoring": restoring,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

pub type SharedProbe = Option<Arc<BrokerProbe>>;
