//! An HTTP proxy that fails a share of the requests passing through it, the two ways a
//! real object store fails:
//! - refused: answered `503 SlowDown` without reaching the store (throttling);
//! - lost: forwarded, done by the store, then answered `500 InternalError`, so the client
//!   must not assume its request had no effect when it retries.
//!
//! Which request fails is drawn from a seeded generator, so a failing run can be repeated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Headers that describe one hop's connection, not the message.
const HOP_BY_HOP: &[&str] = &["connection", "transfer-encoding", "keep-alive"];
/// Request headers the client to the store sets itself from the URL and body. A response
/// keeps its `content-length`: a HEAD answer has no body to measure it from.
const SET_BY_CLIENT: &[&str] = &["host", "content-length"];

#[derive(Default)]
pub struct Counts {
    pub forwarded: AtomicU64,
    pub refused: AtomicU64,
    pub lost: AtomicU64,
}

struct Proxy {
    upstream: String,
    fail_share: f64,
    rng: Mutex<StdRng>,
    client: reqwest::Client,
    counts: Arc<Counts>,
}

pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub counts: Arc<Counts>,
    server: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies to `upstream`, failing `fail_share` of requests (half refused, half lost).
    pub async fn start(upstream: &str, fail_share: f64, seed: u64) -> FaultProxy {
        let counts = Arc::new(Counts::default());
        let proxy = Arc::new(Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            fail_share,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            client: reqwest::Client::new(),
            counts: counts.clone(),
        });
        let app = axum::Router::new().fallback(handle).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FaultProxy {
            endpoint,
            counts,
            server,
        }
    }

    pub fn failures(&self) -> u64 {
        self.counts.refused.load(Ordering::Relaxed) + self.counts.lost.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

enum Fate {
    Pass,
    Refuse,
    Lose,
}

fn s3_error(status: StatusCode, code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
    );
    (status, [("content-type", "application/xml")], body).into_response()
}

fn message_headers<'a>(
    headers: &'a HeaderMap,
    skip: &'a [&str],
) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()) && !skip.contains(&name.as_str()))
}

async fn handle(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let fate = {
        let mut rng = proxy.rng.lock().unwrap();
        if rng.random_bool(proxy.fail_share) {
            if rng.random_bool(0.5) {
                Fate::Refuse
            } else {
                Fate::Lose
            }
        } else {
            Fate::Pass
        }
    };
    if let Fate::Refuse = fate {
        proxy.counts.refused.fetch_add(1, Ordering::Relaxed);
        return s3_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown");
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let target = format!(
        "{}{}",
        proxy.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forward = proxy.client.request(parts.method, target).body(body);
    for (name, value) in message_headers(&parts.headers, SET_BY_CLIENT) {
        forward = forward.header(name, value);
    }
    let upstream = match forward.send().await {
        Ok(response) => response,
        Err(_) => return s3_error(StatusCode::BAD_GATEWAY, "InternalError"),
    };
    if let Fate::Lose = fate {
        proxy.counts.lost.fetch_add(1, Ordering::Relaxed);
        return s3_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError");
    }
    proxy.counts.forwarded.fetch_add(1, Ordering::Relaxed);
    let status = upstream.status();
    let mut response = Response::builder().status(status);
    for (name, value) in message_headers(upstream.headers(), &[]) {
        response = response.header(name, value);
    }
    let bytes = upstream.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}
